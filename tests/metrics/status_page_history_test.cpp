// BatchHistory, behind GET /status/batches and the status page's charts: bounded, one point per
// committed batch however often a snapshot is published, `after` returns only newer points.
#include <gtest/gtest.h>

#include "metrics/exporter_history.hpp"

namespace sluice::metrics {
namespace {

RunSnapshot with_batch(int64_t id, uint64_t records, int64_t committed_ms) {
    RunSnapshot s;
    s.batch_interval_ms = 500;
    s.add_batch({id, committed_ms - 10, false, records, records * 10, 0.002, 0.001});
    s.last_batch_committed_ms = committed_ms;
    return s;
}

TEST(BatchHistoryTest, KeepsTheLastBatchesOnceEachWithTheirRatesAndDelays) {
    BatchHistory history(3);
    history.add(RunSnapshot{});  // before the first batch: nothing to chart
    EXPECT_EQ(history.size(), 0u);
    for (int64_t id = 0; id < 5; ++id) {
        const RunSnapshot s = with_batch(id, 100 + id, 1000 + id);
        history.add(s);
        history.add(s);  // published again (a state change): the same batch, not a new point
    }
    EXPECT_EQ(history.size(), 3u);
    const auto all = history.json(0);
    EXPECT_EQ(all.at("capacity"), 3);
    EXPECT_EQ(all.at("batch_interval_ms"), 500);
    EXPECT_EQ(all.at("last_seq"), 5);
    const auto &points = all.at("batches");
    ASSERT_EQ(points.size(), 3u);
    EXPECT_EQ(points[0].at("id"), 2);
    EXPECT_EQ(points[2].at("id"), 4);
    EXPECT_EQ(points[2].at("seq"), 5);
    EXPECT_EQ(points[2].at("records"), 104);
    EXPECT_DOUBLE_EQ(points[2].at("input_rate").get<double>(), 208.0);  // 104 per 0.5 s
    EXPECT_DOUBLE_EQ(points[2].at("processing_ms").get<double>(), 2.0);
    EXPECT_DOUBLE_EQ(points[2].at("scheduling_delay_ms").get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(points[2].at("total_delay_ms").get<double>(), 3.0);
    EXPECT_EQ(points[2].at("committed_at_ms"), 1004);

    const auto newer = history.json(4).at("batches");
    ASSERT_EQ(newer.size(), 1u);
    EXPECT_EQ(newer[0].at("id"), 4);
    EXPECT_TRUE(history.json(5).at("batches").empty());
    // A replayed batch id after a restart of the loop is a new point.
    history.add(with_batch(4, 7, 2000));
    EXPECT_EQ(history.json(5).at("batches").size(), 1u);
}

}  // namespace
}  // namespace sluice::metrics
