// WriteAheadLog (host/wal/write_ahead_log.hpp): recovery, torn tails, corruption, segment
// rollover and deletion, the size limit, the directory lock and group-commit durability.
#include "wal/write_ahead_log.hpp"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.hpp"
#include "wal_test_helpers.hpp"

namespace sluice::wal {
namespace {

namespace fs = std::filesystem;
using test::block_ids_in;
using test::make_block;
using test::segment_files;
using test::snapshot;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Blocks with values this large fill a segment of kSmallSegment bytes on their own, so every
// block after the first starts a new segment.
constexpr uint64_t kSmallSegment = 256;
constexpr size_t kBigValue = 300;

std::string segment_name(uint64_t seq) {
    std::string digits = std::to_string(seq);
    return std::string(20 - digits.size(), '0') + digits + ".wal";
}

std::vector<uint64_t> ids_of(const std::vector<std::unique_ptr<Block>> &blocks) {
    std::vector<uint64_t> ids;
    for (const auto &b : blocks) ids.push_back(b->id);
    return ids;
}

uint64_t total_size(const fs::path &dir) {
    uint64_t n = 0;
    for (const auto &path : segment_files(dir)) n += fs::file_size(path);
    return n;
}

class WalTest : public ::testing::Test {
  protected:
    WalOptions options(uint64_t segment_bytes = 64ull << 20) const {
        WalOptions o;
        o.dir = dir_;
        o.segment_bytes = segment_bytes;
        return o;
    }

    /// Seals and appends a block with a fresh id; returns the id.
    static uint64_t append_block(WriteAheadLog &wal, const TopicPartition &tp, int64_t from,
                                 int count, size_t value_bytes = 0) {
        const uint64_t id = wal.allocate_block_id();
        wal.append(*make_block(id, tp, from, count, value_bytes));
        return id;
    }

    /// Opening the WAL must fail with a WalError naming `file` and `offset`, changing nothing.
    void expect_corrupt(const fs::path &file, uint64_t offset) {
        const auto before = snapshot(dir_);
        for (int attempt = 0; attempt < 2; ++attempt) {
            try {
                WriteAheadLog wal(options(kSmallSegment));
                ADD_FAILURE() << "a corrupt WAL opened";
            } catch (const WalError &e) {
                EXPECT_THAT(e.what(), HasSubstr(file.string()));
                EXPECT_THAT(e.what(), HasSubstr("at byte " + std::to_string(offset) + ":"));
                EXPECT_THAT(e.what(), HasSubstr("nothing was deleted"));
            }
            EXPECT_EQ(snapshot(dir_), before) << "a failed start changed the directory";
        }
    }

