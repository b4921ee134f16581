// The backpressure estimator (Spark's PIDRateEstimator) and how its rate becomes per-partition
// limits; every expected value is worked out by hand in the comment beside it.

#include "stream/rate_estimator.hpp"

#include <gtest/gtest.h>

#include "stream/offset_planner.hpp"

using namespace sluice;
using namespace sluice::stream;

TEST(PidRateEstimator, FirstBatchOnlySeedsTheRate) {
    PidRateEstimator pid(1000);
    // 1000 records in 500 ms: a processing rate of 2000/s, but no estimate yet.
    EXPECT_FALSE(pid.compute(1000, 1000, 500, 0).has_value());
    EXPECT_FALSE(pid.rate().has_value());
}

TEST(PidRateEstimator, ProportionalAndIntegralTerms) {
    PidRateEstimator pid(1000);
    ASSERT_FALSE(pid.compute(1000, 1000, 500, 0));  // rate in force: 2000/s
    // 1000 records in 1000 ms: processing rate 1000; error 2000 - 1000 = 1000; no delay:
    // 2000 - 1.0 x 1000 - 0.2 x 0 = 1000.
    auto second = pid.compute(2000, 1000, 1000, 0);
    ASSERT_TRUE(second);
    EXPECT_DOUBLE_EQ(*second, 1000.0);
    // 1000 records in 2000 ms, started 1000 ms late: processing rate 500; error 1000 - 500 =
    // 500; backlog rate 1000 ms x 500/s / 1000 ms = 500: 1000 - 500 - 0.2 x 500 = 400.
    auto third = pid.compute(3000, 1000, 2000, 1000);
    ASSERT_TRUE(third);
    EXPECT_DOUBLE_EQ(*third, 400.0);
    EXPECT_DOUBLE_EQ(*pid.rate(), 400.0);
}

TEST(PidRateEstimator, NeverBelowTheMinimumRate) {
    PidRateEstimator pid(1000);
    pid.compute(1000, 1000, 500, 0);
    pid.compute(2000, 1000, 1000, 0);     // 1000
    pid.compute(3000, 1000, 2000, 1000);  // 400
    // 10 records in 1000 ms, 5000 ms late: processing rate 10; error 390; backlog rate
    // 5000 x 10 / 1000 = 50: 400 - 390 - 10 = 0, raised to the minimum, 100.
    EXPECT_DOUBLE_EQ(*pid.compute(4000, 10, 1000, 5000), 100.0);
}

TEST(PidRateEstimator, DerivativeTermUsesTheErrorChangePerSecond) {
    PidRateEstimator pid(1000, {1.0, 0.2, 0.5, 100.0});
    pid.compute(1000, 1000, 500, 0);  // rate 2000, error 0
    // processing rate 1000, error 1000, change (1000 - 0) / 1 s = 1000:
    // 2000 - 1000 - 0 - 0.5 x 1000 = 500.
    EXPECT_DOUBLE_EQ(*pid.compute(2000, 1000, 1000, 0), 500.0);
    // Two seconds later, 1000 records in 1000 ms: processing rate 1000, error 500 - 1000 =
    // -500, change (-500 - 1000) / 2 s = -750: 500 + 500 - 0 + 375 = 1375.
    EXPECT_DOUBLE_EQ(*pid.compute(4000, 1000, 1000, 0), 1375.0);
}

TEST(PidRateEstimator, IgnoresEmptyInstantAndOutOfOrderBatches) {
    PidRateEstimator pid(1000);
    pid.compute(1000, 1000, 500, 0);
    EXPECT_FALSE(pid.compute(2000, 0, 10, 0));    // no records
    EXPECT_FALSE(pid.compute(2000, 100, 0, 0));   // no processing time
    EXPECT_FALSE(pid.compute(1000, 100, 10, 0));  // not after the last batch
    EXPECT_FALSE(pid.compute(500, 100, 10, 0));   // before it
    EXPECT_FALSE(pid.rate());
    // The state is what the first batch left: the rate in force is still 2000.
    EXPECT_DOUBLE_EQ(*pid.compute(2000, 1000, 1000, 0), 1000.0);
}

