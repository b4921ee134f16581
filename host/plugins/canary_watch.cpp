// PluginReloader::check_canary: NAME.canary.so beside NAME.so is a canary generation
// (canary.hpp). Watcher thread.
#include <spdlog/spdlog.h>

#include "plugins/canary.hpp"
#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_reloader.hpp"

namespace sluice::plugins {

namespace fs = std::filesystem;

void PluginReloader::check_canary(Watched &w, bool force) {
    if (chain_ == nullptr || chain_->canary() == nullptr) return;
    fs::path file;
    try {
        file = loader_.resolve(w.name).parent_path() / (w.name + ".canary.so");
    } catch (const PluginError &) {
        return;
    }
    const auto fp = fingerprint(file);
    if (!fp) {
        w.canary_candidate.reset();
        return;
    }
    if (force) w.canary_failed.reset();
    if (fp == w.canary_loaded || fp == w.canary_failed) {
        w.canary_candidate.reset();
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (fp != w.canary_candidate) {
        w.canary_candidate = fp;  // debounced like NAME.so
        w.canary_since = now;
        return;
    }
    if (now - w.canary_since < options_.poll_interval) return;
    w.canary_candidate.reset();

    std::unique_ptr<PluginInstance> canary;
    try {
        StagedCopy copy = stage(w.name, file, *fp);
        auto lib = load_staged(w.name, std::move(copy), file);
        canary = std::make_unique<PluginInstance>(std::move(lib), w.config);
        if (!canary->is_transform())
            throw std::runtime_error(
                "it is not a transform: a sink's canary would write its output twice (a "
                "partition slice for sinks is not supported yet); deploy it as " +
                w.name + ".so for a hot reload instead");
    } catch (const ChangedWhileStaging &) {
        return;
    } catch (const std::exception &e) {
        spdlog::error("canary of plugin '{}' ({}) refused, the serving generation stays: {}",
                      w.name, file.string(), e.what());
        w.canary_failed = fp;
        if (canary) retire(std::move(canary));
        std::lock_guard lock(mutex_);
        ++stats_.failed;
        return;
    }
    w.canary_loaded = fp;
    spdlog::info(
        "canary of plugin '{}' ready ({} {}): it shadows the serving generation from "
        "the next batch",
        w.name, file.string(),
        canary->library().descriptor().version ? canary->library().descriptor().version : "?");
    auto displaced = chain_->canary()->offer(w.slot, std::move(canary), options_.canary_batches);
    if (displaced) retire(std::move(displaced));
}

}  // namespace sluice::plugins
