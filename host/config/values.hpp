#pragma once
// Value parsers and small text helpers behind the option table (options.cpp); exposed for the
// unit tests. Each parser throws ConfigError "KEY: what is wrong, and what to write instead".

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/run_config.hpp"

namespace sluice::config::detail {

std::string trim(std::string_view text);
std::string to_lower(std::string_view text);

/// A whole number in [min, max], nothing else around it.
int64_t parse_integer(std::string_view text, std::string_view key, int64_t min = 0,
                      int64_t max = INT64_MAX);

/// The normalised word of `accepted` ({word, normalised} pairs) that `text` is, in any case;
/// otherwise an error listing `expected`.
std::string one_of(std::string_view text, std::string_view key,
                   const std::vector<std::pair<const char *, const char *>> &accepted,
                   std::string_view expected);

/// A path; a relative one is made relative to `base_dir` when that is not empty (a config
/// file's directory). Lexically normalised. Empty text is an error.
std::filesystem::path parse_path(std::string_view text, std::string_view key,
                                 const std::filesystem::path &base_dir);

/// Kafka's own rule for a topic name (kafka.common.internals.Topic): [a-zA-Z0-9._-]{1,249}.
bool legal_topic_name(std::string_view topic);

/// What is wrong with a topic pattern (`^...`, a std::regex), or "" when it compiles: at most
/// 1000 characters (std::regex compiles recursively; 100,000 crashed), at most 6 digits in a
/// back-reference or a repeat count (libstdc++ reads them into a long without an overflow
/// check: `\7777777777777777777777` was undefined behaviour, found by config_fuzz), then what
/// std::regex itself refuses.
std::string topic_pattern_problem(const std::string &pattern);

/// HOST:PORT[,HOST:PORT...] with the spaces after commas removed, or "embedded" in any case.
std::string parse_brokers(std::string_view text, std::string_view key);

/// HOST:PORT[,HOST:PORT...][/CHROOT], as ZooKeeper clients write it; "" stays "".
std::string parse_zookeeper(std::string_view text, std::string_view key);

/// digest:USER:PASSWORD (the only scheme a ZooKeeper client can add by itself); "" stays "".
std::string parse_zookeeper_auth(std::string_view text, std::string_view key);

/// A byte count with an optional binary suffix: 1073741824, 512MiB, 1GiB (also K/M/G/T,
/// KB/MB/GB/TB as binary units, the way JVM and Kafka tooling read them); at least 1.
uint64_t parse_size(std::string_view text, std::string_view key);

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
