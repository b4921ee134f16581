// A sink's canary on a slice of the partitions (canary.hpp): the hand-over of the slice, the
// split of each batch between the two generations, the rollback on an error and the
// promotion to every partition. Batch thread throughout (inside PluginChain::process).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "plugins/canary.hpp"
#include "plugins/plugin_chain.hpp"

namespace sluice::plugins {

namespace {

/// The records and ranges of a batch whose partition `keep` accepts, as a batch with the same
/// id, time and flags (shallow copies of the records: valid while the source batch is).
class Part {
  public:
    template <class Keep>
    Part(const sluice_batch_t &in, Keep keep) : batch_(in) {
        const auto *ranges = reinterpret_cast<const char *>(in.ranges);
        for (size_t i = 0; i < in.range_count; ++i) {
            const char *at = ranges + i * in.range_stride;
            const auto &r = *reinterpret_cast<const sluice_offset_range_t *>(at);
            if (keep(r.topic, r.partition)) ranges_.insert(ranges_.end(), at, at + in.range_stride);
        }
        const auto *records = reinterpret_cast<const char *>(in.records);
        for (size_t i = 0; i < in.record_count; ++i) {
            const char *at = records + i * in.record_stride;
            const auto &r = *reinterpret_cast<const sluice_record_t *>(at);
            if (keep(r.topic, r.partition))
                records_.insert(records_.end(), at, at + in.record_stride);
        }
        batch_.range_count = in.range_stride ? ranges_.size() / in.range_stride : 0;
        batch_.ranges = reinterpret_cast<const sluice_offset_range_t *>(ranges_.data());
        batch_.record_count = in.record_stride ? records_.size() / in.record_stride : 0;
        batch_.records = reinterpret_cast<const sluice_record_t *>(records_.data());
    }
    const sluice_batch_t &get() const { return batch_; }
    /// Whether `inst` is called with it (the chain's rule: records, or wants empty batches).
    bool for_(const PluginInstance &inst) const {
        return batch_.record_count > 0 || (inst.wants_empty_batches() && batch_.range_count > 0);
    }
    /// The partitions it holds.
    std::vector<TopicPartition> partitions() const {
        std::set<TopicPartition> out;
        for (size_t i = 0; i < batch_.range_count; ++i) {
            const auto &r = *reinterpret_cast<const sluice_offset_range_t *>(
                ranges_.data() + i * batch_.range_stride);
            out.insert({r.topic ? r.topic : "", r.partition});
        }
        for (size_t i = 0; i < batch_.record_count; ++i) {
            const auto &r = *reinterpret_cast<const sluice_record_t *>(records_.data() +
                                                                       i * batch_.record_stride);
            out.insert({r.topic ? r.topic : "", r.partition});
        }
        return {out.begin(), out.end()};
    }

