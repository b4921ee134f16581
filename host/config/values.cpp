#include "config/values.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <regex>
#include <set>

namespace sluice::config {

namespace {

[[noreturn]] void fail(std::string_view key, const std::string &message) {
    throw ConfigError(std::string(key) + ": " + message);
}

}  // namespace

std::chrono::milliseconds parse_duration(std::string_view text, std::string_view key) {
    const std::string t = detail::trim(text);
    const std::string hint = "write a whole number with a unit: 500ms, 2s, 1m or 1h";
    size_t digits = 0;
    while (digits < t.size() && std::isdigit(static_cast<unsigned char>(t[digits]))) ++digits;
    if (digits == 0) fail(key, "'" + t + "' is not a duration: " + hint);
    int64_t number = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + digits, number);
    if (ec != std::errc() || end != t.data() + digits) fail(key, "'" + t + "' is too large");
    const std::string unit = detail::trim(std::string_view(t).substr(digits));
    int64_t scale = 0;
    if (unit == "ms")
        scale = 1;
    else if (unit == "s")
        scale = 1000;
    else if (unit == "m")
        scale = int64_t{60} * 1000;
    else if (unit == "h")
        scale = int64_t{60} * 60 * 1000;
    else if (unit.empty() && number == 0)
        return std::chrono::milliseconds(0);
    else if (unit.empty())
        // Refused rather than guessed: "2" is two seconds to some readers, 2 ms to others.
        fail(key, "'" + t + "' has no unit: write " + t + "ms or " + t + "s");
    else
        fail(key, "'" + t + "' has an unknown unit '" + unit + "': " + hint);
    if (number > std::numeric_limits<int64_t>::max() / scale) fail(key, "'" + t + "' is too large");
    return std::chrono::milliseconds(number * scale);
}

bool parse_bool(std::string_view text, std::string_view key) {
    const std::string t = detail::to_lower(detail::trim(text));
    if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
    if (t == "false" || t == "no" || t == "off" || t == "0") return false;
    fail(key,
         "'" + std::string(text) + "' is not a boolean: write true/false, yes/no, on/off or 1/0");
}

