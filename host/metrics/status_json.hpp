#pragma once
// The /status document: the same RunSnapshot as /metrics, as JSON for people and scripts.

#include <nlohmann/json.hpp>

#include "metrics/snapshot.hpp"

namespace sluice::metrics {

/// The /status body for `snapshot`; its fields are documented in docs/metrics.md.
nlohmann::json status_json(const RunSnapshot &snapshot);

}  // namespace sluice::metrics
