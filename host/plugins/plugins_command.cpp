#include "plugins/plugins_command.hpp"

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

std::vector<std::string> check_chain_plugins(
    const std::vector<fs::path> &dirs, const std::vector<std::string> &plugins,
    const std::map<std::string, std::map<std::string, std::string>> &plugin_config) {
    // The loader's "loaded plugin" lines would mix into --validate's output.
    const auto level = spdlog::get_level();
    spdlog::set_level(spdlog::level::warn);
    std::vector<std::string> problems;
    const PluginLoader loader(dirs);
    for (const auto &name : plugins) {
        try {
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
    return problems;
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