namespace detail {

std::string trim(std::string_view text) {
    const auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    while (!text.empty() && space(text.front())) text.remove_prefix(1);
    while (!text.empty() && space(text.back())) text.remove_suffix(1);
    return std::string(text);
}

std::string to_lower(std::string_view text) {
    std::string out(text);
    for (char &c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

int64_t parse_integer(std::string_view text, std::string_view key, int64_t min, int64_t max) {
    const std::string t = trim(text);
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    const std::string range = max == std::numeric_limits<int64_t>::max()
                                  ? ">= " + std::to_string(min)
                                  : "from " + std::to_string(min) + " to " + std::to_string(max);
    if (t.empty() || ec == std::errc::invalid_argument || end != t.data() + t.size())
        fail(key, "'" + t + "' is not a whole number (expected a number " + range + ")");
    if (ec == std::errc::result_out_of_range || value < min || value > max)
        fail(key, "'" + t + "' is out of range (expected a number " + range + ")");
    return value;
}

std::string one_of(std::string_view text, std::string_view key,
                   const std::vector<std::pair<const char *, const char *>> &accepted,
                   std::string_view expected) {
    const std::string t = to_lower(trim(text));
    for (const auto &[word, normalised] : accepted)
        if (t == word) return normalised;
    fail(key, "'" + std::string(text) + "' is not one of " + std::string(expected));
}

std::filesystem::path parse_path(std::string_view text, std::string_view key,
                                 const std::filesystem::path &base_dir) {
    const std::string t = trim(text);
    if (t.empty()) fail(key, "empty path");
    std::filesystem::path path(t);
    if (path.is_relative() && !base_dir.empty()) path = base_dir / path;
    return path.lexically_normal();
}

bool legal_topic_name(std::string_view topic) {
    if (topic.empty() || topic.size() > 249) return false;
    return std::all_of(topic.begin(), topic.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
}

std::string topic_pattern_problem(const std::string &pattern) {
    if (pattern.size() > 1000) return "a topic pattern has at most 1000 characters: shorten it";
    constexpr size_t kMaxDigits = 6;
    const auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
    bool in_braces = false;
    for (size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        const bool backref = c == '\\' && i + 1 < pattern.size() && digit(pattern[i + 1]);
        if (c == '\\' && !backref) {
            ++i;  // an escaped character
            continue;
        }
        if (c == '{' || c == '}') {
            in_braces = c == '{';
            continue;
        }
        if (!backref && !(in_braces && digit(c))) continue;
        const size_t start = backref ? i + 1 : i;
        size_t end = start;
        while (end < pattern.size() && digit(pattern[end])) ++end;
        if (end - start > kMaxDigits)
            return "topic pattern '" + pattern + "': a " +
                   (backref ? "back-reference" : "repeat count") + " of more than " +
                   std::to_string(kMaxDigits) + " digits: write a smaller number";
        i = end - 1;
    }
    try {
        std::regex re(pattern);
    } catch (const std::regex_error &e) {
        return "topic pattern '" + pattern + "' is not a valid regular expression: " + e.what();
    }
    return "";
}

std::string parse_brokers(std::string_view text, std::string_view key) {
    const std::string value = trim(text);
    if (value.empty()) fail(key, "empty: write HOST:PORT[,HOST:PORT...] or 'embedded'");
    if (to_lower(value) == "embedded") return "embedded";
    std::string joined;
    for (const std::string &broker : split_list(value)) {
        if (broker.empty() || broker.find_first_of(" \t") != std::string::npos)
            fail(key, "'" + value + "' is not a broker list: write HOST:PORT[,HOST:PORT...]");
        joined += (joined.empty() ? "" : ",") + broker;
    }
    return joined;
}

std::string parse_zookeeper(std::string_view text, std::string_view key) {
    std::string value = trim(text);
    if (value.empty()) return value;
    const auto slash = value.find('/');
    const std::string hosts = value.substr(0, slash);
    const std::string chroot = slash == std::string::npos ? "" : value.substr(slash);
    for (const std::string &host : split_list(hosts)) {
        const auto colon = host.rfind(':');
        if (host.empty() || colon == std::string::npos || colon == 0 ||
            host.find_first_of(" \t") != std::string::npos)
            fail(key, "'" + value +
                          "' is not a ZooKeeper address: write "
                          "HOST:PORT[,HOST:PORT...][/CHROOT]");
        parse_integer(host.substr(colon + 1), key, 1, 65535);
    }
    if (chroot == "/" ||
        (!chroot.empty() && (chroot.back() == '/' || chroot.find("//") != std::string::npos)))
        fail(key, "chroot '" + chroot + "' is not a ZooKeeper path: write /NAME[/NAME...]");
    return value;
}

std::string parse_zookeeper_auth(std::string_view text, std::string_view key) {
    std::string value = trim(text);
    if (value.empty()) return value;
    const std::string prefix = "digest:";
    const auto colon = value.find(':', prefix.size());
    if (value.rfind(prefix, 0) != 0 || colon == std::string::npos || colon == prefix.size())
        fail(key, "not digest:USER:PASSWORD (the only scheme supported)");
    return value;
}

uint64_t parse_size(std::string_view text, std::string_view key) {
    const std::string value = trim(text);
    size_t digits = 0;
    while (digits < value.size() && std::isdigit(static_cast<unsigned char>(value[digits])))
        ++digits;
    const std::string unit = to_lower(value.substr(digits));
    uint64_t scale = 0;
    if (unit.empty() || unit == "b")
        scale = 1;
    else if (unit == "k" || unit == "kb" || unit == "kib")
        scale = 1ull << 10;
    else if (unit == "m" || unit == "mb" || unit == "mib")
        scale = 1ull << 20;
    else if (unit == "g" || unit == "gb" || unit == "gib")
        scale = 1ull << 30;
    else if (unit == "t" || unit == "tb" || unit == "tib")
        scale = 1ull << 40;
    if (digits == 0 || scale == 0)
        fail(key, "'" + value + "' is not a size: write e.g. 1GiB, 512MiB or a byte count");
    return static_cast<uint64_t>(parse_integer(value.substr(0, digits), key, 1)) * scale;
}

std::vector<StartOffset> parse_from_offsets(std::string_view text, std::string_view key) {
    const std::string syntax = "write topic:partition=offset[,topic:partition=offset...]";
    std::vector<StartOffset> out;
    std::set<TopicPartition> seen;
    for (const std::string &entry : split_list(text)) {
        const size_t eq = entry.find('=');
        const size_t colon = entry.rfind(':', eq);
        if (entry.empty() || eq == std::string::npos || colon == std::string::npos || colon == 0)
            fail(key, "'" + entry + "' is not topic:partition=offset: " + syntax);
        StartOffset so;
        so.tp.topic = trim(std::string_view(entry).substr(0, colon));
        const std::string what = "'" + entry + "'";
        so.tp.partition = static_cast<int32_t>(parse_integer(
            std::string_view(entry).substr(colon + 1, eq - colon - 1),
            std::string(key) + ": partition in " + what, 0, std::numeric_limits<int32_t>::max()));
        so.offset = parse_integer(std::string_view(entry).substr(eq + 1),
                                  std::string(key) + ": offset in " + what);
        if (so.tp.topic.empty()) fail(key, what + " names no topic: " + syntax);
        // A name Kafka could hold (which also keeps std::regex's recursive matcher, run on it
        // against the topic patterns, on short input: 4 KB overflowed its stack in config_fuzz).
        if (!legal_topic_name(so.tp.topic))
            fail(key, "'" + so.tp.topic + "' in " + what +
                          " is not a Kafka topic name (letters, digits, '.', "
                          "'_', '-'; at most 249)");
        if (!seen.insert(so.tp).second)
            fail(key, "partition " + so.tp.to_string() + " is given twice");
        out.push_back(std::move(so));
    }
    return out;
}

std::string format_from_offsets(const std::vector<StartOffset> &offsets) {
    std::string out;
    for (const auto &so : offsets) {
        if (!out.empty()) out += ',';
        out += so.tp.to_string() + "=" + std::to_string(so.offset);
    }
    return out;
}

std::vector<std::string> split_list(std::string_view text) {
    std::vector<std::string> out;
    int depth = 0;
    size_t start = 0;
    for (size_t i = 0; i <= text.size(); ++i) {
        const char c = i < text.size() ? text[i] : ',';
        if (c == '(' || c == '[' || c == '{')
            ++depth;
        else if ((c == ')' || c == ']' || c == '}') && depth > 0)
            --depth;
        else if (c == ',' && (depth == 0 || i == text.size())) {
            out.push_back(trim(text.substr(start, i - start)));
            start = i + 1;
        }
    }
    return out;
}

std::string format_duration(std::chrono::milliseconds duration) {
    const int64_t ms = duration.count();
    if (ms == 0) return "0s";
    constexpr int64_t kMinute = int64_t{60} * 1000, kHour = 60 * kMinute;
    if (ms % kHour == 0) return std::to_string(ms / kHour) + "h";
    if (ms % kMinute == 0) return std::to_string(ms / kMinute) + "m";
    if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
    return std::to_string(ms) + "ms";
}

std::string nearest(std::string_view word, const std::vector<std::string> &candidates) {
    // Edit distance counting a swap of two neighbours as one edit (optimal string alignment:
    // "tpo" is one slip from "top"), case-insensitive; '_' is treated as '-' (a common slip).
    const auto norm = [](std::string_view s) {
        std::string out = to_lower(s);
        std::replace(out.begin(), out.end(), '_', '-');
        return out;
    };
    const std::string w = norm(word);
    // Close enough to be a typo: a third of the word, at least 1, at most 3 edits.
    const size_t allowed = std::clamp<size_t>(w.size() / 3, 1, 3);
    std::string best;
    size_t best_distance = std::numeric_limits<size_t>::max();
    for (const std::string &candidate : candidates) {
        const std::string c = norm(candidate);
        // The distance is at least the difference in length: such a candidate cannot be close
        // enough, and a long word (a pasted value, a fuzzer's key) costs no table at all.
        if (std::max(w.size(), c.size()) - std::min(w.size(), c.size()) > allowed) continue;
        // Three rows of the distance table: i-2, i-1 and i.
        std::vector<size_t> before(c.size() + 1), previous(c.size() + 1), row(c.size() + 1);
        for (size_t j = 0; j <= c.size(); ++j) row[j] = j;
        for (size_t i = 1; i <= w.size(); ++i) {
            before.swap(previous);
            previous.swap(row);
            row[0] = i;
            for (size_t j = 1; j <= c.size(); ++j) {
                row[j] = std::min({previous[j] + 1, row[j - 1] + 1,
                                   previous[j - 1] + (w[i - 1] == c[j - 1] ? 0 : 1)});
                if (i > 1 && j > 1 && w[i - 1] == c[j - 2] && w[i - 2] == c[j - 1])
                    row[j] = std::min(row[j], before[j - 2] + 1);
            }
        }
        if (row[c.size()] < best_distance) {
            best_distance = row[c.size()];
            best = candidate;
        }
    }
    return best_distance <= allowed ? best : std::string();
}

}  // namespace detail
}  // namespace sluice::config