    sluice::test::TempDir tmp_ = sluice::test::temp_dir("sluice-wal-test");
    fs::path dir_ = tmp_.path() / "wal";
};

TEST_F(WalTest, FreshDirectoryIsCreatedLockedAndEmpty) {
    WriteAheadLog wal(options());
    Recovery rec = wal.take_recovery();
    EXPECT_TRUE(rec.pending.empty());
    EXPECT_EQ(rec.last_batch_id, -1);
    EXPECT_EQ(rec.segments, 0u);
    EXPECT_EQ(rec.torn_bytes, 0u);
    EXPECT_EQ(wal.allocate_block_id(), 0u);
    EXPECT_TRUE(fs::exists(dir_ / "lock"));
    ASSERT_EQ(segment_files(dir_).size(), 1u);
    EXPECT_EQ(segment_files(dir_)[0].filename(), segment_name(0));
    EXPECT_EQ(wal.disk_bytes(), total_size(dir_));
    EXPECT_EQ(wal.pending_blocks(), 0u);
}

TEST_F(WalTest, ReopenReplaysPendingBlocksInLogOrder) {
    uint64_t a, b, c;
    {
        WriteAheadLog wal(options());
        a = wal.allocate_block_id();
        b = wal.allocate_block_id();
        c = wal.allocate_block_id();
        // Log order differs from id order: replay follows the log.
        wal.append(*make_block(c, {"orders", 1}, 50, 3));
        wal.append(*make_block(a, {"orders", 0}, 0, 4));
        wal.append(*make_block(b, {"audit log", 0}, 7, 2));
        EXPECT_EQ(wal.pending_blocks(), 3u);
        wal.mark_done(5, {a});
        EXPECT_EQ(wal.pending_blocks(), 2u);
    }
    WriteAheadLog wal(options());
    Recovery rec = wal.take_recovery();
    EXPECT_THAT(ids_of(rec.pending), ElementsAre(c, b));
    EXPECT_EQ(rec.pending[0]->range(), (OffsetRange{"orders", 1, 50, 53}));
    EXPECT_EQ(rec.pending[1]->range(), (OffsetRange{"audit log", 0, 7, 9}));
    ASSERT_EQ(rec.pending[0]->records.size(), 3u);
    const auto &r = rec.pending[0]->records[1];
    EXPECT_EQ(std::string(static_cast<const char *>(r.value), r.value_len), "v51");
    EXPECT_STREQ(r.topic, "orders");
    EXPECT_EQ(rec.last_batch_id, 5);
    EXPECT_EQ(rec.blocks_done, 1u);
    EXPECT_EQ(rec.segments, 1u);
    EXPECT_EQ(rec.torn_bytes, 0u);
    EXPECT_EQ(rec.torn_entries, 0u);
    EXPECT_EQ(wal.pending_blocks(), 2u);
    EXPECT_EQ(wal.allocate_block_id(), 3u) << "block ids continue across a restart";

    // Replaying marks the blocks done; the next start has nothing to replay.
    wal.mark_done(6, {c, b});
    EXPECT_EQ(wal.pending_blocks(), 0u);
}

TEST_F(WalTest, CountersSurviveTheDeletionOfEverySegment) {
    {
        WriteAheadLog wal(options(kSmallSegment));
        std::vector<uint64_t> ids;
        for (int i = 0; i < 3; ++i)
            ids.push_back(append_block(wal, {"t", 0}, i * 10, 2, kBigValue));
        wal.mark_done(41, ids);
    }
    for (const auto &path : segment_files(dir_))
        EXPECT_TRUE(block_ids_in(path).empty()) << path << " still holds processed blocks";

    for (int generation = 0; generation < 2; ++generation) {
        WriteAheadLog wal(options(kSmallSegment));
        Recovery rec = wal.take_recovery();
        EXPECT_TRUE(rec.pending.empty());
        EXPECT_EQ(rec.last_batch_id, 41) << "generation " << generation;
        EXPECT_EQ(wal.allocate_block_id(), 3u) << "generation " << generation;
        EXPECT_EQ(segment_files(dir_).size(), 1u);
    }
}

TEST_F(WalTest, TornTailIsCutReportedAndTheDataBeforeItKept) {
    const std::string partial = test::framed(make_block(99, {"t", 0}, 100, 5)->payload);
    const std::vector<std::pair<std::string, std::string>> tails = {
        {"partial entry", partial.substr(0, partial.size() - 7)},
        {"partial frame header", partial.substr(0, 3)},
        {"zero-filled tail", std::string(4096, '\0')},
    };
    for (const auto &[name, tail] : tails) {
        SCOPED_TRACE(name);
        fs::remove_all(dir_);
        {
            WriteAheadLog wal(options());
            append_block(wal, {"t", 0}, 0, 3);
            append_block(wal, {"t", 0}, 3, 3);
        }
        const fs::path segment = dir_ / segment_name(0);
        const uint64_t good_size = fs::file_size(segment);
        test::append_bytes(segment, tail);

        {
            WriteAheadLog wal(options());
            Recovery rec = wal.take_recovery();
            EXPECT_EQ(rec.torn_bytes, tail.size());
            EXPECT_EQ(rec.torn_entries, 1u);
            EXPECT_EQ(rec.torn_segment, segment_name(0));
            EXPECT_FALSE(rec.torn_reason.empty());
            EXPECT_THAT(ids_of(rec.pending), ElementsAre(0u, 1u));
            EXPECT_EQ(fs::file_size(segment), good_size);
            EXPECT_EQ(wal.disk_bytes(), total_size(dir_));
            EXPECT_EQ(wal.allocate_block_id(), 2u);
        }
        // Cut once: the next start finds a clean log with the same blocks.
        WriteAheadLog wal(options());
        Recovery rec = wal.take_recovery();
        EXPECT_EQ(rec.torn_bytes, 0u);
        EXPECT_EQ(rec.torn_entries, 0u);
        EXPECT_THAT(ids_of(rec.pending), ElementsAre(0u, 1u));
    }
}

// A crash between creating a segment and writing its magic line leaves an empty (or
// magic-truncated) newest file. It must not stay behind an older pending segment, where the
// next start would read it as a corrupt older segment.
TEST_F(WalTest, NewestSegmentWithoutAHeaderIsDroppedForGood) {
    for (const size_t magic_bytes : {size_t{0}, size_t{5}}) {
        SCOPED_TRACE("magic bytes " + std::to_string(magic_bytes));
        fs::remove_all(dir_);
        {
            WriteAheadLog wal(options());
            append_block(wal, {"t", 0}, 0, 3);
        }
        test::write_bytes(dir_ / segment_name(1), kSegmentMagic.substr(0, magic_bytes));
        for (int start = 0; start < 3; ++start) {
            WriteAheadLog wal(options());
            Recovery rec = wal.take_recovery();
            EXPECT_THAT(ids_of(rec.pending), ElementsAre(0u)) << "start " << start;
            EXPECT_EQ(wal.allocate_block_id(), 1u);
            if (start == 0) {
                EXPECT_EQ(rec.torn_segment, segment_name(1));
                EXPECT_EQ(rec.torn_bytes, magic_bytes);
            }
        }
    }
}

TEST_F(WalTest, CorruptionInAnOlderSegmentNamesFileAndOffsetAndChangesNothing) {
    {
        WriteAheadLog wal(options(kSmallSegment));
        for (int i = 0; i < 4; ++i) append_block(wal, {"t", 0}, i * 10, 2, kBigValue);
    }
    const auto files = segment_files(dir_);
    ASSERT_EQ(files.size(), 4u);
    const fs::path victim = files[1];
    const std::string good = test::read_bytes(victim);
    const auto entries = scan_segment(good, false).entries;
    ASSERT_EQ(entries.size(), 3u);  // start mark, synced mark (of the start mark), block
    ASSERT_EQ(entries[2].type, EntryType::block);
    const uint64_t block_at = entries[2].offset;

    // A flipped payload byte in a block.
    std::string bad = good;
    bad[block_at + kFrameHeaderBytes + 40] ^= 0x10;
    test::write_bytes(victim, bad);
    expect_corrupt(victim, block_at);

    // A partial entry at the end of a segment that is not the newest: not a torn write.
    test::write_bytes(victim, good + test::framed(encode_done({1, {2}})).substr(0, 10));
    expect_corrupt(victim, good.size());

    // An entry whose CRC is right but whose content does not parse.
    test::write_bytes(victim, good + test::framed(encode_done({1, {2}}) + "stray"));
    expect_corrupt(victim, good.size());
}

// With wal-fsync=block, the block after a bad one carries a synced mark covering it: the bad
// block had been fsynced (and its offsets committed), so this is corruption, not a torn tail.
TEST_F(WalTest, BadEntryInsideFsyncedBytesOfTheNewestSegmentIsCorruption) {
    {
        WriteAheadLog wal(options());
        append_block(wal, {"t", 0}, 0, 3);
        append_block(wal, {"t", 0}, 3, 3);
    }
    const fs::path newest = dir_ / segment_name(0);
    std::string bytes = test::read_bytes(newest);
    std::vector<uint64_t> blocks_at;
    for (const auto &entry : scan_segment(bytes, true).entries)
        if (entry.type == EntryType::block) blocks_at.push_back(entry.offset);
    ASSERT_EQ(blocks_at.size(), 2u);
    bytes[blocks_at[0] + kFrameHeaderBytes + 5] ^= 0x01;
    test::write_bytes(newest, bytes);
    expect_corrupt(newest, blocks_at[0]);
}

// Group commit, and a crash before the fsync: the blocks never synced may reach the disk in any
// order. A bad block followed by a valid one, past the last fsync the log recorded, is a torn
// tail: cut, and the start goes on with what was synced.
TEST_F(WalTest, BadEntryPastTheLastFsyncOfTheNewestSegmentIsCut) {
    WalOptions o = options();
    o.fsync_interval = std::chrono::milliseconds(50);
    uint64_t synced_id = 0;
    {
        WriteAheadLog wal(o);
        synced_id = append_block(wal, {"t", 0}, 0, 3);
        wal.sync();
        append_block(wal, {"t", 0}, 3, 3);  // never synced
        append_block(wal, {"t", 0}, 6, 3);
    }
    const fs::path newest = dir_ / segment_name(0);
    std::string bytes = test::read_bytes(newest);
    std::vector<uint64_t> blocks_at;
    for (const auto &entry : scan_segment(bytes, true).entries)
        if (entry.type == EntryType::block) blocks_at.push_back(entry.offset);
    ASSERT_EQ(blocks_at.size(), 3u);
    bytes[blocks_at[1] + kFrameHeaderBytes + 5] ^= 0x01;
    test::write_bytes(newest, bytes);

    WriteAheadLog wal(o);
    Recovery rec = wal.take_recovery();
    EXPECT_THAT(ids_of(rec.pending), ElementsAre(synced_id));
    EXPECT_EQ(rec.torn_segment, segment_name(0));
    EXPECT_EQ(rec.torn_bytes, bytes.size() - blocks_at[1]);
    EXPECT_THAT(rec.torn_reason, HasSubstr("CRC"));
    EXPECT_EQ(fs::file_size(newest), blocks_at[1]);
}

TEST_F(WalTest, SegmentsRollOverAndAreDeletedOldestFirst) {
    uint64_t b[4];
    {
        WriteAheadLog wal(options(kSmallSegment));
        for (int i = 0; i < 4; ++i) b[i] = append_block(wal, {"t", i % 2}, i * 10, 2, kBigValue);
        auto files = segment_files(dir_);
        ASSERT_EQ(files.size(), 4u);
        for (int i = 0; i < 4; ++i) {
            EXPECT_EQ(files[i].filename(), segment_name(i));
            EXPECT_THAT(block_ids_in(files[i]), ElementsAre(b[i]));
        }
        EXPECT_EQ(wal.disk_bytes(), total_size(dir_));

        // Segments 1 and 2 are fully processed but sit behind segment 0, which is not: kept.
        wal.mark_done(1, {b[1], b[2]});
        files = segment_files(dir_);
        ASSERT_EQ(files.size(), 5u);  // the done mark started segment 4
        EXPECT_EQ(files.front().filename(), segment_name(0));
        EXPECT_EQ(wal.pending_blocks(), 2u);

        // Segment 0 done: 0, 1 and 2 go; 3 (pending) and the newest stay.
        wal.mark_done(2, {b[0]});
        files = segment_files(dir_);
        ASSERT_EQ(files.size(), 2u);
        EXPECT_EQ(files[0].filename(), segment_name(3));
        EXPECT_EQ(files[1].filename(), segment_name(4));
        EXPECT_EQ(wal.disk_bytes(), total_size(dir_));
        EXPECT_EQ(wal.pending_blocks(), 1u);
    }
    {
        WriteAheadLog wal(options(kSmallSegment));
        Recovery rec = wal.take_recovery();
        EXPECT_THAT(ids_of(rec.pending), ElementsAre(b[3]));
        EXPECT_EQ(rec.pending[0]->range(), (OffsetRange{"t", 1, 30, 32}));
        EXPECT_EQ(rec.last_batch_id, 2);
        EXPECT_EQ(rec.segments, 2u);
        wal.mark_done(3, {b[3]});
        EXPECT_EQ(segment_files(dir_).size(), 1u);
        EXPECT_EQ(wal.disk_bytes(), total_size(dir_));
    }
    WriteAheadLog wal(options(kSmallSegment));
    EXPECT_TRUE(wal.take_recovery().pending.empty());
    EXPECT_EQ(wal.allocate_block_id(), 4u);
}

TEST_F(WalTest, FullAtMaxBytesUntilProcessedSegmentsAreDeleted) {
    WalOptions o = options(512);
    o.max_bytes = 2048;
    WriteAheadLog wal(o);
    std::vector<uint64_t> ids;
    while (!wal.full()) {
        ASSERT_LT(ids.size(), 100u) << "never full";
        ids.push_back(append_block(wal, {"t", 0}, static_cast<int64_t>(ids.size()), 1, kBigValue));
    }
    EXPECT_GE(wal.disk_bytes(), 2048u);
    EXPECT_LT(wal.disk_bytes() - 2048u, 512u + kBigValue) << "overshoots by at most one block";
    EXPECT_EQ(wal.disk_bytes(), total_size(dir_));
    wal.mark_done(0, ids);
    EXPECT_FALSE(wal.full());
    EXPECT_LT(wal.disk_bytes(), 1024u);
    EXPECT_EQ(wal.disk_bytes(), total_size(dir_));
}

TEST_F(WalTest, LockKeepsASecondInstanceOut) {
    auto first = std::make_unique<WriteAheadLog>(options());
    try {
        WriteAheadLog second(options());
        FAIL() << "two WriteAheadLogs opened the same directory";
    } catch (const WalError &e) {
        EXPECT_THAT(e.what(), HasSubstr(dir_.string()));
        EXPECT_THAT(e.what(), HasSubstr("in use"));
    }
    // flock belongs to the open file description: any other open() of the lock file, even in
    // this process, conflicts (which is what makes the check above work in one process).
    const int fd = ::open((dir_ / "lock").c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(::flock(fd, LOCK_EX | LOCK_NB), -1);
    EXPECT_EQ(errno, EWOULDBLOCK);

    first.reset();
    EXPECT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0) << "the lock is released on destruction";
    ::flock(fd, LOCK_UN);
    ::close(fd);
    WriteAheadLog again(options());
    EXPECT_TRUE(again.take_recovery().pending.empty());
}

TEST_F(WalTest, GroupCommitDefersDurabilityUntilSync) {
    WalOptions o = options();
    o.fsync_interval = std::chrono::milliseconds(100);
    WriteAheadLog wal(o);
    const uint64_t start = wal.durable_position();
    const uint64_t first = wal.append(*make_block(wal.allocate_block_id(), {"t", 0}, 0, 3));
    EXPECT_GT(first, start);
    EXPECT_EQ(wal.durable_position(), start) << "append synced in group-commit mode";
    const uint64_t second = wal.append(*make_block(wal.allocate_block_id(), {"t", 0}, 3, 3));
    EXPECT_GT(second, first);
    EXPECT_EQ(wal.durable_position(), start);
    EXPECT_EQ(wal.sync(), second);
    EXPECT_EQ(wal.durable_position(), second);
    EXPECT_EQ(wal.sync(), second);

    // mark_done is always durable on return.
    wal.append(*make_block(wal.allocate_block_id(), {"t", 0}, 6, 3));
    wal.mark_done(0, {0});
    EXPECT_GT(wal.durable_position(), second);
}

TEST_F(WalTest, PerBlockFsyncMakesEveryAppendDurable) {
    WriteAheadLog wal(options());
    const uint64_t position = wal.append(*make_block(wal.allocate_block_id(), {"t", 0}, 0, 3));
    EXPECT_EQ(wal.durable_position(), position);
}

TEST_F(WalTest, ConcurrentAppendsAreAllRecovered) {
    constexpr int kThreads = 4, kBlocks = 40;
    WalOptions o = options(4096);
    o.fsync_interval = std::chrono::milliseconds(10);
    {
        WriteAheadLog wal(o);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&wal, t] {
                for (int i = 0; i < kBlocks; ++i) append_block(wal, {"t", t}, i * 2, 2, 50);
            });
        for (auto &thread : threads) thread.join();
        wal.sync();
    }
    WriteAheadLog wal(o);
    Recovery rec = wal.take_recovery();
    ASSERT_EQ(rec.pending.size(), size_t{kThreads * kBlocks});
    std::set<uint64_t> ids;
    std::vector<int64_t> next_from(kThreads, 0);
    for (const auto &block : rec.pending) {
        ids.insert(block->id);
        // Per partition, the log keeps each thread's order.
        EXPECT_EQ(block->from_offset, next_from[block->tp.partition]);
        next_from[block->tp.partition] = block->until_offset;
    }
    EXPECT_EQ(ids.size(), size_t{kThreads * kBlocks});
}

