#pragma once
// How the reloader's log lines write a time and an outcome (plugin_reloader*.cpp). Pure; any
// thread.

#include <cstdint>
#include <ctime>
#include <string>

namespace sluice::plugins::detail {

// "2026-12-01 19:50:13 UTC" for a Unix ms time.
inline std::string utc_text(int64_t ms) {
    const time_t seconds = static_cast<time_t>(ms / 1000);
    struct tm tm {};
    char text[32];
    if (::gmtime_r(&seconds, &tm) == nullptr ||
        std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        return std::to_string(ms) + " ms";
    return text;
}

// "rolled back" / "rejected" for a RefusedFile::result.
inline std::string result_text(const std::string &result) {
    return result == "rolled_back" ? "rolled back" : result;
}

}  // namespace sluice::plugins::detail
