// What receiver mode says about its intake: a process the group gives no partition says so every
// few seconds and is not ready (/readyz 503, sluice_receiver_assigned_partitions 0) while the
// one that owns the partition is; unreachable brokers end the start with the same bounded
// metadata wait and one line as direct mode, instead of empty batches for ever.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "e2e_helpers.hpp"
#include "metrics_http.hpp"
#include "mock_broker_process.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

std::vector<std::string> receiver_args(const std::string &brokers, const std::string &topic) {
    return sluice_argv({"run",
                        "--mode",
                        "receiver",
                        "--brokers",
                        brokers,
                        "--topics",
                        topic,
                        "--group",
                        "intake-job",
                        "--plugin",
                        "noop",
                        "--plugin-dir",
                        SLUICE_PLUGIN_OUTPUT_DIR,
                        "--batch-interval",
                        "200ms",
                        "--metrics-address",
                        "127.0.0.1:0",
                        "-X",
                        "session.timeout.ms=6000",
                        "-X",
                        "fetch.wait.max.ms=10"});
}

int port_of(const std::string &log) {
    int port = 0;
    wait_until([&] { return (port = logged_metrics_port(log)) != 0; }, 20s);
    return port;
}

TEST(ReceiverIntake, AMemberWithoutPartitionsSaysSoAndIsNotReady) {
    MockBrokerProcess broker({{"lonely", 1}});
    auto dir = temp_dir("sluice-intake");
    const std::string log_a = dir.file("a.err"), log_b = dir.file("b.err");
    ChildProcess a(receiver_args(broker.bootstrap_servers(), "lonely"), {log_a, true});
    ASSERT_TRUE(wait_until(
        [&] { return read_file(log_a).find("assigned lonely:0") != std::string::npos; }, 30s))
        << read_file(log_a);
    EXPECT_THAT(read_file(log_a), HasSubstr("1 consumer thread,"));  // not "threads"
    const int port_a = port_of(log_a);
    ASSERT_NE(port_a, 0);

    // A second member: cooperative-sticky keeps the one partition where it is.
    ChildProcess b(receiver_args(broker.bootstrap_servers(), "lonely"), {log_b, true});
    ASSERT_TRUE(wait_until(
        [&] {
            return read_file(log_b).find("waiting for group 'intake-job' to assign partitions") !=
                   std::string::npos;
        },
        30s))
        << read_file(log_b);
    const int port_b = port_of(log_b);
    ASSERT_NE(port_b, 0);

    const auto ready_b = http_get("127.0.0.1", port_b, "/readyz");
    ASSERT_TRUE(ready_b);
    EXPECT_EQ(ready_b->status, 503);
    EXPECT_THAT(ready_b->body, HasSubstr("waiting for the consumer group"));
    const auto metrics_b = http_get("127.0.0.1", port_b, "/metrics");
    ASSERT_TRUE(metrics_b);
    const auto samples_b = parse_samples(metrics_b->body);
    EXPECT_EQ(samples_b.at("sluice_receiver_assigned_partitions"), 0);
    EXPECT_EQ(samples_b.at("sluice_receiver_consumer_threads"), 1);
    EXPECT_EQ(samples_b.at(R"(sluice_info{mode="receiver",state="running"})"), 1);

    ASSERT_TRUE(wait_until(
        [&] {
            const auto r = http_get("127.0.0.1", port_a, "/readyz");
            return r && r->status == 200;
        },
        10s));
    const auto metrics_a = http_get("127.0.0.1", port_a, "/metrics");
    ASSERT_TRUE(metrics_a);
    EXPECT_EQ(parse_samples(metrics_a->body).at("sluice_receiver_assigned_partitions"), 1);
    EXPECT_EQ(parse_samples(metrics_a->body).at("sluice_receiver_paused"), 0);

    for (ChildProcess *c : {&b, &a}) {
        c->send_signal(SIGTERM);
        const auto status = c->wait(30s);
        ASSERT_TRUE(status);
        EXPECT_EQ(status->code, 0);
    }
}

TEST(ReceiverIntake, UnreachableBrokersAreOneLineAfterTheBoundedMetadataWait) {
    auto dir = temp_dir("sluice-intake");
    ChildProcess host(receiver_args("127.0.0.1:1", "nowhere"), {dir.file("host.err"), true});
    const auto status = host.wait(60s);
    ASSERT_TRUE(status) << "still waiting after 60 s";
    EXPECT_EQ(status->code, 1);
    const std::string log = read_file(dir.file("host.err"));
    EXPECT_THAT(log, HasSubstr("cannot get topic metadata from Kafka brokers '127.0.0.1:1'"));
    EXPECT_THAT(log, HasSubstr("check --brokers"));
    EXPECT_EQ(log.find("batch 0"), std::string::npos)
        << "no empty batches before the brokers answer";
    EXPECT_EQ(log.find("%3|"), std::string::npos) << "librdkafka's lines go through the logger";
}

}  // namespace