// The batch_id promise: a batch planned before a crash is replayed with the same id, time and
// blocks in the same order; blocks in no plan come after, for new batches.
TEST_F(WalTest, APlannedBatchIsReplayedAsItWasAndTheRestAfterIt) {
    uint64_t a, b, c, d;
    {
        WriteAheadLog wal(options());
        a = append_block(wal, {"t", 0}, 0, 3);
        b = append_block(wal, {"t", 1}, 0, 3);
        wal.plan_batch(6, 1'700'000'000'600, {a});
        wal.mark_done(6, {a});
        c = append_block(wal, {"t", 0}, 3, 3);
        d = append_block(wal, {"t", 1}, 3, 3);
        wal.plan_batch(7, 1'700'000'000'900, {d, b});  // the crash comes while 7 runs
    }
    {
        WriteAheadLog wal(options());
        Recovery rec = wal.take_recovery();
        ASSERT_EQ(rec.planned.size(), 1u);
        EXPECT_EQ(rec.planned[0].batch_id, 7);
        EXPECT_EQ(rec.planned[0].batch_time_ms, 1'700'000'000'900);
        EXPECT_THAT(ids_of(rec.planned[0].blocks), ElementsAre(d, b)) << "the planned order";
        EXPECT_THAT(ids_of(rec.pending), ElementsAre(c));
        EXPECT_EQ(rec.last_batch_id, 7) << "the next new batch is 8";
        EXPECT_EQ(wal.pending_blocks(), 3u);
        // Replayed as batch 7 again: closed by its done mark.
        wal.mark_done(7, {d, b});
    }
    WriteAheadLog wal(options());
    Recovery rec = wal.take_recovery();
    EXPECT_TRUE(rec.planned.empty());
    EXPECT_THAT(ids_of(rec.pending), ElementsAre(c));
    EXPECT_EQ(rec.last_batch_id, 7);
}

