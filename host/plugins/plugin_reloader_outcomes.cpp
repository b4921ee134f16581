// PluginReloader, what it remembers of each deployment: the outcomes (swapped, rejected,
// rolled back) it counts and /status shows, and across restarts the refused file's hash and a
// copy of the version that served (PluginStateStore), served at the next start when the
// deployed file is one that was refused. The watching, staging and loading are in
// plugin_reloader.cpp.
#include <spdlog/spdlog.h>

#include <ctime>

#include "common/clock.hpp"
#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_reloader.hpp"
#include "plugins/reload_text.hpp"
#include "plugins/sha256.hpp"

namespace sluice::plugins {

namespace fs = std::filesystem;
using detail::result_text;
using detail::utc_text;

std::optional<PluginReloader::KeptCopy> PluginReloader::refused_at_start(
    const std::string &name, const std::string &sha256) {
    if (!store_) return std::nullopt;
    std::optional<PluginRecord> record;
    try {
        record = store_->read(name);
    } catch (const std::exception &e) {
        spdlog::warn("hot reload: {}; starting plugin '{}' from its deployed file", e.what(), name);
        return std::nullopt;
    }
    if (!record) return std::nullopt;
    {
        // What was refused last is worth showing even when something else is deployed now.
        std::lock_guard lock(mutex_);
        if (!record->refused.empty()) status_[name].last_refused = record->refused.back();
    }
    const RefusedFile *refused = record->find_refused(sha256);
    if (!refused) return std::nullopt;
    {
        std::lock_guard lock(mutex_);
        status_[name].last_refused = *refused;
    }
    const fs::path good = store_->good_copy(name);
    if (!record->good || record->good->sha256 == sha256 || !fs::exists(good)) {
        spdlog::warn(
            "plugin '{}': the deployed file (sha256 {}) was {} before ({}), and no good copy is "
            "kept in {}: loading it anyway",
            name, sha256, result_text(refused->result), refused->reason, store_->dir().string());
        return std::nullopt;
    }
    return KeptCopy{good, record->good->sha256, *refused};
}

void PluginReloader::record_rejected(const std::string &name, PluginFile tried,
                                     const std::string &reason) {
    tried.time_ms = wall_ms();
    RefusedFile refused{std::move(tried), "rejected", reason};
    std::lock_guard lock(mutex_);
    auto &st = status_[name];
    ++st.rejected;
    st.last_refused = refused;
    // Unstaged (a file that could not be read) means no hash: nothing to recognise it by.
    if (store_ && !refused.file.sha256.empty()) queue_keep(name, std::move(refused));
}

void PluginReloader::queue_keep(const std::string &plugin, std::optional<RefusedFile> refused) {
    Keep job{plugin, std::move(refused), serving_[plugin], -1};
    if (auto it = loaded_.find(job.serving); it != loaded_.end() && it->second.fd >= 0)
        job.fd = ::dup(it->second.fd);
    keeps_.push_back(std::move(job));
    wake();
}

void PluginReloader::note(Outcome outcome, const std::string &plugin, const PluginLibrary &subject,
                          const PluginLibrary *serving, const std::string &reason) {
    std::lock_guard lock(mutex_);
    auto &st = status_[plugin];
    PluginFile file;
    if (auto it = loaded_.find(subject.path()); it != loaded_.end()) {
        file = it->second.file;
    } else {
        const char *version = subject.descriptor().version;
        file = {subject.deployed_path().string(), version ? version : "", "", 0};
    }
    file.time_ms = wall_ms();
    switch (outcome) {
        case Outcome::swapped_in:
            st.serving = file;
            serving_[plugin] = subject.path();
            return;
        case Outcome::confirmed:
        case Outcome::superseded:
            ++st.swapped;
            if (outcome == Outcome::confirmed && store_) queue_keep(plugin, std::nullopt);
            return;
        case Outcome::first_batch_ok:
            if (store_) queue_keep(plugin, std::nullopt);
            return;
        case Outcome::refused:
        case Outcome::rolled_back: {
            const bool rolled_back = outcome == Outcome::rolled_back;
            ++(rolled_back ? st.rolled_back : st.rejected);
            RefusedFile refused{file, rolled_back ? "rolled_back" : "rejected", reason};
            st.last_refused = refused;
            if (serving) {
                serving_[plugin] = serving->path();
                if (auto it = loaded_.find(serving->path()); it != loaded_.end())
                    st.serving = it->second.file;
            }
            if (store_ && !file.sha256.empty()) queue_keep(plugin, std::move(refused));
            return;
        }
    }
}

ReloadStatus PluginReloader::status(const std::string &name) const {
    std::lock_guard lock(mutex_);
    auto it = status_.find(name);
    return it == status_.end() ? ReloadStatus{} : it->second;
}

void PluginReloader::drain_keeps() {
    std::vector<Keep> jobs;
    {
        std::lock_guard lock(mutex_);
        jobs.swap(keeps_);
    }
    for (auto &job : jobs) {
        try {
            keep(job);
        } catch (const std::exception &e) {
            spdlog::error(
                "hot reload: cannot keep the state of plugin '{}' in {}: {}; a restart may load "
                "a refused version again",
                job.plugin, store_ ? store_->dir().string() : "-", e.what());
        }
        if (job.fd >= 0) ::close(job.fd);
    }
}

void PluginReloader::keep(const Keep &job) {
    if (!store_) return;
    PluginFile serving;
    {
        std::lock_guard lock(mutex_);
        auto it = loaded_.find(job.serving);
        if (it == loaded_.end()) return;
        serving = it->second.file;
    }
    std::optional<PluginRecord> record = store_->read(job.plugin);
    if (!job.refused && !record) return;  // nothing was ever refused: nothing to write
    if (!record) record.emplace();
    bool changed = false;
    if (job.refused) {
        record->add_refused(*job.refused);
        changed = true;
    } else {
        changed = record->forget_refused(serving.sha256);  // it works now (SIGHUP, settings)
    }
    if (!serving.sha256.empty() && (!record->good || record->good->sha256 != serving.sha256) &&
        job.fd >= 0) {
        store_->keep_copy(job.plugin, job.fd, serving.sha256);
        record->good = serving;
        changed = true;
        spdlog::info(
            "hot reload: kept a copy of plugin '{}' version {} (sha256 {}) in {}: a restart "
            "serves it while a refused version is deployed",
            job.plugin, serving.version, serving.sha256, store_->good_copy(job.plugin).string());
    }
    if (changed) store_->write(job.plugin, *record);
}

}  // namespace sluice::plugins
