#pragma once
// Direct mode (Spark's createDirectStream): every batch interval, ask the
// brokers where each partition ends, fix one OffsetRange per partition, log
// the plan, read the ranges in parallel, run the plugin chain, then commit.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/types.hpp"
#include "config/run_config.hpp"
#include "metrics/snapshot.hpp"
#include "stream/exit_codes.hpp"
#include "stream/offset_planner.hpp"

namespace sluice::checkpoint {
class CheckpointStore;
}
namespace sluice::ingest {
class DirectReader;
class BatchReleaser;
}  // namespace sluice::ingest
namespace sluice::plugins {
class PluginChain;
}
namespace sluice::zk {
class OffsetMirror;
}
namespace sluice::metrics {
class Exporter;
}

namespace sluice::stream {

class BatchRunner;

/// Runs direct mode until `stop` becomes true or max-batches is reached.
/// Lifecycle: constructed, run() once, destroyed, all on the control thread,
/// which is also the batch thread (one batch in flight, committed in order).
class DirectStream {
  public:
    DirectStream(config::RunConfig config, std::string bootstrap_servers);
    ~DirectStream();
    DirectStream(const DirectStream &) = delete;
    DirectStream &operator=(const DirectStream &) = delete;

    /// `stop`: set by SIGINT/SIGTERM; the batch in flight is finished first.
    /// `abort`: set when the shutdown timeout has passed; the batch in flight
    /// is abandoned uncommitted (it is replayed on the next start).
    int run(const std::atomic<bool> &stop, const std::atomic<bool> &abort);

  private:
    struct BatchOutcome {
        int exit_code = kExitOk;
        bool committed = false;
    };
    void open_components();
    std::map<TopicPartition, int64_t> resolve_start_positions(
        const std::optional<BatchPlan> &last_committed);
    BatchOutcome execute(const BatchPlan &plan, bool replay,
                         std::chrono::steady_clock::time_point scheduled,
                         const std::atomic<bool> &abort);
    /// Publishes metrics_ (with the chain's and the mirror's state) to the exporter, if any.
    void publish_metrics(metrics::RunState state);

    config::RunConfig config_;
    std::string bootstrap_;
    std::unique_ptr<plugins::PluginChain> chain_;
    std::unique_ptr<BatchRunner> runner_;  // after chain_: refers to it
    std::unique_ptr<ingest::DirectReader> reader_;
    std::unique_ptr<ingest::BatchReleaser> releaser_;
    std::unique_ptr<checkpoint::CheckpointStore> checkpoint_;
    std::unique_ptr<zk::OffsetMirror> mirror_;  // --zookeeper with --group; its own thread
    std::vector<TopicPartition> partitions_;
    PlanLimits limits_;
    uint64_t total_records_ = 0;
    std::unique_ptr<metrics::Exporter> exporter_;  // --metrics-address; its own HTTP thread
    metrics::RunSnapshot metrics_;                 // batch thread; published copies only
};

}  // namespace sluice::stream
