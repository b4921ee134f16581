// Full disks, for real (issue 15.3): a small tmpfs mounted by the test holds the checkpoint, the
// WAL or file-sink's data file; the real `sluice run` on a standalone mock broker fills it. Each
// case runs once with space (some batches done), fills the filesystem to its last page, produces
// more and runs again: the run must stop by itself with one line naming the file and ENOSPC,
// commit nothing it could not make durable and damage nothing already written. Then the filler
// is removed and a third run must resume from what is on the disk and end with every record
// exactly once. Needs CAP_SYS_ADMIN for mount(2) (CI runs as root); skipped otherwise.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "mock_broker_process.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"
#include "small_filesystem.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

constexpr int kPartitions = 4;
constexpr int kPerRun = 500;  // records per partition produced before each of the first two runs

struct FullDisk : ::testing::Test {
    MockBrokerProcess broker{{{"full", kPartitions}}};
    TempDir dir = temp_dir("sluice-full-disk");
    SmallFilesystem disk{dir.file("small"), 2u << 20};
    int produced = 0;  // per partition

    void SetUp() override {
        if (!disk.mounted()) GTEST_SKIP() << disk.why_not() << " (needs root)";
    }

    void produce_more() {
        produce_numbered(broker.bootstrap_servers(), "full", kPartitions, produced,
                         produced + kPerRun);
        produced += kPerRun;
    }
    size_t total() const { return static_cast<size_t>(kPartitions) * produced; }

    /// The first two runs of each case: with space until `sink` holds every record so far,
    /// then, on the filled disk with more records waiting, until the host stops by itself.
    /// Returns that stop's status; its log is in full.err.
    ExitStatus run_then_fill(const std::vector<std::string> &args, const std::string &sink) {
        produce_more();
        EXPECT_TRUE(run_until(
            args, dir.file("first.err"), [&] { return read_sink(sink).size() >= total(); }, 60s));
        const size_t taken = disk.fill();
        std::printf("full disk: filler took %zu bytes\n", taken);
        produce_more();
        ChildProcess host(args, {dir.file("full.err"), true});
        const auto status = host.wait(60s);
        if (!status) {
            ADD_FAILURE() << "the host kept running on a full disk\n"
                          << read_file(dir.file("full.err"));
            return ExitStatus{};
        }
        std::istringstream log(read_file(dir.file("full.err")));
        for (std::string line; std::getline(log, line);)
            if (line.find(" error ") != std::string::npos)
                std::printf("  host: %s\n", line.c_str());
        return *status;
    }

    /// After the filler is gone: a run until `sink` holds every record, stopped cleanly.
    void resume(const std::vector<std::string> &args, const std::string &sink) {
        disk.release();
        ASSERT_TRUE(run_until(
            args, dir.file("resumed.err"), [&] { return read_sink(sink).size() >= total(); }, 60s));
    }

    std::vector<int64_t> committed(const std::string &group) const {
        return committed_offsets(broker.bootstrap_servers(), group, "full", kPartitions);
    }
    int64_t sum(const std::vector<int64_t> &offsets) const {
        return std::accumulate(offsets.begin(), offsets.end(), int64_t{0});
    }

    std::vector<std::string> direct_args(const std::string &sink_path,
                                         const std::string &checkpoint) {
        write_text(dir.file("run.ini"), "[plugin.file-sink]\npath = " + sink_path + "\n");
        return sluice_argv({"run",
                            "--brokers",
                            broker.bootstrap_servers(),
                            "--topics",
                            "full",
                            "--group",
                            "full-direct",
                            "--config",
                            dir.file("run.ini"),
                            "--plugin",
                            "file-sink",
                            "--checkpoint",
                            checkpoint,
                            "--auto-offset-reset",
                            "earliest",
                            "--batch-interval",
                            "100ms",
                            "--max-batch-records",
                            "400",
                            "-X",
                            "fetch.wait.max.ms=10"});
    }
};

