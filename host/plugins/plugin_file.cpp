#include "plugins/plugin_file.hpp"

#include <elf.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>
#include <vector>

#include "plugins/plugin_error.hpp"

namespace sluice::plugins {

namespace fs = std::filesystem;

OpenPluginFile::OpenPluginFile(int fd, fs::path real, dev_t device, ino_t inode, uint64_t size)
    : fd_(fd), real_(std::move(real)), device_(device), inode_(inode), size_(size) {}

OpenPluginFile::OpenPluginFile(OpenPluginFile &&other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      real_(std::move(other.real_)),
      device_(other.device_),
      inode_(other.inode_),
      size_(other.size_) {}

OpenPluginFile &OpenPluginFile::operator=(OpenPluginFile &&other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
        real_ = std::move(other.real_);
        device_ = other.device_;
        inode_ = other.inode_;
        size_ = other.size_;
    }
    return *this;
}

OpenPluginFile::~OpenPluginFile() {
    if (fd_ >= 0) ::close(fd_);
}

std::string OpenPluginFile::proc_path() const {
    return "/proc/self/fd/" + std::to_string(fd_);
}

int OpenPluginFile::release() {
    return std::exchange(fd_, -1);
}

namespace {

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

std::string errno_text(int err) {
    return std::error_code(err, std::generic_category()).message();
}

std::string user_text(uid_t uid) {
    std::string text = "uid " + std::to_string(uid);
    passwd pw{};
    passwd *found = nullptr;
    std::vector<char> buf(4096);
    if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr)
        text += " (" + std::string(found->pw_name) + ")";
    return text;
}

// `what` is "the file" or "its directory DIR"; `path` goes into the way out.
void check_owner_and_mode(const std::string &name, const fs::path &file, const struct stat &st,
                          const std::string &what, const fs::path &path) {
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        throw plugin_error(name, file.string(),
                           what +
                               " is writable by group or others, so another user could replace "
                               "the code this host runs",
                           "run chmod go-w " + path.string());
    }
    const uid_t me = ::geteuid();
    if (st.st_uid != me && st.st_uid != 0) {
        throw plugin_error(name, file.string(),
                           what + " is owned by " + user_text(st.st_uid) +
                               ", neither the user this host runs as (" + user_text(me) +
                               ") nor root, so that user could replace the code this host runs",
                           "give it to the user that runs sluice or to root (chown " +
                               std::to_string(me) + " " + path.string() + ")");
    }
}

// The checks on the open file itself.
OpenPluginFile checked(const std::string &name, const fs::path &shown, fs::path real, int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        throw plugin_error(name, shown.string(), "cannot inspect the file: " + errno_text(err),
                           "check the file's permissions");
    }
    OpenPluginFile file(fd, std::move(real), st.st_dev, st.st_ino,
                        static_cast<uint64_t>(st.st_size));
    if (!S_ISREG(st.st_mode)) {
        throw plugin_error(
            name, shown.string(),
            "is not a regular file" + (file.real() != shown
                                           ? " (it resolves to " + file.real().string() + ")"
                                           : std::string()),
            "point the plugin name at a .so file");
    }
    check_owner_and_mode(name, shown, st, "the file", file.real());
    return file;
}

// Opens and checks the directory `dir` of `file`. Returns its descriptor.
int open_directory(const std::string &name, const fs::path &file, const fs::path &dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT)
            throw plugin_error(name, file.string(), "the file does not exist",
                               "build the plugin or correct its path");
        throw plugin_error(name, file.string(),
                           "cannot inspect its directory " + dir.string() + ": " + errno_text(err),
                           "check that the directory exists and is readable");
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        throw plugin_error(name, file.string(),
                           "cannot inspect its directory " + dir.string() + ": " + errno_text(err),
                           "check that the directory exists and is readable");
    }
    try {
        check_owner_and_mode(name, file, st, "its directory " + dir.string(), dir);
    } catch (...) {
        ::close(fd);
        throw;
    }
    return fd;
}

}  // namespace

