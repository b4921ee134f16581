// `sluice wal inspect DIR [--blocks]`: the command line of wal::inspect_wal.
#include <iostream>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "wal/wal_inspect.hpp"

namespace sluice::app {

namespace {

constexpr const char *kUsage =
    "Usage: sluice wal inspect DIR [--blocks]\n"
    "\n"
    "Prints what a receiver-mode write-ahead log (the wal-dir of `sluice run --mode receiver`)\n"
    "holds: its segments, the blocks in them, the offsets they cover, and which blocks are\n"
    "pending replay (appended but never processed: the next start replays them first).\n"
    "Nothing is changed: a torn tail is reported, not cut (the next `sluice run` cuts it).\n"
    "\n"
    "  --blocks   list every block, not only the per-partition summary\n"
    "\n"
    "Exit status: 0 readable, 1 corrupt or unreadable, 2 usage error.\n";

}  // namespace

int wal_command(int argc, char **argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    bool list_blocks = false;
    std::string dir;
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::cout << kUsage;
        return args.empty() ? 2 : 0;
    }
    if (args[0] != "inspect") {
        std::cerr << "sluice wal: unknown subcommand '" << args[0]
                  << "'; the only one is `inspect` (see `sluice wal --help`)\n";
        return 2;
    }
    for (size_t i = 1; i < args.size(); ++i) {
        if (args[i] == "--blocks") {
            list_blocks = true;
        } else if (args[i] == "--help" || args[i] == "-h") {
            std::cout << kUsage;
            return 0;
        } else if (args[i].starts_with("-")) {
            std::cerr << "sluice wal inspect: unknown option '" << args[i]
                      << "' (see `sluice wal --help`)\n";
            return 2;
        } else if (dir.empty()) {
            dir = args[i];
        } else {
            std::cerr << "sluice wal inspect: one directory only (got '" << dir << "' and '"
                      << args[i] << "')\n";
            return 2;
        }
    }
    if (dir.empty()) {
        std::cerr << "sluice wal inspect: name the WAL directory: sluice wal inspect DIR\n";
        return 2;
    }
    return wal::inspect_wal(dir, list_blocks);
}

}  // namespace sluice::app
