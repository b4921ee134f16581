#pragma once
// The run loop of `sluice run`, one skeleton for every mode (README.md has the lifecycle). It
// owns what all modes share: the metrics exporter, the plugin chain and its BatchRunner, the
// ZooKeeper mirror, the pacing of batches, the per-batch metrics and log line, and the
// shutdown. A mode (a BatchSource: DirectMode, ReceiverMode) supplies only what differs: how it
// recovers, how it plans or collects a batch, how it reads it and how it commits it.

#include <sluice/sluice.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/types.hpp"
#include "config/run_config.hpp"
#include "metrics/snapshot.hpp"
#include "stream/exit_codes.hpp"
#include "stream/rate_estimator.hpp"

namespace sluice::plugins {
class PluginChain;
}
namespace sluice::zk {
class OffsetMirror;
struct MirrorSettings;
}  // namespace sluice::zk
namespace sluice::metrics {
class Exporter;
class LagMonitor;
}  // namespace sluice::metrics

namespace sluice::stream {

class BatchRunner;
class RunLoop;
struct PlanLimits;

using Clock = std::chrono::steady_clock;

/// How a mode's start() ended.
struct StartOutcome {
    bool started = true;      // false: the run ends at once with exit_code (no shutdown tail)
    int exit_code = kExitOk;  // when started: another code skips the loop for the shutdown
};

/// How a batch (or a step of the loop) ended.
struct BatchOutcome {
    int exit_code = kExitOk;  // when not committed: why the run stops
    bool committed = false;
};

/// One batch whose records a mode has in hand, for RunLoop::process. Pointers must outlive
/// the call.
struct ReadyBatch {
    int64_t batch_id = 0;
    int64_t batch_time_ms = 0;
    bool replay = false;
    const std::vector<OffsetRange> *ranges = nullptr;  // what the plugins see; the mirror's
    const sluice_record_t *records = nullptr;
    size_t record_count = 0;
    uint64_t bytes = 0;           // keys and values
    Clock::time_point scheduled;  // when it was due: the scheduling delay is started - scheduled
    Clock::time_point started;    // when the mode began it: processing is measured from here
    std::string detail;           // the mode's part of the batch line ("2 of 4 partitions")
};

/// What one mode supplies to the RunLoop. Every function runs on the control thread, which is
/// also the batch thread (one batch in flight, committed in order).
class BatchSource {
  public:
    virtual ~BatchSource() = default;

    /// The mode's label in /metrics and /status ("direct", "receiver").
    virtual const char *mode() const = 0;

    /// Opens the mode's Kafka side and recovers what the last run left (checkpoint, WAL),
    /// after the chain is built and before the mirror starts. Throws on trouble.
    virtual void open(RunLoop &loop) = 0;

    /// The ZooKeeper mirror's settings beyond ZooKeeper and group (thread counts) and the
    /// partitions it knows from the start with their next offsets (-1: none yet). Called
    /// only when the mirror runs.
    virtual std::map<TopicPartition, int64_t> mirror_start(RunLoop &loop,
                                                           zk::MirrorSettings &settings) = 0;

    /// After the mirror: hands the plugins their partitions, replays what was planned but not
    /// committed, starts the mode's threads.
    virtual StartOutcome start(RunLoop &loop, const std::atomic<bool> &abort) = 0;

    /// When the first batch of the loop is due, after start().
    virtual Clock::time_point first_due() const = 0;

    /// One batch interval, due at `due`: plan or collect, read, loop.process(), commit.
    /// committed=false with kExitOk: nothing was planned, try again at once (the schedule
    /// does not move); with another code: the run stops with it.
    virtual BatchOutcome step(RunLoop &loop, Clock::time_point due, const std::atomic<bool> &stop,
                              const std::atomic<bool> &abort) = 0;

    /// The stop, before the state turns "stopping": drain what is in hand (unless `failed`
    /// or `abort`), warn about what is abandoned, revoke the plugins' partitions, stop the
    /// mode's threads. Returns the exit code.
    virtual int finish(RunLoop &loop, int exit_code, bool failed,
                       const std::atomic<bool> &abort) = 0;

    /// The last word on the exit code, after the "stopped after" line (a latched WAL error).
    virtual int final_exit_code(int exit_code) { return exit_code; }

    /// Appended to the per-batch log line after a commit (the WAL's size).
    virtual std::string batch_suffix() const { return {}; }

