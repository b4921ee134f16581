// kill -9 of `sluice run` (direct mode, file-sink, checkpoint) at random
// moments while `sluice produce` writes: in the end the sink holds every
// produced record exactly once, compared with an independent consumer.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "mock_broker_process.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

TEST(Kill9Direct, FileSinkHoldsEveryRecordExactlyOnce) {
    const int kCycles = soak_cycles(12);
    // The mock keeps about 5 MiB per partition (DESIGN.md): a soak's load stays under 25,000
    // records a partition, spread over its cycles (about 1.7 s each).
    const int kRecords = std::min(5000 * kCycles, 100000);
    const int kRate = std::max(100, kRecords * 3 / (5 * kCycles));
    MockBrokerProcess broker({{"crash", 4}});
    auto dir = temp_dir("sluice-kill9");
    const auto sink = dir.file("sink.jsonl");
    const auto cfg = dir.file("run.ini");
    write_text(cfg, "[plugin.file-sink]\npath = " + sink + "\n");
    const std::vector<std::string> run_args = kill9_direct_args(
        broker.bootstrap_servers(), "crash", cfg, "file-sink", dir.file("checkpoint"));

    // About 20 s of load (for 12 cycles) while the host is killed again and again.
    auto producer = start_producer(broker.bootstrap_servers(), "crash", kRecords, kRate,
                                   dir.file("producer.err"), kBatchedProducer);

    const unsigned seed = test_seed();
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> life_ms(50, 1500);
    std::printf("kill9: seed %u\n", seed);
    int killed_mid_run = 0, replays = 0, resumed = 0;
    for (int cycle = 0; cycle < kCycles; ++cycle) {
        const KilledRun r = run_then_kill9(sluice_argv(run_args), dir.file("host.err"),
                                           std::chrono::milliseconds(life_ms(rng)));
        if (r.was_running) ++killed_mid_run;
        if (r.log.find("replaying batch") != std::string::npos) ++replays;
        if (r.log.find("checkpoint ") != std::string::npos) ++resumed;
        if (!r.killed())
            FAIL() << "host exited by itself in cycle " << cycle << ": " << r.describe();
    }
    ASSERT_TRUE(exits_cleanly(producer, dir.file("producer.err"), 120s));

    // The kills must have hit a host that was doing work, not only starting.
    const size_t written_while_killing = read_sink(sink).size();
    std::printf(
        "kill9: %zu records written while killing, %d starts resumed a checkpoint, %d replayed a "
        "batch\n",
        written_while_killing, resumed, replays);
    EXPECT_GT(written_while_killing, 0u);
    EXPECT_GT(resumed, 0);

    // A last, undisturbed run catches up; then SIGTERM stops it cleanly.
    const auto expected = consume_all(broker.bootstrap_servers(), "crash");
    ASSERT_EQ(expected.size(), static_cast<size_t>(kRecords));
    ASSERT_TRUE(run_until(
        sluice_argv(run_args), dir.file("final.err"),
        [&] { return read_sink(sink).size() >= expected.size(); }, 90s));

    const auto written = read_sink(sink);
    const Tally t = tally(written, expected);
    const size_t missing = t.missing, duplicated = t.duplicated, wrong_value = t.wrong_value;
    std::printf(
        "kill9: cycles %d (killed mid-run %d), produced %zu, written %zu, missing %zu, "
        "duplicated %zu, wrong values %zu\n",
        kCycles, killed_mid_run, expected.size(), written.size(), missing, duplicated, wrong_value);
    EXPECT_GE(killed_mid_run, kCycles * 5 / 6);
    EXPECT_EQ(missing, 0u);
    EXPECT_EQ(duplicated, 0u);
    EXPECT_EQ(wrong_value, 0u);
    EXPECT_EQ(written.size(), expected.size());
}
