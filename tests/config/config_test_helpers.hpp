#pragma once
// What the tests of tests/config share: parsing `sluice run` arguments the way main does, the
// error text of a bad command line, and a fixture that writes config files.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "temp_dir.hpp"

namespace sluice::config::test_support {

// What every valid run needs; tests add to it.
inline const std::vector<std::string> kRequired = {"--brokers", "k1:9092",  "--topics",
                                                   "t",         "--plugin", "p"};

inline ParsedRun parse(std::vector<std::string> args) {
    args.insert(args.begin(), "run");
    std::vector<const char *> argv;
    for (const auto &a : args) argv.push_back(a.c_str());
    return parse_run_args(static_cast<int>(argv.size()), argv.data());
}

inline RunConfig parse_cfg(std::vector<std::string> args) {
    return parse(std::move(args)).config;
}

inline std::vector<std::string> with_required(std::vector<std::string> args) {
    args.insert(args.end(), kRequired.begin(), kRequired.end());
    return args;
}

/// The ConfigError message of parsing `args`, or "" if it parsed.
inline std::string error_of(std::vector<std::string> args) {
    try {
        parse(std::move(args));
    } catch (const ConfigError &e) {
        return e.what();
    }
    return "";
}

class ConfigFiles : public ::testing::Test {
  protected:
    std::string write(const std::string &name, const std::string &content) {
        const std::string path = dir_.file(name);
        std::ofstream(path) << content;
        return path;
    }
    test::TempDir dir_ = test::temp_dir("sluice-config-test");
};

}  // namespace sluice::config::test_support
