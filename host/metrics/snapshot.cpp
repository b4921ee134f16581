#include "metrics/snapshot.hpp"

#include <algorithm>

namespace sluice::metrics {

const char *to_string(RunState state) {
    switch (state) {
        case RunState::starting:
            return "starting";
        case RunState::running:
            return "running";
        case RunState::stopping:
            break;
    }
    return "stopping";
}

void RunSnapshot::add_batch(const BatchStats &batch) {
    ++batches;
    if (batch.replay) ++replayed_batches;
    records += batch.records;
    bytes += batch.bytes;
    processing_seconds += batch.processing_seconds;
    processing_time.observe(batch.processing_seconds);
    scheduling_delay.observe(batch.scheduling_delay_seconds);
    total_delay.observe(batch.scheduling_delay_seconds + batch.processing_seconds);
    last_batch = batch;
}

void RunSnapshot::observe_record_latency(const sluice_record_t *records, size_t count,
                                         int64_t now_ms) {
    if (!records || count == 0) return;
    const size_t step = std::max<size_t>(1, count / kLatencySamples);
    for (size_t i = 0; i < count; i += step) {
        const int64_t ts = records[i].timestamp_ms;
        if (ts >= 0 && ts <= now_ms) record_latency.observe(static_cast<double>(now_ms - ts) / 1e3);
    }
}

}  // namespace sluice::metrics
