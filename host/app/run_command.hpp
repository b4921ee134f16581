#pragma once

namespace sluice::app {

/// `sluice run`: argv[0] is "run". Returns the process exit code.
int run_main(int argc, char **argv);

}  // namespace sluice::app