OpenPluginFile open_plugin_file(const std::string &name, const fs::path &file) {
    const fs::path abs = fs::absolute(file).lexically_normal();
    const fs::path dir = abs.parent_path();
    Fd dir_fd{open_directory(name, file, dir)};

    std::string leaf = abs.filename().string();
    std::error_code ec;
    fs::path real_dir = fs::canonical(dir, ec);
    if (ec) real_dir = dir;
    fs::path real = real_dir / leaf;
    struct stat link_st {};
    if (::fstatat(dir_fd.fd, leaf.c_str(), &link_st, AT_SYMLINK_NOFOLLOW) != 0) {
        throw plugin_error(name, file.string(), "the file does not exist",
                           "build the plugin or correct its path");
    }
    if (S_ISLNK(link_st.st_mode)) {
        // Followed only to a file in the same directory, which the checks above cover; a link
        // out of it would load code from a place nobody checked.
        real = fs::canonical(abs, ec);
        if (ec) {
            throw plugin_error(name, file.string(), "cannot resolve the symlink: " + ec.message(),
                               "fix or remove the dangling symlink");
        }
        if (real.parent_path() != real_dir) {
            throw plugin_error(name, file.string(),
                               "it is a symlink to " + real.string() +
                                   ", outside its plugin directory " + dir.string() +
                                   " (a symlink may only point at a file beside it)",
                               "copy the library into " + dir.string() + " (install -m 0755 FILE " +
                                   dir.string() + "/) or add its own directory with --plugin-dir");
        }
        leaf = real.filename().string();
    }
    // O_NOFOLLOW: a name swapped for a symlink since the check above fails here. O_NONBLOCK: a
    // FIFO put there does not block the open (it is refused as not a regular file).
    const int fd =
        ::openat(dir_fd.fd, leaf.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        const int err = errno;
        if (err == ELOOP)
            throw plugin_error(name, file.string(),
                               "it was replaced by a symlink while being checked",
                               "deploy the library by renaming a file into place and retry");
        throw plugin_error(name, file.string(), "cannot open it: " + errno_text(err),
                           "check the file's permissions");
    }
    return checked(name, file, real, fd);
}

OpenPluginFile adopt_plugin_file(const std::string &name, const fs::path &file, int fd) {
    const fs::path abs = fs::absolute(file).lexically_normal();
    Fd dir_fd{open_directory(name, file, abs.parent_path())};
    const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) {
        throw plugin_error(name, file.string(),
                           "cannot duplicate its descriptor: " + errno_text(errno),
                           "raise the open-files limit (ulimit -n)");
    }
    return checked(name, file, abs, dup);
}

namespace {

bool read_at(int fd, void *buf, size_t len, uint64_t offset) {
    auto *p = static_cast<char *>(buf);
    while (len > 0) {
        const ssize_t n = ::pread(fd, p, len, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= static_cast<size_t>(n);
        offset += static_cast<uint64_t>(n);
    }
    return true;
}

}  // namespace

bool has_elf_magic(const OpenPluginFile &file) {
    char magic[4] = {};
    return read_at(file.fd(), magic, sizeof magic, 0) && std::memcmp(magic,
                                                                     "\x7f"
                                                                     "ELF",
                                                                     4) == 0;
}

std::string elf_layout_problem(const OpenPluginFile &file) {
    const uint64_t size = file.size();
    Elf64_Ehdr eh{};
    if (!read_at(file.fd(), &eh, sizeof eh, 0) || eh.e_ident[EI_CLASS] != ELFCLASS64)
        return "it is not a complete 64-bit ELF file";
    auto beyond = [&](uint64_t offset, uint64_t len) {
        return offset > size || len > size - offset;
    };
    if (eh.e_phentsize != sizeof(Elf64_Phdr) ||
        beyond(eh.e_phoff, uint64_t{eh.e_phnum} * eh.e_phentsize))
        return "its program headers lie beyond the end of the file";
    if (eh.e_shnum != 0 && beyond(eh.e_shoff, uint64_t{eh.e_shnum} * eh.e_shentsize))
        return "its section headers lie beyond the end of the file";
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph{};
        if (!read_at(file.fd(), &ph, sizeof ph, eh.e_phoff + uint64_t{i} * sizeof ph))
            return "its program headers cannot be read";
        if (ph.p_type == PT_LOAD && beyond(ph.p_offset, ph.p_filesz))
            return "a loadable segment lies beyond the end of the file";
    }
    return {};
}

}  // namespace sluice::plugins
