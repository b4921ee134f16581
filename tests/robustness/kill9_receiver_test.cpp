// kill -9 of `sluice run --mode receiver` (WAL on, file-sink) at random moments while
// `sluice produce` writes to a standalone `sluice mock-broker`: in the end every produced
// record is in the sink at least once, checked against an independent consumer, and the
// duplicates are counted.

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <random>
#include <regex>

#include "e2e_helpers.hpp"
#include "mock_broker_process.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

TEST(Kill9Receiver, WalKeepsEveryRecordAcrossCrashes) {
    constexpr int kCycles = 10;
    constexpr int kRecords = 40000;
    MockBrokerProcess broker({{"rcrash", 4}});
    auto dir = temp_dir("sluice-kill9r");
    const auto sink = dir.file("sink.jsonl"), offsets = dir.file("offsets.txt");
    const auto cfg = dir.file("run.ini");
    write_text(cfg, "[plugin.file-sink]\npath = " + sink +
                        "\n[plugin.print-offsets]\noutput = " + offsets + "\n");
    // A short session timeout: the mock keeps a killed member in the group until it expires.
    const std::vector<std::string> run_args{"run",
                                            "--mode",
                                            "receiver",
                                            "--brokers",
                                            broker.bootstrap_servers(),
                                            "--topics",
                                            "rcrash:2",
                                            "--group",
                                            "crash",
                                            "--config",
                                            cfg,
                                            "--plugin",
                                            "print-offsets",
                                            "--plugin",
                                            "file-sink",
                                            "--wal-dir",
                                            dir.file("wal"),
                                            "--auto-offset-reset",
                                            "earliest",
                                            "--batch-interval",
                                            "200ms",
                                            "--block-interval",
                                            "50ms",
                                            "-X",
                                            "fetch.wait.max.ms=10",
                                            "-X",
                                            "session.timeout.ms=3000",
                                            "-X",
                                            "heartbeat.interval.ms=500"};

    ChildProcess producer(
        sluice_argv({"produce", "--brokers", broker.bootstrap_servers(), "--topic", "rcrash",
                     "--count", std::to_string(kRecords), "--rate", "800", "--key-size", "8"}),
        {dir.file("producer.err"), true});

    const unsigned seed = std::random_device{}();
    std::mt19937 rng(seed);
    // A start takes a few seconds to get its partitions (the group waits for the killed
    // member's session to expire); kill anywhere from before that to well after.
    std::uniform_int_distribution<int> life_ms(1000, 8000);
    std::printf("kill9 receiver: seed %u\n", seed);
    int killed = 0, replays = 0, torn = 0;
    size_t replayed_blocks = 0;
    static const std::regex to_replay(R"((\d+) blocks \((\d+) records\) to replay)");
    for (int cycle = 0; cycle < kCycles; ++cycle) {
        const auto log_path = dir.file("host" + std::to_string(cycle) + ".err");
        ChildProcess host(sluice_argv(run_args), {log_path, true});
        std::this_thread::sleep_for(std::chrono::milliseconds(life_ms(rng)));
        const bool was_running = host.running();
        if (was_running) host.send_signal(SIGKILL);
        auto status = host.wait(10s);
        ASSERT_TRUE(status);
        const std::string log = read_file(log_path);
        if (!was_running || status->signal != SIGKILL)
            FAIL() << "host exited by itself in cycle " << cycle << ": " << status->describe()
                   << "\n"
                   << log;
        ++killed;
        std::smatch m;
        if (std::regex_search(log, m, to_replay) && std::stoul(m[1]) > 0) {
            ++replays;
            replayed_blocks += std::stoul(m[1]);
        }
        if (log.find("torn tail") != std::string::npos) ++torn;
    }
    auto produced = producer.wait(120s);
    ASSERT_TRUE(produced);
    ASSERT_EQ(produced->code, 0) << read_file(dir.file("producer.err"));
    const size_t written_while_killing = read_sink(sink).size();

    // A last, undisturbed run replays what is pending and catches up; SIGTERM stops it.
    const auto expected = consume_all(broker.bootstrap_servers(), "rcrash");
    ASSERT_EQ(expected.size(), static_cast<size_t>(kRecords));
    ChildProcess host(sluice_argv(run_args), {dir.file("final.err"), true});
    ASSERT_TRUE(wait_until(
        [&] {
            const Tally t = tally(read_sink(sink), expected);
            return t.missing == 0;
        },
        120s))
        << read_file(dir.file("final.err"));
    host.send_signal(SIGTERM);
    auto status = host.wait(30s);
    ASSERT_TRUE(status);
    EXPECT_EQ(status->code, 0) << read_file(dir.file("final.err"));

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
    EXPECT_GE(killed, 10);
    EXPECT_GT(written_while_killing, 0u);
    EXPECT_EQ(t.missing, 0u);
    EXPECT_EQ(t.wrong_value, 0u);
}
