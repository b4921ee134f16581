#pragma once
// The receiver's write-ahead log: a directory of segment files (wal_format.hpp) holding every
// block until the batch that processed it is done. Spark's
// spark.streaming.receiver.writeAheadLog.enable, on local disk.

#include <sys/uio.h>

#include <atomic>
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

/// A batch planned (plan_batch) and not done before the last stop: replayed as it was.
struct PlannedBatch {
    int64_t batch_id = -1;
    int64_t batch_time_ms = 0;
    std::vector<std::unique_ptr<Block>> blocks;  // in the planned order
};

/// What start-up found in the directory.
struct Recovery {
    std::vector<PlannedBatch> planned;            // by batch id; replay these first, as they were
    std::vector<std::unique_ptr<Block>> pending;  // never done, in no open plan; log order
    int64_t last_batch_id = -1;                   // the newest batch id planned or done
    size_t segments = 0;                          // segment files found
    size_t blocks_done = 0;                       // blocks found already processed
    // Per partition, the end (last offset + 1) of its newest block found, done or not: once
    // the pending blocks are replayed, every offset below it was processed.
    std::map<TopicPartition, int64_t> until;
    uint64_t torn_bytes = 0;   // cut from the newest segment's tail
    size_t torn_entries = 0;   // 1 when a partial entry was cut, else 0
    std::string torn_segment;  // its file name
    std::string torn_reason;
};

/// Lifecycle: opened by the receiver stream on the control thread (recovering the directory),
/// used by the consumer threads (append, sync) and the batch thread (plan_batch, mark_done) at
/// once, closed by the destructor after those threads are joined. Holds an exclusive flock on
/// <dir>/lock, so two live processes never share a WAL. Thread-safe; every write and fsync
/// runs under one mutex (appends are O_APPEND, and a failed write is cut back before anyone
/// else can append after it).
///
/// I/O errors are final. The first failed write, fsync (file or directory), create or close
/// latches: it and every later append, sync, durable_position, plan_batch and mark_done throw
/// WalError with that one message, which names the file and errno. After a failed fsync Linux
/// may have dropped the dirty pages and a later fsync can succeed without them (PostgreSQL's
/// "fsyncgate"), so the durable position never moves again and nothing more may be committed;
/// failed() tells the consumers so. A failed write is first cut back (ftruncate to the size
/// before it, fsync), so no half frame sits in the log for recovery to trip over.
class WriteAheadLog {
  public:
    /// Creates the directory if needed (fsyncing its parent), locks it, reads every segment
    /// (a read error stops here, changing nothing), cuts a torn tail of the newest one (see
    /// scan_segment; the cut is fsynced) and deletes segments that hold nothing pending.
    /// Throws WalError (corrupt segment: names the file and byte offset; nothing is deleted
    /// then).
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
    /// Throws the latched error once the log has failed (the position must not be trusted).
    uint64_t durable_position() const;

    /// Records, durably, that batch `batch_id` at `batch_time_ms` is about to process
    /// `block_ids` (in that order), so that a crash replays the same batch. thread: batch
    void plan_batch(int64_t batch_id, int64_t batch_time_ms,
                    const std::vector<uint64_t> &block_ids);
    /// Records that batch `batch_id` processed `block_ids`, makes that durable, and deletes the
    /// oldest segments whose blocks are all done. thread: batch
    void mark_done(int64_t batch_id, const std::vector<uint64_t> &block_ids);

    /// Whether an I/O error has stopped the log (any thread, no lock).
    bool failed() const { return failed_.load(std::memory_order_acquire); }
    /// The one-line message of that error; empty while the log works.
    std::string failure() const;

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
        size_t pending = 0;     // blocks in it not yet marked done
        size_t open_plans = 0;  // batch plans in it whose batch is not done
        bool live() const { return pending > 0 || open_plans > 0; }
    };

    void recover();
    void open_segment_locked();  // starts segment last seq + 1 (closing the current one)
    void write_entry_locked(const std::string &payload);
    /// Writes `parts` whole at the end of the current segment, or cuts it back and latches.
    void write_locked(struct iovec *parts, int count);
    void sync_locked();
    void fsync_dir_locked();
    void delete_done_segments_locked();
    void check_usable_locked() const;  // throws the latched error
    /// Latches `message` (unless an earlier error already did) and throws the latched one.
    [[noreturn]] void fail_locked(const std::string &message);

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
    std::map<int64_t, uint64_t> plan_segment_;              // open plan's batch id -> segment seq
    // Synced marks: bytes of the current segment at its last fsync, and the last value written.
    uint64_t synced_bytes_ = 0;
    uint64_t noted_bytes_ = 0;
    std::string failure_;  // set once, before failed_ (then never changed)
    std::atomic<bool> failed_{false};
};

/// The whole of a file, read with read(2) and checked against its size: a read error or a
/// short read throws WalError naming the file, never returns a short buffer.
std::string read_segment_file(const std::filesystem::path &path);

}  // namespace sluice::wal
