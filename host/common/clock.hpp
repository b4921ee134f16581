#pragma once
// The two clock readings every run loop logs with. Any thread.

#include <chrono>
#include <cstdint>

namespace sluice {

/// Wall-clock time, Unix milliseconds (batch times, block seal times).
inline int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// Milliseconds elapsed on the steady clock since `start`.
inline double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
}

}  // namespace sluice
