#pragma once
// Where each partition ends, for the planners of both direct modes (DirectMode,
// GroupDirectMode): mostly the watermarks librdkafka learns from its own fetch responses, so
// that a batch asks the brokers nothing per idle partition (issue 17, docs/scaling.md).

#include <chrono>
#include <map>
#include <vector>

#include "common/types.hpp"
#include "stream/offset_planner.hpp"

namespace sluice::ingest {
class DirectReader;
}

namespace sluice::stream {

/// Lifecycle: owned by a mode next to its reader (which it must not outlive); batch thread only.
class BoundsSource {
  public:
    explicit BoundsSource(ingest::DirectReader &reader) : reader_(reader) {}

    /// Asks the brokers for `tps` now, e.g. before the first batch, whose partitions' fetchers
    /// have not answered yet. Throws when the brokers cannot be asked.
    void ask(const std::vector<TopicPartition> &tps, std::chrono::milliseconds timeout);
    /// What the brokers said of `tp` elsewhere (the start's auto-offset-reset query).
    void seed(const TopicPartition &tp, PartitionBounds bounds) { asked_[tp] = bounds; }
    /// `positions` less the partitions whose position the brokers said is below their first
    /// offset: a fetcher started there fails (data loss), where the planner skips or stops.
    std::map<TopicPartition, int64_t> startable(
        const std::map<TopicPartition, int64_t> &positions) const;
    /// Drops what is known of partitions no longer read.
    void forget(const std::vector<TopicPartition> &tps);

    /// The bounds of every partition of `positions` (next offset to read): the fetch responses'
    /// watermarks; for a partition without one yet, the brokers' last answer (asked again every
    /// 10 s) or, never asked, the empty range at its position. Once a second, when every
    /// partition has a fetch reading, the brokers are asked for a slice of 100 partitions in
    /// turn, waiting 100 ms at most (a check that they answer, and fresh values for a fetcher
    /// that paused); it throws after 10 s without an answer. A stale high watermark only
    /// delays records to a later batch.
    /// Throws when the brokers cannot be asked.
    std::map<TopicPartition, PartitionBounds> current(
        const std::map<TopicPartition, int64_t> &positions, int64_t batch_id,
        std::chrono::milliseconds timeout);

  private:
    using Clock = std::chrono::steady_clock;
    /// Asks the brokers for the next slice of `tps` (into `bounds`), with a short wait.
    void probe(const std::vector<TopicPartition> &tps,
               std::map<TopicPartition, PartitionBounds> &bounds, Clock::time_point now);

    ingest::DirectReader &reader_;
    std::map<TopicPartition, PartitionBounds> asked_;  // partitions without a fetch reading
    Clock::time_point asked_at_{}, sliced_at_{}, probe_failing_since_{};
    size_t cursor_ = 0;  // where the next slice starts, in partition order
};

}  // namespace sluice::stream
