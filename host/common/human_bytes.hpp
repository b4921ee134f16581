#pragma once
// A byte count as a person reads it in a log line or a report. Pure; any thread.

#include <fmt/format.h>

#include <cstdint>
#include <string>

namespace sluice {

/// "512 B", "1.5 KiB", "12.0 MiB", "2.3 GiB": one decimal from KiB on (binary units).
inline std::string human_bytes(uint64_t n) {
    if (n >= (uint64_t{1} << 30)) return fmt::format("{:.1f} GiB", n / 1073741824.0);
    if (n >= (uint64_t{1} << 20)) return fmt::format("{:.1f} MiB", n / 1048576.0);
    if (n >= 1024) return fmt::format("{:.1f} KiB", n / 1024.0);
    return fmt::format("{} B", n);
}

}  // namespace sluice
