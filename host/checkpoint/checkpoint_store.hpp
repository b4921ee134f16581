#pragma once
// Direct mode's checkpoint: an offset log (batches planned) and a commit log
// (batches done), like Spark's offsets/ and commits/. Layout and recovery
// rules: host/checkpoint/README.md.

#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/types.hpp"

namespace sluice::checkpoint {

/// The on-disk format this code writes (metadata and every entry). Version 2 stores, per batch,
/// only the ranges that moved since a base snapshot of every partition's position (bases/);
/// version 1 stored every range of every batch. This code reads both.
inline constexpr int kFormatVersion = 2;
inline constexpr int kOldestReadableVersion = 1;

/// A checkpoint that cannot be opened, read or written. what() is one line
/// naming the directory (or file) and the way out.
class CheckpointError : public std::runtime_error {
  public:
    using runtime_error::runtime_error;
};

struct RecoveredState {
    std::optional<BatchPlan> last_committed;  // newest batch with a valid commit entry
    std::optional<BatchPlan> pending;   // newest valid planned batch with id > last_committed id
                                        // (to replay, same id, same ranges)
    std::vector<std::string> warnings;  // one line per torn/corrupt entry skipped
};

/// Owns one checkpoint directory for its whole lifetime: the constructor
/// validates it and takes an exclusive flock on <dir>/lock (released by the
/// destructor, or by the kernel if the process dies), so at most one sluice
/// process writes a checkpoint. Used from one thread (the stream's control
/// thread); not thread-safe.
class CheckpointStore {
  public:
    // Creates the directory (and parents) if missing. Throws CheckpointError (one line naming the
    // dir and the way out) if it cannot be created/read, is not a directory, holds any entry with
    // an unknown format version, or is locked by another live sluice process (flock on a lock
    // file). Never overwrites or deletes anything when it throws. retain >= 1: how many batches
    // each log keeps.
    explicit CheckpointStore(std::filesystem::path dir, int retain = 100);
    ~CheckpointStore();
    CheckpointStore(const CheckpointStore &) = delete;
    CheckpointStore &operator=(const CheckpointStore &) = delete;

    /// Reads both logs. Torn or corrupt entries are skipped (warnings, and
    /// spdlog::warn); an entry with an unknown format version throws.
    RecoveredState recover();
    /// Offset log entry for plan.batch_id; durable (file and directory
    /// fsync'd) when it returns. Throws CheckpointError on I/O failure, and from
    /// then on every write (of either log) throws it again: a failed fsync is final.
    void write_offsets(const BatchPlan &plan);
    /// Commit log entry for plan.batch_id; durable when it returns. Then
    /// removes the entries of both logs older than the newest `retain` batches.
    void write_commit(const BatchPlan &plan);
    const std::filesystem::path &dir() const { return dir_; }

  private:
    /// Every partition's position after batch `id` (its until offsets), in plan order: an
    /// entry based on it lists only the ranges that are not [position, position).
    struct Base {
        int64_t id = -1;
        std::vector<OffsetRange> positions;  // from_offset == until_offset == the position
        size_t bytes = 0;                    // its file
        size_t written = 0;  // payload bytes of the entries this run wrote against it
    };

    void write_entry(const char *sub, const BatchPlan &plan, const char *what);
    /// The entry's payload; may write a new base first. `base_id`: the base it refers to (-1).
    std::string encode_entry(const BatchPlan &plan, int64_t &base_id);
    void prune_bases();

    std::optional<Base> base_;                // the base new entries refer to
    std::map<int64_t, int64_t> entry_bases_;  // retained entry id -> its base id (-1: none)

    std::filesystem::path dir_;
    std::string failed_;  // the first write error, once one happened
    int retain_;
    int lock_fd_ = -1;
    std::vector<std::string> open_warnings_;  // from the constructor, reported by recover()
};

}  // namespace sluice::checkpoint
