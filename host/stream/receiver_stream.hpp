#pragma once
// Receiver mode (Spark's KafkaUtils.createStream with the receiver write-ahead log): consumer
// group threads cut records into blocks; every batch interval the blocks received so far
// become one batch; with a WAL, blocks are durable before their offsets are committed and
// blocks never processed are replayed first at the next start.

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/types.hpp"
#include "config/run_config.hpp"
#include "metrics/snapshot.hpp"

namespace sluice::plugins {
class PluginChain;
}
namespace sluice::receiver {
class BlockQueue;
class ConsumerThread;
struct ReceiverItem;
}  // namespace sluice::receiver
namespace sluice::wal {
class WriteAheadLog;
struct Block;
}  // namespace sluice::wal
namespace sluice::zk {
class OffsetMirror;
}
namespace sluice::metrics {
class Exporter;
}

namespace sluice::stream {

class BatchRunner;

/// Lifecycle: constructed, run() once, destroyed, on the control thread, which is also the
/// batch thread. The consumer threads are started and joined by run().
class ReceiverStream {
  public:
    ReceiverStream(config::RunConfig config, std::string bootstrap_servers);
    ~ReceiverStream();
    ReceiverStream(const ReceiverStream &) = delete;
    ReceiverStream &operator=(const ReceiverStream &) = delete;

    /// Same contract and exit codes as DirectStream::run.
    int run(const std::atomic<bool> &stop, const std::atomic<bool> &abort);

  private:
    struct Outcome {
        int exit_code = 0;
        bool committed = false;
    };
    /// The id and time a WAL plan gave a batch before a crash (replayed as they were).
    struct Planned {
        int64_t batch_id = 0;
        int64_t batch_time_ms = 0;
    };
    void open_components();
    void start_receivers();
    void stop_receivers();
    /// Turns queued items into batches: assignment changes reach the plugins in order with
    /// the blocks around them. Returns false when a batch failed (exit_code_ says why).
    bool drain(std::deque<receiver::ReceiverItem> items, std::chrono::steady_clock::time_point due,
               const std::atomic<bool> &abort, bool allow_empty);
    /// Runs one batch. With a WAL the batch is planned (durably) before it runs, unless
    /// `planned` says it already was; a WAL error fails it (reported once, by run()).
    Outcome execute(std::vector<std::unique_ptr<wal::Block>> blocks, bool replay,
                    std::chrono::steady_clock::time_point scheduled, const std::atomic<bool> &abort,
                    const Planned *planned = nullptr);
    /// Replays what the WAL holds; false when a batch failed (exit_code_ says why).
    bool replay_wal(const std::atomic<bool> &abort);
    /// After a WAL I/O error: its one line, and the exit code.
    int report_wal_failure();
    void publish_metrics(metrics::RunState state);

    config::RunConfig config_;
    std::string bootstrap_;
    std::unique_ptr<plugins::PluginChain> chain_;
    std::unique_ptr<BatchRunner> runner_;
    std::unique_ptr<wal::WriteAheadLog> wal_;
    std::unique_ptr<receiver::BlockQueue> queue_;
    std::vector<std::unique_ptr<receiver::ConsumerThread>> receivers_;
    std::unique_ptr<zk::OffsetMirror> mirror_;
    std::unique_ptr<metrics::Exporter> exporter_;
    metrics::RunSnapshot metrics_;
    std::set<TopicPartition> owned_;
    std::atomic<uint64_t> next_block_id_{0};
    int64_t next_batch_id_ = 0;
    int64_t batches_done_ = 0;
    uint64_t total_records_ = 0;
    int exit_code_ = 0;
};

}  // namespace sluice::stream
