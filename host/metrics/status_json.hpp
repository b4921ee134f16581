#pragma once
// The /status document: the same RunSnapshot as /metrics, as JSON for people and scripts.

#include <nlohmann/json.hpp>

#include "metrics/snapshot.hpp"

namespace sluice::metrics {

/// The /status body for `snapshot`; its fields are documented in docs/metrics.md. The lag is
/// computed at `now_ms` (Unix ms; the one-argument form: now).
nlohmann::json status_json(const RunSnapshot &snapshot, int64_t now_ms);
nlohmann::json status_json(const RunSnapshot &snapshot);

}  // namespace sluice::metrics
