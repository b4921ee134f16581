// kill -9 of `sluice run --mode receiver` (WAL on, file-sink) at random moments while
// `sluice produce` writes to a standalone `sluice mock-broker`: in the end every produced
// record is in the sink at least once, checked against an independent consumer, and the
// duplicates are counted.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <regex>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "mock_broker_process.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

TEST(Kill9Receiver, WalKeepsEveryRecordAcrossCrashes) {
    const int kCycles = soak_cycles(10);
    // Under the mock's 5 MiB a partition (DESIGN.md), spread over the cycles (about 5 s each).
    const int kRecords = std::min(4000 * kCycles, 100000);
    const int kRate = std::max(100, kRecords / (5 * kCycles));
    MockBrokerProcess broker({{"rcrash", 4}});
    auto dir = temp_dir("sluice-kill9r");
    const auto sink = dir.file("sink.jsonl"), offsets = dir.file("offsets.txt");
    const auto cfg = dir.file("run.ini");
    write_text(cfg, "[plugin.file-sink]\npath = " + sink +
                        "\n[plugin.print-offsets]\noutput = " + offsets + "\n");
    ReceiverArgs run{.brokers = broker.bootstrap_servers(),
                     .topics = "rcrash:2",
                     .group = "crash",
                     .plugins = {"print-offsets", "file-sink"},
                     .config = cfg,
                     .wal_dir = dir.file("wal")};
    run.session_timeout_ms = 3000;  // the mock keeps a killed member until its session expires
    run.heartbeat_interval_ms = 500;
    const auto run_args = run.args();

    auto producer = start_producer(broker.bootstrap_servers(), "rcrash", kRecords, kRate,
                                   dir.file("producer.err"), kBatchedProducer);

    const unsigned seed = test_seed();
    std::mt19937 rng(seed);
    // A start takes a few seconds to get its partitions (the group waits for the killed
    // member's session to expire); kill anywhere from before that to well after.
    std::uniform_int_distribution<int> life_ms(1000, 8000);
    std::printf("kill9 receiver: seed %u\n", seed);
    int killed = 0, replays = 0, torn = 0;
    size_t replayed_blocks = 0;
    static const std::regex to_replay(R"((\d+) blocks \((\d+) records\) to replay)");
    for (int cycle = 0; cycle < kCycles; ++cycle) {
        const KilledRun r =
            run_then_kill9(sluice_argv(run_args), dir.file("host" + std::to_string(cycle) + ".err"),
                           std::chrono::milliseconds(life_ms(rng)));
        if (!r.killed())
            FAIL() << "host exited by itself in cycle " << cycle << ": " << r.describe();
        const std::string &log = r.log;
        ++killed;
        std::smatch m;
        if (std::regex_search(log, m, to_replay) && std::stoul(m[1]) > 0) {
            ++replays;
            replayed_blocks += std::stoul(m[1]);
        }
        if (log.find("torn tail") != std::string::npos) ++torn;
    }
    ASSERT_TRUE(exits_cleanly(producer, dir.file("producer.err"), 120s));
    const size_t written_while_killing = read_sink(sink).size();

    // A last, undisturbed run replays what is pending and catches up; SIGTERM stops it.
    const auto expected = consume_all(broker.bootstrap_servers(), "rcrash");
    ASSERT_EQ(expected.size(), static_cast<size_t>(kRecords));
    const auto final_run = run_until(
        sluice_argv(run_args), dir.file("final.err"),
        [&] { return tally(read_sink(sink), expected).missing == 0; }, 120s);
    // On failure: what is missing, and who owned what in the final run, before its whole log.
    ASSERT_TRUE(final_run) << missing_summary(read_sink(sink), expected)
                           << ownership_lines(read_file(dir.file("final.err")));

    const auto written = read_sink(sink);
    const Tally t = tally(written, expected);
    // What reached the plugins more than once (the sink drops offsets it already holds).
    size_t delivered_twice = 0;
    for (const auto &[id, n] : deliveries(offsets)) delivered_twice += n > 1 ? n - 1 : 0;
    std::printf(
        "kill9 receiver: cycles %d (killed %d), produced %zu, written %zu (%zu while killing), "
        "missing %zu, duplicated in sink %zu, delivered to plugins more than once %zu, "
        "starts that replayed WAL blocks %d (%zu blocks), torn tails cut %d, wrong values %zu\n",
        kCycles, killed, expected.size(), written.size(), written_while_killing, t.missing,
        t.duplicated, delivered_twice, replays, replayed_blocks, torn, t.wrong_value);
    EXPECT_GE(killed, kCycles);
    EXPECT_GT(written_while_killing, 0u);
    EXPECT_EQ(t.missing, 0u);
    EXPECT_EQ(t.wrong_value, 0u);
}
