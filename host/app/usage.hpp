#pragma once
// What the subcommands' option parsing shares. Main thread.

#include <spdlog/spdlog.h>

#include <boost/program_options/errors.hpp>
#include <cstdio>
#include <optional>
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

/// Calls `parse()`, which returns false when it printed the help. A Boost.Program_options error
/// or a UsageError becomes one line on stderr, "sluice COMMAND: WHAT" (the former with a
/// pointer to --help). Returns the exit code to end with (0 after the help, 2 after a
/// mistake), or nullopt when the command line is good.
template <typename Parse>
std::optional<int> parse_command_line(const char *command, Parse &&parse) {
    try {
        if (!parse()) return 0;
        return std::nullopt;
    } catch (const boost::program_options::error &e) {
        std::fprintf(stderr, "sluice %s: %s (see sluice %s --help)\n", command, e.what(), command);
    } catch (const UsageError &e) {
        std::fprintf(stderr, "sluice %s: %s\n", command, e.what());
    }
    return 2;
}

}  // namespace sluice::app
