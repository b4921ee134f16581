#include "metrics/snapshot.hpp"

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

}  // namespace sluice::metrics
