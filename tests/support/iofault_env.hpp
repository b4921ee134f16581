#pragma once
// The environment that makes a child `sluice` fail chosen I/O calls (iofault/iofault.h), for
// ChildProcess::Options::env. The test target must depend on sluice_iofault.

#include <cstdlib>
#include <string>
#include <vector>

#include "sluice_command.hpp"

namespace sluice::test {

inline std::string iofault_library() {
    return std::string(SLUICE_BINARY_DIR) + "/lib/libsluice_iofault.so";
}

/// LD_PRELOAD of the injector with `rules`; each fault that fires is one line in `log_path`.
inline std::vector<std::string> iofault_env(const std::string &rules, const std::string &log_path) {
    std::string asan = "verify_asan_link_order=0";  // the injector precedes ASan's runtime
    if (const char *old = std::getenv("ASAN_OPTIONS"); old && *old)
        asan = std::string(old) + ":" + asan;
    return {"LD_PRELOAD=" + iofault_library(), "SLUICE_IOFAULT=" + rules,
            "SLUICE_IOFAULT_LOG=" + log_path, "ASAN_OPTIONS=" + asan};
}

/// The lines the injector wrote (one per fault fired); empty when none fired.
inline std::vector<std::string> iofault_fired(const std::string &log_path) {
    std::vector<std::string> lines;
    std::string text = read_file(log_path), line;
    for (char c : text) {
        if (c == '\n') {
            lines.push_back(line);
            line.clear();
        } else {
            line += c;
        }
    }
    return lines;
}

}  // namespace sluice::test
