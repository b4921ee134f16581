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

/// What `sluice run --validate` found of the chain's plugins.
struct ChainCheck {
    std::vector<std::string> problems;  // one line per plugin a run would refuse
    std::vector<std::string> notes;     // what a run would warn about but do anyway
};

/// `sluice run --validate`: finds, loads and negotiates each plugin of `plugins` in `dirs`, as a
/// run would, without creating it, and checks its [plugin.NAME] settings against the keys it
/// declares. Problems: one line per plugin that a run would refuse (missing, not loadable,
/// incompatible ABI, undeclared key), in chain order. With hot reload on and a state directory
/// (`state_dir`, see default_state_dir), a deployed file that an earlier run refused while a
/// good copy is kept is a note instead: the run serves the kept copy, with a warning.
/// Thread: the main thread; runs each library's initialisers and unloads it again.
ChainCheck check_chain_plugins(
    const std::vector<std::filesystem::path> &dirs, const std::vector<std::string> &plugins,
    const std::map<std::string, std::map<std::string, std::string>> &plugin_config,
    const std::filesystem::path &state_dir = {});

}  // namespace sluice::plugins
