#pragma once
// The on-disk format of the receiver's write-ahead log, as pure functions (no I/O), so the
// writer, recovery, `sluice wal inspect` and the fuzz target share one reader.
//
// A segment file is the magic line, then entries. Every entry is framed as
//
//   u32 payload length | u32 CRC-32C of the payload | payload
//
// (little-endian), written with one write() call. The payload's first byte is its type:
//
//   block (1): u64 block id, u16 topic length, topic, i32 partition, i64 from offset,
//              i64 until offset, i64 sealed time (Unix ms), u32 record count, then per record:
//              i64 offset, i64 timestamp, i8 timestamp type, i32 key length (-1 = null), key,
//              i32 value length (-1 = null), value, u16 header count, then per header:
//              u16 name length, name, i32 value length (-1 = null), value
//   done  (2): i64 batch id, u32 count, count x u64 block id: those blocks were processed
//              (or replayed) by batch `batch id`
//   start (3): u64 next block id, i64 last batch id: the counters when the segment was
//              opened, so they survive the deletion of older segments
//   plan  (4): i64 batch id, i64 batch time (Unix ms), u32 count, count x u64 block id: batch
//              `batch id` is about to run on exactly these blocks, in this order; written and
//              fsynced before the batch runs, so a crash replays the same batch (same id, time
//              and blocks). Closed by the done mark with the same batch id.
//   synced (5): u64 bytes: this segment was fsynced through byte `bytes` before this entry
//              was written. Written with the next entry after each fsync; recovery uses it to
//              tell a torn tail (past the last fsync) from corruption (inside fsynced bytes).
//
// Types 4 and 5 were added after the first release; a log without them reads as before.

#include <sluice/sluice.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.hpp"

namespace sluice::wal {

/// A WAL that cannot be used as it is: corrupt, from another version, locked, unwritable.
/// what() is one line naming the file (and byte offset) and what to do.
class WalError : public std::runtime_error {
    using runtime_error::runtime_error;
};

inline constexpr std::string_view kSegmentMagic = "sluice-wal 1\n";
inline constexpr size_t kFrameHeaderBytes = 8;
inline constexpr uint32_t kMaxEntryBytes = 256u << 20;

enum class EntryType : uint8_t { block = 1, done = 2, start = 3, plan = 4, synced = 5 };
inline constexpr uint8_t kLastEntryType = 5;

/// One block: the records one consumer thread read from one partition during one block
/// interval, in offset order. `payload` is the WAL entry itself; `records` and `headers` are
/// views into it (and into `tp.topic`), so a Block never moves: it lives in a unique_ptr.
struct Block {
    uint64_t id = 0;
    TopicPartition tp;
    int64_t from_offset = 0;   // first record's offset
    int64_t until_offset = 0;  // last record's offset + 1
    int64_t sealed_ms = 0;
    std::string payload;
    std::vector<sluice_record_t> records;
    std::vector<sluice_header_t> headers;
    int reader = -1;  // in memory only: the consumer thread that read it (-1: replayed)

    Block() = default;
    Block(const Block &) = delete;
    Block &operator=(const Block &) = delete;

    size_t bytes() const { return payload.size(); }
    OffsetRange range() const { return {tp.topic, tp.partition, from_offset, until_offset}; }

    /// Parses a block entry's payload. Throws WalError (without a file name: callers add it).
    static std::unique_ptr<Block> parse(std::string payload);
};

/// Accumulates the records of one partition into the payload of a block entry.
/// Lifecycle: owned by one consumer thread; seal() hands out the block and starts anew.
class BlockBuilder {
  public:
    explicit BlockBuilder(TopicPartition tp);

    /// key/value: nullptr = null (a non-null pointer with length 0 is empty).
    void add_record(int64_t offset, int64_t timestamp_ms, int32_t timestamp_type, const void *key,
                    size_t key_len, const void *value, size_t value_len, uint16_t header_count);
    /// Follows add_record, header_count times. value: nullptr = null.
    void add_header(std::string_view name, const void *value, size_t value_len);

    bool empty() const { return count_ == 0; }
    uint32_t count() const { return count_; }
    size_t bytes() const { return buffer_.size(); }
    const TopicPartition &topic_partition() const { return tp_; }
    int64_t next_offset() const { return until_; }

    std::unique_ptr<Block> seal(uint64_t id, int64_t sealed_ms);

  private:
    void start();

    TopicPartition tp_;
    std::string buffer_;
    uint32_t count_ = 0;
    int64_t from_ = -1, until_ = -1;
};

struct DoneMark {
    int64_t batch_id = -1;
    std::vector<uint64_t> block_ids;
};
struct StartMark {
    uint64_t next_block_id = 0;
    int64_t last_batch_id = -1;
};
struct PlanMark {
    int64_t batch_id = -1;
    int64_t batch_time_ms = 0;
    std::vector<uint64_t> block_ids;  // in batch order
};
struct SyncedMark {
    uint64_t synced_bytes = 0;  // of the segment holding the mark
};

std::string encode_done(const DoneMark &mark);
std::string encode_start(const StartMark &mark);
std::string encode_plan(const PlanMark &mark);
std::string encode_synced(const SyncedMark &mark);
DoneMark decode_done(std::string_view payload);      // throws WalError
StartMark decode_start(std::string_view payload);    // throws WalError
PlanMark decode_plan(std::string_view payload);      // throws WalError
SyncedMark decode_synced(std::string_view payload);  // throws WalError

/// The frame (length, CRC) for `payload`.
std::string frame_header(std::string_view payload);

/// One entry found in a segment: a view into the scanned bytes.
struct ScannedEntry {
    uint64_t offset = 0;  // of the frame in the file
    EntryType type = EntryType::block;
    std::string_view payload;
};

struct SegmentScan {
    enum class Tail {
        clean,    // every byte belongs to a valid entry
        torn,     // the newest segment has a bad entry past the last byte known to be fsynced
        corrupt,  // a bad entry inside fsynced bytes, a bad header, or any bad entry in an
                  // older segment
    };
    std::vector<ScannedEntry> entries;
    Tail tail = Tail::clean;
    uint64_t valid_bytes = 0;     // bytes up to the end of the last valid entry
    uint64_t problem_offset = 0;  // for torn and corrupt
    std::string problem;          // why, for torn and corrupt
    uint64_t known_synced = 0;    // the furthest byte a synced mark vouches for
};

/// Checks a whole segment's bytes. Never throws; block payloads are checked by their CRC here
/// and parsed by Block::parse.
///
/// What is torn and what is corrupt. Every older segment was fsynced whole before the next one
/// was created, so any bad byte in one is corruption. In the newest segment (`last_segment`),
/// only what lies past the last fsync can legitimately be garbage after a crash or power loss:
/// a partial frame, zeros where the file system extended the file but never wrote the data,
/// a bad CRC with a valid frame after it (pages reach the disk in any order). The writer
/// records each fsync in a synced mark written with its next entry; a synced mark that lies
/// *after* the first bad entry and vouches for bytes past it proves the bad entry was fsynced:
/// corruption. Without such proof the bad entry and everything after it is a torn tail, to be
/// cut. (The newest fsync is recorded only by the next write, so a bad entry written between
/// the last two fsyncs reads as torn: the one case where storage that corrupts fsynced bytes
/// costs committed blocks instead of stopping the start. A bad segment header is always
/// corruption, except a newest segment that holds nothing but a prefix of the magic line.)
SegmentScan scan_segment(std::string_view bytes, bool last_segment);

}  // namespace sluice::wal
