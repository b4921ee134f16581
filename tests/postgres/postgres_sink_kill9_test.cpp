// kill -9 of `sluice run` (direct mode, postgres-sink, checkpoint) at random moments while
// `sluice produce` writes: in the end the table holds every produced record exactly once,
// compared with an independent consumer of the topic.

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <random>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "mock_broker_process.hpp"
#include "pg_records.hpp"
#include "postgres_server.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

TEST(Kill9PostgresSink, TheTableHoldsEveryRecordExactlyOnce) {
    constexpr int kCycles = 8;
    constexpr int kRecords = 30000;
    MockBrokerProcess broker({{"crash", 4}});
    PostgresServer pg;
    PgClient client(pg.conninfo());
    auto dir = temp_dir("sluice-pg-kill9");
    const auto cfg = dir.file("run.ini");
    write_text(cfg, "[plugin.postgres-sink]\nconninfo = " + pg.conninfo() + "\ntable = crash\n");
    const std::vector<std::string> run_args = kill9_direct_args(
        broker.bootstrap_servers(), "crash", cfg, "postgres-sink", dir.file("checkpoint"));

    // About 10 s of load while the host is killed again and again.
    ChildProcess producer = start_producer(broker.bootstrap_servers(), "crash", kRecords, 3000,
                                           dir.file("producer.err"));

    const unsigned seed = test_seed();
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> life_ms(300, 1500);
    std::printf("kill9-postgres: seed %u\n", seed);
    auto rows = [&] { return std::stoul(client.scalar("SELECT count(*) FROM crash")); };
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
    ASSERT_TRUE(exits_cleanly(producer, dir.file("producer.err"), 60s));

    const size_t written_while_killing = rows();
    std::printf(
        "kill9-postgres: %zu rows written while killing, %d starts resumed a checkpoint, %d "
        "replayed a batch\n",
        written_while_killing, resumed, replays);
    EXPECT_GT(written_while_killing, 0u);
    EXPECT_GT(resumed, 0);

    // A last, undisturbed run catches up; then SIGTERM stops it cleanly.
    const auto expected = consume_all(broker.bootstrap_servers(), "crash");
    ASSERT_EQ(expected.size(), static_cast<size_t>(kRecords));
    ASSERT_TRUE(run_until(
        sluice_argv(run_args), dir.file("final.err"), [&] { return rows() >= expected.size(); },
        40s));

    const auto written = read_table(client, "crash");
    const Tally t = tally(written, expected);
    std::printf(
        "kill9-postgres: cycles %d (killed mid-run %d), produced %zu, written %zu, missing %zu, "
        "duplicated %zu, wrong values %zu\n",
        kCycles, killed_mid_run, expected.size(), written.size(), t.missing, t.duplicated,
        t.wrong_value);
    EXPECT_GE(killed_mid_run, 6);
    EXPECT_EQ(t.missing, 0u);
    EXPECT_EQ(t.duplicated, 0u);
    EXPECT_EQ(t.wrong_value, 0u);
    EXPECT_EQ(written.size(), expected.size());
    // The offsets table agrees: each partition's next offset is its high watermark.
    const auto marks = watermarks(broker.bootstrap_servers(), "crash");
    for (size_t p = 0; p < marks.size(); ++p)
        EXPECT_EQ(client.scalar("SELECT next_offset FROM sluice_offsets WHERE topic = 'crash' AND "
                                "partition = " +
                                std::to_string(p)),
                  std::to_string(marks[p].high));
}
