#pragma once
// `sluice plugins DIR...`: what each plugin file in a directory is, and whether it would load.

namespace sluice::plugins {

/// argv[0] is "plugins". Prints one line per .so (file, name, version, ABI, would load or why
/// not) to stdout. Exit code: 0 when every file would load, 1 when one would not, 2 on usage.
/// Thread: the main thread; loads each file (running its initialisers) and unloads it again.
int plugins_main(int argc, char **argv);

}  // namespace sluice::plugins
