#pragma once
// Where `sluice replay` gets a batch from, read-only: the plan of a direct-mode batch in a
// checkpoint (then its records from Kafka again), or the blocks of a receiver's WAL (which hold
// the records themselves). Nothing here takes a lock, creates, renames or deletes a file, or
// joins or commits to a group: the running host's checkpoint, WAL and group are left as they
// are. Main thread.

#include <sluice/sluice.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/types.hpp"

namespace sluice::ingest {
class FetchedBatch;
}
namespace sluice::wal {
struct Block;
}

namespace sluice::replay {

/// The batch cannot be replayed: not in the checkpoint or WAL, no longer retained by Kafka, a
/// damaged file, an unreachable broker. what() is one line naming the problem and the way out.
class ReplayError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// One batch in hand: its id, time and ranges as the host had them, and its records.
/// Lifecycle: made by the functions below, read by the replay run, destroyed last (the records
/// are views into the fetched messages or the WAL blocks it owns).
struct ReplayInput {
    ReplayInput();
    ~ReplayInput();
    ReplayInput(ReplayInput &&) noexcept;
    ReplayInput &operator=(ReplayInput &&) noexcept;

    std::string source;  // "checkpoint DIR" or "WAL DIR"
    std::string state;   // what the host did with it ("committed", "planned, not committed", ...)
    int64_t batch_id = 0;
    int64_t batch_time_ms = 0;
    std::vector<OffsetRange> ranges;  // as the plugins saw them (empty ones included)
    std::string records_from;         // "Kafka (BROKERS)" or "the WAL"

    const sluice_record_t *records() const;
    size_t record_count() const;

    std::unique_ptr<ingest::FetchedBatch> fetched;    // a checkpoint batch, read from Kafka
    std::vector<std::unique_ptr<wal::Block>> blocks;  // a WAL batch or block
    std::vector<sluice_record_t> block_records;       // views into `blocks`, in batch order
};

/// The plan of batch `id` in the checkpoint `dir` (offsets/ID, else commits/ID), with
/// input.state saying whether it was committed. Throws ReplayError when the directory is not a
/// checkpoint, the batch is not in it (naming the ids it keeps) or its entry is damaged.
ReplayInput read_checkpoint_batch(const std::filesystem::path &dir, int64_t id);

/// Reads exactly input.ranges from Kafka (no group: nothing is committed) into input.fetched.
/// Throws ReplayError when a range is no longer retained (below the low watermark), lies past
/// the log's end, or cannot be read within `timeout`.
void fetch_from_kafka(ReplayInput &input, const std::string &brokers,
                      std::map<std::string, std::string> kafka, std::chrono::milliseconds timeout);

/// Block `block` of the WAL in `dir`, with the batch that processed or planned it when the
/// WAL still says. Throws ReplayError when it is not there (naming the blocks it holds).
ReplayInput read_wal_block(const std::filesystem::path &dir, uint64_t block);
/// The blocks of batch `batch` of the WAL in `dir`, in the order its plan mark lists them
/// (plans are kept until the batch's segments are deleted). Throws ReplayError.
ReplayInput read_wal_batch(const std::filesystem::path &dir, int64_t batch);

}  // namespace sluice::replay
