// `sluice plugins DIR...`: the command line of plugins::list_plugins.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "app/commands.hpp"
#include "plugins/plugins_command.hpp"

namespace sluice::app {

namespace {

constexpr const char *kUsage =
    "Usage: sluice plugins DIR [DIR...]\n"
    "\n"
    "Lists every .so file in each DIR with its plugin name, version and ABI version, and\n"
    "whether this sluice would load it (the same checks as `sluice run`: file and directory\n"
    "permissions, ELF layout, dlopen, entry symbol, ABI negotiation); if not, why. Below a\n"
    "plugin that declares its [plugin.NAME] keys: each key, its type, default and meaning.\n"
    "Loading a file runs its initialisers: list only directories you would load from.\n"
    "Exit code: 0 if every file would load, 1 if one would not, 2 on a usage error.\n";

}  // namespace

int plugins_command(int argc, char **argv) {
    std::vector<std::filesystem::path> dirs;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
            std::fputs(kUsage, stdout);
            return 0;
        }
        dirs.emplace_back(argv[i]);
    }
    if (dirs.empty()) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    return plugins::list_plugins(dirs);
}

}  // namespace sluice::app
