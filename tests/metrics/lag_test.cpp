// Consumer lag arithmetic (metrics/lag.hpp) and how /status and /metrics show it: known and
// unknown values, stale watermarks, the rate window, a stall, the per-topic sums.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "metrics/lag.hpp"
#include "metrics/prometheus.hpp"
#include "metrics/status_json.hpp"

namespace sluice::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const TopicPartition a0{"a", 0}, a1{"a", 1}, b0{"b", 0};

TEST(ComputeLag, IsTheWatermarkMinusTheCommittedOffsetAndSecondsAtTheRecentRate) {
    // 10 s ago partition a:0 had advanced 100 offsets, now 300: 20 offsets/s; 60 behind = 3 s.
    const std::deque<ProgressPoint> history{{1'000, {{a0, 100}, {a1, 50}}}};
    const auto r = compute_lag({{a0, 300}, {a1, 50}}, {{a0, {360, 10'500}}, {a1, {50, 10'500}}},
                               history, {{a0, 300}, {a1, 50}}, 11'000, 30'000, 30'000);
    const PartitionLag &p = r.partitions.at(a0);
    EXPECT_EQ(p.high_watermark, 360);
    EXPECT_EQ(p.lag_records, 60);
    ASSERT_TRUE(p.rate);
    EXPECT_DOUBLE_EQ(*p.rate, 20.0);
    ASSERT_TRUE(p.lag_seconds);
    EXPECT_DOUBLE_EQ(*p.lag_seconds, 3.0);
    // Nothing behind: 0 s, whatever the rate (a1 made no progress).
    EXPECT_EQ(r.partitions.at(a1).lag_records, 0);
    EXPECT_EQ(r.partitions.at(a1).lag_seconds, 0.0);
    ASSERT_EQ(r.topics.size(), 1u);
    EXPECT_EQ(r.topics[0].topic, "a");
    EXPECT_EQ(r.topics[0].partitions, 2u);
    EXPECT_EQ(r.topics[0].lag_records, 60);
    EXPECT_DOUBLE_EQ(*r.topics[0].input_rate, 20.0);
    EXPECT_DOUBLE_EQ(*r.topics[0].lag_seconds, 3.0);
}

TEST(ComputeLag, UnknownWithoutAWatermarkOrWithAStaleOneAndWithoutProgress) {
    const std::deque<ProgressPoint> history{{1'000, {{a0, 100}, {b0, 7}}}};
    const auto r =
        compute_lag({{a0, 100}, {a1, 5}, {b0, 7}}, {{a0, {150, 2'000}}, {b0, {9, 40'000}}}, history,
                    {{a0, 100}, {b0, 7}}, 41'000, 30'000, 30'000);
    // a:0's watermark is 39 s old: unknown. a:1 never had one.
    EXPECT_FALSE(r.partitions.at(a0).high_watermark);
    EXPECT_FALSE(r.partitions.at(a0).lag_records);
    EXPECT_FALSE(r.partitions.at(a1).lag_records);
    EXPECT_EQ(r.partitions.at(a1).rate, 0.0);  // absent from both: advanced nothing
    // Without a base there is no rate at all.
    EXPECT_FALSE(compute_lag({{a0, 1}}, {}, {}, {}, 1'000, 30'000, 30'000).partitions.at(a0).rate);
    // b:0 is 2 behind and made no progress in 40 s: its rate is 0 and its seconds unknown.
    EXPECT_EQ(r.partitions.at(b0).lag_records, 2);
    EXPECT_EQ(r.partitions.at(b0).rate, 0.0);
    EXPECT_FALSE(r.partitions.at(b0).lag_seconds);
    ASSERT_EQ(r.topics.size(), 2u);
    EXPECT_FALSE(r.topics[0].lag_records);  // a: no partition with a known lag
    EXPECT_EQ(r.topics[1].lag_records, 2);
    EXPECT_FALSE(r.topics[1].lag_seconds);
}

TEST(ComputeLag, ACommittedOffsetAheadOfAnOlderWatermarkIsNoLag) {
    const auto r = compute_lag({{a0, 120}}, {{a0, {100, 1'000}}}, {}, {}, 2'000, 30'000, 30'000);
    EXPECT_EQ(r.partitions.at(a0).lag_records, 0);
    // And the high watermark shown is the committed offset, never below it.
    EXPECT_EQ(r.partitions.at(a0).high_watermark, 120);
}

TEST(LagBoard, MeasuresTheRateOverItsWindowAndLetsItFallDuringAStall) {
    LagBoard board(std::chrono::seconds(30));
    // One batch a second, 10 offsets each, for 60 s.
    board.record_progress({{a0, 0}}, 0);
    for (int s = 1; s <= 60; ++s) {
        board.add_batch({{"a", 0, 10 * (s - 1), 10 * s}});
        board.record_progress({{a0, 10 * s}}, s * 1'000);
    }
    board.set_watermarks({{a0, 700}}, 60'000);
    auto r = board.report(60'000);
    ASSERT_TRUE(r.partitions.at(a0).rate);
    EXPECT_DOUBLE_EQ(*r.partitions.at(a0).rate, 10.0);  // over the last 30 s
    EXPECT_EQ(r.partitions.at(a0).lag_records, 100);
    EXPECT_DOUBLE_EQ(*r.partitions.at(a0).lag_seconds, 10.0);
    // No batch for 15 s: 150 offsets in the last 30 s, the lag in seconds doubles.
    board.set_watermarks({{a0, 700}}, 75'000);
    r = board.report(75'000);
    EXPECT_DOUBLE_EQ(*r.partitions.at(a0).rate, 5.0);
    EXPECT_DOUBLE_EQ(*r.partitions.at(a0).lag_seconds, 20.0);
    EXPECT_EQ(board.partitions(), std::vector<TopicPartition>{a0});
    EXPECT_THAT(describe_lag(r), HasSubstr("a 100 records, 20.0 s at 5.0 records/s (1 partition)"));
    // None for 30 s: no progress in the window, the lag in seconds is unknown, the records stay.
    board.set_watermarks({{a0, 700}}, 90'000);
    r = board.report(90'000);
    EXPECT_EQ(r.partitions.at(a0).rate, 0.0);
    EXPECT_FALSE(r.partitions.at(a0).lag_seconds);
    EXPECT_EQ(r.partitions.at(a0).lag_records, 100);
}

TEST(LagBoard, AReportForAPublishedSnapshotUsesItsOffsets) {
    LagBoard board(std::chrono::seconds(30));
    EXPECT_TRUE(board.record_progress({{a0, 0}}, 0));  // a new partition: read its watermark now
    board.add_batch({{"a", 0, 0, 100}});
    EXPECT_FALSE(board.record_progress({{a0, 100}}, 10'000));
    board.set_watermarks({{a0, 150}}, 10'000);
    // A snapshot published before the last progress: its own offset, the board's watermark.
    const auto r = board.report({{a0, 40}}, 10'000);
    EXPECT_EQ(r.partitions.at(a0).lag_records, 110);
}

RunSnapshot snapshot_with_lag() {
    auto board = std::make_shared<LagBoard>(std::chrono::seconds(30));
    // a:1 first appears with its first batch (receiver mode): its 100 offsets still count.
    board->record_progress({{a0, 0}}, 0);
    board->add_batch({{"a", 0, 0, 100}, {"a", 1, 0, 100}});
    board->record_progress({{a0, 100}, {a1, 100}}, 10'000);
    board->set_watermarks({{a0, 150}}, 10'000);
    RunSnapshot s;
    s.next_offsets = {{a0, 100}, {a1, 100}};
    s.lag = board;
    return s;
}

TEST(LagInStatus, PartitionsCarryTheirLagAndTopicsTheSumsNullWhenUnknown) {
    const auto j = status_json(snapshot_with_lag(), 10'000);
    ASSERT_EQ(j["partitions"].size(), 2u);
    const auto &p0 = j["partitions"][0];
    EXPECT_EQ(p0["next_offset"], 100);
    EXPECT_EQ(p0["high_watermark"], 150);
    EXPECT_EQ(p0["lag_records"], 50);
    EXPECT_DOUBLE_EQ(p0["lag_seconds"].get<double>(), 5.0);  // 50 at 10 offsets/s
    const auto &p1 = j["partitions"][1];                     // no watermark read for a:1
    EXPECT_TRUE(p1["high_watermark"].is_null());
    EXPECT_TRUE(p1["lag_records"].is_null());
    EXPECT_TRUE(p1["lag_seconds"].is_null());
    ASSERT_EQ(j["topics"].size(), 1u);
    const auto &t = j["topics"][0];
    EXPECT_EQ(t["topic"], "a");
    EXPECT_EQ(t["partitions"], 2);
    EXPECT_EQ(t["lag_records"], 50);
    EXPECT_DOUBLE_EQ(t["input_rate"].get<double>(), 20.0);
    EXPECT_DOUBLE_EQ(t["lag_seconds"].get<double>(), 2.5);
}

TEST(LagInStatus, WithoutAMonitorEverythingIsNull) {
    RunSnapshot s;
    s.next_offsets = {{a0, 5}};
    const auto j = status_json(s, 1'000);
    EXPECT_TRUE(j["partitions"][0]["lag_records"].is_null());
    ASSERT_EQ(j["topics"].size(), 1u);
    EXPECT_EQ(j["topics"][0]["partitions"], 1);
    EXPECT_TRUE(j["topics"][0]["lag_records"].is_null());
    EXPECT_TRUE(j["topics"][0]["input_rate"].is_null());
}

TEST(LagInPrometheus, KnownValuesAreSamplesUnknownOnesAreAbsent) {
    const std::string text = render_prometheus(snapshot_with_lag(), 10'000);
    EXPECT_THAT(text,
                HasSubstr("# TYPE sluice_partition_high_watermark gauge\n"
                          "sluice_partition_high_watermark{topic=\"a\",partition=\"0\"} 150\n"));
    EXPECT_THAT(text, HasSubstr("sluice_partition_lag_records{topic=\"a\",partition=\"0\"} 50\n"));
    EXPECT_THAT(text, HasSubstr("sluice_partition_lag_seconds{topic=\"a\",partition=\"0\"} 5\n"));
    EXPECT_THAT(text, Not(HasSubstr("sluice_partition_lag_records{topic=\"a\",partition=\"1\"}")));
    EXPECT_THAT(text, HasSubstr("sluice_topic_lag_records{topic=\"a\"} 50\n"));
    EXPECT_THAT(text, HasSubstr("sluice_topic_lag_seconds{topic=\"a\"} 2.5\n"));
    EXPECT_THAT(text, HasSubstr("sluice_topic_input_records_per_second{topic=\"a\"} 20\n"));
    RunSnapshot none;
    none.next_offsets = {{a0, 5}};
    EXPECT_THAT(render_prometheus(none, 1'000), Not(HasSubstr("lag")));
}

}  // namespace
}  // namespace sluice::metrics
