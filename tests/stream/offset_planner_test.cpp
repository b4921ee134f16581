#include "stream/offset_planner.hpp"

#include <gtest/gtest.h>

using namespace sluice;
using namespace sluice::stream;

namespace {

TopicPartition tp(const std::string &t, int p) {
    return {t, p};
}

int64_t total(const PlannedRanges &plan) {
    int64_t n = 0;
    for (const auto &r : plan.ranges) n += r.count();
    return n;
}

}  // namespace

TEST(OffsetPlanner, UnlimitedRangesRunToHighWatermark) {
    auto plan = plan_ranges({{tp("a", 0), 10}, {tp("a", 1), 0}},
                            {{tp("a", 0), {0, 25}}, {tp("a", 1), {0, 7}}}, PlanLimits{});
    ASSERT_EQ(plan.ranges.size(), 2u);
    EXPECT_EQ(plan.ranges[0], (OffsetRange{"a", 0, 10, 25}));
    EXPECT_EQ(plan.ranges[1], (OffsetRange{"a", 1, 0, 7}));
    EXPECT_TRUE(plan.skipped.empty());
}

TEST(OffsetPlanner, CaughtUpPartitionGetsEmptyRange) {
    auto plan = plan_ranges({{tp("a", 0), 25}}, {{tp("a", 0), {0, 25}}}, PlanLimits{});
    ASSERT_EQ(plan.ranges.size(), 1u);
    EXPECT_EQ(plan.ranges[0].count(), 0);
    EXPECT_EQ(plan.ranges[0].from_offset, 25);
}

TEST(OffsetPlanner, PartitionsWithoutBoundsAreLeftOut) {
    auto plan =
        plan_ranges({{tp("a", 0), 0}, {tp("b", 0), 0}}, {{tp("b", 0), {0, 3}}}, PlanLimits{});
    ASSERT_EQ(plan.ranges.size(), 1u);
    EXPECT_EQ(plan.ranges[0].topic, "b");
}

TEST(OffsetPlanner, RateLimitClampsEachPartitionToRateTimesInterval) {
    PlanLimits limits;
    limits.batch_interval = std::chrono::milliseconds(500);
    limits.max_rate_per_partition = 100;  // 50 per 500 ms batch
    auto plan = plan_ranges({{tp("a", 0), 0}, {tp("a", 1), 990}},
                            {{tp("a", 0), {0, 1000}}, {tp("a", 1), {0, 1000}}}, limits);
    EXPECT_EQ(plan.ranges[0], (OffsetRange{"a", 0, 0, 50}));
    EXPECT_EQ(plan.ranges[1], (OffsetRange{"a", 1, 990, 1000}));  // less than the cap
}

TEST(OffsetPlanner, TinyRateStillMakesProgress) {
    PlanLimits limits;
    limits.batch_interval = std::chrono::milliseconds(100);
    limits.max_rate_per_partition = 1;  // 0.1 per batch rounds down to 0: at least 1
    auto plan = plan_ranges({{tp("a", 0), 0}}, {{tp("a", 0), {0, 10}}}, limits);
    EXPECT_EQ(plan.ranges[0].count(), 1);
}

TEST(OffsetPlanner, MaxBatchRecordsIsSharedByBacklogAndExactlyFilled) {
    PlanLimits limits;
    limits.max_batch_records = 100;
    auto plan =
        plan_ranges({{tp("a", 0), 0}, {tp("a", 1), 0}, {tp("a", 2), 0}},
                    {{tp("a", 0), {0, 300}}, {tp("a", 1), {0, 600}}, {tp("a", 2), {0, 1}}}, limits);
    EXPECT_EQ(total(plan), 100);
    EXPECT_GT(plan.ranges[1].count(), plan.ranges[0].count());
    EXPECT_LE(plan.ranges[2].count(), 1);
    for (const auto &r : plan.ranges) EXPECT_GE(r.count(), 0);
}

TEST(OffsetPlanner, MaxBatchRecordsAndRateCombine) {
    PlanLimits limits;
    limits.batch_interval = std::chrono::seconds(1);
    limits.max_rate_per_partition = 30;
    limits.max_batch_records = 50;
    auto plan = plan_ranges({{tp("a", 0), 0}, {tp("a", 1), 0}},
                            {{tp("a", 0), {0, 1000}}, {tp("a", 1), {0, 1000}}}, limits);
    EXPECT_EQ(total(plan), 50);
    for (const auto &r : plan.ranges) EXPECT_LE(r.count(), 30);
}

