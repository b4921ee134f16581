// file-sink: the JSON line format and exactly-once output across replays,
// torn tails and batches cut by a crash; one writer process per path, shared by
// the generations of a hot reload; the per-partition layout (one file per
// topic-partition, shared by processes). (I/O errors: tests/file_sink_durability.) Through the
// SDK's test kit, sluice/testing.hpp.

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sluice/testing.hpp>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "bundled_files.hpp"
#include "bundled_plugin.hpp"

namespace sluice::testing {
namespace {

class FileSinkTest : public ::testing::Test {
  protected:
    std::string data() const { return dir_.file("out.jsonl"); }
    std::string sidecar() const { return data() + ".offsets"; }

    std::unique_ptr<Instance> make() {
        auto inst = std::make_unique<Instance>(
            plugin_, std::map<std::string, std::string>{{"path", data()}});
        inst->create_ok();
        return inst;
    }

    /// Batch `id` with `n` records of partition 0 starting at `from`, and their range.
    static Batch batch(int64_t id, int64_t from, int64_t n, int32_t partition = 0) {
        Batch b(id);
        b.range("t", partition, from, from + n);
        for (int64_t o = from; o < from + n; ++o) {
            b.records().push_back(Record{.partition = partition,
                                         .offset = o,
                                         .timestamp_ms = 1000 + o,
                                         .key = "k" + std::to_string(o),
                                         .value = "v" + std::to_string(o)});
        }
        return b;
    }

    static std::vector<int64_t> offsets_in(const std::string &text) {
        std::vector<int64_t> out;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) {
            out.push_back(nlohmann::json::parse(line).at("offset").get<int64_t>());
        }
        return out;
    }

    /// The plugin under test; SLUICE_TEST_FILE_SINK names another build of it (an older
    /// one, to see a test fail without its fix).
    static std::string plugin_path() {
        if (const char *p = std::getenv("SLUICE_TEST_FILE_SINK"); p && *p) return p;
        return bundled_plugin_file("file-sink");
    }

    TempDir dir_;
    Plugin plugin_{plugin_path()};
};

TEST_F(FileSinkTest, MissingPathIsAClearCreateError) {
    Instance inst(plugin_);
    Result r = inst.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_EQ(r.message,
              "file-sink: [plugin.file-sink] path is not set: set it to the file to append JSON "
              "lines to, e.g. path=/var/lib/sluice/events.jsonl");
}

TEST_F(FileSinkTest, EncodeThreadsOutOfRangeIsAClearCreateError) {
    for (const char *n : {"-1", "65"}) {
        Instance inst(plugin_, {{"path", data()}, {"encode-threads", n}});
        Result r = inst.create();
        EXPECT_EQ(r.status, SLUICE_FATAL) << n;
        EXPECT_EQ(r.message, std::string("file-sink: [plugin.file-sink] encode-threads = ") + n +
                                 " is out of range: set 1 to 64, or 0 for one per core");
    }
    Instance one(plugin_, {{"path", data()}, {"encode-threads", "1"}});
    EXPECT_EQ(one.create().status, SLUICE_OK);
}

TEST_F(FileSinkTest, WritesOneJsonLinePerRecord) {
    auto inst = make();
    Batch b;
    b.range("events", 3, 40, 43);
    b.records().push_back(Record{.topic = "events",
                                 .partition = 3,
                                 .offset = 40,
                                 .timestamp_ms = 1700000000000,
                                 .key = std::nullopt,
                                 .value = std::string(""),
                                 .headers = {{"h", std::string("v")}, {"n", std::nullopt}}});
    b.records().push_back(Record{.topic = "events",
                                 .partition = 3,
                                 .offset = 41,
                                 .key = std::string(""),
                                 .value = std::string("\x00\xff\n\"", 4)});
    b.records().push_back(Record{.topic = "events", .partition = 3, .offset = 42});
    ASSERT_EQ(inst->process(b).status, SLUICE_OK);

    EXPECT_EQ(read_file(data()),
              R"({"topic":"events","partition":3,"offset":40,"timestamp":1700000000000,)"
              R"("key":null,"value":"","headers":[["h","dg=="],["n",null]]})"
              "\n"
              R"({"topic":"events","partition":3,"offset":41,"timestamp":-1,)"
              R"("key":"","value":"AP8KIg==","headers":[]})"
              "\n"
              R"({"topic":"events","partition":3,"offset":42,"timestamp":-1,)"
              R"("key":null,"value":null,"headers":[]})"
              "\n");
    auto side = nlohmann::json::parse(read_file(sidecar()));
    EXPECT_EQ(side.at("format"), 1);
    EXPECT_EQ(side.at("length"), read_file(data()).size());
    EXPECT_EQ(side.at("offsets"),
              nlohmann::json::parse(R"([{"topic":"events","partition":3,"next":43}])"));
    EXPECT_EQ(inst->metric("records_written"), 3);
}

TEST_F(FileSinkTest, ReplayedBatchWritesNothingTwice) {
    auto inst = make();
    Batch b1 = batch(1, 0, 3);
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
    const std::string after_first = read_file(data());
    b1.replay();
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);  // same instance
    EXPECT_EQ(read_file(data()), after_first);
    inst.reset();

