#pragma once
// One created plugin instance and the host context it sees through the host API.

#include <sluice/sluice.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/histogram.hpp"
#include "plugins/emit_buffer.hpp"
#include "plugins/plugin_loader.hpp"

namespace sluice::plugins {

/// What the host measured about one instance, plus the plugin's own metrics.
struct PluginMetrics {
    uint64_t batches = 0;        // process_batch calls
    uint64_t records = 0;        // records handed to process_batch
    uint64_t errors = 0;         // calls that returned SKIP, FATAL or an unknown code, plus
                                 // batches still returning RETRY after max-retries
    uint64_t retries = 0;        // calls that returned RETRY
    uint64_t dead_lettered = 0;  // records of its failed batches produced to its dead-letter topic
    double seconds = 0;          // time spent inside process_batch
    Histogram call_seconds;      // the same, call by call
    std::map<std::string, double> custom;  // from the host API's metric(): counters add, gauges set
};

/// The outcome of calling one or more plugins.
struct ChainResult {
    sluice_status_t status = SLUICE_OK;  // unknown codes from a plugin become SLUICE_FATAL
    std::string plugin;                  // who failed (empty on OK)
    std::string message;                 // its error text
    bool ok() const { return status == SLUICE_OK; }
};

/// "OK", "RETRY", "SKIP" or "FATAL" (any other code: FATAL, as the chain treats it).
inline const char *status_name(sluice_status_t status) {
    switch (status) {
        case SLUICE_OK:
            return "OK";
        case SLUICE_RETRY:
            return "RETRY";
        case SLUICE_SKIP:
            return "SKIP";
        default:
            return "FATAL";
    }
}

/// Where an instance really runs when it is not this process (host/isolation: a worker
/// process, `isolation = process`). PluginInstance forwards every call to it and keeps the
/// host-side bookkeeping (metrics, flags, name). Batch thread, like PluginInstance's calls.
class InstanceBackend {
  public:
    virtual ~InstanceBackend() = default;
    /// `custom` is the instance's custom metrics (the backend replaces or adds to them).
    virtual ChainResult process_batch(const sluice_batch_t &batch,
                                      std::map<std::string, double> *custom) = 0;
    /// What the last process_batch emitted (a transform's output); valid until the next call.
    virtual const sluice_record_t *emitted(size_t *count) const = 0;
    /// After a non-OK process_batch: when only some records were the cause (a poison record
    /// found by bisection), the batch of those records; else nullptr (the whole input failed).
    virtual const sluice_batch_t *failed_subset() const { return nullptr; }
    /// With failed_subset(): what the plugin passes on for the rest of the batch (its input
    /// without those records, or what a transform emitted for them). Same lifetime.
    virtual const sluice_batch_t *passed_on_without_subset() const { return nullptr; }
    virtual ChainResult flush(const sluice_batch_t &batch) = 0;
    virtual ChainResult partitions_assigned(const sluice_topic_partition_t *tps, size_t count) = 0;
    virtual ChainResult partitions_revoked(const sluice_topic_partition_t *tps, size_t count) = 0;
    virtual ChainResult resume_offsets(const sluice_topic_partition_t *tps, size_t count,
                                       int64_t *offsets) = 0;
    virtual ChainResult snapshot_state(std::string *out) = 0;
    virtual ChainResult restore_state(std::string_view data) = 0;
};

/// One created plugin instance with its host context: name, config, metrics, emit buffer and
/// error buffer.
///
/// Lifecycle: the constructor checks `config` against the keys the plugin declares
/// (check_plugin_config), then calls create() (throws PluginError carrying the plugin's own
/// message); the destructor calls destroy(). It holds a reference to its PluginLibrary, so the
/// library stays loaded while the instance exists. Not copyable or movable: the plugin keeps
/// a pointer to this object as its host context.
/// Threads: constructed and destroyed on the control thread (a loader thread during hot
/// reload); every other call comes from the batch thread, one at a time.
class PluginInstance {
  public:
    /// Plugins' error buffers are host-owned and at least this large.
    static constexpr size_t kErrorBufferSize = 2048;

    PluginInstance(std::shared_ptr<PluginLibrary> lib, std::map<std::string, std::string> config);
    /// Makes the backend of an instance whose config asks for one (host/isolation registers
    /// it: `isolation = process`); nullptr = run in this process. Throws PluginError.
    using BackendFactory = std::unique_ptr<InstanceBackend> (*)(
        const PluginLibrary &lib, const std::map<std::string, std::string> &config);
    /// Set once at start-up, before any instance is made (so hot reload's new generations
    /// get one too). Any thread.
    static void set_backend_factory(BackendFactory factory);

