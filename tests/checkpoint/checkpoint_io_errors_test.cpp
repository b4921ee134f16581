// The checkpoint under injected I/O errors (tests/support/iofault): a failed write or fsync is
// final (every later write refuses), a failed directory fsync is fatal, a failed read at start
// changes nothing, and a full file system (a real small tmpfs) leaves what was written intact.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include "checkpoint/checkpoint_store.hpp"
#include "directory_snapshot.hpp"
#include "iofault.h"
#include "temp_dir.hpp"

namespace sluice::checkpoint {
namespace {

namespace fs = std::filesystem;
using sluice::test::directory_snapshot;
using ::testing::HasSubstr;

BatchPlan plan(int64_t id) {
    return {id, 1'700'000'000'000 + id, {{"orders", 0, id * 10, id * 10 + 10}}};
}

std::string error_of(const std::function<void()> &f) {
    try {
        f();
    } catch (const CheckpointError &e) {
        return e.what();
    }
    return "";
}

class CheckpointIoErrors : public ::testing::Test {
  protected:
    void TearDown() override { sluice_iofault_configure(nullptr); }
    void arm(const char *rules) { ASSERT_EQ(sluice_iofault_configure(rules), 0); }
    test::TempDir root_ = test::temp_dir("sluice-ckpt-io");
    fs::path dir_ = root_.path() / "ckpt";
};

TEST_F(CheckpointIoErrors, AFailedFsyncIsFinalAndTheBatchStaysPending) {
    {
        CheckpointStore store(dir_);
        store.write_offsets(plan(1));
        store.write_commit(plan(1));
        store.write_offsets(plan(2));
        // The kernel drops the unwritten pages and says so once.
        arm("op=fsync,path=/commits/,effect=drop");
        const std::string first = error_of([&] { store.write_commit(plan(2)); });
        EXPECT_EQ(sluice_iofault_fired(), 1u);
        EXPECT_THAT(first, HasSubstr("cannot fsync checkpoint file"));
        EXPECT_THAT(first, HasSubstr((dir_ / "commits" / "2").string()));
        EXPECT_THAT(first, HasSubstr(std::strerror(EIO)));
        EXPECT_THAT(first, HasSubstr("batch 2 is not committed"));
        // The disk "works" again: a second fsync would succeed on data that is gone. Nothing more
        // may be written by this store, of either log.
        sluice_iofault_configure(nullptr);
        EXPECT_THAT(error_of([&] { store.write_commit(plan(2)); }),
                    HasSubstr("an earlier checkpoint write failed"));
        EXPECT_THAT(error_of([&] { store.write_offsets(plan(3)); }),
                    HasSubstr("an earlier checkpoint write failed"));
        EXPECT_FALSE(fs::exists(dir_ / "commits" / "2"));
        EXPECT_FALSE(fs::exists(dir_ / "commits" / "2.tmp"));
        EXPECT_FALSE(fs::exists(dir_ / "offsets" / "3"));
    }
    CheckpointStore reopened(dir_);
    const RecoveredState state = reopened.recover();
    ASSERT_TRUE(state.last_committed);
    EXPECT_EQ(state.last_committed->batch_id, 1);
    ASSERT_TRUE(state.pending);
    EXPECT_EQ(*state.pending, plan(2));  // replayed with the same id and ranges
}

TEST_F(CheckpointIoErrors, AFailedDirectoryFsyncIsFatal) {
    CheckpointStore store(dir_);
    store.write_offsets(plan(1));
    arm("op=dirfsync,path=/commits");
    const std::string error = error_of([&] { store.write_commit(plan(1)); });
    EXPECT_EQ(sluice_iofault_fired(), 1u);
    EXPECT_THAT(error, HasSubstr("cannot fsync checkpoint directory"));
    EXPECT_THAT(error, HasSubstr((dir_ / "commits").string()));
    sluice_iofault_configure(nullptr);
    EXPECT_THAT(error_of([&] { store.write_offsets(plan(2)); }),
                HasSubstr("an earlier checkpoint write failed"));
}

TEST_F(CheckpointIoErrors, AShortWriteThenAFullDiskLeavesNoPartialEntry) {
    CheckpointStore store(dir_);
    store.write_offsets(plan(1));
    store.write_commit(plan(1));
    arm("op=write,path=/offsets/,effect=short,count=2");
    EXPECT_THAT(error_of([&] { store.write_offsets(plan(2)); }), HasSubstr(std::strerror(ENOSPC)));
    EXPECT_EQ(sluice_iofault_fired(), 2u);
    sluice_iofault_configure(nullptr);
    EXPECT_FALSE(fs::exists(dir_ / "offsets" / "2"));
    EXPECT_FALSE(fs::exists(dir_ / "offsets" / "2.tmp"));
}

TEST_F(CheckpointIoErrors, AFailedReadAtStartIsAnErrorAndChangesNothing) {
    {
        CheckpointStore store(dir_);
        for (int64_t id = 1; id <= 3; ++id) {
            store.write_offsets(plan(id));
            store.write_commit(plan(id));
        }
        store.write_offsets(plan(4));
    }
    const auto before = directory_snapshot(dir_);
    {
        arm("op=read,path=/commits/3");
        const std::string error = error_of([&] {
            CheckpointStore store(dir_);  // opening checks every entry's version: it reads
            store.recover();
        });
        EXPECT_EQ(sluice_iofault_fired(), 1u);
        EXPECT_THAT(error, HasSubstr("cannot read checkpoint file"));
        EXPECT_THAT(error, HasSubstr((dir_ / "commits" / "3").string()));
        sluice_iofault_configure(nullptr);
    }
    EXPECT_EQ(directory_snapshot(dir_), before);
    CheckpointStore store(dir_);
    const RecoveredState state = store.recover();  // a read error is not a torn file
    ASSERT_TRUE(state.last_committed);
    EXPECT_EQ(state.last_committed->batch_id, 3);
    EXPECT_TRUE(state.warnings.empty());
}

TEST_F(CheckpointIoErrors, AFullTmpfsStopsWritesAndKeepsWhatWasWritten) {
    const fs::path mnt = root_.path() / "small";
    fs::create_directories(mnt);
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k,mode=0755") != 0)
        GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                     << "); this test needs root";
    struct Unmount {
        fs::path p;
        ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
    } unmount{mnt};
    const fs::path dir = mnt / "ckpt";
    int64_t committed = -1;
    std::string error;
    {
        CheckpointStore store(dir, 100000);
        // Fill the file system: the plan holds many ranges so it runs out quickly.
        for (int64_t id = 0; id < 100000 && error.empty(); ++id) {
            BatchPlan big{id, id, {}};
            for (int32_t p = 0; p < 40; ++p) big.ranges.push_back({"orders", p, id, id + 1});
            error = error_of([&] {
                store.write_offsets(big);
                store.write_commit(big);
            });
            if (error.empty()) committed = id;
        }
    }
    ASSERT_THAT(error, HasSubstr(std::strerror(ENOSPC)));
    ASSERT_GE(committed, 0);
    // Free space (as an operator would), then the restart resumes from the last commit.
    for (const auto &e : fs::directory_iterator(dir / "offsets"))
        if (e.path().filename().string() < std::to_string(committed / 2)) fs::remove(e.path());
    CheckpointStore store(dir, 100000);
    const RecoveredState state = store.recover();
    ASSERT_TRUE(state.last_committed);
    EXPECT_EQ(state.last_committed->batch_id, committed);
    EXPECT_TRUE(state.warnings.empty()) << state.warnings.front();
}

}  // namespace
}  // namespace sluice::checkpoint
