#pragma once
// Test helpers for the metrics endpoints: http_get (tests/support/http_get.hpp), a reader of the
// Prometheus text format, and the port `sluice run` logs for --metrics-address 127.0.0.1:0.

#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>

#include "http_get.hpp"

namespace sluice::test {

/// The samples of a Prometheus text exposition: `name{labels}` as written -> value. Comment
/// lines are skipped; a malformed sample line makes the result empty.
inline std::map<std::string, double> parse_samples(const std::string &text) {
    std::map<std::string, double> out;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] == '#') continue;
        const size_t space = line.rfind(' ');
        if (space == std::string::npos) return {};
        try {
            out[line.substr(0, space)] = std::stod(line.substr(space + 1));
        } catch (const std::exception &) {
            return {};
        }
    }
    return out;
}

/// The port of the "metrics: serving http://127.0.0.1:PORT/metrics" line in a log file, or 0.
inline int logged_metrics_port(const std::string &log_path) {
    std::ifstream in(log_path);
    std::stringstream text;
    text << in.rdbuf();
    std::smatch match;
    const std::string log = text.str();
    static const std::regex line(R"(metrics: serving http://127\.0\.0\.1:(\d+)/metrics)");
    return std::regex_search(log, match, line) ? std::stoi(match[1]) : 0;
}

}  // namespace sluice::test