TEST(OffsetPlanner, DataLossFailsByDefaultNamingPartitionAndOffsets) {
    try {
        plan_ranges({{tp("events", 3), 5}}, {{tp("events", 3), {42, 100}}}, PlanLimits{});
        FAIL() << "expected DataLossError";
    } catch (const DataLossError &e) {
        std::string what = e.what();
        EXPECT_NE(what.find("events partition 3"), std::string::npos) << what;
        EXPECT_NE(what.find("5..41"), std::string::npos) << what;
        EXPECT_NE(what.find("fail-on-data-loss=false"), std::string::npos) << what;
        EXPECT_EQ(e.earliest, 42);
    }
}

TEST(OffsetPlanner, DataLossSkippedWhenAllowed) {
    PlanLimits limits;
    limits.fail_on_data_loss = false;
    auto plan = plan_ranges({{tp("a", 0), 5}}, {{tp("a", 0), {42, 100}}}, limits);
    ASSERT_EQ(plan.skipped.size(), 1u);
    EXPECT_EQ(plan.skipped[0].count(), 37);
    EXPECT_EQ(plan.ranges[0], (OffsetRange{"a", 0, 42, 100}));
}

TEST(OffsetPlanner, ConsecutivePlansCoverEveryOffsetOnce) {
    PlanLimits limits;
    limits.max_batch_records = 7;
    std::map<TopicPartition, int64_t> pos{{tp("a", 0), 0}, {tp("a", 1), 0}};
    std::map<TopicPartition, PartitionBounds> bounds{{tp("a", 0), {0, 50}}, {tp("a", 1), {0, 23}}};
    std::map<TopicPartition, int64_t> seen;
    for (int i = 0; i < 100; ++i) {
        auto plan = plan_ranges(pos, bounds, limits);
        for (const auto &r : plan.ranges) {
            EXPECT_EQ(r.from_offset, pos[r.topic_partition()]);
            seen[r.topic_partition()] += r.count();
            pos[r.topic_partition()] = r.until_offset;
        }
    }
    EXPECT_EQ(seen[tp("a", 0)], 50);
    EXPECT_EQ(seen[tp("a", 1)], 23);
}

TEST(OffsetPlanner, PrefetchFollowsTheLimits) {
    PlanLimits limits;
    EXPECT_EQ(prefetch_per_partition(limits, 8), 0);  // nothing set: librdkafka's default
    limits.max_batch_records = 50000;
    EXPECT_EQ(prefetch_per_partition(limits, 8), 12500);
    EXPECT_EQ(prefetch_per_partition(limits, 1), 100000);   // clamped high
    EXPECT_EQ(prefetch_per_partition(limits, 1000), 1000);  // clamped low
    limits.batch_interval = std::chrono::milliseconds(500);
    limits.max_rate_per_partition = 2000;  // 1000 per range
    EXPECT_EQ(prefetch_per_partition(limits, 8), 2000);
}

TEST(OffsetPlanner, PerPartitionCapHoldsEvenWhenOnePartitionHasAllTheBacklog) {
    PlanLimits limits;
    limits.max_batch_records = 1000;
    limits.max_records_per_partition = 300;
    auto plan = plan_ranges({{tp("a", 0), 0}, {tp("a", 1), 0}},
                            {{tp("a", 0), {0, 5000}}, {tp("a", 1), {0, 10}}}, limits);
    EXPECT_EQ(plan.ranges[0].count(), 300);
    EXPECT_EQ(plan.ranges[1].count(), 10);
}

// Issue 17: a commit carries only the partitions whose offset moved since the last commit; the
// first commit (nothing committed yet) carries them all.
TEST(MovedSince, OnlyPartitionsWhoseUntilOffsetChanged) {
    const std::vector<OffsetRange> ranges = {
        {"a", 0, 5, 5}, {"a", 1, 7, 9}, {"a", 2, 3, 3}, {"b", 0, 0, 0}};
    EXPECT_EQ(moved_since(ranges, {}), ranges);
    const std::map<TopicPartition, int64_t> committed = {
        {tp("a", 0), 5}, {tp("a", 1), 7}, {tp("a", 2), 2}};
    const auto moved = moved_since(ranges, committed);
    ASSERT_EQ(moved.size(), 3u);
    EXPECT_EQ(moved[0], ranges[1]);  // 7 -> 9
    EXPECT_EQ(moved[1], ranges[2]);  // committed 2, now 3 (e.g. a commit that failed)
    EXPECT_EQ(moved[2], ranges[3]);  // never committed
}
