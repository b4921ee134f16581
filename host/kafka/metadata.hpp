#pragma once
// Metadata and offset queries on any librdkafka handle: the partitions of topics and patterns,
// watermarks, offsets for a timestamp, a group's committed offsets, and explicit commits. Used
// by direct mode's reader (on its own handle) and by receiver mode (a short-lived handle, to
// list the partitions the ZooKeeper mirror needs). Each call blocks the calling thread for at
// most its timeout; the handle must outlive the call.

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/types.hpp"
#include "kafka/kafka_conf.hpp"

namespace sluice::kafka {

struct Watermarks {
    int64_t low = -1;   // first offset still in the log
    int64_t high = -1;  // next offset to be written
};

/// partitions_for gave up because a stop was asked (StopWaits) while it waited.
class WaitStopped : public KafkaError {
  public:
    using KafkaError::KafkaError;
};

/// While it lives, partitions_for on the calling thread checks `stop` and throws WaitStopped
/// within about half a second of it becoming true, instead of waiting out its timeout (30 s
/// for brokers that cannot be reached). Thread-local on purpose: the modes call partitions_for
/// from their open() on the control thread, and the run loop (stream::RunLoop::run) makes that
/// first wait stoppable with one scope rather than a stop flag threaded through every mode.
/// Scopes nest (the destructor restores the outer one). Thread: the one that waits.
class StopWaits {
  public:
    explicit StopWaits(const std::atomic<bool> &stop);
    ~StopWaits();
    StopWaits(const StopWaits &) = delete;
    StopWaits &operator=(const StopWaits &) = delete;

  private:
    const std::atomic<bool> *outer_;
};

/// Topic names and "^regex" patterns -> sorted partitions (patterns skip internal "__" topics,
/// like Kafka's pattern subscriptions). Throws KafkaError when a named topic is unknown (after a
/// bounded wait) or the brokers cannot be reached within `timeout`, std::invalid_argument for an
/// empty list, an empty name or a bad pattern. `brokers` only names them in errors.
std::vector<TopicPartition> partitions_for(rd_kafka_t *rk, const std::string &brokers,
                                           const std::vector<std::string> &topics,
                                           std::chrono::milliseconds timeout);

/// The same on a client of its own, made from `settings` (the user's [kafka] section) and
/// destroyed before it returns.
std::vector<TopicPartition> partitions_for(const std::string &brokers,
                                           const std::map<std::string, std::string> &settings,
                                           const std::vector<std::string> &topics,
                                           std::chrono::milliseconds timeout);

/// Both watermarks of every partition, in two ListOffsets requests. Throws KafkaError.
std::map<TopicPartition, Watermarks> query_watermarks(rd_kafka_t *rk, const std::string &brokers,
                                                      const std::vector<TopicPartition> &tps,
                                                      std::chrono::milliseconds timeout);

/// The high watermark (the next offset to be written) of each partition, in one ListOffsets
/// request. A partition whose answer is an error is absent; a failed request throws
/// KafkaError. For the lag monitor (metrics/lag_monitor.hpp), on its own handle.
std::map<TopicPartition, int64_t> query_high_watermarks(rd_kafka_t *rk, const std::string &brokers,
                                                        const std::vector<TopicPartition> &tps,
                                                        std::chrono::milliseconds timeout);

/// First offset whose timestamp is >= ts_ms, per partition. Throws when the broker has no
/// answer (-1, as librdkafka 2.0.2's mock always gives).
std::map<TopicPartition, int64_t> offsets_for_timestamp(rd_kafka_t *rk,
                                                        const std::vector<TopicPartition> &tps,
                                                        int64_t ts_ms,
                                                        std::chrono::milliseconds timeout);

/// The group's committed offsets; partitions without one are absent. Empty without a group.
/// `rk` must have been made with group.id = `group`.
std::map<TopicPartition, int64_t> committed_offsets(rd_kafka_t *rk, const std::string &brokers,
                                                    const std::string &group,
                                                    const std::vector<TopicPartition> &tps,
                                                    std::chrono::milliseconds timeout);

/// Commits each range's until_offset to the group, synchronously. No-op without a group.
/// Throws KafkaError naming the partitions that failed.
void commit_offsets(rd_kafka_t *rk, const std::string &group,
                    const std::vector<OffsetRange> &ranges);

}  // namespace sluice::kafka
