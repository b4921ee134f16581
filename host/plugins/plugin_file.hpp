#pragma once
// Opening a plugin file for loading (docs/security.md). Every check runs on the open descriptor
// that is then loaded (dlopen of /proc/self/fd/N), so a file swapped between the check and the
// load is never what runs.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace sluice::plugins {

/// A plugin file, opened read-only and checked. Move-only; closes its descriptor.
/// Thread: any (one owner).
class OpenPluginFile {
  public:
    OpenPluginFile() = default;
    OpenPluginFile(int fd, std::filesystem::path real, dev_t device, ino_t inode, uint64_t size);
    OpenPluginFile(OpenPluginFile &&other) noexcept;
    OpenPluginFile &operator=(OpenPluginFile &&other) noexcept;
    OpenPluginFile(const OpenPluginFile &) = delete;
    OpenPluginFile &operator=(const OpenPluginFile &) = delete;
    ~OpenPluginFile();

    int fd() const { return fd_; }
    /// The file with symlinks resolved (always in the directory it was found in).
    const std::filesystem::path &real() const { return real_; }
    dev_t device() const { return device_; }
    ino_t inode() const { return inode_; }
    uint64_t size() const { return size_; }
    /// "/proc/self/fd/N": the name dlopen is given, which maps this descriptor's file.
    std::string proc_path() const;
    /// Gives up the descriptor without closing it.
    int release();

  private:
    int fd_ = -1;
    std::filesystem::path real_;
    dev_t device_ = 0;
    ino_t inode_ = 0;
    uint64_t size_ = 0;
};

/// Opens `file`, as found in its plugin directory, and checks it. Refused, with one PluginError
/// line each:
/// - a symlink that resolves outside the directory it is in (a link to a file beside it, such as
///   NAME.so -> NAME-1.2.so, is fine);
/// - anything but a regular file;
/// - the file, or its directory, writable by group or others;
/// - the file, or its directory, owned by another user than this process's effective user or
///   root.
/// The directory is checked through its own descriptor and the file is opened relative to it
/// with O_NOFOLLOW, so neither can be swapped for something else between the check and the open.
OpenPluginFile open_plugin_file(const std::string &name, const std::filesystem::path &file);

/// The same checks for a file the caller has open already (a staged copy it wrote): `fd` is
/// duplicated, not taken. `file` names it in errors.
OpenPluginFile adopt_plugin_file(const std::string &name, const std::filesystem::path &file,
                                 int fd);

/// Whether the file starts with an ELF header (read through the descriptor).
bool has_elf_magic(const OpenPluginFile &file);

/// Why an ELF file cannot be mapped safely, or empty. glibc maps PT_LOAD segments by their
/// header without checking the file's size, so a truncated library (a plain copy still in
/// progress) faults with SIGBUS inside dlopen instead of failing: check the layout first.
std::string elf_layout_problem(const OpenPluginFile &file);

}  // namespace sluice::plugins
