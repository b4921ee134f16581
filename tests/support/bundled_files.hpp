#pragma once
// Files for the bundled-plugin tests: a fresh directory per test (removed
// afterwards) and whole-file read/write helpers.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "temp_dir.hpp"

namespace sluice::testing {

/// A fresh directory per test (the shared tests/support TempDir, default-constructible).
class TempDir : public sluice::test::TempDir {
  public:
    TempDir() : sluice::test::TempDir(sluice::test::temp_dir("sluice-bundled")) {}
};

inline std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

inline void write_file(const std::string &path, const std::string &data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
}

inline void append_file(const std::string &path, const std::string &data) {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out << data;
}

}  // namespace sluice::testing
