// file-sink under injected I/O errors (sluice_iofault linked into this executable, so the
// plugin's write/fsync calls go through it): a failed fsync is final, for the instance and
// for every generation in the process; a failed write is cut back before anything else; a
// full disk is retried and never commits a batch that is not on disk.

#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bundled_files.hpp"
#include "iofault.h"
#include "test_host.hpp"

namespace sluice::testing {
namespace {

/// The plugin under test; SLUICE_TEST_FILE_SINK names another build of it (an older one, to
/// see these tests fail without the fix).
std::filesystem::path file_sink_plugin() {
    if (const char *p = std::getenv("SLUICE_TEST_FILE_SINK"); p && *p) return p;
    return bundled_plugin("file-sink");
}

bool contains(const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
}

class FileSinkFaultTest : public ::testing::Test {
  protected:
    void TearDown() override { sluice_iofault_configure(nullptr); }

    std::string data() const { return dir_.file("out.jsonl"); }
    std::string sidecar() const { return data() + ".offsets"; }

    std::unique_ptr<TestInstance> make(TestHost &host, const LoadedPlugin &plugin) {
        host.config["path"] = data();
        auto inst = std::make_unique<TestInstance>(plugin, host);
        inst->create_ok();
        return inst;
    }
    std::unique_ptr<TestInstance> make(TestHost &host) { return make(host, plugin_); }

    /// Faults from now on (the counters restart, so nth counts calls made after this).
    static void inject(const std::string &rules) {
        ASSERT_EQ(sluice_iofault_configure(rules.c_str()), 0) << rules;
    }

    /// Batch `id` with `n` records of partition 0 starting at `from`, and its range.
    static TestBatch batch(int64_t id, int64_t from, int64_t n) {
        TestBatch b;
        b.id = id;
        b.ranges.push_back({"t", 0, from, from + n});
        for (int64_t o = from; o < from + n; ++o) {
            b.records.push_back(TestRecord{.offset = o,
                                           .timestamp = 1000 + o,
                                           .key = "k" + std::to_string(o),
                                           .value = std::string(40, 'v')});
        }
        return b;
    }

    /// The offsets of the data file's lines; every line must be whole JSON.
    std::vector<int64_t> stored_offsets() const {
        std::vector<int64_t> out;
        std::istringstream in(read_file(data()));
        for (std::string line; std::getline(in, line);) {
            out.push_back(nlohmann::json::parse(line).at("offset").get<int64_t>());
        }
        return out;
    }
    uint64_t recorded_length() const {
        return nlohmann::json::parse(read_file(sidecar())).at("length").get<uint64_t>();
    }

    static std::vector<int64_t> range(int64_t from, int64_t until) {
        std::vector<int64_t> v;
        for (int64_t o = from; o < until; ++o) v.push_back(o);
        return v;
    }

    TempDir dir_;
    LoadedPlugin plugin_{file_sink_plugin()};
};

TEST_F(FileSinkFaultTest, FailedDataFsyncIsFatalAndLaterBatchesAreRefused) {
    TestHost host;
    auto inst = make(host);
    TestBatch b1 = batch(1, 0, 3);
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
    const std::string stored = read_file(data()), stored_sidecar = read_file(sidecar());

    // The kernel drops the batch's dirty pages and reports EIO once.
    inject("op=fsync,path=out.jsonl,nth=1,effect=drop");
    TestBatch b2 = batch(2, 3, 3);
    CallResult r = inst->process(b2, 2048);
    EXPECT_EQ(sluice_iofault_fired(), 1u);
    EXPECT_EQ(r.status, SLUICE_FATAL) << r.message;
    EXPECT_TRUE(contains(r.message, "cannot fsync '" + data() + "': EIO")) << r.message;
    EXPECT_TRUE(contains(r.message, "restart sluice")) << r.message;
    EXPECT_EQ(r.message.find('\n'), std::string::npos);

    // The disk works again, but this instance trusts nothing more: a retry of the batch
    // (whose fsync would now "succeed") and every later batch are refused.
    inject("");
    CallResult again = inst->process(b2, 2048);
    EXPECT_EQ(again.status, SLUICE_FATAL);
    EXPECT_TRUE(contains(again.message, "refusing batch 2")) << again.message;
    TestBatch b3 = batch(3, 6, 1);
    EXPECT_EQ(inst->process(b3).status, SLUICE_FATAL);
    EXPECT_EQ(read_file(sidecar()), stored_sidecar);  // nothing claims the lost batch
    EXPECT_EQ(read_file(data()), stored);

    // Nor does a new generation in this process write there.
    TestHost host2;
    host2.config["path"] = data();
    TestInstance next(plugin_, host2);
    CallResult created = next.create();
    EXPECT_EQ(created.status, SLUICE_FATAL);
    EXPECT_TRUE(contains(created.message, "cannot fsync '" + data())) << created.message;
}

TEST_F(FileSinkFaultTest, FailedSidecarFsyncIsFatal) {
    TestHost host;
    auto inst = make(host);
    TestBatch b1 = batch(1, 0, 2);
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);