  private:
    sluice_batch_t batch_;
    std::vector<char> ranges_, records_;
};

ChainResult assign(PluginInstance &inst, const std::vector<TopicPartition> &tps) {
    if (tps.empty()) return {};
    const auto c = c_partitions(tps);
    return inst.partitions_assigned(c.data(), c.size());
}

ChainResult revoke(PluginInstance &inst, const std::vector<TopicPartition> &tps) {
    if (tps.empty()) return {};
    const auto c = c_partitions(tps);
    return inst.partitions_revoked(c.data(), c.size());
}

std::string names(const std::vector<TopicPartition> &tps) {
    std::vector<std::string> out;
    out.reserve(tps.size());
    for (const auto &tp : tps) out.push_back(tp.topic + "-" + std::to_string(tp.partition));
    return fmt::format("{}", fmt::join(out, ", "));
}

bool contains(const std::vector<TopicPartition> &tps, std::string_view topic, int32_t partition) {
    return std::any_of(tps.begin(), tps.end(), [&](const TopicPartition &tp) {
        return tp.partition == partition && tp.topic == topic;
    });
}

std::vector<TopicPartition> rest_of(const std::vector<TopicPartition> &all,
                                    const std::vector<TopicPartition> &slice) {
    std::vector<TopicPartition> out;
    for (const auto &tp : all)
        if (!contains(slice, tp.topic, tp.partition)) out.push_back(tp);
    return out;
}

}  // namespace

bool CanaryShadow::start_slice(PluginChain &chain, size_t slot, Running &run) {
    PluginInstance &serving = *chain.instances()[slot];
    std::vector<TopicPartition> all = chain.assignment();
    std::sort(all.begin(), all.end());
    if (all.empty() || chain.on_probation(slot)) return false;  // waits for a later batch
    // At most all but one (with one partition the canary takes it).
    const size_t n = std::min<size_t>(run.slice_size, all.size() > 1 ? all.size() - 1 : all.size());
    std::vector<TopicPartition> slice(all.begin(), all.begin() + static_cast<ptrdiff_t>(n));
    run.started = true;
    ChainResult handed = revoke(serving, slice);
    if (handed.ok() && serving.has_state_hooks() && run.canary->has_state_hooks()) {
        std::string state;
        handed = serving.snapshot_state(&state);
        if (handed.ok()) handed = run.canary->restore_state(state);
    }
    if (handed.ok()) handed = assign(*run.canary, slice);
    if (!handed.ok()) {
        ChainResult back = assign(serving, slice);
        if (!back.ok())
            spdlog::error("plugin '{}' generation {}: taking back {} failed: {}", serving.name(),
                          chain.generation(slot), names(slice), back.message);
        finish(chain, slot, false,
               "its start (the hand-over of " + names(slice) + ") failed: " + handed.message);
        return false;
    }
    run.slice = slice;
    run.serving = &serving;
    const std::string report =
        fmt::format("it serves {} ({} of {} partitions); generation {} keeps the rest",
                    names(slice), slice.size(), all.size(), chain.generation(slot));
    {
        std::lock_guard lock(mutex_);
        status_[slot].report = report;
    }
    spdlog::info(
        "canary of plugin '{}' ({} {}) is a sink: {}; after {} batches without an error it "
        "takes all of them",
        serving.name(), run.canary->library().deployed_path().string(),
        run.canary->library().descriptor().version ? run.canary->library().descriptor().version
                                                   : "?",
        report, run.needed);
    return true;
}

void CanaryShadow::return_slice(PluginChain &chain, size_t slot, Running &run) {
    if (run.slice.empty()) return;
    ChainResult r = revoke(*run.canary, run.slice);
    if (!r.ok())
        spdlog::warn("canary of plugin '{}': giving up {} failed: {}", run.canary->name(),
                     names(run.slice), r.message);
    r = assign(*chain.instances()[slot], run.slice);
    if (!r.ok())
        spdlog::error("plugin '{}' generation {}: taking back {} failed: {}", run.canary->name(),
                      chain.generation(slot), names(run.slice), r.message);
    run.slice.clear();
}

void CanaryShadow::give_back(PluginChain &chain, size_t slot, Running &run,
                             const std::string &report) {
    const std::string slice = names(run.slice);
    return_slice(chain, slot, run);
    finish(chain, slot, false,
           fmt::format("{}; {} returned to generation {}", report, slice, chain.generation(slot)));
}

void CanaryShadow::promote_slice(PluginChain &chain, size_t slot, Running &run,
                                 const std::string &report) {
    PluginInstance &serving = *chain.instances()[slot];
    const std::vector<TopicPartition> rest = rest_of(chain.assignment(), run.slice);
    ChainResult r = revoke(serving, rest);
    if (r.ok()) r = assign(*run.canary, rest);
    if (!r.ok()) {
        assign(serving, rest);
        give_back(chain, slot, run,
                  "taking the other partitions (" + names(rest) + ") failed: " + r.message);
        return;
    }
    finish(chain, slot, true,
           fmt::format("{}; it took {} from generation {} and serves every partition", report,
                       rest.empty() ? std::string("nothing more") : names(rest),
                       chain.generation(slot)));
}

void CanaryShadow::take_over(PluginChain &chain, size_t slot,
                             std::unique_ptr<PluginInstance> canary) {
    PluginChain::Slot &s = chain.slots_[slot];
    const uint64_t generation =
        PluginReloader::staged_generation(canary->library().path()).value_or(s.generation + 1);
    SwapEvent event{SwapEvent::Kind::swapped, slot, canary->name(), generation, 0, {}};
    if (chain.reloader_) {
        chain.reloader_->note(PluginReloader::Outcome::swapped_in, canary->name(),
                              canary->library());
        chain.reloader_->note(PluginReloader::Outcome::confirmed, canary->name(),
                              canary->library());
    }
    std::unique_ptr<PluginInstance> old = std::exchange(chain.instances_[slot], std::move(canary));
    chain.retire(std::move(s.previous));
    s.generation = generation;
    s.first_batch_done = true;
    spdlog::info("plugin '{}' generation {} serves every partition ({})",
                 chain.instances_[slot]->name(), generation,
                 chain.instances_[slot]->library().deployed_path().string());
    chain.retire(std::move(old));
    chain.notify(event);
    event.kind = SwapEvent::Kind::confirmed;
    chain.notify(event);
}

bool CanaryShadow::dispatch(PluginChain &chain, size_t slot, const sluice_batch_t &input,
                            ChainResult *result) {
    take_offered(chain, slot);
    auto it = running_.find(slot);
    Running *run =
        it != running_.end() && !it->second.canary->is_transform() ? &it->second : nullptr;
    if (run && run->started && !run->slice.empty() &&
        run->serving != chain.instances()[slot].get()) {
        // A hot reload swapped a new serving generation in, with every partition: the slice
        // goes with it (and to the one kept for its rollback).
        revoke(*run->canary, run->slice);
        if (auto &previous = chain.slots_[slot].previous) assign(*previous, run->slice);
        const std::string slice = names(run->slice);
        run->slice.clear();
        finish(chain, slot, false,
               fmt::format("generation {} was swapped in by a hot reload and took {}",
                           chain.generation(slot), slice));
        run = nullptr;
    }
    if (run && run->started && run->promote_now) {
        promote_slice(chain, slot, *run,
                      fmt::format("promoted on request after {} batches", run->agreed));
        run = nullptr;
    }
    if (run && !run->started && !start_slice(chain, slot, *run)) run = nullptr;
    auto partial = partial_.find(slot);
    if (partial != partial_.end() && partial->second.batch_id != input.batch_id) {
        partial_.erase(partial);
        partial = partial_.end();
    }
    if (!run && partial == partial_.end()) {
        std::lock_guard lock(mutex_);
        update_active();
        return false;
    }
    const std::set<TopicPartition> *done =
        partial != partial_.end() ? &partial->second.done : nullptr;
    const auto not_done = [&](const char *topic, int32_t partition) {
        return done == nullptr || done->count({topic ? topic : "", partition}) == 0;
    };
    const std::vector<TopicPartition> none;
    const std::vector<TopicPartition> &slice = run ? run->slice : none;
    const Part rest(input, [&](const char *topic, int32_t partition) {
        return not_done(topic, partition) && !contains(slice, topic ? topic : "", partition);
    });
    const Part canary_part(input, [&](const char *topic, int32_t partition) {
        return not_done(topic, partition) && contains(slice, topic ? topic : "", partition);
    });
    std::vector<TopicPartition> stored;
    ChainResult out;
    const auto serve = [&](const Part &part) {
        if (!part.for_(*chain.instances()[slot])) return;
        ChainResult r = chain.run_slot(slot, part.get());
        if (r.ok()) {
            const auto tps = part.partitions();
            stored.insert(stored.end(), tps.begin(), tps.end());
        } else if (out.ok()) {
            out = r;
        }
    };
    serve(rest);
    if (run && canary_part.for_(*run->canary)) {
        const ChainResult ran = run->canary->process_batch(canary_part.get());
        if (ran.ok()) {
            const auto tps = canary_part.partitions();
            stored.insert(stored.end(), tps.begin(), tps.end());
            ++run->agreed;
            {
                std::lock_guard lock(mutex_);
                status_[slot].agreed = run->agreed;
            }
            if (run->agreed >= run->needed)
                promote_slice(chain, slot, *run,
                              fmt::format("it served its partitions for {} batches without an "
                                          "error",
                                          run->agreed));
        } else if (ran.status == SLUICE_RETRY) {
            if (out.ok()) out = ran;  // its part is retried with the batch
        } else {
            // Nothing of this batch is committed before the chain returns OK: the serving
            // generation takes the slice's part over as if the canary had never had it.
            give_back(chain, slot, *run,
                      fmt::format("batch {} (after {} without an error): it returned {}{}",
                                  input.batch_id, run->agreed, status_name(ran.status),
                                  ran.message.empty() ? "" : " (" + ran.message + ")"));
            serve(canary_part);
        }
    } else if (!run) {
        serve(canary_part);  // a retried batch whose canary is gone: all of it is served
    }
    if (out.ok()) {
        if (partial != partial_.end()) partial_.erase(partial);
    } else {
        Partial &p = partial_[slot];
        p.batch_id = input.batch_id;
        p.done.insert(stored.begin(), stored.end());
        out.plugin = out.plugin.empty() ? chain.instances()[slot]->name() : out.plugin;
    }
    {
        std::lock_guard lock(mutex_);
        update_active();
    }
    *result = out;
    return true;
}

ChainResult CanaryShadow::flush(size_t slot, const sluice_batch_t &batch) {
    const auto it = running_.find(slot);
    if (it == running_.end() || it->second.slice.empty()) return {};
    return it->second.canary->flush(batch);
}

std::vector<TopicPartition> CanaryShadow::revoke_slice(PluginChain &chain, size_t slot,
                                                       const std::vector<TopicPartition> &tps) {
    const auto it = running_.find(slot);
    if (it == running_.end() || it->second.slice.empty()) return tps;
    Running &run = it->second;
    std::vector<TopicPartition> canary_part, serving_part;
    for (const auto &tp : tps)
        (contains(run.slice, tp.topic, tp.partition) ? canary_part : serving_part).push_back(tp);
    if (canary_part.empty()) return tps;
    const ChainResult r = revoke(*run.canary, canary_part);
    if (!r.ok())
        spdlog::warn("canary of plugin '{}': giving up {} failed: {}", run.canary->name(),
                     names(canary_part), r.message);
    run.slice = rest_of(run.slice, canary_part);
    if (run.slice.empty()) {
        // Nothing left to try it on: withdrawn (the serving generation keeps its own).
        spdlog::warn("canary of plugin '{}' withdrawn: its partitions were revoked ({})",
                     run.canary->name(), names(canary_part));
        std::unique_ptr<PluginInstance> canary = std::move(run.canary);
        running_.erase(it);
        {
            std::lock_guard lock(mutex_);
            CanaryStatus &st = status_[slot];
            st.state = CanaryStatus::State::rejected;
            st.report = "withdrawn: its partitions were revoked (" + names(canary_part) + ")";
            ++st.rejected_total;
            update_active();
        }
        chain.retire(std::move(canary));
    }
    return serving_part;
}

}  // namespace sluice::plugins
