#pragma once
// TempDir: a fresh directory for one test, removed with everything in it at the end (kept
// when SLUICE_KEEP_TEST_DIRS is set, for debugging).

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace sluice::test {

/// Lifecycle: created by temp_dir(); the destructor removes the directory tree
/// (errors ignored). Move-only. Used from one (test) thread.
class TempDir {
  public:
    explicit TempDir(std::filesystem::path path) : path_(std::move(path)) {}
    TempDir(TempDir &&other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
    TempDir &operator=(TempDir &&) = delete;
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    ~TempDir() {
        if (path_.empty()) return;
        // SLUICE_KEEP_TEST_DIRS=1 keeps it (logs of the hosts a test ran), to read afterwards.
        if (const char *keep = std::getenv("SLUICE_KEEP_TEST_DIRS"); keep && *keep && *keep != '0')
            return;
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }

    const std::filesystem::path &path() const { return path_; }
    /// path() / name, as a string (for argv and file names).
    std::string file(const std::string &name) const { return (path_ / name).string(); }

  private:
    std::filesystem::path path_;
};

/// Makes a fresh, empty directory under the system temp directory (mode 0700).
inline TempDir temp_dir(const std::string &prefix = "sluice-test") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!::mkdtemp(pattern.data()))
        throw std::runtime_error("cannot create a temporary directory '" + pattern +
                                 "': " + std::strerror(errno));
    return TempDir(pattern);
}

}  // namespace sluice::test
