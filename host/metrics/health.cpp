#include "metrics/health.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sluice::metrics {

int64_t stall_after_ms(const RunSnapshot &snapshot) {
    return std::max<int64_t>(5 * snapshot.batch_interval_ms, 60'000);
}

HealthVerdict liveness(const RunSnapshot &s, int64_t now_ms) {
    switch (s.state) {
        case RunState::starting:
            return {true, "starting: loading plugins and waiting for Kafka"};
        case RunState::stopping:
            return {true, "stopping: finishing the batch in flight"};
        case RunState::running:
            break;
    }
    const int64_t quiet = now_ms - s.published_at_ms;
    if (quiet > stall_after_ms(s))
        return {false, fmt::format("the batch loop has made no progress for {} s (limit {} s): it "
                                   "may be stuck in a plugin or a Kafka call",
                                   quiet / 1000, stall_after_ms(s) / 1000)};
    return {true, fmt::format("running: batch {} committed {} ms ago",
                              s.last_batch ? s.last_batch->batch_id : -1,
                              s.last_batch_committed_ms ? now_ms - s.last_batch_committed_ms : 0)};
}

HealthVerdict readiness(const RunSnapshot &s, int64_t now_ms) {
    if (s.state == RunState::starting) return {false, "starting: not reading yet"};
    if (s.state == RunState::stopping) return {false, "stopping"};
    if (HealthVerdict alive = liveness(s, now_ms); !alive.ok) return alive;
    if (s.plugins.empty()) return {false, "no plugin is loaded"};
    if (s.receiver && s.receiver->assigned_partitions == 0)
        return {false, "waiting for the consumer group to assign partitions to this process"};
    if (!s.receiver && s.next_offsets.empty()) return {false, "no partitions to read yet"};
    return {true,
            fmt::format("ready: {} plugin(s), {} partition(s)", s.plugins.size(),
                        s.receiver ? s.receiver->assigned_partitions : s.next_offsets.size())};
}

}  // namespace sluice::metrics
