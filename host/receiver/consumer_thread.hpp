#pragma once
// One receiver thread (Spark's KafkaReceiver stream): a member of the consumer group that
// reads its partitions of one topic, cuts the records into blocks every block interval and
// as each batch starts, hands them to the batch thread (through the write-ahead log when
// there is one) and commits their offsets by the run's commit rule: once processed (the
// default), once durable in the WAL, or as read (librdkafka's auto-commit).

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/types.hpp"
#include "kafka/kafka_conf.hpp"
#include "receiver/block_queue.hpp"
#include "wal/wal_format.hpp"

namespace sluice::wal {
class WriteAheadLog;
}

namespace sluice::kafka {
class BrokerWaker;
}

namespace sluice::receiver {

/// When a block's offsets are committed to the group (receiver-commit, docs/receiver-mode.md).
enum class CommitRule {
    processed,  // after the batch holding the block succeeded: a lost machine loses nothing
    stored,     // once the block is durable in the WAL: a lost machine loses what it held
    read,       // librdkafka's auto-commit of what was read (no WAL): a crash can lose records
};

struct ConsumerSettings {
    std::string brokers;
    std::map<std::string, std::string> kafka;  // user's librdkafka settings
    std::string group;
    std::string topic;  // a name, or ^regex
    int index = 0;      // thread number, for names and logs
    std::chrono::milliseconds block_interval{200};
    int64_t max_rate = 0;  // records/s, 0 = no cap
    // backpressure: the records/s the batch thread's estimator allows this thread now (0 = no
    // limit), set by the batch thread, read by this one; never above max_rate. Null: none.
    const std::atomic<int64_t> *rate_limit = nullptr;
    // backpressure: the records every thread together may still read before the next batch
    // (rate x interval, refilled by the batch thread as each batch starts): a batch slower than
    // the interval does not let the intake run on at the rate meanwhile. Null: no such bound.
    std::atomic<int64_t> *credit = nullptr;
    std::string auto_offset_reset = "latest";  // for partitions the group has no offset for
    wal::WriteAheadLog *wal = nullptr;         // nullptr: auto-commit, no WAL
    BlockQueue *queue = nullptr;
    uint64_t max_queued_bytes = 256ull << 20;  // pause when the batch thread is this far behind
    std::function<uint64_t()> next_block_id;   // shared across threads
    CommitRule commit = CommitRule::processed;
    int reader = 0;  // this thread's number in the process, stamped on its blocks
    // Per partition, where the WAL replayed at start ends (every offset below it processed):
    // a partition assigned with a lower committed offset starts there and commits it. Read
    // only while the threads run; null: none.
    const std::map<TopicPartition, int64_t> *resume = nullptr;
    // processed: how long a revoke waits for the batch thread to process the partitions'
    // last blocks before it commits them and lets the partitions go.
    std::chrono::milliseconds revoke_wait{30000};
};

/// Lifecycle: the constructor creates the consumer and subscribes (throws kafka::KafkaError);
/// start() runs the thread; stop() asks it to seal, store and commit what it holds, leave the
/// group and end; the destructor stops and joins. Owned by the receiver stream (control
/// thread). The thread is the only user of the librdkafka handle after start().
class ConsumerThread {
  public:
    explicit ConsumerThread(ConsumerSettings settings);
    ~ConsumerThread();
    ConsumerThread(const ConsumerThread &) = delete;
    ConsumerThread &operator=(const ConsumerThread &) = delete;

