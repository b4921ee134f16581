#include "plugins/plugin_loader.hpp"

#include <dlfcn.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/dll/shared_library.hpp>
#include <cstring>
#include <mutex>
#include <system_error>
#include <type_traits>

#include "config/error_policy.hpp"
#include "config/plugin_keys.hpp"
#include "plugins/plugin_file.hpp"

namespace sluice::plugins {

namespace fs = std::filesystem;

namespace {

// The descriptors whose /proc/self/fd/N name a library still resident after its last dlclose
// (one with STB_GNU_UNIQUE symbols, or loaded twice: glibc keeps the second name as an alias).
// glibc matches dlopen's name against loaded libraries before it opens anything, so a later
// file opened on the same number would be handed that old library: such a number stays taken
// until its library is gone.
std::mutex reserved_mutex;
std::vector<int> reserved_fds;

bool resident(int fd) {
    const std::string name = "/proc/self/fd/" + std::to_string(fd);
    void *h = ::dlopen(name.c_str(), RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
    if (h == nullptr) return false;
    ::dlclose(h);
    return true;
}

// After the dlclose of the library loaded through `fd`: closes `fd` and every reserved one
// whose library is gone, and keeps the others.
void release_fd(int fd) {
    std::lock_guard lock(reserved_mutex);
    reserved_fds.push_back(fd);
    std::erase_if(reserved_fds, [](int f) {
        if (resident(f)) return false;
        ::close(f);
        return true;
    });
}

}  // namespace

struct PluginLibrary::Handle {
    // Declared first, destroyed last: the library is unloaded before its name is given up.
    OpenPluginFile file;
    boost::dll::shared_library library;
    ~Handle() {
        library.unload();
        if (file.fd() >= 0) release_fd(file.release());
    }
};

PluginLibrary::PluginLibrary(std::string name, fs::path path, fs::path deployed_path,
                             std::unique_ptr<Handle> handle, const sluice_plugin_t &descriptor,
                             std::optional<std::vector<DeclaredKey>> config_keys)
    : name_(std::move(name)),
      path_(std::move(path)),
      deployed_path_(std::move(deployed_path)),
      config_keys_(std::move(config_keys)),
      handle_(std::move(handle)),
      descriptor_(descriptor) {}

PluginLibrary::~PluginLibrary() {
    spdlog::debug("unloading plugin '{}' ({}{})", name_, deployed_path_.string(),
                  path_ != deployed_path_ ? ", staged as " + path_.filename().string() : "");
    // handle_'s destructor dlclose()s the library: nothing may use descriptor_ after this.
}

namespace {

// The part of sluice_plugin_t every ABI 1.x plugin provides: through process_batch.
constexpr size_t kRequiredDescriptorSize =
    offsetof(sluice_plugin_t, process_batch) + sizeof(sluice_plugin_t::process_batch);
// struct_size, abi_major, abi_minor: enough to tell which ABI the rest follows.
constexpr size_t kDescriptorHeaderSize = offsetof(sluice_plugin_t, name);

// Copies the declared keys (ABI 1.1) out of the library, each read by its struct_size. Throws
// PluginError for a declaration the host cannot use.
std::optional<std::vector<DeclaredKey>> declared_keys(const std::string &name,
                                                      const std::string &where,
                                                      const sluice_plugin_t &d) {
    if (d.config_keys == nullptr) return std::nullopt;
    const size_t stride =
        d.config_key_stride != 0 ? d.config_key_stride : sizeof(sluice_config_key_t);
    std::vector<DeclaredKey> keys;
    const auto *base = reinterpret_cast<const unsigned char *>(d.config_keys);
    for (size_t i = 0; i < d.config_key_count; ++i) {
        const unsigned char *p = base + i * stride;
        sluice_config_key_t k{};
        uint32_t size = 0;
        std::memcpy(&size, p, sizeof size);
        std::memcpy(&k, p, std::min<size_t>(size, sizeof k));
        if (size < offsetof(sluice_config_key_t, name) + sizeof k.name || k.name == nullptr ||
            *k.name == '\0')
            throw plugin_error(name, where,
                               "its declared config key #" + std::to_string(i + 1) + " has no name",
                               "fix config_keys in the plugin and rebuild it");
        if (config::is_error_policy_key(k.name))
            throw plugin_error(name, where,
                               std::string("it declares the config key '") + k.name +
                                   "', which is the host's own (error policy, isolation)",
                               "rename the plugin's key and rebuild it");
        DeclaredKey key;
        key.name = k.name;
        key.type = k.type;
        if (k.default_value != nullptr) key.default_value = k.default_value;
        if (k.description != nullptr) key.description = k.description;
        keys.push_back(std::move(key));
    }
    return keys;
}

std::string version_string(uint32_t major, uint32_t minor) {
    return std::to_string(major) + "." + std::to_string(minor);
}

std::string join_dirs(const std::vector<fs::path> &dirs) {
    if (dirs.empty()) return "no plugin directories configured";
    std::string out;
    for (const auto &d : dirs) {
        if (!out.empty()) out += ", ";
        out += d.string();
    }
    return out;
}

// Boost.DLL clears dlerror() and reports only "bad file descriptor"; ask the dynamic linker
// itself for the reason (e.g. a missing dependency or an undefined symbol), with the file's
// name for the /proc/self/fd name it was given.
std::string dlopen_reason(const OpenPluginFile &file, const std::string &shown) {
    const std::string proc = file.proc_path();
    dlerror();
    void *h = dlopen(proc.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h != nullptr) {
        dlclose(h);
        return "the dynamic linker failed to open it";
    }
    const char *error = dlerror();
    std::string reason = error != nullptr ? error : "unknown dlopen error";
    for (size_t at = reason.find(proc); at != std::string::npos; at = reason.find(proc, at)) {
        reason.replace(at, proc.size(), shown);
        at += shown.size();
    }
    return reason;
}

}  // namespace

fs::path check_plugin_file(const std::string &name, const fs::path &file) {
    return open_plugin_file(name, file).real();
}

PluginLoader::PluginLoader(const std::vector<fs::path> &dirs) {
    dirs_.reserve(dirs.size());
    // Absolute, so dlopen never searches LD_LIBRARY_PATH or the system folders.
    for (auto &d : dirs) dirs_.push_back(fs::absolute(d).lexically_normal());
}

fs::path PluginLoader::resolve(const std::string &name) const {
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
        throw plugin_error(name, join_dirs(dirs_), "a plugin name may not be empty or contain '/'",
                           "give the bare name (e.g. file-sink) and its directory with "
                           "--plugin-dir");
    }
    for (const auto &dir : dirs_) {
        for (const std::string &file_name : {name + ".so", "lib" + name + ".so"}) {
            fs::path candidate = dir / file_name;
            std::error_code ec;
            if (fs::exists(fs::symlink_status(candidate, ec))) return candidate;
        }
    }
    throw plugin_error(name, "searched " + join_dirs(dirs_),
                       "no " + name + ".so or lib" + name + ".so found",
                       "build it into one of these directories or add its directory with "
                       "--plugin-dir");
}

std::shared_ptr<PluginLibrary> PluginLoader::load(const std::string &name) const {
    return load_file(name, resolve(name));
}

std::shared_ptr<PluginLibrary> PluginLoader::load_file(const std::string &name,
                                                       const fs::path &file,
                                                       const fs::path &deployed, int fd) const {
    // Checked and loaded through one descriptor: what the checks saw is what dlopen maps.
    auto handle = std::make_unique<PluginLibrary::Handle>();
    handle->file = fd >= 0 ? adopt_plugin_file(name, file, fd) : open_plugin_file(name, file);
    const fs::path real = handle->file.real();
    const fs::path shown = deployed.empty() ? file : deployed;
    const std::string where = shown.string();
    if (!has_elf_magic(handle->file)) {
        throw plugin_error(name, where, "is not a shared library (no ELF header)",
                           "rebuild the plugin or remove the file from the plugin directory");
    }

    if (std::string problem = elf_layout_problem(handle->file); !problem.empty()) {
        throw plugin_error(name, where, "is truncated or corrupt (" + problem + ")",
                           "rebuild it, and deploy by copying to a temporary name and renaming "
                           "over the old file");
    }

    boost::dll::fs::error_code ec;
    handle->library.load(handle->file.proc_path(),
                         boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
    if (ec || !handle->library.is_loaded()) {
        throw plugin_error(name, where, "cannot be loaded: " + dlopen_reason(handle->file, where),
                           "check its dependencies with ldd and rebuild it against this SDK");
    }
    if (!handle->library.has(SLUICE_PLUGIN_ENTRY_SYMBOL)) {
        throw plugin_error(name, where,
                           std::string("exports no ") + SLUICE_PLUGIN_ENTRY_SYMBOL +
                               " symbol, so it is not a Sluice plugin",
                           "in C++ add one SLUICE_PLUGIN(Class, \"name\", \"version\", "
                           "\"description\", flags) line (sluice/plugin.hpp), in C export "
                           "sluice_plugin_entry with SLUICE_EXPORT, and build it with "
                           "sluice_add_plugin");
    }
    auto &entry = handle->library.get<std::remove_pointer_t<sluice_plugin_entry_fn>>(
        SLUICE_PLUGIN_ENTRY_SYMBOL);

    const std::string host_version = version_string(SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR);
    const sluice_plugin_t *offered = entry(SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR);
    if (offered == nullptr) {
        throw plugin_error(name, where,
                           "the plugin refused this host (its entry returned no descriptor for "
                           "Sluice ABI " +
                               host_version + ")",
                           "use a build of the plugin that supports ABI " + host_version);
    }
    if (offered->struct_size < kDescriptorHeaderSize) {
        throw plugin_error(name, where,
                           "its descriptor has struct_size " +
                               std::to_string(offered->struct_size) +
                               ", too small to hold an "
                               "ABI version",
                           "rebuild the plugin against this SDK");
    }
    const std::string plugin_version = version_string(offered->abi_major, offered->abi_minor);
    if (offered->abi_major != SLUICE_ABI_MAJOR) {
        throw plugin_error(
            name, where,
            "built for Sluice ABI " + plugin_version + ", this host speaks " + host_version,
            "rebuild the plugin against this SDK");
    }
    if (offered->abi_minor > SLUICE_ABI_MINOR) {
        throw plugin_error(
            name, where,
            "built for Sluice ABI " + plugin_version + ", this host speaks " + host_version,
            "use a newer sluice host or rebuild the plugin against this SDK");
    }
    if (offered->struct_size < kRequiredDescriptorSize) {
        throw plugin_error(name, where,
                           "its descriptor has struct_size " +
                               std::to_string(offered->struct_size) + ", less than the " +
                               std::to_string(kRequiredDescriptorSize) + " bytes ABI 1.0 requires",
                           "rebuild the plugin against this SDK");
    }
    sluice_plugin_t descriptor{};
    std::memcpy(&descriptor, offered, std::min<size_t>(offered->struct_size, sizeof descriptor));

    std::string missing;
    if (descriptor.create == nullptr) missing += " create";
    if (descriptor.destroy == nullptr) missing += " destroy";
    if (descriptor.process_batch == nullptr) missing += " process_batch";
    if (!missing.empty()) {
        throw plugin_error(name, where, "its descriptor lacks required functions:" + missing,
                           "implement them (create, destroy and process_batch are required)");
    }

    auto keys = declared_keys(name, where, descriptor);

    spdlog::info("loaded plugin '{}' ({} {}, ABI {}) from {}{}", name,
                 descriptor.name != nullptr ? descriptor.name : "?",
                 descriptor.version != nullptr ? descriptor.version : "?", plugin_version, where,
                 deployed.empty() ? "" : " (staged copy " + file.filename().string() + ")");
    return std::shared_ptr<PluginLibrary>(
        new PluginLibrary(name, real, shown, std::move(handle), descriptor, std::move(keys)));
}

const char *config_type_name(int32_t type) {
    switch (type) {
        case SLUICE_CONFIG_INT:
            return "int";
        case SLUICE_CONFIG_NUMBER:
            return "number";
        case SLUICE_CONFIG_BOOL:
            return "bool";
        case SLUICE_CONFIG_PATH:
            return "path";
        default:
            return "string";
    }
}

void check_plugin_config(const PluginLibrary &lib,
                         const std::map<std::string, std::string> &settings) {
    const auto &keys = lib.config_keys();
    if (!keys) return;
    std::vector<std::string> names;
    for (const auto &k : *keys) names.push_back(k.name);
    const std::string problem = config::undeclared_key_problem(lib.name(), settings, names);
    if (problem.empty()) return;
    std::string list;
    for (const auto &n : names) list += (list.empty() ? "" : ", ") + n;
    throw plugin_error(lib.name(), lib.deployed_path().string(), problem,
                       names.empty() ? std::string("it takes no settings: remove the key")
                                     : "its keys are " + list +
                                           " (sluice plugins DIR describes them): correct or "
                                           "remove the key");
}

std::vector<fs::path> default_plugin_dirs() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    const fs::path prefix = exe.parent_path().parent_path();
    for (const fs::path &candidate : {prefix / "plugin-dir", prefix / "lib" / "sluice" / "plugins"})
        if (fs::is_directory(candidate, ec)) return {candidate};
    return {};
}

}  // namespace sluice::plugins
