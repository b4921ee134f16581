#include "stream/offset_planner.hpp"

#include <algorithm>

#include "stream/rate_estimator.hpp"

namespace sluice::stream {

namespace {

/// fail-on-data-loss=true and a range would start below the low watermark.
DataLossError planned_data_loss(const TopicPartition &tp, int64_t position, int64_t earliest) {
    return DataLossError(
        tp, position, earliest,
        "data loss on " + tp.topic + " partition " + std::to_string(tp.partition) + ": offsets " +
            std::to_string(position) + ".." + std::to_string(earliest - 1) +
            " are no longer on the broker (earliest is " + std::to_string(earliest) +
            "); set fail-on-data-loss=false to skip them and continue");
}

}  // namespace

int64_t prefetch_per_partition(const PlanLimits &limits, size_t partitions) {
    int64_t share = 0;
    if (limits.max_batch_records > 0 && partitions > 0)
        share = (limits.max_batch_records + static_cast<int64_t>(partitions) - 1) /
                static_cast<int64_t>(partitions);
    if (limits.max_rate_per_partition > 0) {
        const int64_t per_range = std::max<int64_t>(
            1, limits.max_rate_per_partition * limits.batch_interval.count() / 1000);
        share = share > 0 ? std::min(share, per_range) : per_range;
    }
    if (share == 0) return 0;
    return std::clamp<int64_t>(2 * share, 1000, 100000);
}

PlannedRanges plan_ranges(const std::map<TopicPartition, int64_t> &positions,
                          const std::map<TopicPartition, PartitionBounds> &bounds,
                          const PlanLimits &limits) {
    PlannedRanges out;
    std::vector<int64_t> backlog;
    for (const auto &[tp, position] : positions) {
        auto it = bounds.find(tp);
        if (it == bounds.end()) continue;
        const PartitionBounds &b = it->second;
        int64_t from = position;
        if (from < b.low) {
            if (limits.fail_on_data_loss) throw planned_data_loss(tp, from, b.low);
            out.skipped.push_back({tp, from, b.low});
            from = b.low;
        }
        // A position past the high-water mark (e.g. a recreated topic) gives an
        // empty range: never plan offsets the broker has not written.
        const int64_t until = std::max(from, b.high);
        out.ranges.push_back({tp.topic, tp.partition, from, until});
        backlog.push_back(until - from);
    }

    if (limits.backpressure_rate > 0) {
        const auto caps =
            backpressure_caps(backlog, limits.backpressure_rate, limits.max_rate_per_partition,
                              limits.batch_interval.count());
        for (size_t i = 0; i < backlog.size(); ++i) backlog[i] = std::min(backlog[i], caps[i]);
    }

    if (limits.max_rate_per_partition > 0) {
        const int64_t per_partition = std::max<int64_t>(
            1, limits.max_rate_per_partition * limits.batch_interval.count() / 1000);
        for (size_t i = 0; i < out.ranges.size(); ++i)
            backlog[i] = std::min(backlog[i], per_partition);
    }

    if (limits.max_records_per_partition > 0)
        for (auto &n : backlog) n = std::min(n, limits.max_records_per_partition);

    if (limits.max_batch_records > 0) {
        int64_t total = 0;
        for (int64_t n : backlog) total += n;
        if (total > limits.max_batch_records) {
            // Share in proportion to backlog, then hand the rounding remainder
            // to the largest backlogs so that the batch is exactly full.
            std::vector<int64_t> share(backlog.size());
            int64_t given = 0;
            for (size_t i = 0; i < backlog.size(); ++i) {
                share[i] = static_cast<int64_t>(static_cast<__int128>(backlog[i]) *
                                                limits.max_batch_records / total);
                given += share[i];
            }
            std::vector<size_t> order(backlog.size());
            for (size_t i = 0; i < order.size(); ++i) order[i] = i;
            std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
                return backlog[a] - share[a] > backlog[b] - share[b];
            });
            for (size_t k = 0; given < limits.max_batch_records && k < order.size(); ++k) {
                size_t i = order[k];
                if (share[i] < backlog[i]) {
                    ++share[i];
                    ++given;
                }
            }
            backlog = std::move(share);
        }
    }

    for (size_t i = 0; i < out.ranges.size(); ++i)
        out.ranges[i].until_offset = out.ranges[i].from_offset + backlog[i];
    return out;
}

std::vector<OffsetRange> moved_since(const std::vector<OffsetRange> &ranges,
                                     const std::map<TopicPartition, int64_t> &last) {
    std::vector<OffsetRange> out;
    for (const auto &r : ranges) {
        auto it = last.find(r.topic_partition());
        if (it == last.end() || it->second != r.until_offset) out.push_back(r);
    }
    return out;
}

}  // namespace sluice::stream