    inject("op=fsync,path=out.jsonl.offsets.tmp,nth=1");
    TestBatch b2 = batch(2, 2, 2);
    CallResult r = inst->process(b2, 2048);
    EXPECT_EQ(sluice_iofault_fired(), 1u);
    EXPECT_EQ(r.status, SLUICE_FATAL) << r.message;
    EXPECT_TRUE(contains(r.message, "cannot fsync '" + sidecar() + ".tmp': EIO")) << r.message;

    inject("");
    EXPECT_EQ(inst->process(b2).status, SLUICE_FATAL);
    // The sidecar still claims batch 1 only.
    EXPECT_EQ(nlohmann::json::parse(read_file(sidecar())).at("offsets").at(0).at("next"), 2);
}

TEST_F(FileSinkFaultTest, FailedDirectoryFsyncNeverYieldsOkOnTheRetry) {
    TestHost host;
    auto inst = make(host);
    TestBatch b1 = batch(1, 0, 2);
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);

    // The rename of the new sidecar is in place, but not known to be durable.
    inject("op=dirfsync,path=" + dir_.path().string() + ",nth=1");
    TestBatch b2 = batch(2, 2, 2);
    CallResult r = inst->process(b2, 2048);
    EXPECT_EQ(sluice_iofault_fired(), 1u);
    EXPECT_NE(r.status, SLUICE_OK);
    EXPECT_EQ(r.status, SLUICE_FATAL) << r.message;
    EXPECT_TRUE(contains(r.message, "cannot fsync directory '" + dir_.path().string() + "': EIO"))
        << r.message;

    // What a host does after RETRY: the same batch again. It finds its sidecar already
    // replaced, but must not call the batch stored.
    inject("");
    CallResult retried = inst->process(b2, 2048);
    EXPECT_NE(retried.status, SLUICE_OK) << "the batch would be committed";
}

TEST_F(FileSinkFaultTest, AFinalErrorInOneGenerationIsFinalForTheOthers) {
    // Hot reload: the new generation is its own copy of the library (no shared statics).
    const std::string copy = dir_.file("file-sink-gen2.so");
    std::filesystem::copy_file(file_sink_plugin(), copy);
    LoadedPlugin gen2_lib(copy);

    TestHost host_old, host_new;
    auto old_gen = make(host_old);
    TestBatch b1 = batch(1, 0, 2);
    ASSERT_EQ(old_gen->process(b1).status, SLUICE_OK);
    auto new_gen = make(host_new, gen2_lib);

    // The new generation's first batch fails its directory fsync; the host rolls back and
    // hands the same batch to the old generation, which finds the sidecar claiming it.
    inject("op=dirfsync,path=" + dir_.path().string() + ",nth=1");
    TestBatch b2 = batch(2, 2, 2);
    CallResult r = new_gen->process(b2, 2048);
    EXPECT_EQ(sluice_iofault_fired(), 1u);
    EXPECT_EQ(r.status, SLUICE_FATAL) << r.message;
    inject("");
    CallResult rolled_back = old_gen->process(b2, 2048);
    EXPECT_EQ(rolled_back.status, SLUICE_FATAL) << "the batch would be committed";
    EXPECT_TRUE(contains(rolled_back.message, "cannot fsync directory")) << rolled_back.message;
}

