#pragma once
// The checks no single key can make: required options, and keys that depend on each other or
// on the mode.

#include "config/run_config.hpp"

namespace sluice::config::detail {

/// Throws ConfigError naming the keys and the fix.
void check_complete(const RunConfig &cfg);

}  // namespace sluice::config::detail
