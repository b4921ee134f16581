// Direct mode (the real `sluice run`, file-sink, --checkpoint, --group) on a standalone mock
// broker, with the file-sink's I/O failing under it (LD_PRELOAD of tests/support/iofault): the
// run stops with one line naming the file and the errno, the failed batch reaches neither the
// commit log nor Kafka, and a restart without the fault gives every record exactly once. And a
// second `sluice` on the same file-sink path is refused while the first runs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "checkpoint/checkpoint_store.hpp"
#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "iofault_env.hpp"
#include "mock_broker_process.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

constexpr int kPartitions = 2;
constexpr int kPerPartition = 800;
constexpr const char *kTopic = "sinkfault";

/// Lines of `text` that contain `part`.
std::vector<std::string> lines_with(const std::string &text, const std::string &part) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.find(part) != std::string::npos) out.push_back(line);
    return out;
}

struct Scenario {
    MockBrokerProcess broker{{{kTopic, kPartitions}}};
    TempDir dir = temp_dir("sluice-sinkfault");
    std::string sink_dir = dir.file("sinkdir");  // a name no checkpoint path contains
    std::string sink = sink_dir + "/sink.jsonl";

    Scenario() {
        std::filesystem::create_directory(sink_dir);
        produce(0, kPerPartition);
        write_text(dir.file("run.ini"), "[plugin.file-sink]\npath = " + sink + "\n");
    }

    void produce(int from, int until) {
        produce_numbered(broker.bootstrap_servers(), kTopic, kPartitions, from, until);
    }

    /// `sluice run` on the sink with its own checkpoint and group (one per host).
    /// SLUICE_TEST_PLUGIN_DIR: load file-sink from there (an older build, to see the tests
    /// fail without the fix).
    std::vector<std::string> args(const std::string &name, std::vector<std::string> extra = {}) {
        std::vector<std::string> a = {"run",
                                      "--brokers",
                                      broker.bootstrap_servers(),
                                      "--topics",
                                      kTopic,
                                      "--group",
                                      "sinkfault-" + name,
                                      "--config",
                                      dir.file("run.ini"),
                                      "--plugin",
                                      "file-sink",
                                      "--checkpoint",
                                      checkpoint(name),
                                      "--auto-offset-reset",
                                      "earliest",
                                      "--batch-interval",
                                      "100ms",
                                      "--max-batch-records",
                                      "200",
                                      "--hot-reload",
                                      "false",
                                      "-X",
                                      "fetch.wait.max.ms=10"};
        if (const char *d = std::getenv("SLUICE_TEST_PLUGIN_DIR"); d && *d) {
            a.push_back("--plugin-dir");
            a.push_back(d);
        }
        a.insert(a.end(), extra.begin(), extra.end());
        return sluice_argv(a);
    }
    std::string checkpoint(const std::string &name) const { return dir.file("ckpt-" + name); }

    /// Runs with `rules` until the host stops by itself (--max-batches bounds a host that
    /// wrongly carries on).
    ExitStatus run_faulty(const std::string &rules) {
        const auto status =
            run_until_stopped_by_fault(args("job", {"--max-batches", "40"}), rules,
                                       dir.file("faulty.err"), dir.file("faults.log"));
        if (!status) throw std::runtime_error("the host did not stop after the fault");
        return *status;
    }

    /// Runs without faults until the sink holds `want` records, then stops it with SIGTERM.
    /// Runs without faults until the sink holds `want` records, then stops it with SIGTERM.
    void catch_up() {
        ChildProcess host(args("job"), {dir.file("final.err"), true});
        ASSERT_TRUE(wait_until(
            [&] { return read_sink(sink).size() >= size_t{kPartitions} * kPerPartition; }, 60s))
            << read_file(dir.file("final.err"));
        const std::vector<int64_t> all(kPartitions, kPerPartition);
        ASSERT_TRUE(wait_until(
            [&] {
                return committed_offsets(broker.bootstrap_servers(), "sinkfault-job", kTopic,
                                         kPartitions) == all;
            },
            30s))
            << read_file(dir.file("final.err"));
        ASSERT_TRUE(stops_cleanly(host, dir.file("final.err")));
    }

