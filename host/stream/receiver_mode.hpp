#pragma once
// Receiver mode (Spark's KafkaUtils.createStream with the receiver write-ahead log), a
// BatchSource of the RunLoop: consumer group threads cut records into blocks; every batch
// interval the blocks received so far become one batch; with a WAL, blocks are durable before
// their offsets are committed and blocks never processed are replayed first at the next start.

#include <atomic>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "common/types.hpp"
#include "stream/run_loop.hpp"

namespace sluice::receiver {
class BlockQueue;
class ConsumerThread;
struct ReceiverItem;
}  // namespace sluice::receiver
namespace sluice::wal {
class WriteAheadLog;
struct Block;
}  // namespace sluice::wal

namespace sluice::stream {

/// Lifecycle: made by the app, owned by its RunLoop; every function on the control thread,
/// which is also the batch thread. The consumer threads are started by start() and stopped
/// and joined by finish() (or the destructor).
class ReceiverMode : public BatchSource {
  public:
    ReceiverMode();
    ~ReceiverMode() override;

    const char *mode() const override { return "receiver"; }
    void open(RunLoop &loop) override;
    std::map<TopicPartition, int64_t> mirror_start(RunLoop &loop,
                                                   zk::MirrorSettings &settings) override;
    StartOutcome start(RunLoop &loop, const std::atomic<bool> &abort) override;
    Clock::time_point first_due() const override { return first_due_; }
    BatchOutcome step(RunLoop &loop, Clock::time_point due, const std::atomic<bool> &stop,
                      const std::atomic<bool> &abort) override;
    int finish(RunLoop &loop, int exit_code, bool failed, const std::atomic<bool> &abort) override;
    int final_exit_code(int exit_code) override;
    std::string batch_suffix() const override;

  private:
    /// The id and time a WAL plan gave a batch before a crash (replayed as they were).
    struct Planned {
        int64_t batch_id = 0;
        int64_t batch_time_ms = 0;
    };
    void start_receivers(const RunLoop &loop);
    /// Stops the consumer threads and waits until each has handed over its last blocks,
    /// calling `meanwhile` (the last batches) while it waits; they leave the group on
    /// allow_leave().
    void stop_receivers(const std::function<void()> &meanwhile);
    /// processed rule: tells each consumer thread the ends of its blocks a batch processed.
    void hand_processed(const std::vector<std::unique_ptr<wal::Block>> &blocks);
    /// Turns queued items into batches: assignment changes reach the plugins in order with
    /// the blocks around them. Returns false when a batch failed (exit_code_ says why).
    bool drain(RunLoop &loop, std::deque<receiver::ReceiverItem> items, Clock::time_point due,
               const std::atomic<bool> &abort, bool allow_empty);
    /// Runs one batch. With a WAL the batch is planned (durably) before it runs, unless
    /// `planned` says it already was; a WAL error fails it (reported once, at the end).
    BatchOutcome execute(RunLoop &loop, std::vector<std::unique_ptr<wal::Block>> blocks,
                         bool replay, Clock::time_point scheduled, const std::atomic<bool> &abort,
                         const Planned *planned = nullptr);
    /// Replays what the WAL holds; false when a batch failed (exit_code_ says why).
    bool replay_wal(RunLoop &loop, const std::atomic<bool> &abort);
    /// After a WAL I/O error: its one line, and the exit code.
    int report_wal_failure();
    /// Thread: batch. The receiver part of the snapshot the loop publishes next, and, while the
    /// group has assigned nothing, a line every few seconds saying so.
    void update_intake(RunLoop &loop);
    /// Thread: batch. As a batch starts, every consumer thread seals its open blocks and hands
    /// them over, so the batch holds what was read until its start; waits for that at most
    /// kSealWait, and not for a thread that did not answer the last time (one held in a
    /// rebalance callback): its blocks go to the next batch.
    void seal_receivers();
    uint64_t seal_epoch_ = 0;

    std::unique_ptr<wal::WriteAheadLog> wal_;
    std::unique_ptr<receiver::BlockQueue> queue_;
    std::vector<std::unique_ptr<receiver::ConsumerThread>> receivers_;
    std::set<TopicPartition> owned_;
    std::map<TopicPartition, int64_t> resume_;  // the WAL's end per partition, after replay
    config::ReceiverCommit loop_commit_ = config::ReceiverCommit::processed;
    std::atomic<uint64_t> next_block_id_{0};
    // backpressure: records/s per consumer thread (0 = none), and what all threads may read
    // for the next batch (ConsumerSettings::credit; the largest value = no bound)
    std::atomic<int64_t> thread_rate_{0};
    std::atomic<int64_t> credit_{std::numeric_limits<int64_t>::max()};
    void set_intake_rate(const RunLoop &loop);
    int64_t next_batch_id_ = 0;
    int exit_code_ = kExitOk;  // the mode's own: a latched WAL error is reported at the end
    Clock::time_point first_due_{};
    std::vector<TopicPartition> partitions_;  // of the topics, at start (bounded metadata wait)
    Clock::time_point unassigned_since_{};    // when owned_ became (or started) empty
    Clock::time_point last_unassigned_log_{};
};

}  // namespace sluice::stream
