#pragma once
// One logger setup for every subcommand: spdlog to stderr (stdout is kept for
// what a command prints as its result), with a level given by name.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <optional>
#include <string>

namespace sluice {

/// "trace".."error" or "off"; nullopt for an unknown name (spdlog's own
/// from_str silently maps unknown names to "off").
inline std::optional<spdlog::level::level_enum> log_level_from_name(const std::string &name) {
    const auto level = spdlog::level::from_str(name);
    if (level == spdlog::level::off && name != "off") return std::nullopt;
    return level;
}

/// Makes a stderr logger named "sluice" the default, at `level`.
inline void use_stderr_logger(spdlog::level::level_enum level) {
    auto logger = std::make_shared<spdlog::logger>(
        "sluice", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
    logger->set_level(level);
    spdlog::set_default_logger(logger);
}

}  // namespace sluice