    /// An instance that runs in `backend` (already created there): create() is not called
    /// here, every call below is forwarded to it.
    PluginInstance(std::shared_ptr<PluginLibrary> lib, std::map<std::string, std::string> config,
                   std::unique_ptr<InstanceBackend> backend);
    ~PluginInstance();
    PluginInstance(const PluginInstance &) = delete;
    PluginInstance &operator=(const PluginInstance &) = delete;

    const std::string &name() const { return lib_->name(); }
    const PluginMetrics &metrics() const { return metrics_; }
    const PluginLibrary &library() const { return *lib_; }
    const std::map<std::string, std::string> &config() const { return config_; }

    bool is_transform() const { return (lib_->descriptor().flags & SLUICE_PLUGIN_TRANSFORM) != 0; }
    bool wants_empty_batches() const {
        return (lib_->descriptor().flags & SLUICE_PLUGIN_WANTS_EMPTY_BATCHES) != 0;
    }

    // The calls below are the chain's (and hot reload's) way in; each returns the plugin's
    // status (unknown codes mapped to SLUICE_FATAL) and its message. Batch thread.

    /// Calls process_batch and updates metrics(). For a transform, the records it emitted are
    /// then available through emitted_batch().
    ChainResult process_batch(const sluice_batch_t &batch);
    /// The error policy's outcomes, counted in metrics() (batch thread): a batch still
    /// returning RETRY after max-retries is an error; dead-lettered records are counted.
    void count_retries_exhausted() { metrics_.errors++; }
    void count_dead_lettered(uint64_t records) { metrics_.dead_lettered += records; }
    /// The batch a transform passes on after its last process_batch: `source`'s id, time,
    /// flags and ranges with the emitted records. Valid until the next process_batch.
    sluice_batch_t emitted_batch(const sluice_batch_t &source) const;
    /// See InstanceBackend::failed_subset (always nullptr in process).
    const sluice_batch_t *failed_subset() const {
        return backend_ ? backend_->failed_subset() : nullptr;
    }
    const sluice_batch_t *passed_on_without_subset() const {
        return backend_ ? backend_->passed_on_without_subset() : nullptr;
    }
    /// Whether the instance runs out of process (`isolation = process`).
    bool isolated() const { return backend_ != nullptr; }
    /// Optional hooks: OK without calling anything when the plugin lacks them.
    ChainResult flush(const sluice_batch_t &batch);
    ChainResult partitions_assigned(const sluice_topic_partition_t *tps, size_t count);
    ChainResult partitions_revoked(const sluice_topic_partition_t *tps, size_t count);
    bool has_resume_offsets() const { return lib_->descriptor().resume_offsets != nullptr; }
    /// offsets[i] is set to -1 before the call; the plugin fills what it knows.
    ChainResult resume_offsets(const sluice_topic_partition_t *tps, size_t count, int64_t *offsets);

    /// Hot-reload hand-over: both hooks present (either alone is useless).
    bool has_state_hooks() const {
        return lib_->descriptor().snapshot_state != nullptr &&
               lib_->descriptor().restore_state != nullptr;
    }
    /// Appends the instance's state to *out (nothing when the hook is absent). Batch thread.
    ChainResult snapshot_state(std::string *out);
    /// Gives an earlier generation's snapshot to this instance (OK when the hook is absent).
    /// Control or loader thread, before the instance joins a chain.
    ChainResult restore_state(std::string_view data);

  private:
    friend struct HostApi;  // the host API functions the plugin calls back into

    void clear_error() { error_[0] = '\0'; }
    ChainResult result_of(int32_t code, const char *function);
    using PartitionsHook = decltype(sluice_plugin_t::partitions_assigned);
    /// partitions_assigned or partitions_revoked (`function`); OK when the hook is absent.
    ChainResult call_partitions_hook(PartitionsHook fn, const sluice_topic_partition_t *tps,
                                     size_t count, const char *function);

    std::shared_ptr<PluginLibrary> lib_;
    std::map<std::string, std::string> config_;  // node-based: config_get's strings stay put
    PluginMetrics metrics_;
    EmitBuffer emitted_;
    bool in_process_ = false;  // emit is legal only inside process_batch
    bool warned_emit_ = false;
    void *instance_ = nullptr;
    bool created_ = false;
    std::array<char, kErrorBufferSize> error_{};
    std::unique_ptr<InstanceBackend> backend_;  // set: every call goes there (host/isolation)
};

}  // namespace sluice::plugins
