#include "app/run_command.hpp"

#include <cstdio>

namespace sluice::app {

int run_main(int, char **) {
    std::fputs("sluice run: not built yet\n", stderr);
    return 1;
}

}  // namespace sluice::app
