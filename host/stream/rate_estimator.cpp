#include "stream/rate_estimator.hpp"

#include <algorithm>
#include <cmath>

namespace sluice::stream {

PidRateEstimator::PidRateEstimator(int64_t batch_interval_ms, Gains gains)
    : interval_ms_(std::max<int64_t>(1, batch_interval_ms)), gains_(gains) {}

std::optional<double> PidRateEstimator::compute(int64_t time_ms, int64_t records,
                                                int64_t processing_ms,
                                                int64_t scheduling_delay_ms) {
    if (time_ms <= latest_time_ || records <= 0 || processing_ms <= 0) return std::nullopt;
    const double since_last_s = static_cast<double>(time_ms - latest_time_) / 1000.0;
    const double processing_rate =
        static_cast<double>(records) * 1000.0 / static_cast<double>(processing_ms);
    // Positive when the rate in force is more than the batches could process.
    const double error = rate_ - processing_rate;
    // The records waiting because batches start late, as a rate over one interval.
    const double backlog_rate = static_cast<double>(std::max<int64_t>(0, scheduling_delay_ms)) *
                                processing_rate / static_cast<double>(interval_ms_);
    const double error_change = (error - latest_error_) / since_last_s;
    const double next = std::max(gains_.min_rate, rate_ - gains_.proportional * error -
                                                      gains_.integral * backlog_rate -
                                                      gains_.derivative * error_change);
    latest_time_ = time_ms;
    if (first_) {
        // Nothing to correct yet: the first batch only tells what the run can process.
        first_ = false;
        rate_ = processing_rate;
        latest_error_ = 0.0;
        return std::nullopt;
    }
    rate_ = next;
    latest_error_ = error;
    has_rate_ = true;
    return rate_;
}

std::vector<int64_t> backpressure_caps(const std::vector<int64_t> &lags, double rate,
                                       int64_t max_rate_per_partition, int64_t batch_interval_ms) {
    std::vector<int64_t> caps(lags.size(), 0);
    double total = 0;
    for (int64_t lag : lags) total += static_cast<double>(std::max<int64_t>(0, lag));
    if (total <= 0) return caps;
    const double seconds = static_cast<double>(batch_interval_ms) / 1000.0;
    for (size_t i = 0; i < lags.size(); ++i) {
        if (lags[i] <= 0) continue;
        double per_partition = static_cast<double>(lags[i]) / total * rate;
        if (max_rate_per_partition > 0)
            per_partition = std::min(per_partition, static_cast<double>(max_rate_per_partition));
        caps[i] = std::max<int64_t>(1, static_cast<int64_t>(std::floor(per_partition * seconds)));
    }
    return caps;
}

int64_t records_for_bytes(uint64_t max_batch_bytes, uint64_t bytes_so_far,
                          uint64_t records_so_far) {
    if (max_batch_bytes == 0) return 0;
    const double average =
        records_so_far > 0 && bytes_so_far > 0
            ? static_cast<double>(bytes_so_far) / static_cast<double>(records_so_far)
            : static_cast<double>(kAssumedRecordBytes);
    return std::max<int64_t>(
        1, static_cast<int64_t>(static_cast<double>(max_batch_bytes) / std::max(1.0, average)));
}

std::map<std::string, std::string> prefetch_byte_limits(
    uint64_t max_batch_bytes, size_t partitions, const std::map<std::string, std::string> &user) {
    std::map<std::string, std::string> out;
    if (max_batch_bytes == 0 || partitions == 0) return out;
    const uint64_t share = max_batch_bytes / 2 / partitions;  // bytes per partition queue
    const uint64_t kbytes = std::clamp<uint64_t>(share / 1024, 64, 65536);
    const uint64_t fetch =
        std::clamp<uint64_t>(kbytes * 1024, uint64_t{64} * 1024, uint64_t{1} << 20);
    if (!user.count("queued.max.messages.kbytes"))
        out["queued.max.messages.kbytes"] = std::to_string(kbytes);
    if (!user.count("max.partition.fetch.bytes") && !user.count("fetch.message.max.bytes"))
        out["max.partition.fetch.bytes"] = std::to_string(fetch);
    return out;
}

}  // namespace sluice::stream
