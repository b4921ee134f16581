#include "metrics/exporter_history.hpp"

#include <algorithm>

namespace sluice::metrics {

void BatchHistory::add(const RunSnapshot &s) {
    batch_interval_ms_ = s.batch_interval_ms;
    if (!s.last_batch || capacity_ == 0) return;
    const BatchStats &b = *s.last_batch;
    if (!points_.empty() && points_.back().batch_id == b.batch_id &&
        points_.back().committed_at_ms == s.last_batch_committed_ms)
        return;
    BatchPoint p;
    p.seq = next_seq_++;
    p.batch_id = b.batch_id;
    p.batch_time_ms = b.batch_time_ms;
    p.committed_at_ms = s.last_batch_committed_ms;
    p.replay = b.replay;
    p.records = b.records;
    p.bytes = b.bytes;
    // Per second of stream time, as Spark does: a batch of an interval of 200 ms with 100
    // records is 500 records/s, however quickly it was processed.
    const double interval_s =
        s.batch_interval_ms > 0 ? static_cast<double>(s.batch_interval_ms) / 1000.0 : 1.0;
    p.input_rate = static_cast<double>(b.records) / interval_s;
    p.processing_ms = b.processing_seconds * 1000.0;
    p.scheduling_delay_ms = b.scheduling_delay_seconds * 1000.0;
    p.total_delay_ms = p.processing_ms + p.scheduling_delay_ms;
    points_.push_back(p);
    while (points_.size() > capacity_) points_.pop_front();
}

nlohmann::json BatchHistory::json(uint64_t after) const {
    nlohmann::json batches = nlohmann::json::array();
    const auto first = std::find_if(points_.begin(), points_.end(),
                                    [&](const BatchPoint &p) { return p.seq > after; });
    for (auto it = first; it != points_.end(); ++it)
        batches.push_back({
            {"seq", it->seq},
            {"id", it->batch_id},
            {"time_ms", it->batch_time_ms},
            {"committed_at_ms", it->committed_at_ms},
            {"replay", it->replay},
            {"records", it->records},
            {"bytes", it->bytes},
            {"input_rate", it->input_rate},
            {"processing_ms", it->processing_ms},
            {"scheduling_delay_ms", it->scheduling_delay_ms},
            {"total_delay_ms", it->total_delay_ms},
        });
    return {{"capacity", capacity_},
            {"last_seq", next_seq_ - 1},
            {"batch_interval_ms", batch_interval_ms_},
            {"batches", std::move(batches)}};
}

}  // namespace sluice::metrics
