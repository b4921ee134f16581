// Receiver mode finds new topics while it runs: a `^regex` in --topics is matched again at
// each metadata refresh (5 s unless -X topic.metadata.refresh.interval.ms says otherwise), so a
// topic created after the start is assigned and its records processed. (The mock cannot add
// partitions to an existing topic, so new partitions are not tested here; librdkafka sees them
// through the same refresh.)

#include <gtest/gtest.h>
#include <signal.h>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "mock_broker_process.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

namespace {

size_t owned_of(const std::string &log, const std::string &topic) {
    size_t n = 0;
    for (const auto &[thread, set] : read_ownership(log).now)
        for (const auto &tp : set) n += tp.rfind(topic + ":", 0) == 0;
    return n;
}

size_t records_of(const std::vector<ConsumedRecord> &records, const std::string &topic) {
    size_t n = 0;
    for (const auto &r : records) n += r.topic == topic;
    return n;
}

}  // namespace

TEST(ReceiverDiscovery, ATopicMatchingThePatternThatAppearsWhileRunningIsProcessed) {
    MockBrokerProcess broker({{"rdisc-a", 2}});
    auto dir = temp_dir("sluice-rdisc");
    const auto cfg = dir.file("run.ini");
    write_text(cfg, "[plugin.file-sink]\npath = " + dir.file("out.jsonl") + "\n");
    ReceiverArgs run{.brokers = broker.bootstrap_servers(),
                     .topics = "^rdisc-.*",
                     .group = "rdisc",
                     .plugins = {"file-sink"},
                     .config = cfg};
    const std::string log = dir.file("host.err");
    ChildProcess host(sluice_argv(run.args()), {log, true});
    ASSERT_TRUE(wait_until([&] { return owned_of(read_file(log), "rdisc-a") == 2; }, 40s))
        << read_file(log);
    produce_numbered(broker.bootstrap_servers(), "rdisc-a", 2, 0, 50);

    // The mock creates a topic on first use, with 4 partitions.
    produce_numbered(broker.bootstrap_servers(), "rdisc-b", 4, 0, 50);
    EXPECT_TRUE(wait_until(
        [&] {
            return owned_of(read_file(log), "rdisc-b") == 4 &&
                   records_of(read_sink(dir.file("out.jsonl")), "rdisc-b") == 200;
        },
        40s))
        << read_file(log);
    ASSERT_TRUE(stops_cleanly(host, log));

    auto expected = consume_all(broker.bootstrap_servers(), "rdisc-a");
    const auto more = consume_all(broker.bootstrap_servers(), "rdisc-b");
    expected.insert(expected.end(), more.begin(), more.end());
    ASSERT_EQ(expected.size(), 300u);
    const Tally t = tally(read_sink(dir.file("out.jsonl")), expected);
    EXPECT_EQ(t.missing, 0u);
    EXPECT_EQ(t.duplicated, 0u);
    EXPECT_EQ(t.wrong_value, 0u);
}