    /// POST /control/pause (true) and /control/resume (false), at a batch boundary: the loop
    /// starts no step() while paused. A mode whose threads read ahead of the batches (receiver
    /// mode's consumers) should stop them reading here; by default they read on until their
    /// own backpressure limit. Direct mode reads only what a step plans: nothing to do.
    virtual void pause_intake(bool paused) { (void)paused; }

    /// Called about every 50 ms while paused, on the control thread: a mode whose Kafka client
    /// must be polled to keep its group membership (direct-assignment=group: librdkafka's
    /// max.poll.interval.ms, 5 min by default) polls it here. By default nothing.
    virtual void while_paused() {}
};

/// Lifecycle: constructed, run() once, destroyed, on the control thread. The exporter and the
/// mirror have their own threads (joined at the end of run(), or by the destructor).
class RunLoop {
  public:
    RunLoop(config::RunConfig config, std::string bootstrap_servers,
            std::unique_ptr<BatchSource> source);
    ~RunLoop();
    RunLoop(const RunLoop &) = delete;
    RunLoop &operator=(const RunLoop &) = delete;

    /// Runs until `stop` becomes true, max-batches is reached or a batch fails. `stop`: set by
    /// SIGINT/SIGTERM; the batch in flight is finished first. `abort`: set when the shutdown
    /// timeout has passed; the batch in flight is abandoned uncommitted (replayed at the next
    /// start). Returns an ExitCode.
    int run(const std::atomic<bool> &stop, const std::atomic<bool> &abort);

    /// Runs the chain on `batch` (with the error policies); when it may be committed, calls
    /// `commit` (the mode's durable commit: checkpoint, WAL done mark, Kafka), then publishes
    /// the ranges to the mirror, counts the batch in the metrics and logs its line.
    template <typename Commit>
    BatchOutcome process(const ReadyBatch &batch, const std::atomic<bool> &abort, Commit &&commit) {
        if (auto verdict = run_chain(batch, abort); !verdict.committed) return verdict;
        if (auto committed = commit(); !committed.committed) return committed;
        record(batch);
        return {kExitOk, true};
    }

    void publish_metrics(metrics::RunState state);

    // For the modes (control thread).
    const config::RunConfig &config() const { return config_; }
    const std::string &bootstrap() const { return bootstrap_; }
    plugins::PluginChain &chain() { return *chain_; }
    zk::OffsetMirror *mirror() { return mirror_.get(); }  // null without --zookeeper
    metrics::RunSnapshot &metrics() { return metrics_; }
    int64_t batches_done() const { return batches_done_; }
    /// backpressure = true: the records/s the next batch may take (the estimate, or
    /// backpressure-initial-rate before the first); 0 = no limit (backpressure off, or no
    /// initial rate yet).
    double backpressure_rate() const;
    /// Direct modes, before planning a batch: `limits`' backpressure rate, and its
    /// max_batch_records lowered to what max-batch-bytes allows at the mean record size so far.
    void apply_flow_limits(PlanLimits *limits) const;
    /// Set by POST /control/pause (exporter thread), read at batch boundaries. Any thread.
    bool pause_requested() const { return pause_requested_.load(); }

  private:
    void start_mirror();
    BatchOutcome run_chain(const ReadyBatch &batch, const std::atomic<bool> &abort);
    void record(const ReadyBatch &batch);
    /// While pause_requested() and not `stop`: no batch starts. Control thread.
    void hold(const std::atomic<bool> &stop);

    config::RunConfig config_;
    std::string bootstrap_;
    metrics::RunSnapshot metrics_;  // batch thread; published copies only
    // POST /control/pause and /resume; before exporter_, whose thread sets it, so it outlives it.
    std::atomic<bool> pause_requested_{false};
    std::unique_ptr<metrics::Exporter> exporter_;  // --metrics-address; its own HTTP thread
    std::unique_ptr<plugins::PluginChain> chain_;
    std::unique_ptr<BatchRunner> runner_;        // after chain_: refers to it
    std::unique_ptr<zk::OffsetMirror> mirror_;   // --zookeeper; its own thread
    std::unique_ptr<metrics::LagMonitor> lag_;   // after open(); its own thread and client
    std::optional<PidRateEstimator> estimator_;  // backpressure = true
    int64_t batches_done_ = 0;
    uint64_t total_records_ = 0;
    std::unique_ptr<BatchSource> source_;  // last: destroyed first (its threads feed the rest)
};

}  // namespace sluice::stream