    void start();
    void stop();  // returns at once; join() waits
    /// After stop(): the thread has made its last blocks durable and committed them, and now
    /// waits for allow_leave() before it leaves the group. Any thread.
    bool done_reading() const { return done_reading_.load(std::memory_order_acquire); }
    /// Lets the thread leave the group. The owner calls it once every thread of the process is
    /// done_reading(): a member that leaves starts a rebalance, and the mock (like a busy broker)
    /// refuses the others' last commits while it runs. Any thread.
    void allow_leave() { may_leave_.store(true, std::memory_order_release); }
    /// After allow_leave(): the thread's last commits have landed (or there is nothing it may
    /// still commit). It goes on serving the group until allow_close(). Any thread.
    bool committed_at_stop() const { return committed_at_stop_.load(std::memory_order_acquire); }
    /// Lets the thread close its consumer (leave the group) and end. The owner calls it once
    /// every thread of the process is committed_at_stop() (or gave up on it): until then a
    /// rebalance under way may need this member to rejoin before anyone's commit lands. Any
    /// thread.
    void allow_close() { may_close_.store(true, std::memory_order_release); }
    void join();
    /// processed rule: the batch holding this thread's blocks up to `until` (per partition)
    /// succeeded; the thread commits it if it still owns the partition. Any thread.
    void processed(const std::map<TopicPartition, int64_t> &until);
    /// The batch thread starts a batch: seal the open blocks now and hand over what is sealed
    /// (through the WAL when there is one), so the batch holds what was read until now, not
    /// only the blocks the block interval has cut. Wakes the thread; sealed(epoch) says when
    /// it has done so. Epochs grow by one per batch. Any thread, before allow_leave() (the
    /// thread drops its queue after it).
    void request_seal(uint64_t epoch);
    /// The thread has sealed and handed over for request_seal(epoch) or a later one.
    bool sealed(uint64_t epoch) const {
        return sealed_epoch_.load(std::memory_order_acquire) >= epoch;
    }
    /// Set when the thread ended on an error the run cannot go on with (a WAL write failed).
    std::string failure() const;
    /// Whether consumption is paused by backpressure now. Any thread.
    bool paused() const { return paused_now_.load(std::memory_order_relaxed); }
    /// Records read so far (any thread).
    uint64_t records() const { return records_.load(std::memory_order_relaxed); }
    const std::string &name() const { return name_; }

  private:
    static constexpr size_t kConsumeBatch = 4096;  // records per librdkafka consume call

    struct Waiting {  // appended to the WAL, waiting for fsync before its offsets are committed
        uint64_t position;
        std::unique_ptr<wal::Block> block;
    };

    static void rebalance_trampoline(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                     rd_kafka_topic_partition_list_t *parts, void *opaque);
    static int stats_trampoline(rd_kafka_t *rk, char *json, size_t len, void *opaque);
    void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts);
    /// Leaves the group and destroys rk_, first waiting (bounded) for the first assignment of
    /// a member that never had one (kafka/consumer_close.hpp: a librdkafka 2.0.2 assertion).
    void close_consumer();
    void loop();
    void add(const rd_kafka_message_t *m);
    void seal(bool all_now);
    void store_and_hand_over(bool final);
    void commit(const std::vector<const wal::Block *> &blocks, bool force);
    // Commits uncommitted_, keeping what the group refused. Outside the revoke callback only
    // while the group is settled (settled_): a commit made while it rebalances is refused, and
    // one that lands with the generation the group has just left makes librdkafka drop the
    // whole assignment as lost (then nothing of it can be committed).
    // `force`: in the revoke callback (the group has just assigned, with this generation) and
    // at the stop (the thread polls no more, so settled_ is not kept up to date).
    void flush_commits(bool force = false);
    bool wal_failed() const;  // the WAL latched an I/O error: commit nothing more
    void drop_partitions(const std::vector<TopicPartition> &tps, bool lost);
    void hand_over(std::unique_ptr<wal::Block> block);  // to the batch thread
    // processed rule: what was read of revoked partitions goes to the batch thread; unless
    // lost, the revoke waits for it to be processed (hold_revoke) and commits it.
    void release_partitions(const std::vector<TopicPartition> &tps, bool lost);
    void hold_revoke(const std::vector<TopicPartition> &tps);
    bool take_processed();  // processed offsets of owned partitions into uncommitted_
    // Retries refused commits; `force` as flush_commits (a revoke, the stop).
    void commit_for_a_while(std::chrono::milliseconds how_long, bool force);
    // The stop's last commits, polling the consumer meanwhile, until allow_close().
    void commit_at_stop();
    // A partition assigned with a committed offset below what this process is known to have
    // processed (known_) starts after that, and commits it.
    void resume_known(rd_kafka_topic_partition_list_t *parts);
    void update_pause();
    void wake_fetchers();
    // Under a rate limit: one round over the partitions' own queues, each taking its share of
    // `cap` (see fair_); returns the records read.
    size_t consume_fairly(std::vector<rd_kafka_message_t *> &messages, size_t cap,
                          std::chrono::milliseconds wait);
    void take_partition_queues(const std::vector<TopicPartition> &tps);
    void throttle(size_t consumed);
    int64_t max_rate() const;  // the lower of max_rate and the rate limit; 0 = none

