// Issue 17, end to end: a batch costs the partitions that moved, not every partition. The real
// `sluice run` (direct mode, --group, noop) against a standalone `sluice mock-broker` with a
// topic of 300 partitions, most of them idle. The first batch commits every partition to the
// group (it had none); after that, the idle ones are never committed again: another client moves
// an idle partition's committed offset, and batches later, after records came to another
// partition and were committed, the group still holds the other client's value (the host used
// to commit every range of every batch). Nothing here measures time.

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "mock_broker_suite.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

namespace {

constexpr int kPartitions = 300;
const std::string kTopic = "mostly_idle";
const std::string kGroup = "idle-commits";

/// Commits `offset` for one partition of `topic` in `group`, as a client outside the group's
/// membership would (Kafka's tools do this).
void commit_offset(const std::string &bootstrap, int partition, int64_t offset) {
    auto rk = detail::make_consumer(bootstrap, {{"group.id", kGroup}});
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, kTopic.c_str(), partition)->offset = offset;
    const rd_kafka_resp_err_t err = rd_kafka_commit(rk.get(), list, 0);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) throw std::runtime_error(std::string("commit: ") + rd_kafka_err2str(err));
}

/// Batches the host has logged so far.
size_t batches_logged(const std::string &log) {
    static const std::regex line(R"(batch \d+: \d+ records,)");
    const std::string text = read_file(log);
    return static_cast<size_t>(std::distance(std::sregex_iterator(text.begin(), text.end(), line),
                                             std::sregex_iterator()));
}

class IdlePartitionsRun : public MockBrokerSuite<IdlePartitionsRun> {
  public:
    static std::vector<MockTopic> mock_topics() { return {{kTopic, kPartitions}}; }
};

TEST_F(IdlePartitionsRun, IdlePartitionsAreCommittedOnceNotInEveryBatch) {
    auto dir = temp_dir("sluice-idle-partitions");
    const std::string log = dir.file("host.err");
    produce(kTopic, {5, 0, 3});  // partitions 0 and 2 hold records, the rest nothing
    ChildProcess host(sluice_argv({"run",
                                   "--brokers",
                                   bootstrap(),
                                   "--topics",
                                   kTopic,
                                   "--plugin-dir",
                                   SLUICE_PLUGIN_OUTPUT_DIR,
                                   "--hot-reload",
                                   "false",
                                   "--plugin",
                                   "noop",
                                   "--group",
                                   kGroup,
                                   "--auto-offset-reset",
                                   "earliest",
                                   "--checkpoint",
                                   dir.file("ckpt"),
                                   "--batch-interval",
                                   "100ms",
                                   "-X",
                                   "fetch.wait.max.ms=10"}),
                      {log, true});

    // The run's first commit carries every partition: the group had no offsets.
    ASSERT_TRUE(wait_until(
        [&] {
            const auto c = committed_offsets(bootstrap(), kGroup, kTopic, kPartitions);
            return c[0] == 5 && c[2] == 3 && c[kPartitions - 1] == 0;
        },
        60s))
        << read_file(log);

    commit_offset(bootstrap(), kPartitions - 1, 7);
    const size_t before = batches_logged(log);
    ASSERT_TRUE(wait_until([&] { return batches_logged(log) >= before + 10; }, 60s))
        << read_file(log);
    produce(kTopic, {0, 4});  // now partition 1 moves
    ASSERT_TRUE(wait_until(
        [&] { return committed_offsets(bootstrap(), kGroup, kTopic, kPartitions)[1] == 4; }, 60s))
        << read_file(log);

    const auto committed = committed_offsets(bootstrap(), kGroup, kTopic, kPartitions);
    EXPECT_EQ(committed[kPartitions - 1], 7)
        << "an idle partition's offset was committed again by a later batch";
    EXPECT_EQ(committed[0], 5);
    EXPECT_EQ(committed[2], 3);
    EXPECT_EQ(committed[kPartitions - 2], 0);
    ASSERT_TRUE(stops_cleanly(host, log));
}

}  // namespace