    void expect_exactly_once(const std::string &group, int per_partition = kPerPartition) {
        const auto expected = consume_all(broker.bootstrap_servers(), kTopic);
        ASSERT_EQ(expected.size(), size_t{kPartitions} * per_partition);
        const auto written = read_sink(sink);  // throws on a torn line
        EXPECT_TRUE(exactly_once(written, expected));
        EXPECT_EQ(written.size(), expected.size());
        EXPECT_EQ(committed_offsets(broker.bootstrap_servers(), "sinkfault-" + group, kTopic,
                                    kPartitions),
                  std::vector<int64_t>(kPartitions, per_partition));
    }

    /// The failed batch is planned but not committed, and the group's offsets do not pass the
    /// start of it (nor what the sink's sidecar holds).
    void expect_failed_batch_uncommitted() {
        sluice::checkpoint::CheckpointStore store(checkpoint("job"));
        const auto state = store.recover();
        ASSERT_TRUE(state.pending) << "the failed batch must stay pending, for its replay";
        ASSERT_TRUE(!state.last_committed ||
                    state.last_committed->batch_id < state.pending->batch_id);
        const auto committed =
            committed_offsets(broker.bootstrap_servers(), "sinkfault-job", kTopic, kPartitions);
        const auto side = nlohmann::json::parse(read_file(sink + ".offsets"));
        std::vector<int64_t> stored(kPartitions, -1);
        for (const auto &e : side.at("offsets")) stored[e.at("partition")] = e.at("next");
        for (const auto &r : state.pending->ranges) {
            EXPECT_LE(committed[r.partition], r.from_offset) << "partition " << r.partition;
            EXPECT_LE(committed[r.partition], stored[r.partition]) << "partition " << r.partition;
        }
        EXPECT_LT(std::accumulate(committed.begin(), committed.end(), int64_t{0}),
                  int64_t{kPartitions} * kPerPartition);
        read_sink(sink);  // whole lines only: throws on a torn one
    }
};

void expect_one_line_error(const std::string &log, const std::string &part) {
    const auto lines = lines_with(log, part);
    ASSERT_FALSE(lines.empty()) << log;
    std::printf("file-sink fault: %s\n", lines.front().c_str());
    EXPECT_THAT(lines.front(), HasSubstr("restart sluice")) << log;
}

TEST(FileSinkFaults, ADroppedFsyncOfTheSinkStopsTheRunAndTheBatchIsNeverCommitted) {
    Scenario s;
    // The 4th fsync of the sink's files: the data file of the second batch (after the new
    // sidecar at start, then batch 1's data and sidecar); its pages are dropped.
    const ExitStatus status = s.run_faulty("op=fsync,path=sink.jsonl,nth=4,effect=drop");
    const std::string log = read_file(s.dir.file("faulty.err"));
    const auto fired = iofault_fired(s.dir.file("faults.log"));
    ASSERT_EQ(fired.size(), 1u) << log;
    EXPECT_EQ(fired[0], "fsync " + s.sink + " EIO drop");
    EXPECT_EQ(status.code, 1) << status.describe() << "\n" << log;
    expect_one_line_error(log, "file-sink: cannot fsync '" + s.sink + "': EIO");
    s.expect_failed_batch_uncommitted();
    s.catch_up();
    EXPECT_THAT(read_file(s.dir.file("final.err")), HasSubstr("replaying batch"));
    s.expect_exactly_once("job");
}

TEST(FileSinkFaults, AFailedDirectoryFsyncOfTheSinkIsFatal) {
    Scenario s;
    // After start, the 3rd batch's rename of its sidecar is not made durable.
    const ExitStatus status = s.run_faulty("op=dirfsync,path=" + s.sink_dir + ",nth=4");
    const std::string log = read_file(s.dir.file("faulty.err"));
    ASSERT_EQ(iofault_fired(s.dir.file("faults.log")).size(), 1u) << log;
    EXPECT_EQ(status.code, 1) << status.describe() << "\n" << log;
    expect_one_line_error(log, "file-sink: cannot fsync directory '" + s.sink_dir + "': EIO");
    s.expect_failed_batch_uncommitted();
    s.catch_up();
    s.expect_exactly_once("job");
}

