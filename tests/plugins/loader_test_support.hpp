#pragma once
// Shared helpers of the plugin tests: a private copy of the test plugins and dump-file reading.

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "temp_dir.hpp"

namespace sluice::plugins::testing {

namespace fs = std::filesystem;

/// A fresh private directory (mode 0700) under the system temp dir, removed on destruction
/// (the shared tests/support TempDir, default-constructible).
class TempDir : public sluice::test::TempDir {
  public:
    TempDir() : sluice::test::TempDir(sluice::test::temp_dir("sluice-loader")) {}
};

/// The test plugins as built, copied into a private directory with mode 0755, so the security
/// check passes whatever the build's umask was.
class PluginDir : public TempDir {
  public:
    PluginDir() {
        for (const auto &entry : fs::directory_iterator(LOADER_TEST_PLUGIN_DIR)) {
            if (entry.path().extension() != ".so") continue;
            copy(entry.path().stem().string());
        }
    }
    /// Copies built plugin NAME into dir as FILE_NAME (default NAME.so), mode 0755.
    fs::path copy(const std::string &name, const fs::path &dir = {},
                  const std::string &file_name = {}) const {
        fs::path to = (dir.empty() ? path() : dir) / (file_name.empty() ? name + ".so" : file_name);
        fs::copy_file(fs::path(LOADER_TEST_PLUGIN_DIR) / (name + ".so"), to,
                      fs::copy_options::overwrite_existing);
        fs::permissions(to, fs::perms(0755));
        return to;
    }
};

inline std::vector<std::string> read_lines(const fs::path &file) {
    std::vector<std::string> lines;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

}  // namespace sluice::plugins::testing
