#pragma once
// Canary generations of transforms (issue 14.4, docs/hot-reload.md): a new build deployed as
// NAME.canary.so runs in shadow beside the serving generation on the same batches; its emitted
// records and return codes are compared with the serving one's for `batches` batches and its
// output is discarded. It is promoted (handed to the chain as a normal replacement, swapped in
// at the next batch boundary) when every batch agreed, and rejected with a report naming the
// first difference when one did not. A rejected canary never touches the serving generation.
//
// A sink's canary cannot run in shadow (it would write twice): it serves a slice of the
// partitions instead (canary_slice.cpp): the first `canary-partitions` of the assignment are
// handed over (the serving generation's partitions_revoked, the canary's partitions_assigned),
// each batch is split between the two, and after `batches` batches it served without an error
// it takes the rest too and serves alone; on an error the slice returns to the serving
// generation, which takes over that batch's part of it. Each record reaches exactly one
// generation once: a part that returned OK is not given again when the batch is retried.

#include <sluice/sluice.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.hpp"
#include "plugins/plugin_instance.hpp"

namespace sluice::plugins {

class PluginChain;
class PluginReloader;

/// What /status, the metrics and the tests see of one slot's canary.
struct CanaryStatus {
    enum class State { none, shadowing, promoted, rejected };
    State state = State::none;
    size_t slot = 0;
    std::string plugin;
    std::string file;     // the canary's deployed file (NAME.canary.so)
    std::string version;  // its descriptor's version
    uint64_t agreed = 0;  // batches compared and equal so far
    uint64_t needed = 0;  // canary-batches
    std::string report;   // why it was rejected (the first difference), or how it was promoted
    uint64_t promoted_total = 0, rejected_total = 0;  // this run
};

const char *to_string(CanaryStatus::State state);

/// Lifecycle: owned by a PluginChain with hot reload on. offer() and status() are safe from any
/// thread (the reloader's watcher offers canaries); shadow() and promote() run on the batch
/// thread, inside PluginChain::process. A canary in shadow is destroyed (on the reloader's
/// thread when one runs) once promoted into the chain or rejected.
class CanaryShadow {
  public:
    CanaryShadow();
    ~CanaryShadow();
    CanaryShadow(const CanaryShadow &) = delete;
    CanaryShadow &operator=(const CanaryShadow &) = delete;

    /// Hands over a created canary of slot `slot` to shadow the serving generation for
    /// `batches` batches from the next one on. A canary already in shadow there is displaced
    /// and returned (the caller destroys it), else nullptr.
    /// `partitions`: how many a sink's canary serves (canary_slice.cpp).
    std::unique_ptr<PluginInstance> offer(size_t slot, std::unique_ptr<PluginInstance> canary,
                                          uint64_t batches, uint64_t partitions = 1);
    /// After the serving instance of `slot` processed `input` with `served`: runs the canary
    /// on the same input (first giving it the chain's assignment and, when both have the hooks,
    /// the serving generation's state), compares, and promotes or rejects it. Batch thread.
    void shadow(PluginChain &chain, size_t slot, const sluice_batch_t &input,
                const ChainResult &served);
    /// A sink's canary on a slice (canary_slice.cpp): when slot `slot` has one, or a batch
    /// this split is being retried, runs `input`'s parts (the slice's on the canary, the rest's
    /// on the serving generation; parts that returned OK for this batch id before are not run
    /// again), sets *result and returns true; false: run the slot as usual. Batch thread.
    bool dispatch(PluginChain &chain, size_t slot, const sluice_batch_t &input,
                  ChainResult *result);
    /// The slice canary's flush (before each commit), OK without one. Batch thread.
    ChainResult flush(size_t slot, const sluice_batch_t &batch);
    /// A rebalance revokes `tps`: the slice canary of `slot` gives up its part of them (its
    /// partitions_revoked; withdrawn when none is left); returns the rest, the serving
    /// generation's to give up. Batch thread.
    std::vector<TopicPartition> revoke_slice(PluginChain &chain, size_t slot,
                                             const std::vector<TopicPartition> &tps);
    /// Promotes slot `slot`'s canary now, without waiting for its batches (a control request).
    /// Returns false when none is in shadow. Any thread: takes effect at the next batch.
    bool promote(size_t slot);
    /// Whether any canary is waiting or in shadow (lets the chain skip the lock). Any thread.
    bool active() const { return active_.load(std::memory_order_acquire); }

