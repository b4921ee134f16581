// Losing the machine, not only the process (issue 19): `sluice run --mode receiver` with a WAL
// under a steady `sluice produce` is killed with SIGKILL at random moments, its WAL directory
// is deleted (the disk went with the machine) and another host starts in the group on a fresh
// WAL. With receiver-commit = processed (the default) the group's offsets never run ahead of
// what was processed, so every produced record reaches the plugins at least once; the records
// delivered twice are counted and printed.

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "mock_broker_process.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

TEST(MachineLossReceiver, ANewHostOnAFreshWalFindsEveryRecordTheLostOneHadNotProcessed) {
    constexpr int kCycles = 10;
    constexpr int kRecords = 24000;
    MockBrokerProcess broker({{"rloss", 4}});
    auto dir = temp_dir("sluice-mloss");
    // The sink and print-offsets' record of every delivery stand for the downstream system:
    // they outlive the hosts. Each host's WAL is its own disk, lost with it.
    const auto sink = dir.file("sink.jsonl"), offsets = dir.file("offsets.txt");
    const auto cfg = dir.file("run.ini");
    write_text(cfg, "[plugin.file-sink]\npath = " + sink +
                        "\n[plugin.print-offsets]\noutput = " + offsets + "\n");
    auto args_for = [&](const std::string &wal) {
        ReceiverArgs run{.brokers = broker.bootstrap_servers(),
                         .topics = "rloss:2",
                         .group = "mloss",
                         .plugins = {"print-offsets", "file-sink"},
                         .config = cfg,
                         .wal_dir = wal};
        run.session_timeout_ms = 3000;  // the mock keeps a killed member until it expires
        run.heartbeat_interval_ms = 500;
        return sluice_argv(run.args());
    };

    auto producer = start_producer(broker.bootstrap_servers(), "rloss", kRecords, 800,
                                   dir.file("producer.err"), kBatchedProducer);
    const unsigned seed = test_seed();
    std::mt19937 rng(seed);
    // A host gets its partitions a few seconds after it starts (the group waits for the
    // lost member's session to expire): kill anywhere from before that to well after.
    std::uniform_int_distribution<int> life_ms(1500, 5500);
    std::printf("machine loss: seed %u\n", seed);
    int killed = 0;
    for (int cycle = 0; cycle < kCycles; ++cycle) {
        const auto wal = dir.file("wal" + std::to_string(cycle));
        const KilledRun r =
            run_then_kill9(args_for(wal), dir.file("host" + std::to_string(cycle) + ".err"),
                           std::chrono::milliseconds(life_ms(rng)));
        if (!r.killed())
            FAIL() << "host exited by itself in cycle " << cycle << ": " << r.describe();
        ++killed;
        std::filesystem::remove_all(wal);  // the machine is gone, and its disk with it
    }
    ASSERT_TRUE(exits_cleanly(producer, dir.file("producer.err"), 120s));
    const size_t written_while_killing = read_sink(sink).size();

    // Another host, on a WAL of its own, takes the group over and catches up.
    const auto expected = consume_all(broker.bootstrap_servers(), "rloss");
    ASSERT_EQ(expected.size(), static_cast<size_t>(kRecords));
    ASSERT_TRUE(run_until(
        args_for(dir.file("wal-last")), dir.file("final.err"),
        [&] { return tally(read_sink(sink), expected).missing == 0; }, 120s));

    const Tally t = tally(read_sink(sink), expected);
    size_t delivered_twice = 0, delivered = 0;
    for (const auto &[id, n] : deliveries(offsets)) {
        delivered += n;
        delivered_twice += n > 1 ? n - 1 : 0;
    }
    std::printf(
        "machine loss: cycles %d (killed %d, WAL deleted each time), produced %zu, written "
        "%zu while killing, missing %zu, delivered to plugins %zu, more than once %zu, wrong "
        "values %zu\n",
        kCycles, killed, expected.size(), written_while_killing, t.missing, delivered,
        delivered_twice, t.wrong_value);
    EXPECT_EQ(killed, kCycles);
    EXPECT_GT(written_while_killing, 0u);
    EXPECT_EQ(t.missing, 0u);
    EXPECT_EQ(t.wrong_value, 0u);
}
