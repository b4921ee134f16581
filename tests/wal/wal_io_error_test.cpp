// WriteAheadLog under injected I/O errors (tests/support/iofault): a failed fsync is final, a
// failed write is cut back before anything else is appended, every directory fsync is
// checked, a read error at start changes nothing, and a real full file system (a small
// tmpfs) behaves like the injected ENOSPC.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "iofault.h"
#include "temp_dir.hpp"
#include "wal/write_ahead_log.hpp"
#include "wal_test_helpers.hpp"

namespace sluice::wal {
namespace {

namespace fs = std::filesystem;
using test::make_block;
using test::segment_files;
using test::snapshot;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<uint64_t> ids_of(const std::vector<std::unique_ptr<Block>> &blocks) {
    std::vector<uint64_t> ids;
    for (const auto &b : blocks) ids.push_back(b->id);
    return ids;
}

/// The message every call must throw once the log has failed.
std::string thrown_by(const std::function<void()> &call) {
    try {
        call();
    } catch (const WalError &e) {
        return e.what();
    }
    return "(nothing thrown)";
}

class WalIoErrorTest : public ::testing::Test {
  protected:
    void TearDown() override { sluice_iofault_configure(nullptr); }

    WalOptions options(std::chrono::milliseconds fsync_interval = std::chrono::milliseconds(50),
                       uint64_t segment_bytes = 64ull << 20) const {
        WalOptions o;
        o.dir = dir_;
        o.fsync_interval = fsync_interval;
        o.segment_bytes = segment_bytes;
        return o;
    }
    static uint64_t append_block(WriteAheadLog &wal, int64_t from, size_t value_bytes = 20) {
        const uint64_t id = wal.allocate_block_id();
        wal.append(*make_block(id, {"t", 0}, from, 3, value_bytes));
        return id;
    }
    /// Every later call of the log fails with `message`, and nothing calls fsync again.
    static void expect_latched(WriteAheadLog &wal, const std::string &message) {
        ASSERT_TRUE(wal.failed());
        EXPECT_EQ(wal.failure(), message);
        // Any fsync from now on would "fail" and be counted: none may be attempted.
        ASSERT_EQ(sluice_iofault_configure("op=fsync,count=0;op=dirfsync,count=0"), 0);
        EXPECT_EQ(thrown_by([&] { wal.sync(); }), message) << "sync";
        EXPECT_EQ(thrown_by([&] { wal.durable_position(); }), message) << "durable_position";
        EXPECT_EQ(thrown_by([&] { append_block(wal, 100); }), message) << "append";
        EXPECT_EQ(thrown_by([&] { wal.plan_batch(9, 0, {}); }), message) << "plan_batch";
        EXPECT_EQ(thrown_by([&] { wal.mark_done(9, {}); }), message) << "mark_done";
        EXPECT_EQ(sluice_iofault_fired(), 0u) << "an fsync after the failure";
    }

