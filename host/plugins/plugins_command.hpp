#pragma once
// What `sluice plugins DIR...` reports (each plugin file of a directory, and whether it would
// load) and the same check for the chain of `sluice run --validate`.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace sluice::plugins {

/// `sluice plugins DIR...`'s work (the command line: host/app/plugins_command.cpp). Prints one
/// line per .so of each dir (file, name, version, ABI, would load or why not) to stdout. Exit
/// code: 0 when every file would load, 1 when one would not, 2 when a dir is not a directory.
/// Thread: the main thread; loads each file (running its initialisers) and unloads it again.
int list_plugins(const std::vector<std::filesystem::path> &dirs);

/// `sluice run --validate`: finds, loads and negotiates each plugin of `plugins` in `dirs`, as a
/// run would, without creating it, and checks its [plugin.NAME] settings against the keys it
/// declares. Returns one line per plugin that a run would refuse (missing, not loadable,
/// incompatible ABI, undeclared key), in chain order; empty when all would load.
/// Thread: the main thread; runs each library's initialisers and unloads it again.
std::vector<std::string> check_chain_plugins(
    const std::vector<std::filesystem::path> &dirs, const std::vector<std::string> &plugins,
    const std::map<std::string, std::map<std::string, std::string>> &plugin_config);

}  // namespace sluice::plugins
