#include "plugins/plugins_command.hpp"
#include <fstream>
#include "plugins/plugin_state_store.hpp"
#include "plugins/sha256.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_loader.hpp"

namespace sluice::plugins {

namespace {

namespace fs = std::filesystem;

/// NAME as `--plugin NAME` would find the file: foo.so and libfoo.so are both "foo".
std::string plugin_name(const fs::path &file) {
    std::string stem = file.stem().string();
    if (stem.rfind("lib", 0) == 0 && stem.size() > 3) stem.erase(0, 3);
    return stem;
}

/// "    top (int, default 10): how many words to print", one per declared key.
void print_keys(const PluginLibrary &lib) {
    const auto &keys = lib.config_keys();
    if (!keys) return;
    if (keys->empty())
        std::printf("      keys: none (it takes no [plugin.%s] settings)\n", lib.name().c_str());
    for (const auto &k : *keys) {
        std::printf("      %s (%s%s%s)%s%s\n", k.name.c_str(), config_type_name(k.type),
                    k.default_value ? ", default " : "",
                    k.default_value ? k.default_value->c_str() : "",
                    k.description.empty() ? "" : ": ", k.description.c_str());
    }
}

}  // namespace

namespace {

/// The refused record of `name`'s deployed file, when an earlier run refused that very file
/// and keeps a good copy to serve instead (what PluginReloader does at start).
std::optional<std::string> served_instead(const PluginLoader &loader, const std::string &name,
                                          const fs::path &state_dir) {
    if (state_dir.empty()) return std::nullopt;
    std::error_code ec;
    const fs::path deployed = loader.resolve(name);
    std::ifstream in(deployed, std::ios::binary);
    if (!in) return std::nullopt;
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string sha256 = sha256_hex(bytes);
    const PluginStateStore store(state_dir);
    const auto record = store.read(name);
    if (!record) return std::nullopt;
    const RefusedFile *refused = record->find_refused(sha256);
    if (!refused || !record->good || record->good->sha256 == sha256 ||
        !fs::exists(store.good_copy(name), ec))
        return std::nullopt;
    return "plugin '" + name + "': " + deployed.string() + " (sha256 " + sha256 + ") was " +
           (refused->result == "rolled_back" ? "rolled back" : refused->result) +
           " by an earlier run (" + refused->reason + "); a run serves the kept copy " +
           store.good_copy(name).string() + " (version " + record->good->version +
           ") instead, with a warning, until a new version is deployed";
}

}  // namespace

ChainCheck check_chain_plugins(
    const std::vector<fs::path> &dirs, const std::vector<std::string> &plugins,
    const std::map<std::string, std::map<std::string, std::string>> &plugin_config,
    const fs::path &state_dir) {
    // The loader's "loaded plugin" lines would mix into --validate's output.
    const auto level = spdlog::get_level();
    spdlog::set_level(spdlog::level::warn);
    ChainCheck check;
    std::vector<std::string> &problems = check.problems;
    const PluginLoader loader(dirs);
    for (const auto &name : plugins) {
        try {
            if (auto note = served_instead(loader, name, state_dir)) {
                check.notes.push_back(*note);
                continue;
            }
            auto lib = loader.load(name);
            auto it = plugin_config.find(name);
            check_plugin_config(*lib, it == plugin_config.end()
                                          ? std::map<std::string, std::string>{}
                                          : it->second);
        } catch (const std::exception &e) {
            problems.emplace_back(e.what());
        }
    }
    spdlog::set_level(level);
    return check;
}

int list_plugins(const std::vector<fs::path> &dirs) {
    // The loader's own "loaded plugin" lines would repeat what the table says.
    const auto level = spdlog::get_level();
    spdlog::set_level(spdlog::level::warn);

    int exit_code = 0;
    for (const auto &dir : dirs) {
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) {
            std::fprintf(stderr,
                         "sluice plugins: '%s' is not a directory: give the directory the .so "
                         "files are in\n",
                         dir.c_str());
            exit_code = 2;
            continue;
        }
        std::vector<fs::path> files;
        for (const auto &entry : fs::directory_iterator(dir, ec))
            if (entry.path().extension() == ".so") files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        std::printf("%s: %zu plugin file%s\n", dir.c_str(), files.size(),
                    files.size() == 1 ? "" : "s");
        PluginLoader loader({dir});
        for (const auto &file : files) {
            const std::string name = plugin_name(file);
            try {
                auto lib = loader.load_file(name, file);
                const auto &d = lib->descriptor();
                std::printf("  %-28s name=%s version=%s abi=%u.%u loads=yes%s%s\n",
                            file.filename().c_str(), d.name != nullptr ? d.name : "?",
                            d.version != nullptr ? d.version : "?", lib->abi_major(),
                            lib->abi_minor(),
                            (d.flags & SLUICE_PLUGIN_TRANSFORM) ? " transform" : "",
                            lib->descriptor().snapshot_state && lib->descriptor().restore_state
                                ? " state-hand-over"
                                : "");
                print_keys(*lib);
            } catch (const std::exception &e) {
                std::printf("  %-28s loads=no: %s\n", file.filename().c_str(), e.what());
                if (exit_code == 0) exit_code = 1;
            }
        }
    }
    spdlog::set_level(level);
    return exit_code;
}

}  // namespace sluice::plugins
