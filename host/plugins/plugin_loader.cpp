#include "plugins/plugin_loader.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/dll/shared_library.hpp>
#include <cstring>
#include <fstream>
#include <system_error>
#include <type_traits>

#include "config/error_policy.hpp"
#include "config/plugin_keys.hpp"

namespace sluice::plugins {

namespace fs = std::filesystem;

struct PluginLibrary::Handle {
    boost::dll::shared_library library;
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

bool writable_by_group_or_others(fs::perms p) {
    return (p & (fs::perms::group_write | fs::perms::others_write)) != fs::perms::none;
}

void check_directory(const std::string &name, const fs::path &file, const fs::path &dir) {
    std::error_code ec;
    fs::file_status st = fs::status(dir, ec);
    if (ec) {
        throw plugin_error(name, file.string(),
                           "cannot inspect its directory " + dir.string() + ": " + ec.message(),
                           "check that the directory exists and is readable");
    }
    if (writable_by_group_or_others(st.permissions())) {
        throw plugin_error(name, file.string(),
                           "its directory " + dir.string() +
                               " is writable by group or others, so another user could put code "
                               "into this host",
                           "run chmod go-w " + dir.string());
    }
}

bool has_elf_magic(const fs::path &file) {
    std::ifstream in(file, std::ios::binary);
    char magic[4] = {};
    in.read(magic, sizeof magic);
    return in.gcount() == 4 && std::memcmp(magic,
                                           "\x7f"
                                           "ELF",
                                           4) == 0;
}

// Why a file with an ELF header cannot be mapped safely, or empty. glibc maps PT_LOAD segments
// by their header without checking the file's size, so a truncated library (a plain copy still
// in progress) faults with SIGBUS inside dlopen instead of failing: check the layout first.
std::string elf_layout_problem(const fs::path &file) {
    std::ifstream in(file, std::ios::binary);
    Elf64_Ehdr eh{};
    in.read(reinterpret_cast<char *>(&eh), sizeof eh);
    std::error_code ec;
    const uint64_t size = fs::file_size(file, ec);
    if (ec) return "cannot read its size: " + ec.message();
    if (in.gcount() != sizeof eh || eh.e_ident[EI_CLASS] != ELFCLASS64)
        return "it is not a complete 64-bit ELF file";
    auto beyond = [&](uint64_t offset, uint64_t len) {
        return offset > size || len > size - offset;
    };
    if (eh.e_phentsize != sizeof(Elf64_Phdr) ||
        beyond(eh.e_phoff, uint64_t{eh.e_phnum} * eh.e_phentsize))
        return "its program headers lie beyond the end of the file";
    if (eh.e_shnum != 0 && beyond(eh.e_shoff, uint64_t{eh.e_shnum} * eh.e_shentsize))
        return "its section headers lie beyond the end of the file";
    in.seekg(static_cast<std::streamoff>(eh.e_phoff));
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph{};
        in.read(reinterpret_cast<char *>(&ph), sizeof ph);
        if (in.gcount() != sizeof ph) return "its program headers cannot be read";
        if (ph.p_type == PT_LOAD && beyond(ph.p_offset, ph.p_filesz))
            return "a loadable segment lies beyond the end of the file";
    }
    return {};
}

// Boost.DLL clears dlerror() and reports only "bad file descriptor"; ask the dynamic linker
// itself for the reason (e.g. a missing dependency or an undefined symbol).
std::string dlopen_reason(const fs::path &file) {
    dlerror();
    void *h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h != nullptr) {
        dlclose(h);
        return "the dynamic linker failed to open it";
    }
    const char *reason = dlerror();
    return reason != nullptr ? reason : "unknown dlopen error";
}

}  // namespace

fs::path check_plugin_file(const std::string &name, const fs::path &file) {
    std::error_code ec;
    fs::file_status link_st = fs::symlink_status(file, ec);
    if (ec || !fs::exists(link_st)) {
        throw plugin_error(name, file.string(), "the file does not exist",
                           "build the plugin or correct its path");
    }
    fs::path real = fs::canonical(file, ec);
    if (ec) {
        throw plugin_error(name, file.string(), "cannot resolve the path: " + ec.message(),
                           "fix or remove the dangling symlink");
    }
    fs::file_status st = fs::status(real, ec);
    if (ec || !fs::is_regular_file(st)) {
        throw plugin_error(
            name, file.string(),
            "is not a regular file" +
                (real != file ? " (it resolves to " + real.string() + ")" : std::string()),
            "point the plugin name at a .so file");
    }
    if (writable_by_group_or_others(st.permissions())) {
        throw plugin_error(name, file.string(),
                           "the file is writable by group or others, so another user could "
                           "replace the code this host runs",
                           "run chmod go-w " + real.string());
    }
    // Both the directory it was found in and, behind a symlink, the one it really lives in:
    // whoever can write either can swap the code.
    fs::path found_in = fs::absolute(file).parent_path();
    check_directory(name, file, found_in);
    if (real.parent_path() != found_in) check_directory(name, file, real.parent_path());
    return real;
}

PluginLoader::PluginLoader(std::vector<fs::path> dirs) {
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
                                                       const fs::path &deployed) const {
    const fs::path real = check_plugin_file(name, file);
    const fs::path shown = deployed.empty() ? file : deployed;
    const std::string where = shown.string();
    if (!has_elf_magic(real)) {
        throw plugin_error(name, where, "is not a shared library (no ELF header)",
                           "rebuild the plugin or remove the file from the plugin directory");
    }

    if (std::string problem = elf_layout_problem(real); !problem.empty()) {
        throw plugin_error(name, where, "is truncated or corrupt (" + problem + ")",
                           "rebuild it, and deploy by copying to a temporary name and renaming "
                           "over the old file");
    }

    auto handle = std::make_unique<PluginLibrary::Handle>();
    boost::dll::fs::error_code ec;
    handle->library.load(real, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local,
                         ec);
    if (ec || !handle->library.is_loaded()) {
        throw plugin_error(name, where, "cannot be loaded: " + dlopen_reason(real),
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
