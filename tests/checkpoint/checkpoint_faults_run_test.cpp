// Direct mode (the real `sluice run`, file-sink, --checkpoint, --group) on a standalone mock
// broker, with the checkpoint's I/O failing under it (LD_PRELOAD of tests/support/iofault): the
// run stops with one line naming the file and the errno, nothing of the failed batch reaches
// Kafka, and a restart without the fault gives every record exactly once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <numeric>
#include <sstream>

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

constexpr int kPartitions = 4;
constexpr int kPerPartition = 600;

struct Scenario {
    MockBrokerProcess broker{{{"ckfault", kPartitions}}};
    TempDir dir = temp_dir("sluice-ckfault");
    std::string sink = dir.file("sink.jsonl");
    std::string checkpoint = dir.file("checkpoint");

    Scenario() {
        produce_numbered(broker.bootstrap_servers(), "ckfault", kPartitions, 0, kPerPartition);
        write_text(dir.file("run.ini"), "[plugin.file-sink]\npath = " + sink + "\n");
    }

    std::vector<std::string> args() const {
        return sluice_argv({"run",
                            "--brokers",
                            broker.bootstrap_servers(),
                            "--topics",
                            "ckfault",
                            "--group",
                            "ckfault-job",
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

    /// Runs with `rules` until the host stops by itself.
    ExitStatus run_faulty(const std::string &rules) {
        const auto status = run_until_stopped_by_fault(args(), rules, dir.file("faulty.err"),
                                                       dir.file("faults.log"));
        if (!status) throw std::runtime_error("the host did not stop after the fault");
        // What the operator sees: the error lines of the run.
        std::istringstream log(read_file(dir.file("faulty.err")));
        for (std::string line; std::getline(log, line);)
            if (line.find(" error ") != std::string::npos)
                std::printf("  host: %s\n", line.c_str());
        return *status;
    }

    /// Runs without faults until the sink holds everything, then stops it with SIGTERM.
    void catch_up() {
        const size_t want = kPartitions * kPerPartition;
        ASSERT_TRUE(run_until(
            args(), dir.file("final.err"), [&] { return read_sink(sink).size() >= want; }, 60s));
    }

    void expect_exactly_once() {
        const auto expected = consume_all(broker.bootstrap_servers(), "ckfault");
        EXPECT_TRUE(exactly_once(read_sink(sink), expected));
        EXPECT_EQ(
            committed_offsets(broker.bootstrap_servers(), "ckfault-job", "ckfault", kPartitions),
            std::vector<int64_t>(kPartitions, kPerPartition));
    }

    /// The group's offsets equal the last batch the checkpoint holds as committed: the batch
    /// whose commit failed did not reach Kafka.
    void expect_kafka_at_last_durable_commit() {
        sluice::checkpoint::CheckpointStore store(checkpoint);
        const auto state = store.recover();
        ASSERT_TRUE(state.pending) << "the failed batch must stay pending, for its replay";
        std::vector<int64_t> durable(kPartitions, -1);
        if (state.last_committed)
            for (const auto &r : state.last_committed->ranges)
                durable[r.partition] = r.until_offset;
        const auto committed =
            committed_offsets(broker.bootstrap_servers(), "ckfault-job", "ckfault", kPartitions);
        for (int p = 0; p < kPartitions; ++p)
            EXPECT_LE(committed[p], durable[p] < 0 ? -1 : durable[p]) << "partition " << p;
        EXPECT_LT(std::accumulate(committed.begin(), committed.end(), int64_t{0}),
                  int64_t{kPartitions} * kPerPartition);
    }
};

TEST(CheckpointFaults, ADroppedFsyncOfTheCommitLogStopsTheRunAndNothingMoreIsCommitted) {
    Scenario s;
    const ExitStatus status = s.run_faulty("op=fsync,path=/commits/,nth=3,effect=drop");
    const std::string log = read_file(s.dir.file("faulty.err"));
    ASSERT_EQ(iofault_fired(s.dir.file("faults.log")).size(), 1u) << log;
    EXPECT_EQ(status.code, 1) << status.describe() << "\n" << log;
    EXPECT_THAT(log, HasSubstr("cannot fsync checkpoint file"));
    EXPECT_THAT(log, HasSubstr(s.checkpoint + "/commits/"));
    EXPECT_THAT(log, HasSubstr("Input/output error"));
    s.expect_kafka_at_last_durable_commit();
    s.catch_up();
    EXPECT_THAT(read_file(s.dir.file("final.err")), HasSubstr("replay"));
    s.expect_exactly_once();
}

TEST(CheckpointFaults, AFailedFsyncOfThePlanStopsTheRunBeforeItsRecordsAreRead) {
    Scenario s;
    const ExitStatus status = s.run_faulty("op=fsync,path=/offsets/,nth=2");
    const std::string log = read_file(s.dir.file("faulty.err"));
    ASSERT_EQ(iofault_fired(s.dir.file("faults.log")).size(), 1u) << log;
    EXPECT_EQ(status.code, 1) << log;
    EXPECT_THAT(log, HasSubstr("/offsets/"));
    EXPECT_THAT(log, HasSubstr("is not planned"));
    s.catch_up();
    s.expect_exactly_once();
}

TEST(CheckpointFaults, AFailedDirectoryFsyncIsFatal) {
    Scenario s;
    const ExitStatus status = s.run_faulty("op=dirfsync,path=/commits,nth=2");
    const std::string log = read_file(s.dir.file("faulty.err"));
    ASSERT_EQ(iofault_fired(s.dir.file("faults.log")).size(), 1u) << log;
    EXPECT_EQ(status.code, 1) << log;
    EXPECT_THAT(log, HasSubstr("cannot fsync checkpoint directory"));
    s.catch_up();
    s.expect_exactly_once();
}

}  // namespace
