#pragma once
// `sluice wal inspect`'s work (the command line: host/app/wal_command.cpp). Main thread.

#include <string>

namespace sluice::wal {

/// Prints to stdout what the WAL in `dir` holds: its segments, the blocks in them, the offsets
/// they cover and what is pending replay (every block too with `list_blocks`), without changing
/// anything; a torn tail is reported, not cut. Returns the exit code: 0 readable, 1 corrupt,
/// unreadable or not a directory (one line on stderr).
int inspect_wal(const std::string &dir, bool list_blocks);

}  // namespace sluice::wal
