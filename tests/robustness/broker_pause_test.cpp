// The broker stops answering (SIGSTOP) in the middle of a run: the host waits,
// keeps its data and offsets, and carries on when the broker is back.

#include <gtest/gtest.h>
#include <signal.h>

#include <map>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "mock_broker_process.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

TEST(BrokerPause, HostRidesOutAnUnresponsiveBroker) {
    MockBrokerProcess broker({{"pause", 2}});
    auto dir = temp_dir("sluice-pause");
    const auto sink = dir.file("sink.jsonl");
    write_text(dir.file("run.ini"), "[plugin.file-sink]\npath = " + sink + "\n");
    auto produce = [&](int count) {
        auto r = run_sluice({"produce", "--brokers", broker.bootstrap_servers(), "--topic", "pause",
                             "--count", std::to_string(count), "--key-size", "8"},
                            60s);
        ASSERT_EQ(r.status.code, 0) << r.err;
    };
    produce(500);
    ChildProcess host(
        sluice_argv({"run", "--brokers", broker.bootstrap_servers(), "--topics", "pause",
                     "--config", dir.file("run.ini"), "--plugin", "file-sink", "--checkpoint",
                     dir.file("ckpt"), "--auto-offset-reset", "earliest", "--batch-interval",
                     "100ms", "-X", "fetch.wait.max.ms=10"}),
        {dir.file("host.err"), true});
    ASSERT_TRUE(wait_until([&] { return read_sink(sink).size() == 500; }, 30s))
        << read_file(dir.file("host.err"));

    broker.process().send_signal(SIGSTOP);
    // Longer than the host's 10 s watermark timeout, so its retry path runs.
    EXPECT_TRUE(wait_until(
        [&] { return read_file(dir.file("host.err")).find("retrying") != std::string::npos; },
        20s));
    EXPECT_TRUE(host.running()) << read_file(dir.file("host.err"));
    broker.process().send_signal(SIGCONT);

    produce(500);
    EXPECT_TRUE(wait_until([&] { return read_sink(sink).size() >= 1000; }, 60s))
        << read_file(dir.file("host.err"));
    ASSERT_TRUE(stops_cleanly(host, dir.file("host.err")));

    const auto expected = consume_all(broker.bootstrap_servers(), "pause");
    const auto written = read_sink(sink);
    std::map<std::tuple<std::string, int32_t, int64_t>, int> count;
    for (const auto &r : written) ++count[record_id(r)];
    EXPECT_EQ(written.size(), expected.size());
    for (const auto &e : expected)
        EXPECT_EQ(count[record_id(e)], 1) << e.partition << "@" << e.offset;
}