TEST_F(FileSinkFaultTest, ShortWriteIsCutBackAndRetriedWhenTheDiskIsFull) {
    TestHost host;
    auto inst = make(host);
    TestBatch b1 = batch(1, 0, 3);
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
    const std::string stored = read_file(data());

    // The disk fills mid-write: half the batch lands, the rest gets ENOSPC.
    inject("op=write,path=out.jsonl,nth=1,count=2,effect=short");
    TestBatch b2 = batch(2, 3, 4);
    CallResult r = inst->process(b2, 2048);
    EXPECT_EQ(sluice_iofault_fired(), 2u);
    EXPECT_EQ(r.status, SLUICE_RETRY) << r.message;
    EXPECT_TRUE(contains(r.message, "cannot write '" + data() + "': ENOSPC")) << r.message;
    // Before anything else: no half line stays behind the last stored batch.
    EXPECT_EQ(read_file(data()), stored);
    EXPECT_EQ(recorded_length(), stored.size());

    // Space is back: the retry stores the batch once.
    inject("");
    ASSERT_EQ(inst->process(b2).status, SLUICE_OK);
    EXPECT_EQ(stored_offsets(), range(0, 7));

    // And the next start finds nothing partial and nothing twice.
    inst.reset();
    TestHost host2;
    auto restarted = make(host2);
    b2.flags = SLUICE_BATCH_REPLAY;
    ASSERT_EQ(restarted->process(b2).status, SLUICE_OK);
    EXPECT_EQ(stored_offsets(), range(0, 7));
    EXPECT_EQ(recorded_length(), read_file(data()).size());
}

TEST_F(FileSinkFaultTest, ShortWriteLeavesNothingPartialForTheNextStart) {
    {
        TestHost host;
        auto inst = make(host);
        TestBatch b1 = batch(1, 0, 3);
        ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
        inject("op=write,path=out.jsonl,nth=1,count=2,effect=short");
        TestBatch b2 = batch(2, 3, 4);
        EXPECT_EQ(inst->process(b2).status, SLUICE_RETRY);
        inject("");
        // The host gives up (max-retries, a shutdown): the instance goes away.
    }
    EXPECT_EQ(stored_offsets(), range(0, 3));  // whole lines only, even before a restart
    TestHost host;
    auto restarted = make(host);
    TestBatch b2 = batch(2, 3, 4);
    b2.flags = SLUICE_BATCH_REPLAY;
    ASSERT_EQ(restarted->process(b2).status, SLUICE_OK);
    EXPECT_EQ(stored_offsets(), range(0, 7));
}

TEST_F(FileSinkFaultTest, WriteErrorOtherThanAFullDiskIsFinalAndCutBack) {
    TestHost host;
    auto inst = make(host);
    TestBatch b1 = batch(1, 0, 3);
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
    const std::string stored = read_file(data());

    inject("op=write,path=out.jsonl,nth=1,count=2,effect=short,error=EIO");
    TestBatch b2 = batch(2, 3, 4);
    CallResult r = inst->process(b2, 2048);
    EXPECT_EQ(sluice_iofault_fired(), 2u);
    EXPECT_EQ(r.status, SLUICE_FATAL) << r.message;
    EXPECT_TRUE(contains(r.message, "cannot write '" + data() + "': EIO")) << r.message;
    EXPECT_EQ(read_file(data()), stored);
    inject("");
    EXPECT_EQ(inst->process(b2).status, SLUICE_FATAL);
}

