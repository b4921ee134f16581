#pragma once
// `sluice plugins DIR...`: what each plugin file in a directory is, and whether it would load;
// and the same check for the chain of `sluice run --validate`.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace sluice::plugins {

/// argv[0] is "plugins". Prints one line per .so (file, name, version, ABI, would load or why
/// not) to stdout. Exit code: 0 when every file would load, 1 when one would not, 2 on usage.
/// Thread: the main thread; loads each file (running its initialisers) and unloads it again.
int plugins_main(int argc, char **argv);

/// `sluice run --validate`: finds, loads and negotiates each plugin of `plugins` in `dirs`, as a
/// run would, without creating it, and checks its [plugin.NAME] settings against the keys it
/// declares. Returns one line per plugin that a run would refuse (missing, not loadable,
/// incompatible ABI, undeclared key), in chain order; empty when all would load.
/// Thread: the main thread; runs each library's initialisers and unloads it again.
std::vector<std::string> check_chain_plugins(
    const std::vector<std::filesystem::path> &dirs, const std::vector<std::string> &plugins,
    const std::map<std::string, std::map<std::string, std::string>> &plugin_config);

}  // namespace sluice::plugins
