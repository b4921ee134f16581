#pragma once
// Canary generations of transforms (issue 14.4, docs/hot-reload.md): a new build deployed as
// NAME.canary.so runs in shadow beside the serving generation on the same batches; its emitted
// records and return codes are compared with the serving one's for `batches` batches and its
// output is discarded. It is promoted (handed to the chain as a normal replacement, swapped in
// at the next batch boundary) when every batch agreed, and rejected with a report naming the
// first difference when one did not. A rejected canary never touches the serving generation.

#include <sluice/sluice.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "plugins/plugin_instance.hpp"

namespace sluice::plugins {

class PluginChain;

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
    std::unique_ptr<PluginInstance> offer(size_t slot, std::unique_ptr<PluginInstance> canary,
                                          uint64_t batches);
    /// After the serving instance of `slot` processed `input` with `served`: runs the canary
    /// on the same input (first giving it the chain's assignment and, when both have the hooks,
    /// the serving generation's state), compares, and promotes or rejects it. Batch thread.
    void shadow(PluginChain &chain, size_t slot, const sluice_batch_t &input,
                const ChainResult &served);
    /// Promotes slot `slot`'s canary now, without waiting for its batches (a control request).
    /// Returns false when none is in shadow. Any thread: takes effect at the next batch.
    bool promote(size_t slot);
    /// Whether any canary is waiting or in shadow (lets the chain skip the lock). Any thread.
    bool active() const { return active_.load(std::memory_order_acquire); }

    std::vector<CanaryStatus> status() const;
    /// promote() of every canary in shadow, in every chain of this process (POST
    /// /control/promote). Returns one line for the answer. Any thread.
    static std::string promote_all();

  private:
    struct Running {
        std::unique_ptr<PluginInstance> canary;
        uint64_t needed = 0;
        uint64_t agreed = 0;
        bool started = false;      // assignment and state handed over
        bool promote_now = false;  // told to
    };
    void finish(PluginChain &chain, size_t slot, bool promoted, const std::string &report);

    mutable std::mutex mutex_;  // guards offered_, promote_, status_
    std::map<size_t, Running> offered_;
    std::map<size_t, bool> promote_;
    std::map<size_t, CanaryStatus> status_;
    std::atomic<bool> active_{false};
    std::map<size_t, Running> running_;  // batch thread only
};

/// The first difference between what two generations did with one batch: empty when they
/// agree. `a`/`b`: the statuses and, for transforms, the emitted batches. Pure; any thread.
std::string compare_outputs(const ChainResult &serving, const sluice_batch_t *serving_out,
                            const ChainResult &canary, const sluice_batch_t *canary_out);

}  // namespace sluice::plugins
