#pragma once
// Builds the plugin chain of a run from its configuration; shared by both run loops.

#include <memory>

#include "config/run_config.hpp"

namespace sluice::plugins {
class PluginChain;
}

namespace sluice::stream {

/// Loads and creates every plugin of `config.plugins` in chain order, with hot reload when it
/// is on. Control thread, before the first batch. Throws plugins::PluginError.
std::unique_ptr<plugins::PluginChain> build_chain(const config::RunConfig &config);

}  // namespace sluice::stream
