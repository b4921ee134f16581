#pragma once
// The plugins of one run, called in order for every batch, with hot-reload swaps at batch
// boundaries.

#include <sluice/sluice.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/types.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_reloader.hpp"

namespace sluice::plugins {
class CanaryShadow;
}

namespace sluice::plugins {

/// What happened to one slot of the chain at a batch boundary (hot reload).
struct SwapEvent {
    enum class Kind {
        swapped,      // a new generation took over (it is on probation until its first batch)
        refused,      // the offered generation's state hand-over or partition hook failed
        rolled_back,  // the new generation failed its first batch; the previous one took over
        confirmed,    // the new generation passed its first batch; the previous one is retired
    };
    Kind kind = Kind::swapped;
    size_t slot = 0;
    std::string plugin;
    uint64_t generation = 0;  // of the instance that serves the slot afterwards
    double pause_ms = 0;      // time spent in the batch loop for this event
    std::string reason;       // for refused and rolled_back
};

/// The plugins of one run, in order.
///
/// Lifecycle: filled with add() on the control thread before the first batch; instances are
/// destroyed (in reverse order) with the chain. With hot reload enabled the chain owns a
/// PluginReloader that stages, loads and creates new generations on its own thread and hands
/// them over with offer_replacement(); the chain swaps them in at the start of the next
/// process(). A new generation is on probation until its first batch: if that returns fatal the
/// chain rolls back to the previous generation (still alive) and re-runs the batch with it.
/// Thread: after setup, used only on the batch thread; calls never overlap. Only
/// offer_replacement() may be called from another thread.
class PluginChain {
  public:
    PluginChain();
    ~PluginChain();
    PluginChain(const PluginChain &) = delete;
    PluginChain &operator=(const PluginChain &) = delete;

    void add(std::unique_ptr<PluginInstance> instance);
    size_t size() const { return instances_.size(); }
    /// The instances serving now (after the last swap or rollback).
    const std::vector<std::unique_ptr<PluginInstance>> &instances() const { return instances_; }

    /// Runs each plugin in order. A plugin flagged SLUICE_PLUGIN_TRANSFORM passes on only what
    /// it emitted (copied by the host into storage owned by that instance, as a batch with the
    /// same id, time, flags and ranges); any other plugin passes its input on unchanged. A
    /// plugin is not called for a batch with no records unless it has
    /// SLUICE_PLUGIN_WANTS_EMPTY_BATCHES. Stops at the first non-OK status.
    /// Replacements offered since the last call are swapped in first; a fatal status from a
    /// generation on probation rolls it back and re-runs that plugin with the previous one.
    /// When a plugin does not return OK, failed_slot() and failed_input() say which one and
    /// what it was given, and retry_failed() can run the chain on from there.
    ChainResult process(const sluice_batch_t &batch);
    /// After process() or retry_failed() returned non-OK: the index of the plugin that failed.
    size_t failed_slot() const { return failed_slot_; }
    /// The batch that plugin got: the source batch, or what the transforms before it emitted.
    /// A view, valid until the next process() (and while the source batch is).
    const sluice_batch_t &failed_input() const { return failed_input_; }
    /// Calls the failed plugin again with the same input and, if it returns OK, the plugins
    /// after it (the ones before it are not called again). Same stopping rules as process().
    ChainResult retry_failed();
    /// Each plugin's optional flush, with the source batch. Stops at the first non-OK.
    ChainResult flush(const sluice_batch_t &batch);
    /// The chain remembers the assignment, so a new generation gets partitions_assigned with it
    /// before its first batch.
    ChainResult partitions_assigned(const std::vector<TopicPartition> &tps);
    ChainResult partitions_revoked(const std::vector<TopicPartition> &tps);
    /// Optional resume_offsets of plugins that store their own: per partition, the minimum
    /// offset any plugin reports (partitions nobody reports are absent). Throws PluginError
    /// when a plugin's hook fails.
    std::map<TopicPartition, int64_t> resume_offsets(const std::vector<TopicPartition> &tps);

