#pragma once
// Value parsers and small text helpers behind run_config.cpp; exposed for its unit tests.
// Each parser throws ConfigError "KEY: what is wrong, and what to write instead".

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/run_config.hpp"

namespace sluice::config::detail {

std::string trim(std::string_view text);
std::string to_lower(std::string_view text);

/// A whole number in [min, max], nothing else around it.
int64_t parse_integer(std::string_view text, std::string_view key, int64_t min = 0,
                      int64_t max = INT64_MAX);

/// "topic:partition=offset,..." (the topic is everything before the last ':'); a partition
/// given twice is an error.
std::vector<StartOffset> parse_from_offsets(std::string_view text, std::string_view key);
std::string format_from_offsets(const std::vector<StartOffset> &offsets);

/// Splits at commas that are not inside (), [] or {} (so "^t{1,3}" stays one regex), trims
/// each entry; empty entries are kept (the caller says what is wrong with them).
std::vector<std::string> split_list(std::string_view text);

/// The shortest exact spelling: 2000ms -> "2s", 90000ms -> "90s", 60000ms -> "1m".
std::string format_duration(std::chrono::milliseconds duration);

/// The candidate nearest to `word` by edit distance, or "" when none is close enough to be
/// what was meant.
std::string nearest(std::string_view word, const std::vector<std::string> &candidates);

}  // namespace sluice::config::detail
