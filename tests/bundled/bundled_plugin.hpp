#pragma once
// Where the bundled plugins of plugins/ are built, for the tests that load them with the SDK's
// test kit (sluice/testing.hpp).

#include <string>

namespace sluice::testing {

/// build/<preset>/plugin-dir/NAME.so
inline std::string bundled_plugin_file(const std::string &name) {
    return std::string(SLUICE_PLUGIN_OUTPUT_DIR) + "/" + name + ".so";
}

}  // namespace sluice::testing