    // ---- hot reload ----

    /// Turns hot reload on: creates the reloader (and its private staging directory). Call
    /// before loading the plugins with load(), on the control thread. Throws PluginError.
    void enable_hot_reload(const PluginLoader &loader, ReloaderOptions options = {});
    /// The reloader, or nullptr when hot reload is off.
    PluginReloader *reloader() { return reloader_.get(); }
    /// Loads plugin NAME: from a staged private copy when hot reload is on (so a later plain
    /// copy over the file cannot corrupt the running code), else straight from its directory.
    std::shared_ptr<PluginLibrary> load(const PluginLoader &loader, const std::string &name);
    /// Starts watching for new versions of the plugins added so far (the reloader's thread).
    /// Called by the first process() when not called before; no-op without hot reload.
    void start_hot_reload();

    /// Any thread: hands over a created instance to replace slot `index` at the start of the
    /// next process(). Returns the replacement it displaced if one was still waiting (the
    /// caller destroys it on its own thread), else nullptr.
    std::unique_ptr<PluginInstance> offer_replacement(size_t index,
                                                      std::unique_ptr<PluginInstance> next);
    /// Generation serving slot `index`: 1 for the instance added, +1 per swap (a rollback goes
    /// back to the previous number). Batch thread.
    uint64_t generation(size_t index) const { return slots_.at(index).generation; }
    /// Whether slot `index` runs a generation that has not yet passed its first batch.
    bool on_probation(size_t index) const { return slots_.at(index).previous != nullptr; }
    /// Hot reload's outcomes for slot `index` (counts by result, the serving file, the last
    /// refused one); nullopt when hot reload is off. Batch thread.
    std::optional<ReloadStatus> reload_status(size_t index) const;
    /// Canary generations (canary.hpp): created with hot reload; nullptr without it.
    CanaryShadow *canary() { return canary_.get(); }
    const CanaryShadow *canary() const { return canary_.get(); }
    /// The partitions assigned now (what a new generation or a canary is given first).
    const std::vector<TopicPartition> &assignment() const { return assigned_; }
    /// Called on the batch thread for every swap, refusal, rollback and confirmation.
    void set_swap_listener(std::function<void(const SwapEvent &)> listener) {
        listener_ = std::move(listener);
    }

  private:
    friend class CanaryShadow;  // a sink's canary on a slice splits batches (canary_slice.cpp)
    struct Slot {
        uint64_t generation = 1;
        std::unique_ptr<PluginInstance> previous;  // kept for rollback while on probation
        uint64_t previous_generation = 0;
        bool first_batch_done = false;  // the first generation has passed a batch
    };

    void apply_pending();
    ChainResult run_slot(size_t index, const sluice_batch_t &input);
    ChainResult run_from(size_t first, const sluice_batch_t &input);
    void retire(std::unique_ptr<PluginInstance> instance);
    void notify(const SwapEvent &event);

    std::vector<std::unique_ptr<PluginInstance>> instances_;
    std::vector<Slot> slots_;
    std::vector<TopicPartition> assigned_;
    std::function<void(const SwapEvent &)> listener_;
    size_t failed_slot_ = 0;
    sluice_batch_t failed_input_{};  // shallow copy; see failed_input()

    std::mutex pending_mutex_;  // guards pending_ (reloader thread vs batch thread)
    std::vector<std::unique_ptr<PluginInstance>> pending_;
    std::atomic<bool> has_pending_{false};  // lets process() skip the lock on most batches

    std::unique_ptr<PluginReloader> reloader_;
    std::unique_ptr<CanaryShadow> canary_;  // with hot reload; destroyed after reloader_
    bool reload_started_ = false;
};

/// Views of `tps` for the C partition hooks (partitions_assigned/revoked); valid while `tps`
/// is.
std::vector<sluice_topic_partition_t> c_partitions(const std::vector<TopicPartition> &tps);

}  // namespace sluice::plugins
