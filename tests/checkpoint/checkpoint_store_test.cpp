#include "checkpoint/checkpoint_store.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "checkpoint/file_format.hpp"
#include "directory_snapshot.hpp"

namespace sluice::checkpoint {
namespace {

namespace fs = std::filesystem;
using sluice::test::directory_snapshot;
using ::testing::HasSubstr;

BatchPlan make_plan(int64_t id) {
    return {id,
            1'700'000'000'000 + id * 1000,
            {{"orders", 0, id * 10, id * 10 + 10},
             {"orders", 1, id * 7, id * 7 + 7},
             {"audit log", 3, 0, id}}};
}

std::string read_bytes(const fs::path &p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path &p, const std::string &bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << bytes;
}

std::set<std::string> names_in(const fs::path &dir) {
    std::set<std::string> names;
    for (const auto &e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
    return names;
}

class CheckpointStoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "sluice-ckpt-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        root_ = pattern;
        dir_ = root_ / "nested" / "ckpt";
    }
    void TearDown() override { fs::remove_all(root_); }

    // Batches 0..committed committed, 0..planned planned, in run-loop order.
    void run_batches(int64_t committed, int64_t planned, int retain = 100) {
        CheckpointStore store(dir_, retain);
        for (int64_t id = 0; id <= planned; ++id) {
            store.write_offsets(make_plan(id));
            if (id <= committed) store.write_commit(make_plan(id));
        }
    }

