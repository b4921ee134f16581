#pragma once
// What the subcommands' option parsing shares. Main thread.

#include <spdlog/spdlog.h>

#include <stdexcept>
#include <string>

#include "common/logging.hpp"

namespace sluice::app {

/// A command-line mistake: reported as one line, exit code 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// --log-level NAME, or UsageError naming the levels.
inline spdlog::level::level_enum parse_log_level(const std::string &name) {
    if (auto level = log_level_from_name(name)) return *level;
    throw UsageError("--log-level '" + name +
                     "' is unknown: use trace, debug, info, warn, error or off");
}

}  // namespace sluice::app
