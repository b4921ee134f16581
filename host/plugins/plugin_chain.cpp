#include "plugins/plugin_chain.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "plugins/canary.hpp"

namespace sluice::plugins {

std::vector<sluice_topic_partition_t> c_partitions(const std::vector<TopicPartition> &tps) {
    std::vector<sluice_topic_partition_t> out;
    out.reserve(tps.size());
    for (const auto &tp : tps) {
        out.push_back(sluice_topic_partition_t{sizeof(sluice_topic_partition_t), tp.topic.c_str(),
                                               tp.partition});
    }
    return out;
}

PluginChain::PluginChain() = default;

PluginChain::~PluginChain() {
    // The reloader first: its thread may be offering replacements or destroying retired
    // instances. Then the generations in reverse order of creation.
    if (canary_) canary_->set_reloader(nullptr);  // POST /control/canary asks it no more
    reloader_.reset();
    canary_.reset();  // after the watcher thread, which offers canaries, has stopped
    pending_.clear();
    for (auto &slot : slots_) slot.previous.reset();
    while (!instances_.empty()) instances_.pop_back();
}

void PluginChain::add(std::unique_ptr<PluginInstance> instance) {
    std::lock_guard lock(pending_mutex_);
    if (canary_) canary_->add_slot(instance->name());
    instances_.push_back(std::move(instance));
    slots_.emplace_back();
    pending_.emplace_back();
}

void PluginChain::enable_hot_reload(const PluginLoader &loader, ReloaderOptions options) {
    if (!reloader_) reloader_ = std::make_unique<PluginReloader>(loader, std::move(options));
    if (!canary_) canary_ = std::make_unique<CanaryShadow>();
    canary_->set_reloader(reloader_.get());
}

std::shared_ptr<PluginLibrary> PluginChain::load(const PluginLoader &loader,
                                                 const std::string &name) {
    return reloader_ ? reloader_->load(name) : loader.load(name);
}

void PluginChain::start_hot_reload() {
    if (reloader_ && !reload_started_) {
        reload_started_ = true;
        reloader_->start(*this);
    }
}

std::unique_ptr<PluginInstance> PluginChain::offer_replacement(
    size_t index, std::unique_ptr<PluginInstance> next) {
    std::lock_guard lock(pending_mutex_);
    if (index >= pending_.size()) return next;
    std::swap(pending_[index], next);
    has_pending_.store(true, std::memory_order_release);
    return next;  // the one displaced, if any
}

std::optional<ReloadStatus> PluginChain::reload_status(size_t index) const {
    if (!reloader_) return std::nullopt;
    return reloader_->status(instances_.at(index)->name());
}

void PluginChain::notify(const SwapEvent &event) {
    if (listener_) listener_(event);
}

void PluginChain::retire(std::unique_ptr<PluginInstance> instance) {
    if (!instance) return;
    if (reloader_ && reload_started_) {
        reloader_->retire(std::move(instance));  // destroy() and dlclose off the batch path
    } else {
        instance.reset();
    }
}

void PluginChain::apply_pending() {
    std::vector<std::unique_ptr<PluginInstance>> offered;
    {
        std::lock_guard lock(pending_mutex_);
        offered.swap(pending_);
        pending_.resize(offered.size());
        has_pending_.store(false, std::memory_order_relaxed);
    }
    for (size_t i = 0; i < offered.size(); ++i) {
        if (!offered[i]) continue;
        const auto start = std::chrono::steady_clock::now();
        auto &next = offered[i];
        auto &current = instances_[i];
        auto &slot = slots_[i];
        // The staged copy's number (NAME.genN.so), so the log matches the file.
        const uint64_t next_generation =
            PluginReloader::staged_generation(next->library().path()).value_or(slot.generation + 1);
        SwapEvent event{SwapEvent::Kind::swapped, i, current->name(), next_generation, 0, {}};

        // State hand-over: only when both generations have the hooks.
        ChainResult handed;
        if (current->has_state_hooks() && next->has_state_hooks()) {
            std::string state;
            handed = current->snapshot_state(&state);
            if (handed.ok()) handed = next->restore_state(state);
        }
        if (handed.ok() && !assigned_.empty()) {
            const auto c = c_partitions(assigned_);
            handed = next->partitions_assigned(c.data(), c.size());
        }
        if (!handed.ok()) {
            spdlog::error(
                "hot reload of plugin '{}' refused at the batch boundary: {} failed: {}; "
                "generation {} keeps running",
                current->name(), handed.plugin.empty() ? "hand-over" : handed.plugin,
                handed.message, slot.generation);
            event.kind = SwapEvent::Kind::refused;
            event.generation = slot.generation;
            event.reason = handed.message;
            if (reloader_)
                reloader_->note(PluginReloader::Outcome::refused, current->name(), next->library(),
                                &current->library(), handed.message);
            retire(std::move(next));
        } else {
            if (reloader_)
                reloader_->note(PluginReloader::Outcome::swapped_in, current->name(),
                                next->library());
            if (slot.previous) {
                // The running one is itself unproven: keep the last proven generation as the
                // rollback target and drop the unproven one.
                if (reloader_)
                    reloader_->note(PluginReloader::Outcome::superseded, current->name(),
                                    current->library());
                retire(std::exchange(current, std::move(next)));
            } else {
                slot.previous = std::exchange(current, std::move(next));
                slot.previous_generation = slot.generation;
            }
            slot.generation = next_generation;
            spdlog::info("plugin '{}' generation {} swapped in at the batch boundary ({})",
                         current->name(), slot.generation,
                         current->library().deployed_path().string());
        }
        event.pause_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        notify(event);
    }
}

ChainResult PluginChain::run_slot(size_t index, const sluice_batch_t &input) {
    ChainResult r = instances_[index]->process_batch(input);
    Slot &slot = slots_[index];
    if (r.status == SLUICE_RETRY) return r;
    if (!slot.previous) {
        if (!slot.first_batch_done && r.status != SLUICE_FATAL) {
            slot.first_batch_done = true;
            if (reloader_)
                reloader_->note(PluginReloader::Outcome::first_batch_ok, instances_[index]->name(),
                                instances_[index]->library());
        }
        return r;
    }
    const auto start = std::chrono::steady_clock::now();
    SwapEvent event{SwapEvent::Kind::confirmed, index, instances_[index]->name(), 0, 0, {}};
    if (r.status == SLUICE_FATAL) {
        // Nothing of this batch is committed before process() returns OK, so the previous
        // generation can take the batch over as if the new one had never been there.
        spdlog::warn(
            "plugin '{}' generation {} failed its first batch ({}); rolling back to generation "
            "{} and redelivering batch {}",
            instances_[index]->name(), slot.generation, r.message, slot.previous_generation,
            input.batch_id);
        if (reloader_)
            reloader_->note(PluginReloader::Outcome::rolled_back, instances_[index]->name(),
                            instances_[index]->library(), &slot.previous->library(), r.message);
        retire(std::exchange(instances_[index], std::move(slot.previous)));
        slot.generation = slot.previous_generation;
        event.kind = SwapEvent::Kind::rolled_back;
        event.reason = r.message;
        event.generation = slot.generation;
        event.pause_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        notify(event);
        return instances_[index]->process_batch(input);
    }
    // OK or SKIP: the new generation works; the old one goes.
    if (reloader_)
        reloader_->note(PluginReloader::Outcome::confirmed, instances_[index]->name(),
                        instances_[index]->library());
    retire(std::move(slot.previous));
    event.generation = slot.generation;
    event.pause_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    notify(event);
    return r;
}

ChainResult PluginChain::process(const sluice_batch_t &batch) {
    if (reloader_ && !reload_started_) start_hot_reload();
    if (has_pending_.load(std::memory_order_acquire)) apply_pending();
    return run_from(0, batch);
}

ChainResult PluginChain::retry_failed() {
    // A copy: run_from overwrites failed_input_ when the plugin fails again.
    const sluice_batch_t input = failed_input_;
    return run_from(failed_slot_, input);
}

ChainResult PluginChain::run_from(size_t first, const sluice_batch_t &input) {
    const sluice_batch_t *current = &input;
    sluice_batch_t passed_on{};
    // An isolated plugin that found the poison records of a batch (host/isolation) fails only
    // those: the later plugins get the rest, and unless one of them fails the result is that
    // plugin's, with just those records as its failed input (for its on-error policy).
    std::optional<ChainResult> poisoned;
    size_t poisoned_slot = 0;
    sluice_batch_t poison{};
    for (size_t i = first; i < instances_.size(); ++i) {
        auto &inst = instances_[i];
        if (current->record_count == 0 && !inst->wants_empty_batches()) continue;
        // A sink's canary on a slice of the partitions gets that part of the batch.
        ChainResult r;
        const bool split =
            canary_ && canary_->active() && canary_->dispatch(*this, i, *current, &r);
        if (!split) {
            r = run_slot(i, *current);
            if (canary_ && canary_->active()) canary_->shadow(*this, i, *current, r);
        }
        if (!r.ok()) {
            const sluice_batch_t *subset = split ? nullptr : inst->failed_subset();
            const sluice_batch_t *rest = split ? nullptr : inst->passed_on_without_subset();
            if (r.status == SLUICE_SKIP && subset != nullptr && rest != nullptr && !poisoned) {
                poisoned = r;
                poisoned_slot = i;
                poison = *subset;
                passed_on = *rest;
                current = &passed_on;
                continue;
            }
            failed_slot_ = i;
            failed_input_ = *current;
            return r;
        }
        if (inst->is_transform()) {
            // The emitted records live in inst's buffer until its next process_batch, which is
            // after every later plugin of this chain has seen them.
            passed_on = inst->emitted_batch(*current);
            current = &passed_on;
        }
    }
    if (poisoned) {
        failed_slot_ = poisoned_slot;
        failed_input_ = poison;
        return *poisoned;
    }
    return {};
}

ChainResult PluginChain::flush(const sluice_batch_t &batch) {
    for (size_t i = 0; i < instances_.size(); ++i) {
        ChainResult r = instances_[i]->flush(batch);
        if (r.ok() && canary_ && canary_->active()) r = canary_->flush(i, batch);
        if (!r.ok()) return r;
    }
    return {};
}

ChainResult PluginChain::partitions_assigned(const std::vector<TopicPartition> &tps) {
    for (const auto &tp : tps)
        if (std::find(assigned_.begin(), assigned_.end(), tp) == assigned_.end())
            assigned_.push_back(tp);
    auto c = c_partitions(tps);
    for (auto &inst : instances_) {
        ChainResult r = inst->partitions_assigned(c.data(), c.size());
        if (!r.ok()) return r;
    }
    return {};
}

ChainResult PluginChain::partitions_revoked(const std::vector<TopicPartition> &tps) {
    std::erase_if(assigned_, [&](const TopicPartition &tp) {
        return std::find(tps.begin(), tps.end(), tp) != tps.end();
    });
    for (size_t i = 0; i < instances_.size(); ++i) {
        // A sink's canary gives up its part of them; the serving generation the rest.
        const std::vector<TopicPartition> mine =
            canary_ && canary_->active() ? canary_->revoke_slice(*this, i, tps) : tps;
        auto c = c_partitions(mine);  // views of `mine`
        ChainResult r = instances_[i]->partitions_revoked(c.data(), c.size());
        if (!r.ok()) return r;
    }
    return {};
}

std::map<TopicPartition, int64_t> PluginChain::resume_offsets(
    const std::vector<TopicPartition> &tps) {
    std::map<TopicPartition, int64_t> out;
    auto c = c_partitions(tps);
    std::vector<int64_t> offsets(tps.size());
    for (auto &inst : instances_) {
        if (!inst->has_resume_offsets()) continue;
        ChainResult r = inst->resume_offsets(c.data(), c.size(), offsets.data());
        if (!r.ok()) {
            throw plugin_error(inst->name(), inst->library().deployed_path().string(),
                               "resume_offsets failed: " + r.message,
                               "fix the plugin's offset store, or start from a --checkpoint or "
                               "explicit --from-offsets");
        }
        for (size_t i = 0; i < tps.size(); ++i) {
            if (offsets[i] < 0) continue;  // -1: this plugin has nothing for the partition
            auto [it, inserted] = out.emplace(tps[i], offsets[i]);
            if (!inserted) it->second = std::min(it->second, offsets[i]);
        }
    }
    return out;
}

}  // namespace sluice::plugins
