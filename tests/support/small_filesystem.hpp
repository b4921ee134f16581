#pragma once
// A small real filesystem for the full-disk tests: a tmpfs mounted by the test (needs
// CAP_SYS_ADMIN: CI runs as root; mounted() says whether it worked, why_not() why not).

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

namespace sluice::test {

/// A tmpfs of `bytes` mounted on a fresh directory, unmounted at the end; fill() takes every
/// page left, release() gives them back.
class SmallFilesystem {
  public:
    SmallFilesystem(const std::string &where, size_t bytes) : path_(where) {
        std::filesystem::create_directories(path_);
        const std::string options = "size=" + std::to_string(bytes) + ",mode=0700";
        if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, options.c_str()) == 0)
            mounted_ = true;
        else
            why_ = std::string("mount -t tmpfs: ") + std::strerror(errno);
    }
    ~SmallFilesystem() {
        if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
    }
    SmallFilesystem(const SmallFilesystem &) = delete;
    SmallFilesystem &operator=(const SmallFilesystem &) = delete;

    bool mounted() const { return mounted_; }
    const std::string &why_not() const { return why_; }
    std::string file(const std::string &name) const { return path_ + "/" + name; }

    /// Writes a filler file until the filesystem says ENOSPC. Returns the bytes it took.
    size_t fill() {
        const int fd = ::open(file("filler").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd < 0) return 0;
        const std::string chunk(4096, 'x');
        size_t taken = 0;
        for (;;) {
            const ssize_t n = ::write(fd, chunk.data(), chunk.size());
            if (n <= 0) break;
            taken += static_cast<size_t>(n);
        }
        ::close(fd);
        return taken;
    }
    void release() { std::filesystem::remove(file("filler")); }

  private:
    std::string path_;
    bool mounted_ = false;
    std::string why_;
};

}  // namespace sluice::test