// An empty batch that was planned and crashed is replayed empty under its id, so the id never
// names two different batches.
TEST_F(WalTest, AnEmptyPlannedBatchIsReplayedEmpty) {
    {
        WriteAheadLog wal(options());
        wal.plan_batch(3, 1'700'000'000'000, {});
    }
    WriteAheadLog wal(options());
    Recovery rec = wal.take_recovery();
    ASSERT_EQ(rec.planned.size(), 1u);
    EXPECT_EQ(rec.planned[0].batch_id, 3);
    EXPECT_TRUE(rec.planned[0].blocks.empty());
    EXPECT_EQ(rec.last_batch_id, 3);
}

// A segment holding an open plan is not deleted even when all its blocks are done: the plan
// would be lost and the batch's blocks regrouped under another id.
TEST_F(WalTest, ASegmentWithAnOpenPlanIsKept) {
    uint64_t a, b;
    {
        WriteAheadLog wal(options(kSmallSegment));
        a = append_block(wal, {"t", 0}, 0, 2, kBigValue);
        b = append_block(wal, {"t", 0}, 2, 2, kBigValue);
        wal.plan_batch(0, 1'000, {a});
        wal.mark_done(0, {a});
        wal.plan_batch(1, 2'000, {b});
        // Roll over a few more times; every segment before the plan's may go, that one not.
        for (int i = 0; i < 3; ++i) wal.mark_done(-1, {});
    }
    WriteAheadLog wal(options(kSmallSegment));
    Recovery rec = wal.take_recovery();
    ASSERT_EQ(rec.planned.size(), 1u);
    EXPECT_EQ(rec.planned[0].batch_id, 1);
    EXPECT_THAT(ids_of(rec.planned[0].blocks), ElementsAre(b));
}

// Segments of the first format (no plans, no synced marks) read as before.
TEST_F(WalTest, SegmentsWithoutTheNewEntryTypesStillRecover) {
    fs::create_directories(dir_);
    auto a = make_block(4, {"t", 0}, 0, 3);
    auto b = make_block(5, {"t", 0}, 3, 3);
    test::write_bytes(
        dir_ / segment_name(0),
        test::segment_of({encode_start({4, 2}), a->payload, b->payload, encode_done({3, {4}})}));
    WriteAheadLog wal(options());
    Recovery rec = wal.take_recovery();
    EXPECT_TRUE(rec.planned.empty());
    EXPECT_THAT(ids_of(rec.pending), ElementsAre(5u));
    EXPECT_EQ(rec.last_batch_id, 3);
    EXPECT_EQ(wal.allocate_block_id(), 6u);
}

TEST_F(WalTest, OtherFilesInTheDirectoryAreIgnored) {
    fs::create_directories(dir_);
    test::write_bytes(dir_ / "README", "notes");
    test::write_bytes(dir_ / "123.wal", "short name, not a segment");
    test::write_bytes(dir_ / "0000000000000000000x.wal", "not digits");
    test::write_bytes(dir_ / "99999999999999999999.wal", "a sequence number over 64 bits");
    {
        WriteAheadLog wal(options());
        EXPECT_EQ(wal.take_recovery().segments, 0u);
    }
    EXPECT_TRUE(fs::exists(dir_ / "README"));
    EXPECT_TRUE(fs::exists(dir_ / "123.wal"));
    EXPECT_TRUE(fs::exists(dir_ / "0000000000000000000x.wal"));
    EXPECT_TRUE(fs::exists(dir_ / "99999999999999999999.wal"));
}

}  // namespace
}  // namespace sluice::wal