TEST(FileSinkFaults, ADroppedFsyncOfTheSinkInReceiverModeKeepsTheBatchInTheWal) {
    Scenario s;
    const std::string wal = s.dir.file("wal");
    auto args = [&](std::vector<std::string> extra) {
        std::vector<std::string> a = {"run",
                                      "--mode",
                                      "receiver",
                                      "--brokers",
                                      s.broker.bootstrap_servers(),
                                      "--topics",
                                      kTopic,
                                      "--group",
                                      "sinkfault-receiver",
                                      "--config",
                                      s.dir.file("run.ini"),
                                      "--plugin",
                                      "file-sink",
                                      "--wal-dir",
                                      wal,
                                      "--auto-offset-reset",
                                      "earliest",
                                      "--block-interval",
                                      "100ms",
                                      "--batch-interval",
                                      "300ms",
                                      "--hot-reload",
                                      "false",
                                      "-X",
                                      "fetch.wait.max.ms=10",
                                      "-X",
                                      "session.timeout.ms=6000"};
        if (const char *d = std::getenv("SLUICE_TEST_PLUGIN_DIR"); d && *d)
            a.insert(a.end(), {"--plugin-dir", d});
        a.insert(a.end(), extra.begin(), extra.end());
        return sluice_argv(a);
    };
    // The 2nd fsync of the sink's files: the first batch's data file (after the new sidecar).
    {
        const auto status = run_until_stopped_by_fault(
            args({"--max-batches", "40"}), "op=fsync,path=sink.jsonl,nth=2,effect=drop",
            s.dir.file("faulty.err"), s.dir.file("faults.log"));
        ASSERT_TRUE(status) << "the host did not stop after the fault";
        const std::string log = read_file(s.dir.file("faulty.err"));
        ASSERT_EQ(iofault_fired(s.dir.file("faults.log")).size(), 1u) << log;
        EXPECT_EQ(status->code, 1) << status->describe() << "\n" << log;
        expect_one_line_error(log, "file-sink: cannot fsync '" + s.sink + "': EIO");
    }
    EXPECT_TRUE(read_sink(s.sink).empty());  // the dropped batch is not in the file
    auto inspect = run_sluice({"wal", "inspect", wal});
    EXPECT_EQ(inspect.status.code, 0) << inspect.err;
    EXPECT_THAT(inspect.out, HasSubstr("pending replay")) << inspect.out;

    {
        ChildProcess host(args({}), {s.dir.file("final.err"), true});
        ASSERT_TRUE(wait_until(
            [&] { return read_sink(s.sink).size() >= size_t{kPartitions} * kPerPartition; }, 60s))
            << read_file(s.dir.file("final.err"));
        ASSERT_TRUE(stop_gracefully(host, 30s));
    }
    EXPECT_TRUE(exactly_once(read_sink(s.sink), consume_all(s.broker.bootstrap_servers(), kTopic)));
}

TEST(FileSinkLock, ASecondSluiceOnTheSamePathIsRefusedWhileTheFirstRuns) {
    Scenario s;
    ChildProcess first(s.args("first"), {s.dir.file("first.err"), true});
    ASSERT_TRUE(
        wait_until([&] { return read_sink(s.sink).size() >= kPartitions * kPerPartition; }, 60s))
        << read_file(s.dir.file("first.err"));

    // Another job (its own checkpoint and group) pointed at the same file.
    ChildProcess second(s.args("second", {"--max-batches", "10"}),
                        {s.dir.file("second.err"), true});
    auto refused = second.wait(30s);
    ASSERT_TRUE(refused);
    const std::string log = read_file(s.dir.file("second.err"));
    EXPECT_EQ(refused->code, 1) << refused->describe() << "\n" << log;
    EXPECT_THAT(log, HasSubstr("file-sink: '" + s.sink + "' is in use by another process (pid " +
                               std::to_string(first.pid()) + ")"));
    for (const auto &line : lines_with(log, "in use by another process"))
        std::printf("second sluice: %s\n", line.c_str());

    // The first carries on undisturbed.
    s.produce(kPerPartition, kPerPartition + 100);
    ASSERT_TRUE(wait_until(
        [&] { return read_sink(s.sink).size() >= kPartitions * (kPerPartition + 100); }, 60s))
        << read_file(s.dir.file("first.err"));
    ASSERT_TRUE(stops_cleanly(first, s.dir.file("first.err")));
    s.expect_exactly_once("first", kPerPartition + 100);

    // Once the first is gone, the path is free again.
    ChildProcess later(s.args("first", {"--max-batches", "2"}), {s.dir.file("later.err"), true});
    auto ended = later.wait(30s);
    ASSERT_TRUE(ended);
    EXPECT_EQ(ended->code, 0) << read_file(s.dir.file("later.err"));
}

