// POST /control/pause and /resume on a real `sluice run` (direct and receiver mode, a
// standalone mock broker): paused, no batch starts and records produced meanwhile wait in Kafka;
// resumed, they are processed. A wrong token changes nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "control_http.hpp"
#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "metrics_http.hpp"
#include "mock_broker_suite.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr const char *kToken = "control-run-test-token-0123456789";

class ControlRun : public MockBrokerSuite<ControlRun> {
  public:
    static std::vector<MockTopic> mock_topics() {
        return {{"held", 2}, {"received", 2}, {"grouped", 2}};
    }

  protected:
    nlohmann::json status(int port) {
        const auto r = http_get("127.0.0.1", port, "/status");
        return r ? nlohmann::json::parse(r->body) : nlohmann::json();
    }
    bool records_reach(int port, int64_t records) {
        return wait_until(
            [&] {
                const auto s = status(port);
                return s.is_object() && s.at("records") == records;
            },
            30s);
    }

    TempDir dir_ = temp_dir("sluice-control-run");
};

TEST_F(ControlRun, PauseHoldsTheBatchesAndResumeCatchesUp) {
    const std::string log = dir_.file("host.log");
    ChildProcess host(sluice_argv({"run", "--brokers", bootstrap(), "--topics", "held", "--plugin",
                                   "noop", "--batch-interval", "200ms", "--auto-offset-reset",
                                   "earliest", "--metrics-address", "127.0.0.1:0",
                                   "--control-token", kToken, "-X", "fetch.wait.max.ms=10"}),
                      ChildProcess::Options{log, false});
    int port = 0;
    ASSERT_TRUE(wait_until([&] { return (port = logged_metrics_port(log)) != 0; }, 30s))
        << read_file(log);
    produce("held", {50, 50});
    ASSERT_TRUE(records_reach(port, 100)) << read_file(log);

    // A wrong token pauses nothing.
    const auto wrong = control_post(port, "pause", "control-run-test-token-XXXXXXXXXX");
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 403);

    const auto paused = control_post(port, "pause", kToken);
    ASSERT_TRUE(paused);
    ASSERT_EQ(paused->status, 200) << paused->body;
    ASSERT_TRUE(
        wait_until([&] { return read_file(log).find("paused by POST") != std::string::npos; }, 10s))
        << read_file(log);
    const int64_t batches = status(port).at("batches");
    produce("held", {50, 50});
    // Seven batch intervals: a running loop would have committed several batches by now.
    std::this_thread::sleep_for(1500ms);
    const auto held = status(port);
    EXPECT_EQ(held.at("batches"), batches) << "a batch started while paused";
    EXPECT_EQ(held.at("records"), 100);
    const auto ready = http_get("127.0.0.1", port, "/readyz");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 503);
    EXPECT_THAT(ready->body, HasSubstr("paused"));

    const auto resumed = control_post(port, "resume", kToken);
    ASSERT_TRUE(resumed);
    ASSERT_EQ(resumed->status, 200);
    ASSERT_TRUE(records_reach(port, 200)) << read_file(log);
    EXPECT_GT(status(port).at("batches").get<int64_t>(), batches);
    EXPECT_THAT(read_file(log), HasSubstr("resumed by POST /control/resume"));
    const auto ready_again = http_get("127.0.0.1", port, "/readyz");
    ASSERT_TRUE(ready_again);
    EXPECT_EQ(ready_again->status, 200) << ready_again->body;

    // Rescan: as SIGHUP.
    const auto reload = control_post(port, "reload", kToken);
    ASSERT_TRUE(reload);
    EXPECT_EQ(reload->status, 200);
    ASSERT_TRUE(stops_cleanly(host, log));
    EXPECT_THAT(read_file(log), HasSubstr("POST /control/reload: rescanning"));
}

