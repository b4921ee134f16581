#pragma once
// Finding, checking, loading and negotiating plugin libraries.

#include <sluice/sluice.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plugins/plugin_error.hpp"

namespace sluice::plugins {

/// One key a plugin declared for its [plugin.NAME] section (sluice_config_key_t, ABI 1.1),
/// copied out of the library.
struct DeclaredKey {
    std::string name;
    int32_t type = SLUICE_CONFIG_STRING;       // sluice_config_type_t
    std::optional<std::string> default_value;  // nullopt: no default
    std::string description;
};

/// "string", "int", "number", "bool", "path" (unknown values: "string").
const char *config_type_name(int32_t type);

/// A loaded and negotiated plugin library (one dlopen handle plus the host's copy of the
/// descriptor).
///
/// Lifecycle: made by PluginLoader, then shared (shared_ptr) by every PluginInstance created
/// from it. The library is dlclose'd only when the last reference is gone, so a hot reload can
/// keep an old generation running until its last instance is destroyed at a batch boundary.
/// Thread: immutable after loading; any thread may read it.
class PluginLibrary {
  public:
    PluginLibrary(const PluginLibrary &) = delete;
    PluginLibrary &operator=(const PluginLibrary &) = delete;
    ~PluginLibrary();

    /// The host's copy: min(struct_size, sizeof) bytes of the plugin's descriptor, the rest
    /// zero, so members past the plugin's struct_size read as absent. The strings and
    /// functions it points to live in the library.
    const sluice_plugin_t &descriptor() const { return descriptor_; }
    /// The name it was loaded by (the chain's name, not necessarily descriptor().name).
    const std::string &name() const { return name_; }
    /// The file actually loaded (symlinks resolved): under hot reload, a private staged copy.
    const std::filesystem::path &path() const { return path_; }
    /// The file the user deployed (as found in the plugin directory): what messages name.
    const std::filesystem::path &deployed_path() const { return deployed_path_; }
    /// The keys the plugin declares (ABI 1.1), or nullopt when it does not declare them.
    const std::optional<std::vector<DeclaredKey>> &config_keys() const { return config_keys_; }
    uint32_t abi_major() const { return descriptor_.abi_major; }
    uint32_t abi_minor() const { return descriptor_.abi_minor; }

  private:
    friend class PluginLoader;
    struct Handle;  // the Boost.DLL shared_library, kept out of this header

    PluginLibrary(std::string name, std::filesystem::path path, std::filesystem::path deployed_path,
                  std::unique_ptr<Handle> handle, const sluice_plugin_t &descriptor,
                  std::optional<std::vector<DeclaredKey>> config_keys);

    std::string name_;
    std::filesystem::path path_;
    std::filesystem::path deployed_path_;
    std::optional<std::vector<DeclaredKey>> config_keys_;
    std::unique_ptr<Handle> handle_;
    sluice_plugin_t descriptor_;
};

/// Loads plugins from a fixed list of directories.
///
/// Lifecycle: built once from the configuration; stateless afterwards (each load() is
/// independent). Thread: control thread, or a hot-reload loader thread (load() touches no
/// shared state besides the dynamic linker's own locking).
class PluginLoader {
  public:
    explicit PluginLoader(const std::vector<std::filesystem::path> &dirs);

    const std::vector<std::filesystem::path> &dirs() const { return dirs_; }

    /// NAME.so, then libNAME.so, in each directory in order. Throws PluginError listing the
    /// directories searched when none exists, or when NAME contains a path separator (plugins
    /// are loaded only from the configured directories).
    std::filesystem::path resolve(const std::string &name) const;

    /// resolve + security checks (open_plugin_file, plugin_file.hpp) + dlopen (RTLD_NOW |
    /// RTLD_LOCAL) of the checked descriptor's /proc/self/fd name + entry symbol + ABI
    /// negotiation + the declared config keys. Creates nothing. Throws PluginError.
    std::shared_ptr<PluginLibrary> load(const std::string &name) const;

    /// The same for an explicit file (hot reload stages new versions under unique names, as
    /// glibc would otherwise hand back the already-loaded library of the same path and inode).
    /// `deployed` is the file the user knows `file` as (a staged copy's original): errors and
    /// logs name it; empty = `file` itself. `fd` >= 0: an open descriptor of `file` (a staged
    /// copy the caller wrote and hashed), checked and loaded through a duplicate of it, so the
    /// bytes hashed are the bytes run.
    std::shared_ptr<PluginLibrary> load_file(const std::string &name,
                                             const std::filesystem::path &file,
                                             const std::filesystem::path &deployed = {},
                                             int fd = -1) const;

  private:
    std::vector<std::filesystem::path> dirs_;
};

/// The checks of open_plugin_file (plugin_file.hpp): loading a plugin runs its code in this
/// process. Throws PluginError. Returns the file with symlinks resolved.
std::filesystem::path check_plugin_file(const std::string &name, const std::filesystem::path &file);

/// Checks plugin `lib`'s [plugin.NAME] settings against the keys it declares: for a declaring
/// plugin, a key that is neither declared nor the host's is an error, with "did you mean".
/// Nothing for a plugin that does not declare its keys. Throws PluginError naming the deployed
/// file. Thread: any (reads only `lib`).
void check_plugin_config(const PluginLibrary &lib,
                         const std::map<std::string, std::string> &settings);

/// Where the bundled plugins are when no --plugin-dir is given: beside the running binary in a
/// build tree (bin/../plugin-dir), or under its install prefix (lib/sluice/plugins); empty
/// when neither exists.
std::vector<std::filesystem::path> default_plugin_dirs();

}  // namespace sluice::plugins