    auto again = make();  // a restart replays it too
    ASSERT_EQ(again->process(b1).status, SLUICE_OK);
    EXPECT_EQ(read_file(data()), after_first);
    EXPECT_EQ(again->metric("records_skipped"), 3);

    // A replay that overlaps new offsets writes only the new ones.
    Batch b2 = batch(2, 1, 4);  // offsets 1..4, 1 and 2 already stored
    ASSERT_EQ(again->process(b2).status, SLUICE_OK);
    EXPECT_EQ(offsets_in(read_file(data())), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST_F(FileSinkTest, TornTailIsCutAtCreate) {
    {
        auto inst = make();
        Batch b1 = batch(1, 0, 2);
        ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
    }
    const std::string good = read_file(data());
    append_file(data(), "{\"topic\":\"t\",\"parti");  // a crash mid-line
    auto inst = make();
    EXPECT_EQ(read_file(data()), good);  // cut before any batch
    bool warned = false;
    for (const LogLine &line : inst->logs()) {
        warned |=
            line.level == SLUICE_LOG_WARN && line.message.find("cut 19 bytes") != std::string::npos;
    }
    EXPECT_TRUE(warned);
    Batch b2 = batch(2, 2, 1);
    ASSERT_EQ(inst->process(b2).status, SLUICE_OK);
    EXPECT_EQ(offsets_in(read_file(data())), (std::vector<int64_t>{0, 1, 2}));
}

TEST_F(FileSinkTest, BatchCutByCrashIsCompletedExactlyOnceOnReplay) {
    std::string sidecar_before_b2;
    {
        auto inst = make();
        Batch b1 = batch(1, 0, 2);
        ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
        sidecar_before_b2 = read_file(sidecar());
        Batch b2 = batch(2, 2, 3);
        ASSERT_EQ(inst->process(b2).status, SLUICE_OK);
    }
    // The crash: b2's lines reached the file (here, all but the last one) but
    // its sidecar never replaced the old one.
    std::string text = read_file(data());
    text.resize(text.size() - 10);
    write_file(data(), text);
    write_file(sidecar(), sidecar_before_b2);

    auto inst = make();
    std::vector<int64_t> resume;
    ASSERT_EQ(inst->resume_offsets({{"t", 0}}, resume).status, SLUICE_OK);
    EXPECT_EQ(resume, std::vector<int64_t>{2});  // the host replays b2
    Batch b2 = batch(2, 2, 3);
    b2.replay();
    ASSERT_EQ(inst->process(b2).status, SLUICE_OK);
    EXPECT_EQ(offsets_in(read_file(data())), (std::vector<int64_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(nlohmann::json::parse(read_file(sidecar())).at("length"), read_file(data()).size());
}

TEST_F(FileSinkTest, ResumeOffsetsComeFromTheSidecar) {
    {
        auto inst = make();
        Batch b = batch(1, 5, 3, 0);
        ASSERT_EQ(inst->process(b).status, SLUICE_OK);
        // A range with fewer records than offsets (compaction): resume after the range.
        Batch c = batch(2, 10, 2, 1);
        c.ranges()[0].until_offset = 20;
        ASSERT_EQ(inst->process(c).status, SLUICE_OK);
    }
    auto inst = make();
    std::vector<int64_t> offsets;
    ASSERT_EQ(inst->resume_offsets({{"t", 0}, {"t", 1}, {"t", 2}, {"u", 0}}, offsets).status,
              SLUICE_OK);
    EXPECT_EQ(offsets, (std::vector<int64_t>{8, 20, -1, -1}));
}

TEST_F(FileSinkTest, RefusesAForeignFile) {
    write_file(data(), "not ours\n");
    Instance inst(plugin_, {{"path", data()}});
    Result r = inst.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_NE(r.message.find("was not written by file-sink"), std::string::npos) << r.message;
    EXPECT_EQ(read_file(data()), "not ours\n");
}

TEST_F(FileSinkTest, ShorterDataFileThanRecordedIsAnError) {
    {
        auto inst = make();
        Batch b = batch(1, 0, 2);
        ASSERT_EQ(inst->process(b).status, SLUICE_OK);
    }
    write_file(data(), "");
    Instance inst(plugin_, {{"path", data()}});
    Result r = inst.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_NE(r.message.find("was truncated or replaced"), std::string::npos) << r.message;
}

TEST_F(FileSinkTest, NewGenerationFollowsTheOldOneDuringHotReload) {
    auto old_gen = make();
    Batch b1 = batch(1, 0, 2);
    ASSERT_EQ(old_gen->process(b1).status, SLUICE_OK);
    // The new generation is created while the old one still runs...
    auto new_gen = make();
    // ...which stores one more batch before the swap.
    Batch b2 = batch(2, 2, 2);
    ASSERT_EQ(old_gen->process(b2).status, SLUICE_OK);
    old_gen.reset();
    Batch b3 = batch(3, 4, 1);
    ASSERT_EQ(new_gen->process(b3).status, SLUICE_OK);
    b2.replay();
    ASSERT_EQ(new_gen->process(b2).status, SLUICE_OK);
    EXPECT_EQ(offsets_in(read_file(data())), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

/// What create() of a file-sink on `path` returned in a forked child: another process.
Result create_in_child(const Plugin &plugin, const std::string &path) {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::close(pipe_fds[0]);

        std::string reply;
        {
            Instance inst(plugin, {{"path", path}});
            Result r = inst.create();
            reply = std::to_string(r.status) + " " + r.message;
        }
        [[maybe_unused]] auto n = ::write(pipe_fds[1], reply.data(), reply.size());
        ::_exit(0);
    }
    ::close(pipe_fds[1]);
    std::string reply;
    char buf[1024];
    for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) reply.append(buf, n);
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    const auto space = reply.find(' ');
    if (space == std::string::npos) throw std::runtime_error("the child said nothing");
    return {std::stoi(reply.substr(0, space)), reply.substr(space + 1)};
}

/// How many fds of this process are open on `path`.
int fds_open_on(const std::string &path) {
    struct stat want {};
    if (::stat(path.c_str(), &want) != 0) return 0;
    int count = 0;
    for (const auto &entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        struct stat st {};
        if (::stat(entry.path().c_str(), &st) == 0 && st.st_dev == want.st_dev &&
            st.st_ino == want.st_ino)
            ++count;
    }
    return count;
}

TEST_F(FileSinkTest, ASecondProcessOnThePathIsRefused) {
    auto inst = make();
    Batch b1 = batch(1, 0, 2);
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
    append_file(data(), "{\"topic\":\"t\",\"parti");  // our batch in flight, say

    Result r = create_in_child(plugin_, data());
    EXPECT_EQ(r.status, SLUICE_FATAL) << r.message;
    EXPECT_EQ(r.message, "file-sink: '" + data() + "' is in use by another process (pid " +
                             std::to_string(::getpid()) + ") holding '" + data() +
                             ".lock': stop it, or set [plugin.file-sink] path to another file");
    // The child touched nothing: our tail is still there, and we carry on.
    EXPECT_EQ(read_file(data()).size(),
              nlohmann::json::parse(read_file(sidecar())).at("length").get<size_t>() + 19);
    Batch b2 = batch(2, 2, 1);
    ASSERT_EQ(inst->process(b2).status, SLUICE_OK);
    EXPECT_EQ(offsets_in(read_file(data())), (std::vector<int64_t>{0, 1, 2}));
}

TEST_F(FileSinkTest, TheLockGoesWithTheProcessThatHeldIt) {
    // A child process takes the path first and ends; then it is ours.
    int ready[2], go[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(go), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        Instance inst(plugin_, {{"path", data()}});
        const char c = inst.create().status == SLUICE_OK ? 'y' : 'n';
        [[maybe_unused]] auto n = ::write(ready[1], &c, 1);
        char wait_for;
        [[maybe_unused]] auto m = ::read(go[0], &wait_for, 1);
        ::_exit(0);  // no destroy: the kernel drops the lock, as on kill -9
    }
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ASSERT_EQ(c, 'y');
    {
        Instance inst(plugin_, {{"path", data()}});
        Result r = inst.create();
        EXPECT_EQ(r.status, SLUICE_FATAL);
        EXPECT_NE(r.message.find("in use by another process (pid " + std::to_string(child) + ")"),
                  std::string::npos)
            << r.message;
    }
    ASSERT_EQ(::write(go[1], "x", 1), 1);
    int status = 0;
    ::waitpid(child, &status, 0);
    for (int fd : {ready[0], ready[1], go[0], go[1]}) ::close(fd);

    auto inst = make();
    EXPECT_EQ(read_file(data() + ".lock"), std::to_string(::getpid()) + "\n");
}

TEST_F(FileSinkTest, GenerationsInOneProcessShareOneLock) {
    // Hot reload loads each generation from its own copy (RTLD_LOCAL): nothing static is
    // shared between them, as here with a second copy of the library.
    const std::string copy = dir_.file("file-sink-gen2.so");
    std::filesystem::copy_file(plugin_path(), copy);
    Plugin gen2_lib(copy);

    auto gen1 = make();
    Batch b1 = batch(1, 0, 2);
    ASSERT_EQ(gen1->process(b1).status, SLUICE_OK);
    auto gen2 =
        std::make_unique<Instance>(gen2_lib, std::map<std::string, std::string>{{"path", data()}});
    gen2->create_ok();  // while gen1 still runs
    Batch b2 = batch(2, 2, 2);
    ASSERT_EQ(gen1->process(b2).status, SLUICE_OK);
    gen1.reset();  // the old generation goes: the lock must stay
    Batch b3 = batch(3, 4, 1);
    ASSERT_EQ(gen2->process(b3).status, SLUICE_OK);
    EXPECT_EQ(create_in_child(plugin_, data()).status, SLUICE_FATAL);

    // A third generation, from the first library again, after the second is gone.
    gen2.reset();
    auto gen3 = make();
    Batch b4 = batch(4, 5, 1);
    ASSERT_EQ(gen3->process(b4).status, SLUICE_OK);
    EXPECT_EQ(offsets_in(read_file(data())), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
    EXPECT_EQ(create_in_child(plugin_, data()).status, SLUICE_FATAL);
    // One fd on the lock file for the process, however many generations came and went.
    EXPECT_EQ(fds_open_on(data() + ".lock"), 1);
}

class PerPartitionTest : public FileSinkTest {
  protected:
    std::string dir() const { return dir_.file("out"); }
    std::string file(const std::string &topic, int partition) const {
        return dir() + "/" + topic + "-" + std::to_string(partition) + ".jsonl";
    }
    std::unique_ptr<Instance> make_pp() {
        auto inst = std::make_unique<Instance>(
            plugin_,
            std::map<std::string, std::string>{{"path", dir()}, {"per-partition", "true"}});
        inst->create_ok();
        return inst;
    }
    /// A batch over several partitions: `n` records from `from` in each of `parts`.
    static Batch multi(int64_t id, int64_t from, int64_t n,
                       const std::vector<std::pair<std::string, int32_t>> &parts) {
        Batch b(id);
        for (const auto &[topic, p] : parts) {
            b.range(topic, p, from, from + n);
            for (int64_t o = from; o < from + n; ++o)
                b.records().push_back(
                    Record{.topic = topic,
                           .partition = p,
                           .offset = o,
                           .value = topic + std::to_string(p) + "-" + std::to_string(o)});
        }
        return b;
    }
};

TEST_F(PerPartitionTest, OneFileWithItsOwnOffsetsPerTopicPartition) {
    auto inst = make_pp();
    Batch b = multi(1, 0, 3, {{"t", 0}, {"t", 1}, {"u", 0}});
    b.range("t", 2, 5, 9);  // a range without records: its file holds only offsets
    ASSERT_EQ(inst->process(b).status, SLUICE_OK);

    EXPECT_EQ(offsets_in(read_file(file("t", 0))), (std::vector<int64_t>{0, 1, 2}));
    EXPECT_EQ(offsets_in(read_file(file("t", 1))), (std::vector<int64_t>{0, 1, 2}));
    EXPECT_EQ(offsets_in(read_file(file("u", 0))), (std::vector<int64_t>{0, 1, 2}));
    EXPECT_EQ(read_file(file("t", 2)), "");
    // The lines are the default layout's, byte for byte.
    EXPECT_EQ(read_file(file("u", 0)).substr(0, read_file(file("u", 0)).find('\n')),
              R"({"topic":"u","partition":0,"offset":0,"timestamp":-1,"key":null,)"
              R"("value":"dTAtMA==","headers":[]})");
    auto side = nlohmann::json::parse(read_file(file("t", 1) + ".offsets"));
    EXPECT_EQ(side.at("length"), read_file(file("t", 1)).size());
    EXPECT_EQ(side.at("offsets"),
              nlohmann::json::parse(R"([{"topic":"t","partition":1,"next":3}])"));
    EXPECT_EQ(nlohmann::json::parse(read_file(file("t", 2) + ".offsets")).at("offsets"),
              nlohmann::json::parse(R"([{"topic":"t","partition":2,"next":9}])"));
    EXPECT_FALSE(std::filesystem::exists(dir() + ".offsets"));  // no default-layout sidecar
}

TEST_F(PerPartitionTest, AReplayWritesNothingTwiceAndResumeAnswersPerPartition) {
    auto inst = make_pp();
    Batch b1 = multi(1, 0, 2, {{"t", 0}, {"t", 1}});
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
    // A crash stored partition 0 of the next batch only: its replay completes partition 1.
    Batch b2 = multi(2, 2, 2, {{"t", 0}});
    ASSERT_EQ(inst->process(b2).status, SLUICE_OK);
    inst.reset();

    auto again = make_pp();
    Batch replay = multi(2, 2, 2, {{"t", 0}, {"t", 1}});
    replay.replay();
    ASSERT_EQ(again->process(replay).status, SLUICE_OK);
    EXPECT_EQ(offsets_in(read_file(file("t", 0))), (std::vector<int64_t>{0, 1, 2, 3}));
    EXPECT_EQ(offsets_in(read_file(file("t", 1))), (std::vector<int64_t>{0, 1, 2, 3}));
    EXPECT_EQ(again->metric("records_skipped"), 2);

    auto third = make_pp();
    std::vector<int64_t> offsets;
    ASSERT_EQ(third->resume_offsets({{"t", 0}, {"t", 1}, {"t", 7}}, offsets).status, SLUICE_OK);
    EXPECT_EQ(offsets, (std::vector<int64_t>{4, 4, -1}));
    EXPECT_FALSE(std::filesystem::exists(file("t", 7)));  // asking creates no file
}

TEST_F(PerPartitionTest, APathThatIsAFileIsAClearCreateError) {
    write_file(dir(), "");
    Instance bad(plugin_, {{"path", dir()}, {"per-partition", "yes please"}});
    EXPECT_EQ(bad.create().message,
              "config key 'per-partition' is 'yes please', not a boolean: write true or false");
    Instance inst(plugin_, {{"path", dir()}, {"per-partition", "true"}});
    Result r = inst.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_EQ(r.message, "file-sink: '" + dir() +
                             "' is not a directory: with per-partition = true, [plugin.file-sink] "
                             "path names the directory of the files");
}

TEST_F(PerPartitionTest, ProcessesThatShareTheDirectoryStayExactlyOnce) {
    // A child process writes partition 0 and keeps it; ours writes partition 1 meanwhile,
    // cannot take partition 0 (Retry), and once the child revoked it, replays the child's
    // batch without writing it twice.
    int ready[2], go[2], done[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(go), 0);
    ASSERT_EQ(::pipe(done), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        auto inst = make_pp();
        Batch b = multi(1, 0, 3, {{"t", 0}});
        const char c = inst->process(b).status == SLUICE_OK ? 'y' : 'n';
        [[maybe_unused]] auto n = ::write(ready[1], &c, 1);
        char wait_for;
        [[maybe_unused]] auto m = ::read(go[0], &wait_for, 1);
        // Revoked: the file and its lock are given up while the process lives on.
        const char d = inst->revoke({{"t", 0}}).ok() ? 'y' : 'n';
        [[maybe_unused]] auto k = ::write(done[1], &d, 1);
        [[maybe_unused]] auto l = ::read(go[0], &wait_for, 1);
        ::_exit(0);
    }
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ASSERT_EQ(c, 'y');

    auto inst = make_pp();
    Batch mine = multi(1, 0, 2, {{"t", 1}});
    ASSERT_EQ(inst->process(mine).status, SLUICE_OK);
    Batch theirs = multi(1, 0, 3, {{"t", 0}});
    theirs.replay();
    Result busy = inst->process(theirs);
    EXPECT_EQ(busy.status, SLUICE_RETRY);
    EXPECT_EQ(busy.message, "file-sink: '" + file("t", 0) + "' is in use by another process (pid " +
                                std::to_string(child) + ") holding '" + file("t", 0) +
                                ".lock': retried until it gives the partition up");

    ASSERT_EQ(::write(go[1], "x", 1), 1);
    ASSERT_EQ(::read(done[0], &c, 1), 1);
    ASSERT_EQ(c, 'y');
    ASSERT_EQ(inst->process(theirs).status, SLUICE_OK);  // the child still runs
    EXPECT_EQ(offsets_in(read_file(file("t", 0))), (std::vector<int64_t>{0, 1, 2}));
    Batch next = multi(2, 3, 1, {{"t", 0}});
    ASSERT_EQ(inst->process(next).status, SLUICE_OK);
    EXPECT_EQ(offsets_in(read_file(file("t", 0))), (std::vector<int64_t>{0, 1, 2, 3}));

    ASSERT_EQ(::write(go[1], "x", 1), 1);
    int status = 0;
    ::waitpid(child, &status, 0);
    for (int fd : {ready[0], ready[1], go[0], go[1], done[0], done[1]}) ::close(fd);
}

TEST_F(PerPartitionTest, GenerationsShareEachLockUntilTheLastGivesItUp) {
    const std::string copy = dir_.file("file-sink-gen2.so");
    std::filesystem::copy_file(plugin_path(), copy);
    Plugin gen2_lib(copy);
    auto gen1 = make_pp();
    Batch b1 = multi(1, 0, 2, {{"t", 0}});
    ASSERT_EQ(gen1->process(b1).status, SLUICE_OK);
    auto gen2 = std::make_unique<Instance>(
        gen2_lib, std::map<std::string, std::string>{{"path", dir()}, {"per-partition", "true"}});
    gen2->create_ok();
    Batch b2 = multi(2, 2, 2, {{"t", 0}});
    ASSERT_EQ(gen2->process(b2).status, SLUICE_OK);  // while gen1 holds the partition too
    gen1.reset();
    Batch b3 = multi(3, 4, 1, {{"t", 0}});
    ASSERT_EQ(gen2->process(b3).status, SLUICE_OK);
    EXPECT_EQ(offsets_in(read_file(file("t", 0))), (std::vector<int64_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(fds_open_on(file("t", 0) + ".lock"), 1);
    gen2.reset();
    EXPECT_EQ(fds_open_on(file("t", 0) + ".lock"), 0);  // released with the last one
}

}  // namespace
}  // namespace sluice::testing
