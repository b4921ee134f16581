#pragma once
// RAII wrappers for librdkafka handles and a checked way to build a config.

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace sluice::kafka {

/// A Kafka setting was rejected or a handle could not be created. what() is
/// one line that names the setting.
class KafkaError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct ConfDeleter {
    void operator()(rd_kafka_conf_t *c) const { rd_kafka_conf_destroy(c); }
};
struct HandleDeleter {
    void operator()(rd_kafka_t *rk) const { rd_kafka_destroy(rk); }
};
struct TopicDeleter {
    void operator()(rd_kafka_topic_t *t) const { rd_kafka_topic_destroy(t); }
};
struct QueueDeleter {
    void operator()(rd_kafka_queue_t *q) const { rd_kafka_queue_destroy(q); }
};
struct MessageDeleter {
    void operator()(rd_kafka_message_t *m) const { rd_kafka_message_destroy(m); }
};
struct PartitionListDeleter {
    void operator()(rd_kafka_topic_partition_list_t *l) const {
        rd_kafka_topic_partition_list_destroy(l);
    }
};

using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

/// The spdlog level for a librdkafka (syslog) log level.
int spdlog_level_of(int syslog_level);
/// A librdkafka log callback that writes through spdlog ("librdkafka FACILITY: message"), so
/// its lines have the host's format and level filter instead of librdkafka's own stderr lines.
void log_to_spdlog(const rd_kafka_t *rk, int level, const char *facility, const char *message);

/// A librdkafka error callback that logs "kafka: REASON (ERR_NAME)" as a warning (the client
/// retries by itself; a fatal error surfaces from the call that hits it).
void warn_on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque);

/// From a statistics callback's JSON (`statistics.interval.ms`): whether the consumer group is
/// settled (state "up", join state "steady"); nullopt when the JSON has no group part.
std::optional<bool> group_settled_in_stats(const char *json, size_t len);

/// What the host's consumers (direct reader, group member, receiver threads) set unless the
/// user does: reconnect at most 1 s apart, so a broker that is back is used again within about
/// a second (librdkafka's own default backs off up to 10 s after repeated failed connects).
inline constexpr const char *kReconnectBackoffMaxKey = "reconnect.backoff.max.ms";
inline constexpr const char *kReconnectBackoffMaxMs = "1000";

/// Builds a librdkafka config from key/value pairs, applied in order, logging through spdlog.
/// Throws KafkaError "kafka setting 'KEY=VALUE' rejected: REASON".
ConfPtr make_conf(const std::map<std::string, std::string> &settings);

/// Sets one key on an existing config; same error as make_conf.
void set_conf(rd_kafka_conf_t *conf, const std::string &key, const std::string &value);

/// Creates a handle of the given type, taking ownership of conf.
/// Throws KafkaError with librdkafka's reason.
HandlePtr make_handle(rd_kafka_type_t type, ConfPtr conf);

}  // namespace sluice::kafka