TEST_F(FileSinkFaultTest, AFailedWriteOfALaterChunkCutsTheWholeBatchBack) {
    // 20,000 records are cut into 4 chunks, encoded on 2 threads and written one by one as
    // they are done.
    TestHost host;
    host.config["encode-threads"] = "2";
    auto inst = make(host);
    TestBatch b1 = batch(1, 0, 3);
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
    const std::string stored = read_file(data());

    inject("op=write,path=out.jsonl,nth=3");  // the third chunk's write: ENOSPC
    TestBatch b2 = batch(2, 3, 20000);
    CallResult r = inst->process(b2, 2048);
    EXPECT_EQ(sluice_iofault_fired(), 1u);
    EXPECT_EQ(r.status, SLUICE_RETRY) << r.message;
    EXPECT_TRUE(contains(r.message, "cannot write '" + data() + "': ENOSPC")) << r.message;
    EXPECT_EQ(read_file(data()), stored);  // the two chunks written before it are cut too
    EXPECT_EQ(recorded_length(), stored.size());

    inject("");
    ASSERT_EQ(inst->process(b2).status, SLUICE_OK);
    EXPECT_EQ(stored_offsets(), range(0, 20003));
    EXPECT_EQ(recorded_length(), read_file(data()).size());

    // Any other error on a later chunk is final, and cut back the same way.
    const std::string before = read_file(data());
    inject("op=write,path=out.jsonl,nth=2,error=EIO");
    TestBatch b3 = batch(3, 20003, 20000);
    r = inst->process(b3, 2048);
    EXPECT_EQ(sluice_iofault_fired(), 1u);
    EXPECT_EQ(r.status, SLUICE_FATAL) << r.message;
    EXPECT_TRUE(contains(r.message, "cannot write '" + data() + "': EIO")) << r.message;
    EXPECT_EQ(read_file(data()), before);
}

TEST_F(FileSinkFaultTest, FullDiskForTheSidecarIsRetriedAndStoresTheBatchOnce) {
    TestHost host;
    auto inst = make(host);
    TestBatch b1 = batch(1, 0, 2);
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);

    inject("op=write,path=out.jsonl.offsets.tmp,nth=1");
    TestBatch b2 = batch(2, 2, 3);
    CallResult r = inst->process(b2, 2048);
    EXPECT_EQ(sluice_iofault_fired(), 1u);
    EXPECT_EQ(r.status, SLUICE_RETRY) << r.message;
    EXPECT_FALSE(std::filesystem::exists(sidecar() + ".tmp"));  // its space is given back
    EXPECT_EQ(read_file(data()).size(), recorded_length());     // and the batch's lines
    inject("");
    ASSERT_EQ(inst->process(b2).status, SLUICE_OK);
    EXPECT_EQ(stored_offsets(), range(0, 5));
    EXPECT_EQ(recorded_length(), read_file(data()).size());
}

TEST_F(FileSinkFaultTest, FailedFsyncAtStartIsFatal) {
    {
        TestHost host;
        auto inst = make(host);
        TestBatch b1 = batch(1, 0, 2);
        ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
    }
    // A start trusts what an earlier process stored only once it has fsynced it itself.
    inject("op=dirfsync,path=" + dir_.path().string() + ",nth=1");
    TestHost host;
    host.config["path"] = data();
    TestInstance inst(plugin_, host);
    CallResult r = inst.create();
    EXPECT_EQ(sluice_iofault_fired(), 1u);
    EXPECT_EQ(r.status, SLUICE_FATAL) << r.message;
    EXPECT_TRUE(contains(r.message, "cannot fsync directory")) << r.message;
}

