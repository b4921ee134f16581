// PluginReloader::check_canary: NAME.canary.so beside NAME.so is a canary generation
// (canary.hpp). Watcher thread.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "plugins/canary.hpp"
#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_reloader.hpp"

namespace sluice::plugins {

namespace fs = std::filesystem;

void PluginReloader::check_canary(Watched &w, bool force) {
    if (chain_ == nullptr || chain_->canary() == nullptr) return;
    bool requested = false;  // POST /control/canary (request_canary)
    {
        std::lock_guard lock(mutex_);
        requested = canary_requests_.erase(w.name) > 0;
    }
    fs::path file;
    try {
        const fs::path deployed = loader_.resolve(w.name);
        file = deployed.parent_path() / (w.name + ".canary.so");
        // POST /control/canary: NAME.canary.so, or else the NAME.so there now.
        if (requested && !fs::exists(file)) file = deployed;
    } catch (const PluginError &e) {
        if (requested)
            spdlog::error("canary of plugin '{}' requested, but there is no file: {}", w.name,
                          e.what());
        return;
    }
    const auto fp = fingerprint(file);
    if (!fp) {
        if (requested)
            spdlog::error("canary of plugin '{}' requested, but {} is gone", w.name, file.string());
        w.canary_candidate.reset();
        return;
    }
    if (force) w.canary_failed.reset();
    if (!requested) {
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
    }
    w.canary_candidate.reset();

    std::unique_ptr<PluginInstance> canary;
    try {
        StagedCopy copy = stage(w.name, file, *fp);
        auto lib = load_staged(w.name, std::move(copy), file);
        canary = std::make_unique<PluginInstance>(std::move(lib), w.config);
    } catch (const ChangedWhileStaging &) {
        if (requested) {
            std::lock_guard lock(mutex_);
            canary_requests_.insert(w.name);  // tried again once it has settled
        }
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
    if (file.filename() != w.name + ".so") w.canary_loaded = fp;
    spdlog::info(
        "canary of plugin '{}' ready ({} {}){}: it {} from the next batch", w.name, file.string(),
        canary->library().descriptor().version ? canary->library().descriptor().version : "?",
        requested ? " on request" : "",
        canary->is_transform()
            ? "shadows the serving generation"
            : fmt::format("serves {} of the partitions", options_.canary_partitions));
    auto displaced = chain_->canary()->offer(w.slot, std::move(canary), options_.canary_batches,
                                             options_.canary_partitions);
    if (displaced) retire(std::move(displaced));
}

void PluginReloader::request_canary(const std::string &name) {
    {
        std::lock_guard lock(mutex_);
        canary_requests_.insert(name);
    }
    wake();  // also before start(): the eventfd keeps it for the watcher's first round
}

}  // namespace sluice::plugins