TEST(PidRateEstimator, SettlesOnWhatTheBatchesCanProcess) {
    // A sink that takes 1 ms per 10 records (10,000/s) fed at whatever the estimate allows,
    // every interval on time: the estimate converges to the processing rate.
    PidRateEstimator pid(1000);
    int64_t time = 0;
    double allowed = 50000;  // the first batch is a catch-up of 50,000 records
    for (int i = 0; i < 20; ++i) {
        const auto records = static_cast<int64_t>(allowed);
        const int64_t processing = records / 10;
        // Late by what the last batch ran over the interval.
        const int64_t delay = std::max<int64_t>(0, processing - 1000);
        time += std::max<int64_t>(1000, processing);
        if (auto r = pid.compute(time, records, processing, delay)) allowed = *r;
    }
    EXPECT_NEAR(allowed, 10000.0, 1.0);
}

TEST(BackpressureCaps, ShareByLagTimesTheInterval) {
    // 1000/s shared 3:1 over 2 s: 750 x 2 and 250 x 2; a partition with no lag gets nothing.
    EXPECT_EQ(backpressure_caps({300, 100, 0}, 1000, 0, 2000),
              (std::vector<int64_t>{1500, 500, 0}));
}

TEST(BackpressureCaps, NeverAboveMaxRatePerPartition) {
    // 750/s capped to 400/s: 800 over 2 s; 250/s stays: 500.
    EXPECT_EQ(backpressure_caps({300, 100}, 1000, 400, 2000), (std::vector<int64_t>{800, 500}));
}

TEST(BackpressureCaps, AtLeastOneRecordPerPartitionWithLag) {
    // 100/s over 100 ms: 0.1 x 0.1 = 0.01 -> 1; 99.9 x 0.1 = 9.99 -> 9.
    EXPECT_EQ(backpressure_caps({1, 999}, 100, 0, 100), (std::vector<int64_t>{1, 9}));
    EXPECT_EQ(backpressure_caps({0, 0}, 100, 0, 100), (std::vector<int64_t>{0, 0}));
}

TEST(BackpressureCaps, PlannerAppliesThem) {
    PlanLimits limits;
    limits.batch_interval = std::chrono::milliseconds(1000);
    limits.backpressure_rate = 1000;
    const TopicPartition a{"a", 0}, b{"a", 1};
    auto plan = plan_ranges({{a, 0}, {b, 100}}, {{a, {0, 9000}}, {b, {0, 3100}}}, limits);
    // lags 9000 and 3000: 750 and 250 records.
    ASSERT_EQ(plan.ranges.size(), 2u);
    EXPECT_EQ(plan.ranges[0], (OffsetRange{"a", 0, 0, 750}));
    EXPECT_EQ(plan.ranges[1], (OffsetRange{"a", 1, 100, 350}));
    // max-batch-records still applies on top: 100 of them, shared 75:25.
    limits.max_batch_records = 100;
    plan = plan_ranges({{a, 0}, {b, 100}}, {{a, {0, 9000}}, {b, {0, 3100}}}, limits);
    EXPECT_EQ(plan.ranges[0].count(), 75);
    EXPECT_EQ(plan.ranges[1].count(), 25);
}

TEST(MaxBatchBytes, RecordsFromTheAverageSoFar) {
    EXPECT_EQ(records_for_bytes(0, 100, 1), 0);              // no limit
    EXPECT_EQ(records_for_bytes(1 << 20, 0, 0), 1024);       // 1 MiB / 1 KiB assumed
    EXPECT_EQ(records_for_bytes(1 << 20, 5000, 50), 10485);  // 1,048,576 / 100
    EXPECT_EQ(records_for_bytes(1000, 10 << 20, 1), 1);      // at least one
}

TEST(MaxBatchBytes, PrefetchIsHalfABatchOverThePartitions) {
    // 64 MiB over 16 partitions: 2 MiB each, 2048 KiB; fetches stay at librdkafka's 1 MiB.
    auto limits = prefetch_byte_limits(64 << 20, 16, {});
    EXPECT_EQ(limits.at("queued.max.messages.kbytes"), "2048");
    EXPECT_EQ(limits.at("max.partition.fetch.bytes"), "1048576");
    // 32 MiB over 64 partitions: 256 KiB each, and fetches of 256 KiB.
    limits = prefetch_byte_limits(32 << 20, 64, {});
    EXPECT_EQ(limits.at("queued.max.messages.kbytes"), "256");
    EXPECT_EQ(limits.at("max.partition.fetch.bytes"), "262144");
    // Never below 64 KiB; the user's own settings win; nothing without a limit.
    limits = prefetch_byte_limits(1 << 20, 1000, {{"max.partition.fetch.bytes", "5000"}});
    EXPECT_EQ(limits.at("queued.max.messages.kbytes"), "64");
    EXPECT_FALSE(limits.count("max.partition.fetch.bytes"));
    EXPECT_TRUE(prefetch_byte_limits(0, 8, {}).empty());
}
