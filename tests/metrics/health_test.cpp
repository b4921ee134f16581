// /healthz and /readyz: the verdicts from a snapshot (pure), and the endpoints over HTTP.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "metrics/exporter.hpp"
#include "metrics/health.hpp"
#include "metrics_http.hpp"

namespace sluice::metrics {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1'800'000'000'000;

RunSnapshot running_direct() {
    RunSnapshot s;
    s.state = RunState::running;
    s.batch_interval_ms = 1000;
    s.published_at_ms = kNow - 500;
    s.last_batch_committed_ms = kNow - 500;
    s.plugins.push_back(PluginSnapshot{});
    s.next_offsets[{"orders", 0}] = 42;
    s.add_batch({7, kNow - 1000, false, 10, 100, 0.01, 0});
    return s;
}

TEST(Health, StartingAndStoppingAreAliveButNotReady) {
    RunSnapshot s = running_direct();
    s.state = RunState::starting;
    EXPECT_TRUE(liveness(s, kNow).ok);
    EXPECT_FALSE(readiness(s, kNow).ok);
    s.state = RunState::stopping;
    EXPECT_TRUE(liveness(s, kNow).ok);  // a graceful stop must not be killed
    EXPECT_THAT(readiness(s, kNow).reason, HasSubstr("stopping"));
}

TEST(Health, ARunningLoopIsAliveUntilItStallsForFiveIntervalsOrAMinute) {
    RunSnapshot s = running_direct();
    EXPECT_TRUE(liveness(s, kNow).ok);
    EXPECT_TRUE(readiness(s, kNow).ok);
    EXPECT_EQ(stall_after_ms(s), 60'000);  // 5 x 1 s is below the floor
    s.published_at_ms = kNow - 61'000;
    const HealthVerdict stuck = liveness(s, kNow);
    EXPECT_FALSE(stuck.ok);
    EXPECT_THAT(stuck.reason, HasSubstr("no progress for 61 s"));
    EXPECT_FALSE(readiness(s, kNow).ok);
    s.batch_interval_ms = 20'000;  // long intervals get five of them
    EXPECT_EQ(stall_after_ms(s), 100'000);
    EXPECT_TRUE(liveness(s, kNow).ok);
}

TEST(Health, ReadyNeedsPluginsAndPartitions) {
    RunSnapshot s = running_direct();
    s.next_offsets.clear();
    EXPECT_THAT(readiness(s, kNow).reason, HasSubstr("no partitions"));
    s = running_direct();
    s.plugins.clear();
    EXPECT_THAT(readiness(s, kNow).reason, HasSubstr("no plugin"));
    s = running_direct();
    s.mode = "receiver";
    s.receiver = ReceiverSnapshot{};
    s.receiver->assigned_partitions = 0;
    EXPECT_THAT(readiness(s, kNow).reason, HasSubstr("waiting for the consumer group"));
    s.receiver->assigned_partitions = 4;
    EXPECT_TRUE(readiness(s, kNow).ok) << readiness(s, kNow).reason;
}

TEST(Health, EndpointsAnswer200Or503WithTheReason) {
    Exporter exporter("127.0.0.1:0");
    const int port = exporter.address().port;
    // Before the first publish the run is starting: alive, not ready.
    auto live = test::http_get("127.0.0.1", port, "/healthz");
    auto ready = test::http_get("127.0.0.1", port, "/readyz");
    ASSERT_TRUE(live && ready);
    EXPECT_EQ(live->status, 200);
    EXPECT_EQ(ready->status, 503);
    EXPECT_THAT(ready->body, HasSubstr("starting"));
    EXPECT_EQ(ready->content_type, "text/plain; charset=utf-8");

    RunSnapshot s = running_direct();
    exporter.publish(s);  // stamps published_at_ms with now
    ready = test::http_get("127.0.0.1", port, "/readyz");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 200);
    EXPECT_THAT(ready->body, HasSubstr("ready: 1 plugin(s), 1 partition(s)"));

    s.receiver = ReceiverSnapshot{};  // a receiver the group has given nothing yet
    exporter.publish(s);
    ready = test::http_get("127.0.0.1", port, "/readyz?verbose");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 503);
    EXPECT_EQ(ready->body, "waiting for the consumer group to assign partitions to this process\n");
}

}  // namespace
}  // namespace sluice::metrics
