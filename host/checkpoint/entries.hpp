#pragma once
// The JSON payloads of checkpoint files (inside their frame, file_format.hpp): a batch entry
// (offsets/<id>, commits/<id>) in full form (every range) or delta form (only the ranges that
// moved since a base), and a base (bases/<id>: every partition's position). Layout and rules:
// host/checkpoint/README.md. Pure but for BaseReader, which reads base files; any thread.

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/types.hpp"

namespace sluice::checkpoint::detail {

/// A full entry: every range of the plan (format 1, and format 2 when most partitions moved).
nlohmann::json plan_to_json(const BatchPlan &plan);
/// A base file's payload: the positions (from == until) of every partition, in plan order.
nlohmann::json base_to_json(int64_t id, const std::vector<OffsetRange> &positions);
/// A delta entry: the ranges of `plan` that are not [position, position) of `base`.
nlohmann::json delta_to_json(const BatchPlan &plan, const std::vector<OffsetRange> &base,
                             int64_t base_id);

/// Reads bases on demand (nullptr: missing or damaged, with the reason), each once. A read
/// error is a CheckpointError. Used by one thread.
class BaseReader {
  public:
    explicit BaseReader(std::filesystem::path dir) : dir_(std::move(dir)) {}
    const std::vector<OffsetRange> *get(int64_t id, std::string &problem);

  private:
    std::filesystem::path dir_;
    std::map<int64_t, std::optional<std::vector<OffsetRange>>> cache_;
    std::map<int64_t, std::string> problems_;
};

/// The plan of an entry, either form. `base_id` is set to the entry's base (-1 for a full
/// entry). Throws nlohmann::json::exception or std::invalid_argument on a bad payload, and
/// CheckpointError when its base is missing or damaged (that is damage, not a torn write).
BatchPlan plan_from_json(const std::string &payload, BaseReader &bases, int64_t &base_id);

}  // namespace sluice::checkpoint::detail
