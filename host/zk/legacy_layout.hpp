#pragma once
// The legacy (ZooKeeper-based) Kafka layout: where consumer offsets, consumer
// ids, partition owners and broker registrations live, and the one-shot reads
// done at start (broker discovery, offset import).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/types.hpp"
#include "zk/zk_client.hpp"

namespace sluice::zk {

/// Paths below the chroot, as Kafka 0.8 consumers and Burrow's kafka_zk module use them.
struct LegacyPaths {
    static std::string group(const std::string &group) { return "/consumers/" + group; }
    static std::string offsets(const std::string &group, const std::string &topic) {
        return "/consumers/" + group + "/offsets/" + topic;
    }
    static std::string offset(const std::string &group, const TopicPartition &tp) {
        return offsets(group, tp.topic) + "/" + std::to_string(tp.partition);
    }
    static std::string ids(const std::string &group) { return "/consumers/" + group + "/ids"; }
    static std::string owners(const std::string &group, const std::string &topic) {
        return "/consumers/" + group + "/owners/" + topic;
    }
    static std::string owner(const std::string &group, const TopicPartition &tp) {
        return owners(group, tp.topic) + "/" + std::to_string(tp.partition);
    }
    static constexpr const char *kBrokerIds = "/brokers/ids";
};

/// "host:port" of one broker registration (the JSON under /brokers/ids/<id>):
/// the first PLAINTEXT endpoint, else the first endpoint of any protocol, else
/// host + port; nullopt when it names none or is not JSON. An endpoint or host/port
/// that is not HOST:PORT (a port from 1 to 65535; a host without ',', whitespace or
/// control characters, so it is one entry of the bootstrap list) is passed over.
std::optional<std::string> broker_address(const std::string &registration_json);

/// The offset text of a legacy offset node ("1234", surrounding whitespace
/// allowed); nullopt when it is not a non-negative whole number.
std::optional<int64_t> parse_offset_text(const std::string &text);

/// Connects, reads every /brokers/ids/* and returns them as a bootstrap list
/// "h1:p1,h2:p2" (sorted by broker id). Throws ZkError when ZooKeeper cannot be
/// reached, std::runtime_error when no broker is registered. Control thread.
std::string discover_brokers(const ZkSettings &settings);

/// Connects and reads /consumers/<group>/offsets/<topic>/<partition> for each of
/// `partitions`; partitions without a node (or with unreadable text, logged) are
/// left out. The values are taken as the next offset to read (Kafka's legacy
/// consumer convention). Throws ZkError when ZooKeeper cannot be reached.
std::map<TopicPartition, int64_t> read_legacy_offsets(
    const ZkSettings &settings, const std::string &group,
    const std::vector<TopicPartition> &partitions);

}  // namespace sluice::zk
