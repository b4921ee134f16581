// sluice plugin-worker: the worker process of a plugin with `isolation = process`. Hidden: the
// host starts it with its socket and shared-memory descriptors as fds 3, 4 and 5
// (host/isolation/worker_main.hpp); it takes no arguments.

#include <fcntl.h>

#include <cstdio>

#include "app/commands.hpp"
#include "isolation/worker_main.hpp"

namespace sluice::app {

int plugin_worker_command(int argc, char ** /*argv*/) {
    if (argc != 1 || ::fcntl(isolation::kWorkerSocketFd, F_GETFD) < 0) {
        std::fprintf(stderr,
                     "sluice plugin-worker: is started by the host for a plugin with isolation = "
                     "process, not by hand (it needs the host's descriptors 3, 4 and 5)\n");
        return 2;
    }
    return isolation::run_plugin_worker();
}

}  // namespace sluice::app
