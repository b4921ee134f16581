#pragma once
// The worker side of `isolation = process`: what `sluice plugin-worker` runs.

namespace sluice::isolation {

/// File descriptors the host hands a worker (everything else is closed before exec).
constexpr int kWorkerSocketFd = 3;  // control messages (wire.hpp)
constexpr int kWorkerInputFd = 4;   // memfd: the batches the host lays out
constexpr int kWorkerOutputFd = 5;  // memfd: the records the plugin emits

/// Serves one plugin instance over the socket until the host closes it: loads the plugin
/// through the ordinary loader and negotiation, creates it with the host's config, and runs
/// each call the host sends. Sets no_new_privs, closes every other descriptor above stderr,
/// applies the memory limit (RLIMIT_AS). Returns the process exit code.
int run_plugin_worker();

}  // namespace sluice::isolation
