#pragma once
// The verdicts behind /healthz and /readyz, from a published RunSnapshot: what a process
// supervisor (Kubernetes probes, a systemd watchdog script) asks. Pure functions; any thread.

#include <cstdint>
#include <string>

#include "metrics/snapshot.hpp"

namespace sluice::metrics {

struct HealthVerdict {
    bool ok = false;
    std::string reason;  // one line, for the response body and the operator
};

/// How long the batch loop may go without publishing a snapshot (it publishes after every batch,
/// empty ones included) before it counts as stuck: five batch intervals, at least 60 s, so that
/// a long catch-up batch is not mistaken for a hang.
int64_t stall_after_ms(const RunSnapshot &snapshot);

/// /healthz: is the process alive and its batch loop making progress? Starting and stopping are
/// healthy (a graceful stop must not be killed); running is healthy while the loop published
/// within stall_after_ms.
HealthVerdict liveness(const RunSnapshot &snapshot, int64_t now_ms);

/// /readyz: is it doing its job? Running, healthy, with plugins loaded and partitions to read
/// (in receiver mode: assigned by the group).
HealthVerdict readiness(const RunSnapshot &snapshot, int64_t now_ms);

}  // namespace sluice::metrics
