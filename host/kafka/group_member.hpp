#pragma once
// A member of a Kafka consumer group that reads nothing itself: direct mode with
// direct-assignment=group (stream/group_direct_mode.hpp) uses it to learn which partitions the
// group assigns this host (cooperative-sticky by default) and to commit, and read back, each
// partition's offset with its metadata (the plan record). The records are read by the
// DirectReader's own handle; the member's partitions stay paused, so it fetches nothing.

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/types.hpp"

namespace sluice::kafka {

/// One partition's committed offset and its metadata string, as the group stores them.
struct CommittedOffset {
    int64_t offset = -1;  // -1: none committed
    std::string metadata;
};

/// One offset to commit, with its metadata (Kafka's limit: offset.metadata.max.bytes, 4,096 B
/// by default).
struct OffsetCommit {
    TopicPartition tp;
    int64_t offset = 0;
    std::string metadata;
};

struct GroupMemberSettings {
    std::string brokers;
    std::string group;
    std::vector<std::string> topics;           // names and "^regex" patterns, as --topics
    std::map<std::string, std::string> kafka;  // the user's librdkafka settings, applied last
};

/// Lifecycle: made, polled, used and closed on one thread (direct mode's control thread); the
/// revoke callback runs on that thread inside poll() and close(). librdkafka's own threads
/// (heartbeats, metadata refresh) belong to the handle and end with it.
class GroupMember {
  public:
    /// Called for partitions leaving this member, before they are released: `lost` when the
    /// group already gave them to another member (the session expired), so committing them
    /// would be refused and must not be tried.
    using RevokeFn = std::function<void(const std::vector<TopicPartition> &tps, bool lost)>;

    /// Creates the handle and subscribes. Throws KafkaError.
    GroupMember(GroupMemberSettings settings, RevokeFn on_revoke);
    ~GroupMember();
    GroupMember(const GroupMember &) = delete;
    GroupMember &operator=(const GroupMember &) = delete;

    /// Serves the group's events; returns the partitions assigned since the last call (the
    /// revocations are handed to the callback as they come).
    std::vector<TopicPartition> poll();

    /// What the group has assigned this member now.
    const std::set<TopicPartition> &owned() const { return owned_; }

    /// Commits synchronously, fenced by the member's generation (a member the group no longer
    /// knows is refused by the broker). Returns, per partition that failed, why.
    std::map<TopicPartition, std::string> commit(const std::vector<OffsetCommit> &offsets);

    /// The committed offsets and metadata of `tps` (absent: none). Throws KafkaError.
    std::map<TopicPartition, CommittedOffset> committed(const std::vector<TopicPartition> &tps,
                                                        std::chrono::milliseconds timeout);

    /// Leaves the group (the revoke callback runs for what is owned). Idempotent; the
    /// destructor of a member never closed leaves without the revoke (the session expires).
    void close();

    const std::string &group() const { return settings_.group; }

    /// How many rebalance callbacks have run (each assignment or revocation, even of nothing):
    /// it moves when a rebalance this member took part in has ended.
    uint64_t rebalances() const { return rebalances_; }

    /// Whether the group looked settled at the last statistics report (every 100 ms, served
    /// by poll()): joined, and no rebalance under way. A commit made while the group rebalances
    /// is refused, and one that carries a generation the group has just left behind makes
    /// librdkafka give up the whole assignment as lost, so commits wait for this.
    bool settled() const { return settled_; }

  private:
    static void rebalance_trampoline(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                     rd_kafka_topic_partition_list_t *parts, void *opaque);
    void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts);
    static int stats_trampoline(rd_kafka_t *rk, char *json, size_t len, void *opaque);

    GroupMemberSettings settings_;
    RevokeFn on_revoke_;
    rd_kafka_t *rk_ = nullptr;
    bool closed_ = false;
    bool ever_assigned_ = false;
    bool destroy_would_abort_ = false;  // kafka/consumer_close.hpp, found before the close
    uint64_t rebalances_ = 0;
    bool settled_ = false;  // the first assignment (even of nothing) has come
    std::set<TopicPartition> owned_;
    std::vector<TopicPartition> assigned_;  // since the last poll()
};

}  // namespace sluice::kafka
