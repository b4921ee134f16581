#pragma once
// Backpressure (Spark's spark.streaming.backpressure.enabled): a PID controller that estimates,
// from each finished batch, how many records per second the run can take, and how that rate
// becomes the next batch's per-partition limits in direct mode. Pure logic, no I/O, no clock.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sluice::stream {

/// Spark's PIDRateEstimator. After each batch with records, the processing rate it achieved is
/// records / processing time; the error is the rate in force minus that; the integral term is
/// the backlog the scheduling delay stands for, as a rate (delay x processing rate / interval):
///
///     rate' = max(min_rate, rate - proportional x error - integral x backlog_rate
///                           - derivative x d(error)/dt)
///
/// The first batch only seeds the rate with its processing rate (no estimate yet). Lifecycle: a
/// plain value, used on the batch thread only.
class PidRateEstimator {
  public:
    struct Gains {
        double proportional = 1.0;
        double integral = 0.2;
        double derivative = 0.0;
        double min_rate = 100.0;  // records/s: the estimate never goes below this
    };

    explicit PidRateEstimator(int64_t batch_interval_ms)
        : PidRateEstimator(batch_interval_ms, {}) {}
    PidRateEstimator(int64_t batch_interval_ms, Gains gains);

    /// One finished batch: `time_ms` when it finished (any clock that only goes forward),
    /// its records, its processing time and its scheduling delay (ms). Returns the new
    /// estimate in records/s, or nothing (the first batch, an empty batch, a batch that took
    /// no time, a time not after the last one).
    std::optional<double> compute(int64_t time_ms, int64_t records, int64_t processing_ms,
                                  int64_t scheduling_delay_ms);

    /// The latest estimate; nothing before the second batch with records.
    std::optional<double> rate() const { return has_rate_ ? std::optional(rate_) : std::nullopt; }

  private:
    int64_t interval_ms_;
    Gains gains_;
    bool first_ = true;
    bool has_rate_ = false;
    int64_t latest_time_ = -1;
    double rate_ = -1.0;  // the rate in force (after the first batch: its processing rate)
    double latest_error_ = -1.0;
};

/// How a stream-wide rate (records/s) becomes per-partition record counts for one batch, as
/// Spark's direct stream does: each partition gets the rate in proportion to its backlog
/// (lag / total lag), capped by max_rate_per_partition when that is set (> 0), times the batch
/// interval, and at least one record. `lags` are the records available per partition; the
/// result has one cap per entry (0 where the lag is 0).
std::vector<int64_t> backpressure_caps(const std::vector<int64_t> &lags, double rate,
                                       int64_t max_rate_per_partition, int64_t batch_interval_ms);

/// max-batch-bytes as a record count for the planner: the budget over the average record
/// (keys + values) of the batches so far, or over kAssumedRecordBytes before the first; at
/// least 1; 0 when max_batch_bytes is 0 (no limit).
inline constexpr uint64_t kAssumedRecordBytes = 1024;
int64_t records_for_bytes(uint64_t max_batch_bytes, uint64_t bytes_so_far, uint64_t records_so_far);

/// The librdkafka settings that bound direct mode's prefetch by max-batch-bytes, among
/// `partitions` partition queues: half a batch in all (queued.max.messages.kbytes per
/// partition, at least 64 KiB), and no single partition fetch above that share (at most 1 MiB,
/// librdkafka's default). A key the user set in `user` is left out. Empty when
/// max_batch_bytes is 0.
std::map<std::string, std::string> prefetch_byte_limits(
    uint64_t max_batch_bytes, size_t partitions, const std::map<std::string, std::string> &user);

}  // namespace sluice::stream
