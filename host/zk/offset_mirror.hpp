#pragma once
// OffsetMirror: writes a consumer group's offsets to ZooKeeper in the legacy
// Kafka layout, for ZooKeeper-based monitoring tools (Burrow's kafka_zk module,
// Kafka 0.8 tools). Used by direct mode (under --group) and meant for receiver
// mode as well: both only call publish() after a committed batch and, on a
// rebalance, set_owned().

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/types.hpp"
#include "zk/zk_client.hpp"

namespace sluice::zk {

struct MirrorSettings {
    ZkSettings zookeeper;
    std::string group;
    /// The consumer id registered under /consumers/<group>/ids; "" = make one
    /// like Kafka's legacy consumer: <group>_<hostname>-<unix ms>-<pid hex>.
    std::string consumer_id;
    /// Threads per topic in the ids node's subscription (direct mode: 1).
    int threads_per_topic = 1;
    /// Per-topic thread counts (receiver mode's NAME:N); a topic not listed
    /// gets threads_per_topic.
    std::map<std::string, int> topic_threads;
    /// How often the mirror's state is logged at info.
    std::chrono::milliseconds log_interval{30000};
    /// Pause between attempts while ZooKeeper is unreachable.
    std::chrono::milliseconds retry_interval{500};
};

/// A snapshot of the mirror's state, for logs, metrics and tests.
struct MirrorStatus {
    bool connected = false;
    /// How long the oldest published offset not yet in ZooKeeper has waited;
    /// zero when ZooKeeper holds everything published.
    std::chrono::milliseconds lag{0};
    size_t pending_partitions = 0;
    uint64_t writes = 0;    // offset nodes written since the start
    uint64_t sessions = 0;  // ZooKeeper sessions opened (1 + reconnects after expiry)
};

/// Lifecycle: the constructor starts the mirror thread (it never waits for
/// ZooKeeper: an unreachable ZooKeeper only makes the mirror lag); the
/// destructor gives the mirror up to `flush_timeout` to write the last
/// offsets, then stops and joins the thread and closes the session (our
/// ephemeral nodes go with it). publish(), set_owned() and status() may be
/// called from any thread and only take a short lock: the batch thread is
/// never delayed by ZooKeeper. All ZooKeeper I/O runs on the mirror thread.
class OffsetMirror {
  public:
    /// `start_offsets`: every partition of every consumed topic, with the
    /// offset the run starts from (-1 = unknown: the node is created empty if
    /// missing, and an existing value is kept). Each gets its node at once, as
    /// Burrow counts the nodes to know the partitions. All are owned by this
    /// consumer until set_owned() says otherwise.
    OffsetMirror(MirrorSettings settings, const std::map<TopicPartition, int64_t> &start_offsets);
    ~OffsetMirror();
    OffsetMirror(const OffsetMirror &) = delete;
    OffsetMirror &operator=(const OffsetMirror &) = delete;

    /// After a committed batch: the until_offset of each range becomes the
    /// partition's mirrored offset (the latest value wins; older unwritten
    /// values are dropped).
    void publish(const std::vector<OffsetRange> &committed);
    void publish(const std::map<TopicPartition, int64_t> &next_offsets);

    /// After a rebalance (receiver mode): the partitions this consumer owns now.
    /// Owner nodes of others are removed, new ones created.
    void set_owned(const std::vector<TopicPartition> &owned);

    MirrorStatus status() const;
    std::chrono::milliseconds lag() const { return status().lag; }
    const std::string &consumer_id() const { return settings_.consumer_id; }

    /// Blocks until everything published so far is in ZooKeeper, or timeout
    /// passes (returns false). For shutdown and tests.
    bool wait_caught_up(std::chrono::milliseconds timeout) const;

    std::chrono::milliseconds flush_timeout{2000};

  private:
    using Clock = std::chrono::steady_clock;
    struct Entry {
        int64_t offset = -1;   // latest published (-1: none yet)
        int64_t written = -1;  // what ZooKeeper holds, as far as we know
        Clock::time_point pending_since{};
        bool pending() const { return offset >= 0 && offset != written; }
    };

    void run();
    bool open_session();
    bool set_up_nodes();
    bool register_ephemerals();
    bool write_pending();
    void log_status(bool always);
    std::string ids_json() const;

    MirrorSettings settings_;
    std::set<std::string> topics_;  // fixed at construction
    std::map<TopicPartition, int64_t> initial_;

    // Guarded by mutex_: shared between the publishing threads and the mirror thread.
    mutable std::mutex mutex_;
    mutable std::condition_variable wake_;
    std::map<TopicPartition, Entry> entries_;
    std::set<TopicPartition> owned_;
    bool owned_changed_ = false;
    bool stop_ = false;
    bool connected_ = false;
    uint64_t writes_ = 0;
    uint64_t sessions_ = 0;

    // Mirror thread only.
    std::unique_ptr<ZkClient> client_;
    bool nodes_ready_ = false;
    std::set<TopicPartition> registered_owners_;
    bool id_registered_ = false;
    Clock::time_point last_log_{};
    Clock::time_point last_connected_{};  // or when the session was opened
    Clock::time_point last_failure_log_{};

    std::thread thread_;  // last: started once everything above exists
};

}  // namespace sluice::zk