/// Count of `needle` in `text`.
size_t count_of(const std::string &text, const std::string &needle) {
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

/// Deploys file-sink.so into `dir` by rename, made distinct by `tag` appended past its end
/// (the ELF loader reads nothing there), so the host sees a new version.
void deploy_file_sink(const std::filesystem::path &dir, const std::string &tag) {
    const char *other = std::getenv("SLUICE_TEST_PLUGIN_DIR");
    const auto from =
        std::filesystem::path(other && *other ? other : SLUICE_PLUGIN_OUTPUT_DIR) / "file-sink.so";
    const auto tmp = dir / ".file-sink.so.new";
    std::filesystem::copy_file(from, tmp, std::filesystem::copy_options::overwrite_existing);
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::app);
        out << tag;
    }
    std::filesystem::permissions(tmp, std::filesystem::perms(0755));
    std::filesystem::rename(tmp, dir / "file-sink.so");
}

TEST(FileSinkLock, HotReloadGenerationsShareTheLockOfTheirProcess) {
    Scenario s;
    TempDir plugins = temp_dir("sluice-sinkfault-plugins");
    deploy_file_sink(plugins.path(), "v0");
    std::vector<std::string> argv = s.args("reload");
    for (auto it = argv.begin(); it != argv.end(); ++it) {
        if (*it == "--hot-reload") *(it + 1) = "true";
    }
    argv.insert(argv.end(), {"--plugin-dir", plugins.path().string(), "--hot-reload-poll", "20ms"});
    ChildProcess host(argv, {s.dir.file("reload.err"), true});
    ASSERT_TRUE(
        wait_until([&] { return read_sink(s.sink).size() >= kPartitions * kPerPartition; }, 60s))
        << read_file(s.dir.file("reload.err"));

    // Each swap creates the new generation while the old one runs, and destroys the old one
    // while the new one runs: the lock must pass between them within the process.
    constexpr int kSwaps = 3;
    for (int swap = 1; swap <= kSwaps; ++swap) {
        deploy_file_sink(plugins.path(), "v" + std::to_string(swap));
        s.produce(kPerPartition + (swap - 1) * 50, kPerPartition + swap * 50);
        ASSERT_TRUE(wait_until(
            [&] {
                return count_of(read_file(s.dir.file("reload.err")),
                                "swapped in at the batch boundary") >= size_t(swap);
            },
            20s))
            << "swap " << swap << " did not happen:\n"
            << read_file(s.dir.file("reload.err"));
        ASSERT_TRUE(host.running()) << read_file(s.dir.file("reload.err"));
    }
    const int per_partition = kPerPartition + kSwaps * 50;
    ASSERT_TRUE(wait_until(
        [&] { return read_sink(s.sink).size() >= size_t{kPartitions} * per_partition; }, 60s))
        << read_file(s.dir.file("reload.err"));
    auto status = stop_gracefully(host, 30s);
    ASSERT_TRUE(status);
    const std::string log = read_file(s.dir.file("reload.err"));
    EXPECT_EQ(status->code, 0) << log;
    EXPECT_EQ(log.find("in use by another process"), std::string::npos) << log;
    EXPECT_EQ(log.find("rolling back"), std::string::npos) << log;
    s.expect_exactly_once("reload", per_partition);
}

}  // namespace