    ConsumerSettings settings_;
    std::string name_;
    kafka::HandlePtr rk_;
    kafka::QueuePtr queue_;
    std::unique_ptr<kafka::BrokerWaker> waker_;  // destroyed before rk_
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> records_{0};
    std::atomic<bool> paused_now_{false};  // paused_, for other threads (metrics)
    std::atomic<bool> done_reading_{false};
    std::atomic<uint64_t> seal_requested_{0};  // request_seal's last epoch
    std::atomic<uint64_t> sealed_epoch_{0};    // the last epoch this thread sealed for
    bool ever_rebalanced_ = false;             // this thread only: on_rebalance has run
    // This thread only: the last statistics report (every 100 ms) said joined and no
    // rebalance under way, and no commit has been refused since.
    bool settled_ = false;
    // After a refused commit no other is tried until the rebalance that refused it ends (its
    // callback runs) or for 5 s: a statistics report queued before the refusal may still say
    // settled, and a commit of the old generation gets the whole assignment dropped as lost.
    std::chrono::steady_clock::time_point hold_commits_until_{};
    bool fenced_ = false;  // the last commit was refused for this member's generation or id
    std::atomic<bool> may_leave_{false};
    std::atomic<bool> committed_at_stop_{false};
    std::atomic<bool> may_close_{false};
    mutable std::mutex failure_mutex_;
    std::string failure_;
    std::mutex processed_mutex_;
    std::map<TopicPartition, int64_t> processed_in_;  // from the batch thread, not yet taken

    // Thread-only state.
    std::map<TopicPartition, wal::BlockBuilder> open_;  // per assigned partition
    std::vector<std::unique_ptr<wal::Block>> sealed_;   // not yet in the WAL
    std::vector<Waiting> waiting_;                      // in the WAL, not yet durable
    std::chrono::steady_clock::time_point last_sync_{};
    std::map<TopicPartition, int64_t> uncommitted_;  // committable, not yet committed
    struct Owned {                                   // processed rule: per assigned partition
        int64_t handed = -1;                         // end of the last block handed over
        int64_t processed = -1;                      // end of the last one processed
    };
    std::map<TopicPartition, Owned> owned_;
    // Per assigned partition, the offset the next record must have. librdkafka 2.0.2's batch
    // consume (fixed in 2.1.0) can skip offsets of a partition kept through a pause, a resume
    // or a cooperative rebalance: a record past the next one seeks back once (a gap that comes
    // again is real: compaction, transaction markers), and a record already read is dropped.
    struct NextOffset {
        int64_t next = -1;        // -1: not yet known (the first record sets it)
        int64_t seeking_to = -1;  // a seek back to `next` is under way...
        int64_t gap_at = -1;      // ...after a record at this offset came instead
    };
    std::map<TopicPartition, NextOffset> next_;
    uint64_t seeks_back_ = 0;
    bool in_sequence(const TopicPartition &tp, int64_t offset);
    // Where this process's processing of a partition ended, when its committed offset may be
    // behind: the WAL's ends after a replay, and what was processed but not committed when a
    // partition went (a refused commit, an assignment lost to a rebalance).
    std::map<TopicPartition, int64_t> known_;
    std::chrono::steady_clock::time_point last_commit_try_{};
    uint64_t failed_commits_ = 0;
    bool paused_ = false;
    size_t queued_min_ = 100000;  // librdkafka's queued.min.messages
    bool queue_was_full_ = false;
    // Under a rate limit (receiver-max-rate, backpressure) each assigned partition's records
    // are read from its own librdkafka queue, round-robin: librdkafka prefetches a backlog
    // into the consumer queue one partition after another, so a thread reading slower than
    // that read one partition's whole backlog before the next one's (others' lag grew and
    // nothing of them was committed for minutes).
    bool fair_ = false;
    std::vector<std::pair<TopicPartition, kafka::QueuePtr>> partition_queues_;
    size_t fair_next_ = 0;  // the partition the next round starts at
    std::chrono::steady_clock::time_point rate_start_{};
    uint64_t rate_count_ = 0;
};

}  // namespace sluice::receiver
