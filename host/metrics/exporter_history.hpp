#pragma once
// BatchHistory: the last few hundred committed batches, for the charts of the status page
// (GET /status/batches). Fed by Exporter::publish() from each snapshot's last_batch, so the
// per-batch snapshot copy does not grow with it.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>

#include "metrics/snapshot.hpp"

namespace sluice::metrics {

/// One committed batch as the charts show it.
struct BatchPoint {
    uint64_t seq = 0;  // 1, 2, ... in the order the exporter saw them (ids repeat on replay)
    int64_t batch_id = -1;
    int64_t batch_time_ms = 0;
    int64_t committed_at_ms = 0;
    bool replay = false;
    uint64_t records = 0;
    uint64_t bytes = 0;
    double input_rate = 0;  // records / batch interval, as Spark's Streaming tab counts it
    double processing_ms = 0;
    double scheduling_delay_ms = 0;
    double total_delay_ms = 0;
};

/// Not thread-safe: the exporter guards it with its snapshot mutex.
class BatchHistory {
  public:
    explicit BatchHistory(size_t capacity) : capacity_(capacity) {}

    /// Adds snapshot.last_batch unless it is the batch added last (a snapshot is published
    /// again without a new batch when the state changes). Drops the oldest beyond capacity.
    void add(const RunSnapshot &snapshot);

    /// {"capacity", "last_seq" (of the newest point, 0: none yet), "batch_interval_ms",
    /// "batches": [the points with seq > after, oldest first]}.
    nlohmann::json json(uint64_t after) const;

    size_t size() const { return points_.size(); }

  private:
    size_t capacity_;
    uint64_t next_seq_ = 1;
    int64_t batch_interval_ms_ = 0;
    std::deque<BatchPoint> points_;
};

}  // namespace sluice::metrics