TEST_F(FileSinkFaultTest, AFullTmpfsIsRetriedWithNothingPartialAndTheBatchStoredOnceSpaceIsBack) {
    const std::filesystem::path mnt = dir_.path() / "small";
    std::filesystem::create_directories(mnt);
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k,mode=0755") != 0)
        GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                     << "); this test needs root";
    struct Unmount {
        std::filesystem::path p;
        ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
    } unmount{mnt};
    // Most of the space goes to a file the operator can delete later.
    const std::string filler = (mnt / "filler").string();
    write_file(filler, std::string(40 * 1024, 'x'));
    const std::string path = (mnt / "out.jsonl").string();

    TestHost host;
    host.config["path"] = path;
    auto inst = std::make_unique<TestInstance>(plugin_, host);
    inst->create_ok();
    int64_t next = 0, id = 0;
    CallResult r{SLUICE_OK, ""};
    TestBatch full;
    for (; id < 1000; ++id) {
        full = batch(id, next, 20);
        r = inst->process(full, 2048);
        if (r.status != SLUICE_OK) break;
        next += 20;
    }
    ASSERT_EQ(r.status, SLUICE_RETRY) << r.message;
    EXPECT_TRUE(contains(r.message, "ENOSPC")) << r.message;
    ASSERT_GT(next, 0);
    auto length_of = [&] {
        return nlohmann::json::parse(read_file(path + ".offsets")).at("length").get<uint64_t>();
    };
    // Whole lines only, and exactly the stored batches.
    EXPECT_EQ(read_file(path).size(), length_of());
    std::vector<int64_t> offsets;
    {
        std::istringstream in(read_file(path));
        for (std::string line; std::getline(in, line);)
            offsets.push_back(nlohmann::json::parse(line).at("offset").get<int64_t>());
    }
    EXPECT_EQ(offsets, range(0, next));

    // The operator frees space; the host's retry stores the batch, once.
    std::filesystem::remove(filler);
    ASSERT_EQ(inst->process(full).status, SLUICE_OK);
    offsets.clear();
    {
        std::istringstream in(read_file(path));
        for (std::string line; std::getline(in, line);)
            offsets.push_back(nlohmann::json::parse(line).at("offset").get<int64_t>());
    }
    EXPECT_EQ(offsets, range(0, next + 20));
    EXPECT_EQ(read_file(path).size(), length_of());
    inst.reset();
}

TEST_F(FileSinkFaultTest, PerPartitionAFailedFsyncIsFinalForThatFileInThisProcess) {
    const std::string dir = dir_.file("out");
    const std::string t0 = dir + "/t-0.jsonl";
    auto make_pp = [&](TestHost &host) {
        host.config["path"] = dir;
        host.config["per-partition"] = "true";
        auto inst = std::make_unique<TestInstance>(plugin_, host);
        inst->create_ok();
        return inst;
    };
    auto two_partitions = [](int64_t id, int64_t from) {
        TestBatch b;
        b.id = id;
        for (int32_t p : {0, 1}) {
            b.ranges.push_back({"t", p, from, from + 2});
            for (int64_t o = from; o < from + 2; ++o)
                b.records.push_back(TestRecord{.partition = p, .offset = o, .value = "v"});
        }
        return b;
    };
    TestHost host;
    auto inst = make_pp(host);
    TestBatch b1 = two_partitions(1, 0);
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
    const std::string stored = read_file(t0);

    inject("op=fsync,path=t-0.jsonl,nth=1,effect=drop");
    TestBatch b2 = two_partitions(2, 2);
    CallResult r = inst->process(b2, 2048);
    EXPECT_EQ(sluice_iofault_fired(), 1u);
    EXPECT_EQ(r.status, SLUICE_FATAL) << r.message;
    EXPECT_TRUE(contains(r.message, "cannot fsync '" + t0 + "': EIO")) << r.message;
    inject("");
    // The instance refuses every later batch, of any partition.
    TestBatch b3 = two_partitions(3, 4);
    CallResult again = inst->process(b3, 2048);
    EXPECT_EQ(again.status, SLUICE_FATAL);
    EXPECT_TRUE(contains(again.message, "refusing batch 3")) << again.message;
    EXPECT_EQ(read_file(t0), stored);

    // Gone, with the lock released: a new instance in this process still does not write
    // that file again (the failure stays recorded in its lock file).
    inst.reset();
    TestHost host2;
    auto next = make_pp(host2);
    CallResult refused = next->process(b2, 2048);
    EXPECT_EQ(refused.status, SLUICE_FATAL);
    EXPECT_TRUE(contains(refused.message, "not writing to '" + t0 + "' again in this process"))
        << refused.message;
    EXPECT_EQ(read_file(t0), stored);
}

}  // namespace
}  // namespace sluice::testing
