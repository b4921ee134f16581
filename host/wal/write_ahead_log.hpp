#pragma once
// The receiver's write-ahead log: a directory of segment files (wal_format.hpp) holding every
// block until the batch that processed it is done. Spark's
// spark.streaming.receiver.writeAheadLog.enable, on local disk.

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "wal/wal_format.hpp"

namespace sluice::wal {

struct WalOptions {
    std::filesystem::path dir;
    /// 0 = fsync after every block (wal-fsync=block); else blocks are group-committed: the
    /// receiver calls sync() at most this often and commits offsets only for synced blocks.
    std::chrono::milliseconds fsync_interval{0};
    uint64_t max_bytes = 1ull << 30;       // wal-max-bytes: consumption pauses at this size
    uint64_t segment_bytes = 64ull << 20;  // a segment is closed and a new one begun past this
};

/// What start-up found in the directory.
struct Recovery {
    std::vector<std::unique_ptr<Block>> pending;  // never marked done, in log order
    int64_t last_batch_id = -1;                   // the newest batch id in a done mark
    size_t segments = 0;                          // segment files found
    size_t blocks_done = 0;                       // blocks found already processed
    uint64_t torn_bytes = 0;                      // cut from the newest segment's tail
    size_t torn_entries = 0;                      // 1 when a partial entry was cut, else 0
    std::string torn_segment;                     // its file name
    std::string torn_reason;
};

/// Lifecycle: opened by the receiver stream on the control thread (recovering the directory),
/// used by the consumer threads (append, sync) and the batch thread (mark_done) at once, closed
/// by the destructor after those threads are joined. Holds an exclusive flock on <dir>/lock,
/// so two live processes never share a WAL. Thread-safe.
class WriteAheadLog {
  public:
    /// Creates the directory if needed, locks it, scans every segment, truncates a torn tail of
    /// the newest one and deletes segments that hold nothing pending. Throws WalError (corrupt
    /// segment: names the file and byte offset; nothing is deleted then).
    explicit WriteAheadLog(WalOptions options);
    ~WriteAheadLog();
    WriteAheadLog(const WriteAheadLog &) = delete;
    WriteAheadLog &operator=(const WriteAheadLog &) = delete;

    /// The blocks to replay and what start-up found; call once.
    Recovery take_recovery() { return std::move(recovery_); }
    /// The id for the next sealed block (ids grow across restarts).
    uint64_t allocate_block_id();

    /// Appends `block` (one write call) and returns the log position after it; with
    /// fsync_interval 0 the block is durable on return. Throws WalError on an I/O error.
    uint64_t append(const Block &block);
    /// Makes everything appended so far durable; returns the durable position.
    uint64_t sync();
    uint64_t durable_position() const;

    /// Records that batch `batch_id` processed `block_ids`, makes that durable, and deletes the
    /// oldest segments whose blocks are all done.
    void mark_done(int64_t batch_id, const std::vector<uint64_t> &block_ids);

    /// Bytes of all segment files; consumption pauses while this is at or over max_bytes.
    uint64_t disk_bytes() const;
    bool full() const { return disk_bytes() >= options_.max_bytes; }
    size_t pending_blocks() const;
    const WalOptions &options() const { return options_; }

  private:
    struct Segment {
        uint64_t seq = 0;
        std::filesystem::path path;
        uint64_t bytes = 0;
        size_t pending = 0;  // blocks in it not yet marked done
    };

    void recover();
    void open_segment_locked();  // starts segment last seq + 1 (closing the current one)
    void write_entry_locked(const std::string &payload);
    void sync_locked();
    void delete_done_segments_locked();

    WalOptions options_;
    int lock_fd_ = -1;
    Recovery recovery_;

    mutable std::mutex mutex_;
    std::deque<Segment> segments_;  // oldest first; back() is the one appended to
    int fd_ = -1;                   // of segments_.back()
    uint64_t position_ = 0;         // bytes appended since open (across segments)
    uint64_t durable_ = 0;
    uint64_t total_bytes_ = 0;
    uint64_t next_block_id_ = 0;
    int64_t last_batch_id_ = -1;
    std::unordered_map<uint64_t, uint64_t> block_segment_;  // pending block id -> segment seq
};

/// `sluice wal inspect DIR [--blocks]`: prints the segments, blocks, offsets covered and what
/// is pending replay, without changing anything. Returns the exit code.
int wal_command(int argc, const char *const argv[]);

}  // namespace sluice::wal