    std::vector<CanaryStatus> status() const;
    /// promote() of every canary in shadow, in every chain of this process (POST
    /// /control/promote). Returns one line for the answer. Any thread.
    static std::string promote_all();
    /// POST /control/canary?plugin=NAME (`query` is what follows the '?'): asks the reloader
    /// of every chain with plugin NAME to deploy NAME.canary.so, or else NAME.so, as a canary
    /// now. Returns one line for the answer; throws std::invalid_argument (one line naming the
    /// problem and the way out) for a request without a plugin, or with one no chain has.
    static std::string deploy_request(std::string_view query);
    /// The reloader deploy_request() asks; the chain sets it, and clears it before the
    /// reloader is destroyed. Any thread.
    void set_reloader(PluginReloader *reloader);
    /// The chain's plugins by slot, for deploy_request. Control thread, at PluginChain::add.
    void add_slot(const std::string &plugin);

  private:
    struct Running {
        std::unique_ptr<PluginInstance> canary;
        uint64_t needed = 0;
        uint64_t agreed = 0;
        bool started = false;                     // assignment and state handed over
        bool promote_now = false;                 // told to
        uint64_t slice_size = 1;                  // a sink's: canary-partitions
        std::vector<TopicPartition> slice;        // a sink's, once started: what it serves
        const PluginInstance *serving = nullptr;  // the generation it took the slice from
    };
    // Of a split batch that did not return OK (canary_slice.cpp): the partitions whose part
    // was stored, not to be given again when the same batch is retried.
    struct Partial {
        int64_t batch_id = -1;
        std::set<TopicPartition> done;
    };
    void finish(PluginChain &chain, size_t slot, bool promoted, const std::string &report);
    // Moves what offer() and promote() queued for `slot` to the batch thread's side.
    void take_offered(PluginChain &chain, size_t slot);
    // canary_slice.cpp; batch thread:
    bool start_slice(PluginChain &chain, size_t slot, Running &run);
    void return_slice(PluginChain &chain, size_t slot, Running &run);  // the hooks only
    void give_back(PluginChain &chain, size_t slot, Running &run, const std::string &report);
    void promote_slice(PluginChain &chain, size_t slot, Running &run, const std::string &report);
    void update_active();  // mutex_ held
    // A promoted sink's canary replaces the serving generation now. Batch thread.
    void take_over(PluginChain &chain, size_t slot, std::unique_ptr<PluginInstance> canary);

    mutable std::mutex mutex_;  // guards offered_, promote_, status_, names_
    std::vector<std::string> names_;
    std::map<size_t, Running> offered_;
    std::map<size_t, bool> promote_;
    std::map<size_t, CanaryStatus> status_;
    std::atomic<bool> active_{false};
    PluginReloader *reloader_ = nullptr;  // guarded by the registry's mutex (canary.cpp)
    std::map<size_t, Running> running_;   // batch thread only
    std::map<size_t, Partial> partial_;   // batch thread only (its emptiness: under mutex_)
};

/// The first difference between what two generations did with one batch: empty when they
/// agree. `a`/`b`: the statuses and, for transforms, the emitted batches. Pure; any thread.
std::string compare_outputs(const ChainResult &serving, const sluice_batch_t *serving_out,
                            const ChainResult &canary, const sluice_batch_t *canary_out);

}  // namespace sluice::plugins
