#include "checkpoint/entries.hpp"

#include "checkpoint/checkpoint_store.hpp"
#include "checkpoint/file_format.hpp"
#include "checkpoint/files.hpp"

namespace sluice::checkpoint::detail {

namespace fs = std::filesystem;
using Status = DecodedFrame::Status;

static nlohmann::json range_json(const OffsetRange &r) {
    return {{"topic", r.topic},
            {"partition", r.partition},
            {"from_offset", r.from_offset},
            {"until_offset", r.until_offset}};
}

static OffsetRange checked_range(std::string topic, int32_t partition, int64_t from,
                                 int64_t until) {
    OffsetRange range{std::move(topic), partition, from, until};
    if (range.partition < 0 || range.from_offset < 0 || range.until_offset < range.from_offset)
        throw std::invalid_argument("impossible range " + range.topic_partition().to_string() +
                                    " [" + std::to_string(range.from_offset) + ", " +
                                    std::to_string(range.until_offset) + ")");
    return range;
}

/// A full entry: every range of the plan (format 1, and format 2 when most partitions moved).
nlohmann::json plan_to_json(const BatchPlan &plan) {
    nlohmann::json ranges = nlohmann::json::array();
    for (const auto &r : plan.ranges) ranges.push_back(range_json(r));
    return {{"batch_id", plan.batch_id}, {"batch_time_ms", plan.batch_time_ms}, {"ranges", ranges}};
}

/// The positions of a base, as a file: topics once, then [topic index, partition, offset].
nlohmann::json base_to_json(int64_t id, const std::vector<OffsetRange> &positions) {
    std::vector<std::string> topics;
    std::map<std::string, size_t> index;
    nlohmann::json parts = nlohmann::json::array();
    for (const auto &p : positions) {
        auto [it, fresh] = index.try_emplace(p.topic, topics.size());
        if (fresh) topics.push_back(p.topic);
        parts.push_back({it->second, p.partition, p.until_offset});
    }
    return {{"base", id}, {"topics", topics}, {"positions", parts}};
}

static std::vector<OffsetRange> base_from_json(const std::string &payload, int64_t id) {
    auto j = nlohmann::json::parse(payload);
    if (j.at("base").get<int64_t>() != id)
        throw std::invalid_argument("it holds base " + std::to_string(j.at("base").get<int64_t>()));
    const auto topics = j.at("topics").get<std::vector<std::string>>();
    std::vector<OffsetRange> positions;
    for (const auto &p : j.at("positions")) {
        const auto t = p.at(0).get<size_t>();
        if (t >= topics.size()) throw std::invalid_argument("topic index out of range");
        const auto offset = p.at(2).get<int64_t>();
        positions.push_back(checked_range(topics[t], p.at(1).get<int32_t>(), offset, offset));
    }
    return positions;
}

const std::vector<OffsetRange> *BaseReader::get(int64_t id, std::string &problem) {
    auto it = cache_.find(id);
    if (it == cache_.end()) {
        std::optional<std::vector<OffsetRange>> positions;
        const fs::path file = dir_ / std::to_string(id);
        try {
            if (auto bytes = read_file(file)) {
                auto frame = decode_frame(*bytes);
                if (frame.status == Status::kOk)
                    positions = base_from_json(frame.payload, id);
                else
                    problems_[id] = quoted(file) + ": " + frame.problem;
            } else {
                problems_[id] = quoted(file) + " is missing";
            }
        } catch (const CheckpointError &) {
            throw;  // a read error is an error, not a damaged file
        } catch (const std::exception &e) {
            problems_[id] = quoted(file) + ": unreadable payload: " + e.what();
        }
        it = cache_.emplace(id, std::move(positions)).first;
    }
    if (!it->second) problem = problems_[id];
    return it->second ? &*it->second : nullptr;
}

/// A format-2 entry: the ranges that differ from [position, position) of its base.
nlohmann::json delta_to_json(const BatchPlan &plan, const std::vector<OffsetRange> &base,
                             int64_t base_id) {
    nlohmann::json moved = nlohmann::json::array();
    for (size_t i = 0; i < plan.ranges.size(); ++i) {
        const auto &r = plan.ranges[i];
        if (r.from_offset != base[i].from_offset || r.until_offset != base[i].from_offset)
            moved.push_back({i, r.from_offset, r.until_offset});
    }
    return {{"batch_id", plan.batch_id},
            {"batch_time_ms", plan.batch_time_ms},
            {"base", base_id},
            {"moved", moved}};
}

// Throws nlohmann::json::exception or std::invalid_argument on a bad payload. `base_id` is set
// to the entry's base (-1 for a full entry).
BatchPlan plan_from_json(const std::string &payload, BaseReader &bases, int64_t &base_id) {
    auto j = nlohmann::json::parse(payload);
    BatchPlan plan;
    plan.batch_id = j.at("batch_id").get<int64_t>();
    plan.batch_time_ms = j.at("batch_time_ms").get<int64_t>();
    base_id = -1;
    if (j.contains("ranges")) {
        for (const auto &r : j.at("ranges"))
            plan.ranges.push_back(checked_range(
                r.at("topic").get<std::string>(), r.at("partition").get<int32_t>(),
                r.at("from_offset").get<int64_t>(), r.at("until_offset").get<int64_t>()));
        return plan;
    }
    base_id = j.at("base").get<int64_t>();
    std::string problem;
    const std::vector<OffsetRange> *base = bases.get(base_id, problem);
    // A base is durable before any entry refers to it, so a bad one is damage, not a write cut
    // short: refuse the start (skipping every entry on it would lose the job's position).
    if (!base)
        throw CheckpointError("checkpoint batch " + std::to_string(plan.batch_id) +
                              " refers to base " + std::to_string(base_id) + ", which is " +
                              problem +
                              "; nothing was changed: restore the file, or move the checkpoint "
                              "directory aside (the job then starts from auto-offset-reset)");
    plan.ranges = *base;
    for (const auto &m : j.at("moved")) {
        const auto i = m.at(0).get<size_t>();
        if (i >= plan.ranges.size()) throw std::invalid_argument("moved range out of its base");
        auto &r = plan.ranges[i];
        r = checked_range(r.topic, r.partition, m.at(1).get<int64_t>(), m.at(2).get<int64_t>());
    }
    return plan;
}

}  // namespace sluice::checkpoint::detail