    fs::path root_;
    fs::path dir_;
};

TEST(FileFormatTest, Crc32cKnownAnswer) {
    EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // the CRC-32C check value
    EXPECT_EQ(crc32c(""), 0u);
}

TEST(FileFormatTest, FrameRoundTripAndDamage) {
    std::string payload = R"({"batch_id":3})";
    std::string file = encode_frame(payload);
    EXPECT_THAT(file, ::testing::StartsWith("sluice-checkpoint 2 "));  // the current format
    auto ok = decode_frame(file);
    ASSERT_EQ(ok.status, DecodedFrame::Status::kOk) << ok.problem;
    EXPECT_EQ(ok.payload, payload);

    EXPECT_EQ(decode_frame(file.substr(0, file.size() - 1)).status, DecodedFrame::Status::kTorn);
    EXPECT_EQ(decode_frame(file.substr(0, 10)).status, DecodedFrame::Status::kTorn);
    EXPECT_EQ(decode_frame("").status, DecodedFrame::Status::kTorn);
    EXPECT_EQ(decode_frame(file + "x").status, DecodedFrame::Status::kCorrupt);
    EXPECT_EQ(decode_frame("garbage\n{}").status, DecodedFrame::Status::kCorrupt);
    for (size_t i = file.find('\n') + 1; i < file.size(); ++i) {
        std::string flipped = file;
        flipped[i] ^= 0x01;
        EXPECT_EQ(decode_frame(flipped).status, DecodedFrame::Status::kCorrupt) << "byte " << i;
    }
    auto v3 = decode_frame("sluice-checkpoint 3 00000000 0 some-future-field\n");
    EXPECT_EQ(v3.status, DecodedFrame::Status::kUnknownVersion);
    EXPECT_EQ(v3.version, 3);
    // Format 1 (written by sluice before format 2) is still read.
    const std::string v1 = "sluice-checkpoint 1 " + fmt::format("{:08x}", crc32c(payload)) + " " +
                           std::to_string(payload.size()) + "\n" + payload;
    EXPECT_EQ(decode_frame(v1).status, DecodedFrame::Status::kOk);
}

TEST_F(CheckpointStoreTest, FreshDirectoryIsCreatedAndEmpty) {
    CheckpointStore store(dir_);
    EXPECT_EQ(store.dir(), dir_);
    auto state = store.recover();
    EXPECT_FALSE(state.last_committed);
    EXPECT_FALSE(state.pending);
    EXPECT_TRUE(state.warnings.empty());
    EXPECT_EQ(names_in(dir_),
              (std::set<std::string>{"bases", "commits", "lock", "metadata", "offsets"}));
    EXPECT_THAT(read_bytes(dir_ / "metadata"), HasSubstr("\"format_version\":2"));
}

TEST_F(CheckpointStoreTest, RoundTripSurvivesReopen) {
    BatchPlan plan = make_plan(4);
    plan.ranges.push_back({"empty", 2, 99, 99});
    {
        CheckpointStore store(dir_);
        store.write_offsets(plan);
        store.write_commit(plan);
    }
    CheckpointStore reopened(dir_);
    auto state = reopened.recover();
    ASSERT_TRUE(state.last_committed);
    EXPECT_EQ(*state.last_committed, plan);
    EXPECT_FALSE(state.pending);
    EXPECT_TRUE(state.warnings.empty());
    // Durable writes leave no temp file behind.
    EXPECT_EQ(names_in(dir_ / "offsets"), std::set<std::string>{"4"});
    EXPECT_EQ(names_in(dir_ / "commits"), std::set<std::string>{"4"});
}

TEST_F(CheckpointStoreTest, PendingBatchIsReturnedForReplay) {
    run_batches(/*committed=*/1, /*planned=*/2);
    CheckpointStore store(dir_);
    auto state = store.recover();
    ASSERT_TRUE(state.last_committed);
    EXPECT_EQ(*state.last_committed, make_plan(1));
    ASSERT_TRUE(state.pending);
    EXPECT_EQ(*state.pending, make_plan(2));

    // Once committed, it is no longer pending.
    store.write_commit(*state.pending);
    auto after = store.recover();
    EXPECT_EQ(after.last_committed, make_plan(2));
    EXPECT_FALSE(after.pending);
}

TEST_F(CheckpointStoreTest, PlannedWithoutAnyCommitIsPending) {
    run_batches(/*committed=*/-1, /*planned=*/0);
    CheckpointStore store(dir_);
    auto state = store.recover();
    EXPECT_FALSE(state.last_committed);
    EXPECT_EQ(state.pending, make_plan(0));
}

TEST_F(CheckpointStoreTest, TornNewestCommitFallsBackWithWarning) {
    run_batches(/*committed=*/2, /*planned=*/2);
    auto path = dir_ / "commits" / "2";
    auto bytes = read_bytes(path);
    fs::resize_file(path, bytes.size() - 5);

    CheckpointStore store(dir_);
    auto state = store.recover();
    EXPECT_EQ(state.last_committed, make_plan(1));
    // Batch 2 was planned and its commit is lost: replay it.
    EXPECT_EQ(state.pending, make_plan(2));
    ASSERT_EQ(state.warnings.size(), 1u);
    EXPECT_THAT(state.warnings[0], HasSubstr("batch 2"));
    EXPECT_THAT(state.warnings[0], HasSubstr("truncated"));
}

TEST_F(CheckpointStoreTest, TornNewestOffsetsInsideHeaderIsSkipped) {
    run_batches(/*committed=*/1, /*planned=*/3);
    fs::resize_file(dir_ / "offsets" / "3", 7);

    CheckpointStore store(dir_);
    auto state = store.recover();
    EXPECT_EQ(state.last_committed, make_plan(1));
    EXPECT_EQ(state.pending, make_plan(2));
    ASSERT_EQ(state.warnings.size(), 1u);
    EXPECT_THAT(state.warnings[0], HasSubstr("offset entry of batch 3"));
}

TEST_F(CheckpointStoreTest, CorruptNewestEntriesFallBackWithWarnings) {
    run_batches(/*committed=*/2, /*planned=*/3);
    for (const char *file : {"commits/2", "offsets/3"}) {
        auto path = dir_ / file;
        auto bytes = read_bytes(path);
        bytes[bytes.size() - 3] ^= 0x20;  // one flipped bit inside the JSON payload
        write_bytes(path, bytes);
    }

    CheckpointStore store(dir_);
    auto state = store.recover();
    EXPECT_EQ(state.last_committed, make_plan(1));
    EXPECT_EQ(state.pending, make_plan(2));
    ASSERT_EQ(state.warnings.size(), 2u);
    EXPECT_THAT(state.warnings, ::testing::Each(HasSubstr("CRC32C mismatch")));
    EXPECT_THAT(state.warnings, ::testing::Contains(HasSubstr("commit entry of batch 2")));
    EXPECT_THAT(state.warnings, ::testing::Contains(HasSubstr("offset entry of batch 3")));
}

TEST_F(CheckpointStoreTest, EntryUnderAnotherBatchNameIsSkipped) {
    run_batches(/*committed=*/1, /*planned=*/1);
    fs::copy_file(dir_ / "commits" / "1", dir_ / "commits" / "5");
    CheckpointStore store(dir_);
    auto state = store.recover();
    EXPECT_EQ(state.last_committed, make_plan(1));
    ASSERT_EQ(state.warnings.size(), 1u);
    EXPECT_THAT(state.warnings[0], HasSubstr("holds batch 1"));
}

TEST_F(CheckpointStoreTest, UnknownEntryVersionIsAnErrorAndChangesNothing) {
    run_batches(/*committed=*/1, /*planned=*/2);
    write_bytes(dir_ / "commits" / "3", "sluice-checkpoint 3 0badf00d 2\n{}");
    write_bytes(dir_ / "offsets" / "1.tmp", "half a write");
    auto before = directory_snapshot(dir_);

    try {
        CheckpointStore store(dir_);
        FAIL() << "opened a checkpoint holding a version 3 entry";
    } catch (const CheckpointError &e) {
        std::string what = e.what();
        EXPECT_THAT(what, HasSubstr("format version 3"));
        EXPECT_THAT(what, HasSubstr((dir_ / "commits" / "3").string()));
        EXPECT_THAT(what, HasSubstr("newer sluice"));
        EXPECT_EQ(what.find('\n'), std::string::npos);
    }
    EXPECT_EQ(directory_snapshot(dir_), before);
}

TEST_F(CheckpointStoreTest, UnknownMetadataVersionIsAnErrorAndChangesNothing) {
    run_batches(/*committed=*/0, /*planned=*/0);
    write_bytes(dir_ / "metadata", encode_frame(R"({"format_version":7})"));
    auto before = directory_snapshot(dir_);
    EXPECT_THROW(CheckpointStore store(dir_), CheckpointError);
    EXPECT_EQ(directory_snapshot(dir_), before);

    write_bytes(dir_ / "metadata", "sluice-checkpoint 7 00000000 0\n");
    EXPECT_THROW(CheckpointStore store(dir_), CheckpointError);
}

TEST_F(CheckpointStoreTest, DamagedMetadataIsRewrittenWithWarning) {
    run_batches(/*committed=*/0, /*planned=*/0);
    fs::resize_file(dir_ / "metadata", 12);
    CheckpointStore store(dir_);
    auto state = store.recover();
    EXPECT_EQ(state.last_committed, make_plan(0));
    ASSERT_EQ(state.warnings.size(), 1u);
    EXPECT_THAT(state.warnings[0], HasSubstr("metadata"));
    EXPECT_EQ(decode_frame(read_bytes(dir_ / "metadata")).status, DecodedFrame::Status::kOk);
}

TEST_F(CheckpointStoreTest, PathThatIsAFileIsAnError) {
    write_bytes(root_ / "plain", "not a directory");
    try {
        CheckpointStore store(root_ / "plain");
        FAIL() << "opened a regular file as a checkpoint directory";
    } catch (const CheckpointError &e) {
        EXPECT_THAT(e.what(), HasSubstr("not a directory"));
        EXPECT_THAT(e.what(), HasSubstr((root_ / "plain").string()));
    }
    EXPECT_EQ(read_bytes(root_ / "plain"), "not a directory");
    // A parent that is a file cannot be created through.
    EXPECT_THROW(CheckpointStore store(root_ / "plain" / "sub"), CheckpointError);
}

TEST_F(CheckpointStoreTest, ForeignNonEmptyDirectoryIsRefused) {
    fs::create_directories(dir_);
    write_bytes(dir_ / "notes.txt", "mine");
    auto before = directory_snapshot(dir_);
    EXPECT_THROW(CheckpointStore store(dir_), CheckpointError);
    EXPECT_EQ(directory_snapshot(dir_), before);
}

TEST_F(CheckpointStoreTest, RetainBelowOneIsRefused) {
    EXPECT_THROW(CheckpointStore store(dir_, 0), CheckpointError);
}

TEST_F(CheckpointStoreTest, SecondStoreOnSameDirectoryIsRefused) {
    auto first = std::make_unique<CheckpointStore>(dir_);
    try {
        CheckpointStore second(dir_);
        FAIL() << "two stores hold one checkpoint directory";
    } catch (const CheckpointError &e) {
        EXPECT_THAT(e.what(), HasSubstr("in use by another sluice process"));
        EXPECT_THAT(e.what(), HasSubstr("pid " + std::to_string(::getpid())));
    }
    first.reset();
    EXPECT_NO_THROW(CheckpointStore again(dir_));
}

TEST_F(CheckpointStoreTest, LockHeldByLiveProcessIsReleasedWhenItDies) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(ready[0]);
        try {
            CheckpointStore store(dir_);
            char ok = 'y';
            if (::write(ready[1], &ok, 1) != 1) ::_exit(2);
            for (;;) ::pause();  // held until SIGKILL, like a crashed host
        } catch (...) {
            ::_exit(1);
        }
    }
    ::close(ready[1]);
    char byte = 0;
    ASSERT_EQ(::read(ready[0], &byte, 1), 1);
    ::close(ready[0]);

    try {
        CheckpointStore store(dir_);
        ADD_FAILURE() << "opened a checkpoint another live process holds";
    } catch (const CheckpointError &e) {
        EXPECT_THAT(e.what(), HasSubstr("pid " + std::to_string(child)));
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_NO_THROW(CheckpointStore store(dir_));
}

