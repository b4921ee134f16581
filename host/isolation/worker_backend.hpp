#pragma once
// The host side of `isolation = process`: a plugin instance served by a worker process.

#include <sys/types.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "isolation/isolation_options.hpp"
#include "isolation/wire.hpp"
#include "plugins/plugin_instance.hpp"

namespace sluice::isolation {

/// One plugin instance in a worker process (`sluice plugin-worker`, this binary again).
///
/// Batches are laid out once in a memfd the worker maps; emitted records come back through a
/// second memfd; control messages, the plugin's log lines and its metrics go over a
/// socketpair. A worker that dies (a signal, an exit, batch-timeout, memory-limit) is
/// restarted with backoff, the plugin created again (its last snapshot restored, the current
/// assignment given) and the call repeated; a batch that kills it max-crashes times in a row
/// is bisected to find the records that do, and fails with only those (SKIP when on-error is
/// skip or dead-letter, else FATAL), after the rest of the batch ran.
///
/// Lifecycle: the constructor starts the worker and creates the plugin (throws
/// plugins::PluginError); the destructor closes the socket, which makes the worker destroy
/// the plugin and exit (killed after 5 s). Thread: like PluginInstance (batch thread).
class WorkerBackend final : public plugins::InstanceBackend {
  public:
    WorkerBackend(const plugins::PluginLibrary &lib, std::map<std::string, std::string> config,
                  IsolationOptions options);
    ~WorkerBackend() override;

    plugins::ChainResult process_batch(const sluice_batch_t &batch,
                                       std::map<std::string, double> *custom) override;
    const sluice_record_t *emitted(size_t *count) const override;
    const sluice_batch_t *failed_subset() const override;
    const sluice_batch_t *passed_on_without_subset() const override;
    plugins::ChainResult flush(const sluice_batch_t &batch) override;
    plugins::ChainResult partitions_assigned(const sluice_topic_partition_t *tps,
                                             size_t count) override;
    plugins::ChainResult partitions_revoked(const sluice_topic_partition_t *tps,
                                            size_t count) override;
    plugins::ChainResult resume_offsets(const sluice_topic_partition_t *tps, size_t count,
                                        int64_t *offsets) override;
    plugins::ChainResult snapshot_state(std::string *out) override;
    plugins::ChainResult restore_state(std::string_view data) override;

    /// The worker's process id (-1 while none runs): tests kill it.
    pid_t worker_pid() const { return pid_; }
    uint64_t crashes() const { return crashes_; }
    uint64_t restarts() const { return restarts_; }

  private:
    struct Outcome {
        bool replied = false;
        plugins::ChainResult result;  // replied: the plugin's answer
        std::string extra;            // replied: the call's own data after the common part
        std::string death;            // !replied: how the worker died
    };

    bool spawn(Outcome *out);
    Outcome call(Msg type, const std::string &payload, const char *what);
    Outcome call_restarting(Msg type, const std::string &payload, const char *what);
    Outcome run_process(const sluice_batch_t &batch);
    void on_death(const std::string &death, const char *what, int in_row, bool restarting);
    std::string reap(bool timed_out);
    void stop_worker();
    void backoff(int in_row) const;
    plugins::ChainResult bisect(const sluice_batch_t &batch, const std::string &death);
    void find_poison(const sluice_batch_t &batch, const std::vector<size_t> &indexes,
                     std::vector<size_t> *poison, int *runs);
    std::string partitions_payload(const sluice_topic_partition_t *tps, size_t count) const;
    plugins::ChainResult give_up(std::string message) const;
    void set_passed_on(const sluice_batch_t &batch, const std::vector<size_t> &rest);

    std::string name_;
    std::string path_;
    std::map<std::string, std::string> config_;
    IsolationOptions options_;
    bool give_up_skips_ = false;  // on-error = skip or dead-letter
    std::string executable_;

    pid_t pid_ = -1;
    int sock_ = -1;
    bool oom_ = false;
    SharedRegion input_;
    SharedRegion output_;
    DecodedBatch emitted_;
    DecodedBatch subset_;
    DecodedBatch rest_;           // the input without subset_ (a plain plugin passes it on)
    sluice_batch_t passed_on_{};  // rest_, or a transform's emitted records for it
    bool transform_ = false;
    bool subset_failed_ = false;
    std::string snapshot_;
    std::vector<std::pair<std::string, int32_t>> assigned_;
    std::map<std::string, double> custom_;
    std::deque<std::string> last_lines_;
    uint64_t crashes_ = 0;
    uint64_t restarts_ = 0;
    int64_t current_batch_ = -1;
};

/// From now on a PluginInstance whose config says `isolation = process` runs in a worker
/// (PluginInstance::set_backend_factory), including hot reload's new generations. Call once
/// at start-up, before the chain is built.
void enable_process_isolation();

}  // namespace sluice::isolation
