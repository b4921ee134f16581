// A group consumer stopped between its JoinGroup answer and its first assignment
// (kafka/consumer_close.hpp): librdkafka 2.0.2 aborts when such a handle is destroyed, and the
// host must stop anyway. The window is held open by the mock cluster answering every SyncGroup
// with REBALANCE_IN_PROGRESS: members are answered at JoinGroup, which chooses the assignor,
// and never receive an assignment.

#include "kafka/consumer_close.hpp"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <string_view>
#include <thread>
#include <vector>

#include "kafka/group_member.hpp"
#include "kafka/kafka_conf.hpp"
#include "kafka/mock_cluster.hpp"

namespace sluice::kafka {
namespace {

using namespace std::chrono_literals;

constexpr int16_t kSyncGroupApi = 14;

struct Window {
    MockCluster cluster{1};
    Window() {
        cluster.create_topic("t", 2);
        std::vector<rd_kafka_resp_err_t> errors(100000, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS);
        rd_kafka_mock_push_request_errors_array(cluster.get(), kSyncGroupApi, errors.size(),
                                                errors.data());
    }
};

bool assignor_chosen(rd_kafka_t *rk) {
    return std::string_view(rd_kafka_rebalance_protocol(rk)) != "NONE";
}

// A subscribed cooperative-sticky consumer, polled until its JoinGroup answer came.
rd_kafka_t *member_in_the_window(const Window &w, const std::string &group) {
    auto conf = make_conf({{"bootstrap.servers", w.cluster.bootstrap_servers()},
                           {"group.id", group},
                           {"partition.assignment.strategy", "cooperative-sticky"}});
    rd_kafka_t *rk = make_handle(RD_KAFKA_CONSUMER, std::move(conf)).release();
    rd_kafka_poll_set_consumer(rk);
    PartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), "t", RD_KAFKA_PARTITION_UA);
    EXPECT_EQ(rd_kafka_subscribe(rk, topics.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!assignor_chosen(rk) && std::chrono::steady_clock::now() < deadline)
        if (rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50)) rd_kafka_message_destroy(m);
    return rk;
}

// Shows that the test reaches the window: this librdkafka aborts destroying the member there.
// (If a newer librdkafka no longer does, the workaround is dead code and may go.)
TEST(ConsumerClose, ThisLibrdkafkaAbortsDestroyingAMemberInTheWindow) {
    if (rd_kafka_version() >= 0x020300ff) GTEST_SKIP() << "librdkafka " << rd_kafka_version_str();
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            Window w;
            rd_kafka_t *rk = member_in_the_window(w, "g-death");
            if (!assignor_chosen(rk)) _exit(3);  // not the abort expected: the test fails
            rd_kafka_consumer_close(rk);
            rd_kafka_destroy(rk);
        },
        "assignor_state");
}

TEST(ConsumerClose, AMemberInTheWindowIsLeftToTheProcessExitInsteadOfAborting) {
    Window w;
    rd_kafka_t *rk = member_in_the_window(w, "g-park");
    ASSERT_TRUE(assignor_chosen(rk)) << "no JoinGroup answer in 20 s";
    await_first_assignment(
        rk, [] { return false; }, 300ms);
    EXPECT_TRUE(destroy_would_abort(rk, /*assigned=*/false));
    EXPECT_FALSE(destroy_would_abort(rk, /*assigned=*/true));
    rd_kafka_consumer_close(rk);
    destroy_consumer(rk, /*would_abort=*/true, 0, "test member");
    SUCCEED() << "still running";
}

TEST(ConsumerClose, AMemberThatNeverJoinedIsDestroyed) {
    // No broker at all: no JoinGroup answer, the assignor is never chosen, destroying is safe.
    auto conf = make_conf({{"bootstrap.servers", "127.0.0.1:1"}, {"group.id", "g-none"}});
    rd_kafka_t *rk = make_handle(RD_KAFKA_CONSUMER, std::move(conf)).release();
    EXPECT_FALSE(destroy_would_abort(rk, /*assigned=*/false));
    destroy_consumer(rk, /*would_abort=*/false, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE, "test");
}

// The host's own member, stopped by close() and its destructor in the window (after the
// bounded 10 s wait for an assignment that does not come).
TEST(ConsumerClose, AGroupMemberStoppedBeforeItsFirstAssignmentDoesNotAbort) {
    Window w;
    GroupMemberSettings settings;
    settings.brokers = w.cluster.bootstrap_servers();
    settings.group = "g-member";
    settings.topics = {"t"};
    auto member = std::make_unique<GroupMember>(settings, [](const auto &, bool) {});
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < deadline) EXPECT_TRUE(member->poll().empty());
    EXPECT_TRUE(member->owned().empty());
    member->close();
    member.reset();
    SUCCEED() << "still running";
}

}  // namespace
}  // namespace sluice::kafka
