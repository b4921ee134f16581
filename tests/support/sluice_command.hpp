#pragma once
// Runs the built `sluice` binary as a child process and collects what it printed.

#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "temp_dir.hpp"

#ifndef SLUICE_BINARY_DIR
#error "SLUICE_BINARY_DIR must be defined (sluice_add_test does it)"
#endif

namespace sluice::test {

/// Path of the built `sluice` binary.
inline std::string sluice_binary() {
    return std::string(SLUICE_BINARY_DIR) + "/bin/sluice";
}

/// argv for `sluice <args...>`.
inline std::vector<std::string> sluice_argv(std::vector<std::string> args) {
    args.insert(args.begin(), sluice_binary());
    return args;
}

struct CommandResult {
    ExitStatus status;
    std::string out;  // all of stdout
    std::string err;  // all of stderr
    std::chrono::duration<double> elapsed{};
};

inline std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

/// Runs `sluice <args...>` to completion. Throws if it is still running after
/// timeout (it is then killed).
inline CommandResult run_sluice(std::vector<std::string> args,
                                std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    auto dir = temp_dir("sluice-cmd");
    const std::string err_path = dir.file("stderr.txt");
    const auto start = std::chrono::steady_clock::now();
    ChildProcess child(sluice_argv(std::move(args)), ChildProcess::Options{err_path, true});
    const auto status = child.wait(timeout);
    if (!status)
        throw std::runtime_error("sluice did not finish within " + std::to_string(timeout.count()) +
                                 " ms; its stderr: " + read_file(err_path));
    CommandResult result;
    result.elapsed = std::chrono::steady_clock::now() - start;
    result.status = *status;
    result.out = child.read_all(std::chrono::seconds(5)).value_or("");
    result.err = read_file(err_path);
    return result;
}

}  // namespace sluice::test
