#pragma once
// Consumer lag: how far the committed offsets are behind the partitions' high watermarks, in
// records (offsets) and in seconds at the recent rate of progress, per partition and per topic.
//
// LagBoard is the one live part of a RunSnapshot: the lag monitor's thread writes the high
// watermarks into it and the batch thread its progress (the committed offsets over time), and
// /status and /metrics compute a LagReport from it when they are asked. So the lag keeps moving
// while a batch is stuck in a plugin, when no snapshot is published and lag matters most.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/types.hpp"

namespace sluice::metrics {

/// One partition's lag. Unknown values are empty: no high watermark read yet (or none for
/// longer than LagBoard::kStaleAfter), no rate yet.
struct PartitionLag {
    std::optional<int64_t> high_watermark;  // next offset to be written
    std::optional<int64_t> lag_records;     // high watermark - committed next offset, >= 0
    std::optional<double> rate;             // committed offsets per second, recently
    std::optional<double> lag_seconds;      // lag_records / rate; 0 when nothing is behind
};

/// The partitions of one topic, summed.
struct TopicLag {
    std::string topic;
    size_t partitions = 0;               // in the snapshot
    std::optional<int64_t> lag_records;  // over the partitions whose lag is known
    std::optional<double> lag_seconds;   // lag_records / input_rate; 0 when nothing is behind
    std::optional<double> input_rate;    // records (offsets) per second, recently
};

struct LagReport {
    std::map<TopicPartition, PartitionLag> partitions;
    std::vector<TopicLag> topics;  // by name
};

/// How many offsets each partition had advanced in committed batches since the run started, at
/// one moment (Unix ms). A partition that is absent had advanced none.
struct ProgressPoint {
    int64_t at_ms = 0;
    std::map<TopicPartition, int64_t> advanced;
};

struct Watermark {
    int64_t high = -1;
    int64_t at_ms = 0;  // when it was read (Unix ms)
};

/// Pure: the lag of `committed` at `now_ms` against `watermarks` (older than stale_after_ms:
/// unknown), and each partition's rate: the offsets it advanced over the last `window_ms`
/// (fewer when the run is younger: since history.front()), from `history` (the counts at
/// earlier moments, oldest first) to `latest`, per second. Offsets advance only when a batch
/// commits, so a stall makes the rate fall to 0 within the window (the lag in seconds grows,
/// then is unknown). Empty history: rates unknown. Any thread.
LagReport compute_lag(const std::map<TopicPartition, int64_t> &committed,
                      const std::map<TopicPartition, Watermark> &watermarks,
                      const std::deque<ProgressPoint> &history,
                      const std::map<TopicPartition, int64_t> &latest, int64_t now_ms,
                      int64_t window_ms, int64_t stale_after_ms);

/// Thread-safe (one mutex guards everything below). Shared by the LagMonitor, the run loop and
/// the published snapshots (shared_ptr), so it outlives whichever goes first.
class LagBoard {
  public:
    static constexpr std::chrono::milliseconds kStaleAfter{30000};

    /// Rates are measured over about `window` (the batches committed within it).
    explicit LagBoard(std::chrono::milliseconds window);

    /// Counts a committed batch's ranges (until - from offsets each). Batch thread.
    void add_batch(const std::vector<OffsetRange> &ranges);
    /// The committed next offsets now. Batch thread, after each commit and at start. Returns
    /// true when they name a partition the last ones did not (its watermark is worth reading now).
    bool record_progress(const std::map<TopicPartition, int64_t> &next_offsets, int64_t now_ms);
    /// Watermarks just read. Lag monitor thread.
    void set_watermarks(const std::map<TopicPartition, int64_t> &high, int64_t now_ms);

    /// The partitions of the last recorded progress (the ones to ask watermarks for).
    std::vector<TopicPartition> partitions() const;
    /// The lag of `committed` (a published snapshot's offsets), at now_ms.
    LagReport report(const std::map<TopicPartition, int64_t> &committed, int64_t now_ms) const;
    /// The lag of the last recorded progress, at now_ms (the periodic log line).
    LagReport report(int64_t now_ms) const;

  private:
    const int64_t window_ms_;
    mutable std::mutex mutex_;
    std::deque<ProgressPoint> history_;           // oldest first, about window_ms_ / 30 apart
    std::map<TopicPartition, int64_t> advanced_;  // since the run started
    std::map<TopicPartition, int64_t> latest_;    // committed next offsets
    std::map<TopicPartition, Watermark> watermarks_;
};

/// One line for the log: each topic's lag in records and seconds and its input rate.
std::string describe_lag(const LagReport &report);

}  // namespace sluice::metrics
