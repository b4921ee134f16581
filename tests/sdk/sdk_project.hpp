#pragma once
// The SDK as a user gets it, for tests: install the sdk component of this build to a prefix and
// configure + build a CMake project against it. Shared by tests/sdk (samples/plugin-project) and
// tests/docs (the documentation's examples). Needs SLUICE_CMAKE_COMMAND, SLUICE_CXX_COMPILER and
// SLUICE_BINARY_DIR (see tests/sdk/CMakeLists.txt).

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace sluice::test {

/// Runs a shell command with stdout and stderr into `log`; returns its exit status (-1 when it
/// did not exit normally).
inline int run_logged(const std::string &command, const std::filesystem::path &log) {
    const int rc = std::system((command + " >'" + log.string() + "' 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

inline std::string shell_quote(const std::filesystem::path &p) {
    std::string out = "'";
    for (char c : p.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

inline std::string read_text(const std::filesystem::path &file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

/// `cmake --install <this build> --component sdk --prefix PREFIX`. Returns "" on success, else
/// the command's output.
inline std::string install_sdk(const std::filesystem::path &prefix,
                               const std::filesystem::path &log) {
    const int rc = run_logged(shell_quote(SLUICE_CMAKE_COMMAND) + " --install " +
                                  shell_quote(SLUICE_BINARY_DIR) + " --component sdk --prefix " +
                                  shell_quote(prefix),
                              log);
    return rc == 0 ? std::string() : "cmake --install failed:\n" + read_text(log);
}

/// Configures SOURCE into BUILD against the SDK installed at PREFIX (with this build's C++
/// compiler and `extra` configure arguments), then builds it. Returns "" on success, else the
/// output of the step that failed.
inline std::string build_project(const std::filesystem::path &source,
                                 const std::filesystem::path &build,
                                 const std::filesystem::path &prefix,
                                 const std::filesystem::path &log, const std::string &extra = "") {
    const std::string cmake = shell_quote(SLUICE_CMAKE_COMMAND);
    int rc = run_logged(
        cmake + " -S " + shell_quote(source) + " -B " + shell_quote(build) +
            " -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=" + shell_quote(SLUICE_CXX_COMPILER) +
            " -DCMAKE_PREFIX_PATH=" + shell_quote(prefix) + " " + extra,
        log);
    if (rc != 0) return "configuring " + source.string() + " failed:\n" + read_text(log);
    rc = run_logged(cmake + " --build " + shell_quote(build) + " -j2", log);
    if (rc != 0) return "building " + source.string() + " failed:\n" + read_text(log);
    return {};
}

}  // namespace sluice::test
