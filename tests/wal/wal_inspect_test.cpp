// `sluice wal inspect` (host/wal/wal_inspect.cpp), run as the real binary on WALs built here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "sluice_command.hpp"
#include "temp_dir.hpp"
#include "wal/write_ahead_log.hpp"
#include "wal_test_helpers.hpp"

namespace sluice::wal {
namespace {

namespace fs = std::filesystem;
using sluice::test::run_sluice;
using test::make_block;
using test::segment_files;
using test::snapshot;
using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

size_t count_lines(const std::string &text) {
    return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

class WalInspectTest : public ::testing::Test {
  protected:
    /// Three segments: block 0 (orders:0 0..9); 1 (orders:1 0..4) and 2 (orders:0 10..19);
    /// 3 (audit:2 100..101) and the done mark of batch 7, which processed block 1.
    void build_wal() {
        WalOptions o;
        o.dir = dir_;
        o.segment_bytes = 600;
        WriteAheadLog wal(o);
        auto append = [&](const TopicPartition &tp, int64_t from, int count) {
            wal.append(*make_block(wal.allocate_block_id(), tp, from, count, 20));
        };
        append({"orders", 0}, 0, 10);
        append({"orders", 1}, 0, 5);
        append({"orders", 0}, 10, 10);
        append({"audit", 2}, 100, 2);
        wal.mark_done(7, {1});
    }

    sluice::test::TempDir tmp_ = sluice::test::temp_dir("sluice-wal-inspect");
    fs::path dir_ = tmp_.path() / "wal";
};

TEST_F(WalInspectTest, SummarisesSegmentsAndPendingReplayPerPartition) {
    build_wal();
    const auto files = segment_files(dir_);
    ASSERT_EQ(files.size(), 3u);
    const auto before = snapshot(dir_);

    const auto result = run_sluice({"wal", "inspect", dir_.string()});
    ASSERT_EQ(result.status.code, 0) << result.err;
    EXPECT_EQ(result.err, "");
    EXPECT_THAT(result.out, HasSubstr("3 segments, "));
    EXPECT_THAT(result.out, HasSubstr("4 blocks (3 pending replay, 22 records), last processed "
                                      "batch 7"));
    for (const auto &file : files) EXPECT_THAT(result.out, HasSubstr(file.filename().string()));
    EXPECT_THAT(result.out, ContainsRegex("orders:0 +offsets \\[0, 20\\) in 2 blocks"));
    EXPECT_THAT(result.out, Not(ContainsRegex("orders:1 +offsets"))) << "processed";
    EXPECT_THAT(result.out, ContainsRegex("audit:2 +offsets \\[100, 102\\) in 1 blocks"));
    EXPECT_THAT(result.out, Not(HasSubstr("blocks:\n"))) << "blocks are listed only on request";
    EXPECT_EQ(snapshot(dir_), before) << "inspect changed the directory";
}

TEST_F(WalInspectTest, BlocksOptionListsEveryBlockWithItsState) {
    build_wal();
    const auto result = run_sluice({"wal", "inspect", dir_.string(), "--blocks"});
    ASSERT_EQ(result.status.code, 0) << result.err;
    EXPECT_THAT(result.out, HasSubstr("blocks:\n"));
    EXPECT_THAT(result.out, ContainsRegex("block +0 +orders:0 +offsets \\[0, 10\\) +10 records .* "
                                          "PENDING"));
    EXPECT_THAT(result.out, ContainsRegex("block +1 +orders:1 +offsets \\[0, 5\\) +5 records .* "
                                          "processed"));
    EXPECT_THAT(result.out, ContainsRegex("block +3 +audit:2 +offsets \\[100, 102\\) +2 records"));
}

TEST_F(WalInspectTest, ShowsAPlannedBatchThatNeverFinished) {
    {
        WalOptions o;
        o.dir = dir_;
        WriteAheadLog wal(o);
        const uint64_t a = wal.allocate_block_id(), b = wal.allocate_block_id();
        wal.append(*make_block(a, {"orders", 0}, 0, 3, 20));
        wal.append(*make_block(b, {"orders", 0}, 3, 3, 20));
        wal.plan_batch(8, 1'700'000'000'000, {a, b});
    }
    const auto result = run_sluice({"wal", "inspect", dir_.string()});
    ASSERT_EQ(result.status.code, 0) << result.err;
    EXPECT_THAT(result.out, HasSubstr("1 batch plans"));
    EXPECT_THAT(result.out, HasSubstr("planned batch 8 (time 1700000000000, 2 blocks) never "
                                      "finished: replayed first, as it was"));
    EXPECT_THAT(result.out, ContainsRegex("orders:0 +offsets \\[0, 6\\) in 2 blocks"));
}

TEST_F(WalInspectTest, WorksOnALiveLockedWalAndAnEmptyOne) {
    WalOptions o;
    o.dir = dir_;
    WriteAheadLog wal(o);
    test::write_bytes(dir_ / "99999999999999999999.wal", "not ours: over 64 bits");
    const auto result = run_sluice({"wal", "inspect", dir_.string()});
    ASSERT_EQ(result.status.code, 0) << result.err;
    EXPECT_THAT(result.out, HasSubstr("last processed batch none"));
    EXPECT_THAT(result.out, HasSubstr("pending replay: nothing"));
}

TEST_F(WalInspectTest, TornTailIsReportedNotCut) {
    build_wal();
    const fs::path newest = segment_files(dir_).back();
    test::append_bytes(newest, std::string(100, '\0'));
    const auto before = snapshot(dir_);
    const auto result = run_sluice({"wal", "inspect", dir_.string()});
    ASSERT_EQ(result.status.code, 0) << result.err;
    EXPECT_THAT(result.out, HasSubstr("[torn tail at byte"));
    EXPECT_THAT(result.out, HasSubstr("100 bytes are cut at the next start"));
    EXPECT_EQ(snapshot(dir_), before);
}

TEST_F(WalInspectTest, CorruptSegmentExitsOneWithALineNamingTheFile) {
    build_wal();
    const fs::path victim = segment_files(dir_).front();
    std::string bytes = test::read_bytes(victim);
    std::vector<ScannedEntry> entries;  // the start mark, then the first block
    for (const auto &entry : scan_segment(bytes, false).entries)
        if (entry.type == EntryType::start || entry.type == EntryType::block)
            entries.push_back(entry);
    ASSERT_GE(entries.size(), 2u);
    ASSERT_EQ(entries[1].type, EntryType::block);
    bytes[entries[1].offset + kFrameHeaderBytes + 30] ^= 0x04;
    test::write_bytes(victim, bytes);
    const auto before = snapshot(dir_);

    const auto result = run_sluice({"wal", "inspect", dir_.string()});
    EXPECT_EQ(result.status.code, 1);
    EXPECT_EQ(count_lines(result.err), 1u) << result.err;
    EXPECT_THAT(result.err,
                AllOf(HasSubstr(victim.string()),
                      HasSubstr("corrupt at byte " + std::to_string(entries[1].offset))));
    EXPECT_THAT(result.out, HasSubstr("[CORRUPT at byte"));
    EXPECT_EQ(snapshot(dir_), before);
}

TEST_F(WalInspectTest, MissingDirectoryExitsOne) {
    const auto result = run_sluice({"wal", "inspect", (tmp_.path() / "nowhere").string()});
    EXPECT_EQ(result.status.code, 1);
    EXPECT_THAT(result.err, HasSubstr("is not a directory"));
}

TEST_F(WalInspectTest, UsageErrorsExitTwo) {
    fs::create_directories(dir_);
    const std::vector<std::vector<std::string>> wrong = {
        {"wal"},
        {"wal", "check"},
        {"wal", "inspect"},
        {"wal", "inspect", "--verbose", dir_.string()},
        {"wal", "inspect", dir_.string(), dir_.string()},
    };
    for (const auto &args : wrong) {
        const auto result = run_sluice(args);
        EXPECT_EQ(result.status.code, 2) << "args: " << ::testing::PrintToString(args);
    }
    const auto help = run_sluice({"wal", "--help"});
    EXPECT_EQ(help.status.code, 0);
    EXPECT_THAT(help.out, HasSubstr("Usage: sluice wal inspect DIR [--blocks]"));
}

}  // namespace
}  // namespace sluice::wal
