#pragma once
// Core value types shared by every host subsystem.

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

struct TopicPartition {
    std::string topic;
    int32_t partition = 0;

    auto operator<=>(const TopicPartition &) const = default;
    std::string to_string() const { return topic + ":" + std::to_string(partition); }
};

/// Offsets [from_offset, until_offset) of one partition. until_offset is the
/// next offset to read, as everywhere in Sluice (Kafka commits, checkpoint,
/// ZooKeeper mirror).
struct OffsetRange {
    std::string topic;
    int32_t partition = 0;
    int64_t from_offset = 0;   // inclusive
    int64_t until_offset = 0;  // exclusive

    int64_t count() const { return until_offset - from_offset; }
    TopicPartition topic_partition() const { return {topic, partition}; }
    bool operator==(const OffsetRange &) const = default;
};

/// A batch as planned before any record is read: what the offset log stores
/// and what a replay after a crash reproduces exactly.
struct BatchPlan {
    int64_t batch_id = 0;
    int64_t batch_time_ms = 0;  // scheduled time, Unix ms
    std::vector<OffsetRange> ranges;

    int64_t record_span() const {
        int64_t n = 0;
        for (const auto &r : ranges) n += r.count();
        return n;
    }
    bool operator==(const BatchPlan &) const = default;
};

}  // namespace sluice