    sluice::test::TempDir tmp_ = sluice::test::temp_dir("sluice-wal-io");
    fs::path dir_ = tmp_.path() / "wal";
};

// Group commit: one fdatasync fails and (as Linux may) the kernel drops the dirty pages. A
// later fsync would return 0 on the data that is gone: the log must never say it is durable.
TEST_F(WalIoErrorTest, AFailedFsyncIsFinalAndNothingAfterTheLastGoodOneIsDurable) {
    uint64_t synced = 0;
    std::string message;
    // The third fdatasync of a segment: #1 is the segment header's, #2 the first sync().
    // (Configured first, so the injector knows each file's size at its last good fsync.)
    ASSERT_EQ(sluice_iofault_configure("op=fsync,path=.wal,nth=3,effect=drop"), 0);
    {
        WriteAheadLog wal(options());
        synced = append_block(wal, 0);
        const uint64_t durable = wal.sync();
        append_block(wal, 3);
        append_block(wal, 6);
        message = thrown_by([&] { wal.sync(); });
        EXPECT_EQ(sluice_iofault_fired(), 1u);
        EXPECT_THAT(message,
                    StartsWith("wal: cannot fsync " + (dir_ / "00000000000000000000.wal").string() +
                               ": Input/output error; nothing after the last durable "
                               "block was committed; restart to recover"));
        EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";
        EXPECT_GT(durable, 0u);
        expect_latched(wal, message);
        sluice_iofault_configure("op=fsync,count=0");
    }  // the destructor does not fsync either
    EXPECT_EQ(sluice_iofault_fired(), 0u) << "the destructor called fsync";
    sluice_iofault_configure(nullptr);

    WriteAheadLog wal(options());
    EXPECT_THAT(ids_of(wal.take_recovery().pending), ElementsAre(synced))
        << "what the last good fsync covered is there; the dropped pages are not";
}

// wal-fsync=block: the fsync of mark_done (on the batch thread) fails; the consumers' next
// sync must not "succeed".
TEST_F(WalIoErrorTest, AFailedFsyncInMarkDoneIsFinalForEveryThread) {
    WriteAheadLog wal(options(std::chrono::milliseconds(0)));
    const uint64_t a = append_block(wal, 0);
    ASSERT_EQ(sluice_iofault_configure("op=fsync,path=.wal,nth=1"), 0);
    const std::string message = thrown_by([&] { wal.mark_done(0, {a}); });
    EXPECT_THAT(message, HasSubstr("cannot fsync"));
    EXPECT_THAT(message, HasSubstr("Input/output error"));
    std::string other;
    std::thread consumer([&] { other = thrown_by([&] { wal.sync(); }); });
    consumer.join();
    EXPECT_EQ(other, message);
    expect_latched(wal, message);
}

// A short write (the disk filled mid-entry), then ENOSPC: the half entry is cut off before
// any other thread can append after it, and the other thread's append fails too. After a
// restart every block whose append had returned (and been synced) is there, and no torn tail.
TEST_F(WalIoErrorTest, AShortWriteIsCutBackBeforeAnotherThreadAppends) {
    std::vector<uint64_t> committed;
    std::string message, second;
    uint64_t size_before = 0;
    const fs::path segment = dir_ / "00000000000000000000.wal";
    {
        WriteAheadLog wal(options());
        committed.push_back(append_block(wal, 0));
        committed.push_back(append_block(wal, 3));
        wal.sync();
        size_before = fs::file_size(segment);
        ASSERT_EQ(sluice_iofault_configure("op=write,path=.wal,nth=1,count=2,effect=short"), 0);
        message = thrown_by([&] { append_block(wal, 6, 500); });
        EXPECT_EQ(sluice_iofault_fired(), 2u) << "the short write and the failed retry";
        EXPECT_THAT(message, HasSubstr("cannot write " + segment.string() +
                                       ": No space left on device (is the disk full?)"));
        EXPECT_EQ(fs::file_size(segment), size_before) << "the half entry was not cut off";
        sluice_iofault_configure(nullptr);
        std::thread other([&] { second = thrown_by([&] { append_block(wal, 100); }); });
        other.join();
        EXPECT_EQ(second, message) << "another thread appended after a failed write";
        EXPECT_EQ(fs::file_size(segment), size_before);
        expect_latched(wal, message);
    }
    sluice_iofault_configure(nullptr);
    WriteAheadLog wal(options());
    Recovery rec = wal.take_recovery();
    EXPECT_EQ(ids_of(rec.pending), committed);
    EXPECT_EQ(rec.torn_bytes, 0u);
}

// A failed directory fsync (after a segment rotation) leaves the new segment's name possibly
// not durable: fatal, like a file fsync.
TEST_F(WalIoErrorTest, AFailedDirectoryFsyncAfterRotationIsFatal) {
    WriteAheadLog wal(options(std::chrono::milliseconds(0), 256));
    append_block(wal, 0, 300);
    ASSERT_EQ(segment_files(dir_).size(), 1u);
    ASSERT_EQ(sluice_iofault_configure(("op=dirfsync,path=" + dir_.string()).c_str()), 0);
    const std::string message = thrown_by([&] { append_block(wal, 3, 300); });  // rotates
    EXPECT_EQ(sluice_iofault_fired(), 1u);
    EXPECT_THAT(message, StartsWith("wal: cannot fsync the directory " + dir_.string() +
                                    ": Input/output error"));
    expect_latched(wal, message);
}

// Deleting processed segments ends with a directory fsync: checked too.
TEST_F(WalIoErrorTest, AFailedDirectoryFsyncAfterDeletingSegmentsIsFatal) {
    WriteAheadLog wal(options(std::chrono::milliseconds(0), 256));
    std::vector<uint64_t> ids;
    for (int i = 0; i < 3; ++i) ids.push_back(append_block(wal, i * 3, 300));
    // The done mark first rolls the full segment over (directory fsync #1), then the deletion.
    ASSERT_EQ(sluice_iofault_configure(("op=dirfsync,nth=2,path=" + dir_.string()).c_str()), 0);
    const std::string message = thrown_by([&] { wal.mark_done(0, ids); });
    EXPECT_EQ(sluice_iofault_fired(), 1u);
    EXPECT_THAT(message, HasSubstr("cannot fsync the directory"));
    expect_latched(wal, message);
}

TEST_F(WalIoErrorTest, CreatingTheDirectoryFsyncsItsParent) {
    const fs::path parent = tmp_.path() / "new-parent";
    WalOptions o = options();
    o.dir = parent / "wal";
    ASSERT_EQ(
        sluice_iofault_configure(("op=dirfsync,path=" + tmp_.path().string() + ",count=0").c_str()),
        0);
    try {
        WriteAheadLog wal(o);
        FAIL() << "the WAL opened although the fsync of its new directory's parent failed";
    } catch (const WalError &e) {
        EXPECT_THAT(e.what(), HasSubstr("cannot fsync " + tmp_.path().string()));
    }
    EXPECT_GE(sluice_iofault_fired(), 1u);
    sluice_iofault_configure(nullptr);
    WriteAheadLog wal(o);  // and without the fault it opens
    EXPECT_TRUE(fs::is_directory(o.dir));
}

// The cut of a torn tail is fsynced: else, after a power loss, the cut bytes could come back
// inside what is by then an older segment, and the start would be refused as corrupt.
TEST_F(WalIoErrorTest, TheCutOfATornTailIsFsynced) {
    {
        WriteAheadLog wal(options());
        append_block(wal, 0);
        wal.sync();
    }
    const fs::path segment = dir_ / "00000000000000000000.wal";
    test::append_bytes(segment, std::string(100, '\0'));
    const auto before = snapshot(dir_);
    ASSERT_EQ(sluice_iofault_configure("op=fsync,path=.wal,nth=1"), 0);
    try {
        WriteAheadLog wal(options());
        FAIL() << "a torn tail was cut without a checked fsync";
    } catch (const WalError &e) {
        EXPECT_THAT(e.what(), HasSubstr("cannot cut the torn tail of " + segment.string()));
    }
    EXPECT_EQ(sluice_iofault_fired(), 1u);
    // The directory is fsynced after the cut as well.
    {
        test::write_bytes(segment, before.at(segment.filename().string()));
        ASSERT_EQ(sluice_iofault_configure(("op=dirfsync,path=" + dir_.string()).c_str()), 0);
        EXPECT_THROW(WriteAheadLog wal(options()), WalError);
        EXPECT_EQ(sluice_iofault_fired(), 1u);
    }
}

// EIO part-way through reading a segment is an error: the start stops and changes nothing (a
// short buffer would make the newest segment look torn, or empty, and the cut delete data).
TEST_F(WalIoErrorTest, AReadErrorAtStartChangesNothing) {
    {
        WriteAheadLog wal(options(std::chrono::milliseconds(0), 256));
        for (int i = 0; i < 3; ++i) append_block(wal, i * 3, 300);
    }
    // A torn tail too, so that a start that went on would change the directory.
    test::append_bytes(segment_files(dir_).back(), std::string(50, '\0'));
    const auto before = snapshot(dir_);
    for (const std::string &segment : {segment_files(dir_).front().filename().string(),
                                       segment_files(dir_).back().filename().string()}) {
        SCOPED_TRACE(segment);
        ASSERT_EQ(sluice_iofault_configure(("op=read,path=" + segment).c_str()), 0);
        try {
            WriteAheadLog wal(options());
            ADD_FAILURE() << "the WAL opened although reading " << segment << " failed";
        } catch (const WalError &e) {
            EXPECT_THAT(e.what(), HasSubstr("cannot read " + (dir_ / segment).string() +
                                            ": Input/output error; nothing was changed"));
        }
        EXPECT_EQ(sluice_iofault_fired(), 1u);
        sluice_iofault_configure(nullptr);
        EXPECT_EQ(snapshot(dir_), before) << "a failed read changed the directory";
    }
    WriteAheadLog wal(options());
    EXPECT_EQ(wal.take_recovery().pending.size(), 3u);
}

// A real full file system: a 256 KiB tmpfs. Appends fail with ENOSPC somewhere (often after a
// short write); the log is cut back to the last whole entry, and after space is freed the
// restart finds every block whose append returned, with no torn tail.
TEST_F(WalIoErrorTest, ARealFullFileSystemIsCutBackAndRecovered) {
    const fs::path mnt = tmp_.path() / "small";
    fs::create_directories(mnt);
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=256k") != 0)
        GTEST_SKIP() << "cannot mount a 256 KiB tmpfs on " << mnt << ": " << std::strerror(errno)
                     << " (needs root / CAP_SYS_ADMIN)";
    struct Unmount {
        fs::path at;
        ~Unmount() { ::umount2(at.c_str(), MNT_DETACH); }
    } unmount{mnt};
    WalOptions o = options(std::chrono::milliseconds(0));
    o.dir = mnt / "wal";
    const fs::path filler = mnt / "filler";
    test::write_bytes(filler, std::string(64 << 10, 'f'));  // freed before the restart

    std::vector<uint64_t> appended;
    std::string message;
    {
        WriteAheadLog wal(o);
        const fs::path segment = o.dir / "00000000000000000000.wal";
        uint64_t size = 0;
        for (int i = 0; i < 1000 && message.empty(); ++i) {
            const uint64_t id = wal.allocate_block_id();
            size = fs::file_size(segment);
            try {
                wal.append(*make_block(id, {"t", 0}, i * 3, 3, 3000));
                appended.push_back(id);
            } catch (const WalError &e) {
                message = e.what();
            }
        }
        ASSERT_FALSE(message.empty()) << "256 KiB never filled up";
        EXPECT_THAT(message, HasSubstr("No space left on device"));
        EXPECT_EQ(fs::file_size(segment), size) << "the failed entry was not cut back";
        expect_latched(wal, message);
    }
    sluice_iofault_configure(nullptr);
    fs::remove(filler);
    WriteAheadLog wal(o);
    Recovery rec = wal.take_recovery();
    EXPECT_EQ(ids_of(rec.pending), appended);
    EXPECT_EQ(rec.torn_bytes, 0u);
    std::printf("full tmpfs: %zu blocks appended before ENOSPC: %s\n", appended.size(),
                message.c_str());
}

}  // namespace
}  // namespace sluice::wal
