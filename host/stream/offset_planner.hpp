#pragma once
// Planning of direct-mode batches: from where each partition stands and what
// the brokers hold, fix one OffsetRange per partition. Pure logic, no I/O.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/data_loss_error.hpp"
#include "common/types.hpp"

namespace sluice::stream {

/// What a broker holds for a partition: [low, high). high is the next offset
/// a producer will write (the high-water mark).
struct PartitionBounds {
    int64_t low = 0;
    int64_t high = 0;
};

struct PlanLimits {
    std::chrono::milliseconds batch_interval{2000};
    int64_t max_rate_per_partition = 0;     // records/s, 0 = unlimited
    int64_t max_batch_records = 0;          // whole batch, 0 = unlimited
    int64_t max_records_per_partition = 0;  // one range, 0 = unlimited (see prefetch_per_partition)
    // backpressure: the estimated records/s of the whole stream, shared among partitions by
    // their backlog (backpressure_caps in rate_estimator.hpp); 0 = no estimate
    double backpressure_rate = 0;
    bool fail_on_data_loss = true;
};

/// A range had to start later than planned because the broker no longer has
/// its first offsets (retention, or the mock's 5 MiB cap).
struct SkippedOffsets {
    TopicPartition tp;
    int64_t from_offset = 0;   // where we stood
    int64_t until_offset = 0;  // the earliest offset still there
    int64_t count() const { return until_offset - from_offset; }
};

struct PlannedRanges {
    std::vector<OffsetRange> ranges;  // one per partition with bounds, sorted by topic, partition
    std::vector<SkippedOffsets> skipped;
};

/// librdkafka's per-partition prefetch (queued.min.messages) that fits the
/// limits: twice one partition's fair share of a batch, within [1000, 100000];
/// 0 when no limit is set (keep librdkafka's default). librdkafka 2.0.2 does
/// not refill a partition queue that was over this mark until its broker
/// thread wakes (up to 1 s), so no range may need more than this: the
/// planner caps ranges at the same number (max_records_per_partition).
int64_t prefetch_per_partition(const PlanLimits &limits, size_t partitions);

/// Plans the next batch. `positions` holds the next offset to read of every
/// partition; partitions without bounds are left out. Ranges never go
/// backwards and never past `high`; rate limits cap each partition at
/// max(1, rate x interval) records, a backpressure_rate gives each partition its
/// share of it (backpressure_caps), and max_batch_records shares the total
/// among partitions in proportion to their backlog. A position below `low`
/// throws DataLossError when fail_on_data_loss, else is reported in `skipped`.
PlannedRanges plan_ranges(const std::map<TopicPartition, int64_t> &positions,
                          const std::map<TopicPartition, PartitionBounds> &bounds,
                          const PlanLimits &limits);

/// The ranges of `ranges` whose until_offset is not `last`'s for their partition (a partition
/// absent from `last` has moved), in their order: what a commit must carry when `last` is
/// what was committed before (issue 17: an idle partition costs no commit).
std::vector<OffsetRange> moved_since(const std::vector<OffsetRange> &ranges,
                                     const std::map<TopicPartition, int64_t> &last);

}  // namespace sluice::stream