// Receiver mode: the run loop starts no batch while paused, so nothing more is processed or
// committed; its consumers may read ahead into blocks (up to their backpressure limit), and
// those blocks are the first batches after resume.
TEST_F(ControlRun, ReceiverModeHoldsItsBatchesToo) {
    const std::string log = dir_.file("receiver.log");
    ReceiverArgs args;
    args.brokers = bootstrap();
    args.topics = "received";
    args.group = "control-run-receiver";
    args.plugins = {"noop"};
    args.extra = {"--metrics-address", "127.0.0.1:0", "--control-token", kToken};
    ChildProcess host(sluice_argv(args.args()), ChildProcess::Options{log, false});
    int port = 0;
    ASSERT_TRUE(wait_until([&] { return (port = logged_metrics_port(log)) != 0; }, 30s))
        << read_file(log);
    produce("received", {50, 50});
    ASSERT_TRUE(records_reach(port, 100)) << read_file(log);

    ASSERT_EQ(control_post(port, "pause", kToken).value_or(HttpResponse{}).status, 200);
    ASSERT_TRUE(
        wait_until([&] { return read_file(log).find("paused by POST") != std::string::npos; }, 10s))
        << read_file(log);
    const int64_t batches = status(port).at("batches");
    produce("received", {50, 50});
    std::this_thread::sleep_for(1500ms);
    const auto held = status(port);
    EXPECT_EQ(held.at("batches"), batches) << "a batch started while paused";
    EXPECT_EQ(held.at("records"), 100);

    ASSERT_EQ(control_post(port, "resume", kToken).value_or(HttpResponse{}).status, 200);
    ASSERT_TRUE(records_reach(port, 200)) << read_file(log);
    ASSERT_TRUE(stops_cleanly(host, log));
}

// direct-assignment=group: a pause longer than max.poll.interval.ms keeps the host in its
// group (the mode polls its member while paused), so nothing is revoked or replayed, and the
// records produced meanwhile are read after the resume.
TEST_F(ControlRun, AGroupMemberPausedLongerThanItsPollIntervalKeepsItsPartitions) {
    const std::string log = dir_.file("group.log");
    // clang-format off
    ChildProcess host(sluice_argv({"run", "--brokers", bootstrap(), "--topics", "grouped",
                                   "--group", "control-run-group", "--direct-assignment", "group",
                                   "--plugin", "noop", "--batch-interval", "200ms",
                                   "--auto-offset-reset", "earliest",
                                   "--metrics-address", "127.0.0.1:0", "--control-token", kToken,
                                   "-X", "fetch.wait.max.ms=10", "-X", "session.timeout.ms=3000",
                                   "-X", "heartbeat.interval.ms=500",
                                   "-X", "max.poll.interval.ms=3000"}),
                      ChildProcess::Options{log, false});
    // clang-format on
    int port = 0;
    ASSERT_TRUE(wait_until([&] { return (port = logged_metrics_port(log)) != 0; }, 30s))
        << read_file(log);
    produce("grouped", {50, 50});
    ASSERT_TRUE(records_reach(port, 100)) << read_file(log);

    ASSERT_EQ(control_post(port, "pause", kToken).value_or(HttpResponse{}).status, 200);
    ASSERT_TRUE(
        wait_until([&] { return read_file(log).find("paused by POST") != std::string::npos; }, 10s))
        << read_file(log);
    const size_t paused_at = read_file(log).size();
    produce("grouped", {50, 50});
    std::this_thread::sleep_for(6s);  // twice max.poll.interval.ms
    EXPECT_EQ(status(port).at("records"), 100);
    ASSERT_EQ(control_post(port, "resume", kToken).value_or(HttpResponse{}).status, 200);
    ASSERT_TRUE(records_reach(port, 200)) << read_file(log);
    const std::string during = read_file(log).substr(paused_at);
    EXPECT_EQ(during.find("revoked"), std::string::npos) << during;
    EXPECT_EQ(during.find("maximum poll interval"), std::string::npos) << during;
    EXPECT_EQ(during.find("replaying it"), std::string::npos) << during;
    ASSERT_TRUE(stops_cleanly(host, log));
}

TEST_F(ControlRun, WithoutATokenTheRoutesDoNotExist) {
    const std::string log = dir_.file("plain.log");
    ChildProcess host(
        sluice_argv({"run", "--brokers", bootstrap(), "--topics", "held", "--plugin", "noop",
                     "--batch-interval", "200ms", "--metrics-address", "127.0.0.1:0"}),
        ChildProcess::Options{log, false});
    int port = 0;
    ASSERT_TRUE(wait_until([&] { return (port = logged_metrics_port(log)) != 0; }, 30s))
        << read_file(log);
    const auto r = control_post(port, "pause", kToken);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    ASSERT_TRUE(stops_cleanly(host, log));
    EXPECT_EQ(read_file(log).find("paused by"), std::string::npos);
}

}  // namespace
}  // namespace sluice::test