TEST_F(CheckpointStoreTest, PruningKeepsRetainBatches) {
    run_batches(/*committed=*/9, /*planned=*/10, /*retain=*/3);
    EXPECT_EQ(names_in(dir_ / "commits"), (std::set<std::string>{"7", "8", "9"}));
    EXPECT_EQ(names_in(dir_ / "offsets"), (std::set<std::string>{"7", "8", "9", "10"}));
    CheckpointStore store(dir_, 3);
    auto state = store.recover();
    EXPECT_EQ(state.last_committed, make_plan(9));
    EXPECT_EQ(state.pending, make_plan(10));
}

TEST_F(CheckpointStoreTest, LeftoverTempAndStrayFilesAreIgnored) {
    run_batches(/*committed=*/1, /*planned=*/1);
    write_bytes(dir_ / "offsets" / "2.tmp", "sluice-checkpoint 1 0000");
    write_bytes(dir_ / "commits" / "2.tmp", "");
    write_bytes(dir_ / "commits" / "README", "hands off");

    CheckpointStore store(dir_);
    auto state = store.recover();
    EXPECT_EQ(state.last_committed, make_plan(1));
    EXPECT_FALSE(state.pending);
    ASSERT_EQ(state.warnings.size(), 1u);  // the stray file, not the temps
    EXPECT_THAT(state.warnings[0], HasSubstr("README"));
    EXPECT_FALSE(fs::exists(dir_ / "offsets" / "2.tmp"));
    EXPECT_FALSE(fs::exists(dir_ / "commits" / "2.tmp"));
    EXPECT_TRUE(fs::exists(dir_ / "commits" / "README"));
}

TEST_F(CheckpointStoreTest, WriteLatency) {
    constexpr int kBatches = 20;
    CheckpointStore store(dir_, 5);
    auto start = std::chrono::steady_clock::now();
    for (int id = 0; id < kBatches; ++id) {
        store.write_offsets(make_plan(id));
        store.write_commit(make_plan(id));
    }
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    RecordProperty("offsets_plus_commit_ms", std::to_string(ms / kBatches));
    std::printf("offset + commit entry per batch: %.2f ms\n", ms / kBatches);
    EXPECT_EQ(store.recover().last_committed, make_plan(kBatches - 1));
}

}  // namespace
}  // namespace sluice::checkpoint