TEST_F(FullDisk, CheckpointOnAFullFilesystemStopsTheRunAndARestartResumesExactly) {
    const std::string sink = dir.file("sink.jsonl");
    const auto args = direct_args(sink, disk.file("checkpoint"));
    const ExitStatus status = run_then_fill(args, sink);
    const std::string log = read_file(dir.file("full.err"));
    EXPECT_TRUE(status.exited() && status.code != 0) << status.describe() << "\n" << log;
    EXPECT_THAT(log, HasSubstr("No space left on device"));
    EXPECT_THAT(log, HasSubstr(disk.file("checkpoint")));
    // Kafka never runs ahead of the checkpoint: at most what the first run and the batches that
    // still fitted committed, never the records waiting.
    EXPECT_LT(sum(committed("full-direct")), static_cast<int64_t>(total())) << log;
    EXPECT_LE(read_sink(sink).size(), total());

    resume(args, sink);
    EXPECT_THAT(read_file(dir.file("resumed.err")), HasSubstr("checkpoint"));
    EXPECT_TRUE(exactly_once(read_sink(sink), consume_all(broker.bootstrap_servers(), "full")));
    EXPECT_EQ(committed("full-direct"), std::vector<int64_t>(kPartitions, produced));
}

TEST_F(FullDisk, FileSinkOnAFullFilesystemLeavesNothingPartialAndARestartResumesExactly) {
    const std::string sink = disk.file("sink.jsonl");
    const auto args = direct_args(sink, dir.file("checkpoint"));
    const ExitStatus status = run_then_fill(args, sink);
    const std::string log = read_file(dir.file("full.err"));
    EXPECT_TRUE(status.exited() && status.code != 0) << status.describe() << "\n" << log;
    EXPECT_THAT(log, HasSubstr("No space left on device"));
    EXPECT_THAT(log, HasSubstr(sink));
    // Cut back to its last whole batch: every line complete, none of the waiting records
    // committed to Kafka.
    const std::string data = read_file(sink);
    ASSERT_FALSE(data.empty());
    EXPECT_EQ(data.back(), '\n') << "a partial line was left on the full disk";
    EXPECT_LT(sum(committed("full-direct")), static_cast<int64_t>(total())) << log;

    resume(args, sink);
    EXPECT_TRUE(exactly_once(read_sink(sink), consume_all(broker.bootstrap_servers(), "full")));
    EXPECT_EQ(committed("full-direct"), std::vector<int64_t>(kPartitions, produced));
}

TEST_F(FullDisk, WalOnAFullFilesystemStopsTheReceiverWithoutCommittingAndLosesNothing) {
    const std::string sink = dir.file("sink.jsonl");
    write_text(dir.file("receiver.ini"), "[plugin.file-sink]\npath = " + sink + "\n");
    ReceiverArgs r;
    r.brokers = broker.bootstrap_servers();
    r.topics = "full";
    r.group = "full-receiver";
    r.plugins = {"file-sink"};
    r.config = dir.file("receiver.ini");
    r.wal_dir = disk.file("wal");
    r.session_timeout_ms = 3000;
    const auto args = sluice_argv(r.args());
    const ExitStatus status = run_then_fill(args, sink);
    const std::string log = read_file(dir.file("full.err"));
    EXPECT_TRUE(status.exited() && status.code != 0) << status.describe() << "\n" << log;
    EXPECT_THAT(log, HasSubstr("No space left on device"));
    EXPECT_THAT(log, HasSubstr(disk.file("wal")));
    EXPECT_LT(sum(committed("full-receiver")), static_cast<int64_t>(total())) << log;

    resume(args, sink);
    const Tally t = tally(read_sink(sink), consume_all(broker.bootstrap_servers(), "full"));
    std::printf("full disk, receiver: missing %zu, duplicated %zu, wrong values %zu\n", t.missing,
                t.duplicated, t.wrong_value);
    EXPECT_EQ(t.missing, 0u);
    EXPECT_EQ(t.wrong_value, 0u);
}

}  // namespace
