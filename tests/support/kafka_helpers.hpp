#pragma once
// Kafka helpers for tests: an independent reader (plain librdkafka, none of the
// host's code) to cross-check what was written, and metadata look-ups.
// Link the test with PkgConfig::RDKAFKA.

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

namespace sluice::test {

/// Client settings every test against the mock cluster needs: an empty fetch is
/// held for the whole fetch.wait.max.ms, and a group member joining or leaving
/// takes session.timeout.ms - 1 s.
inline const std::vector<std::pair<std::string, std::string>> &mock_client_settings() {
    static const std::vector<std::pair<std::string, std::string>> settings = {
        {"fetch.wait.max.ms", "10"}, {"session.timeout.ms", "6000"}};
    return settings;
}

struct ConsumedHeader {
    std::string name;
    std::optional<std::string> value;  // nullopt: a null header value
};

/// One record, copied out of librdkafka.
struct ConsumedRecord {
    std::string topic;
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    std::int64_t timestamp = -1;
    std::optional<std::string> key;    // nullopt: null key
    std::optional<std::string> value;  // nullopt: null value
    std::vector<ConsumedHeader> headers;
};

struct Watermarks {
    std::int64_t low = -1;
    std::int64_t high = -1;
};

namespace detail {

struct KafkaHandleDeleter {
    void operator()(rd_kafka_t *rk) const { rd_kafka_destroy(rk); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaHandleDeleter>;

inline int remaining_ms(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<std::int64_t>(left.count(), 0));
}

/// A consumer handle with its own group id (needed by assign(); no subscribe,
/// so no group join and no commits).
inline KafkaHandle make_consumer(
    const std::string &bootstrap,
    const std::vector<std::pair<std::string, std::string>> &extra = {}) {
    static std::atomic<int> counter{0};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    std::vector<std::pair<std::string, std::string>> settings = {
        {"bootstrap.servers", bootstrap},
        {"group.id", "sluice-test-reader-" + std::to_string(::getpid()) + "-" +
                         std::to_string(counter.fetch_add(1))},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        {"log_level", "3"}};
    settings.insert(settings.end(), mock_client_settings().begin(), mock_client_settings().end());
    settings.insert(settings.end(), extra.begin(), extra.end());
    char err[512];
    for (const auto &[key, value] : settings) {
        if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            throw std::runtime_error("test consumer setting '" + key + "=" + value +
                                     "' rejected: " + err);
        }
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error(std::string("cannot create the test consumer: ") + err);
    }
    return KafkaHandle(rk);
}

/// Partition count of topic from a full metadata request (which never
/// auto-creates topics); -1 when the cluster does not know the topic.
inline int partition_count(rd_kafka_t *rk, const std::string &topic, int timeout_ms) {
    const rd_kafka_metadata_t *md = nullptr;
    const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms);
    if (err)
        throw std::runtime_error(std::string("metadata request failed: ") + rd_kafka_err2str(err));
    int count = -1;
    for (int i = 0; i < md->topic_cnt; ++i)
        if (topic == md->topics[i].topic && !md->topics[i].err) count = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return count;
}

}  // namespace detail

/// Partition count of topic; -1 when the cluster does not know it.
inline int partition_count(const std::string &bootstrap, const std::string &topic,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto rk = detail::make_consumer(bootstrap);
    return detail::partition_count(rk.get(), topic, static_cast<int>(timeout.count()));
}

/// Low and high watermark of every partition of topic (index = partition).
inline std::vector<Watermarks> watermarks(
    const std::string &bootstrap, const std::string &topic,
    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto rk = detail::make_consumer(bootstrap);
    const int count = detail::partition_count(rk.get(), topic, detail::remaining_ms(deadline));
    if (count < 0) throw std::runtime_error("topic '" + topic + "' does not exist");
    std::vector<Watermarks> out(static_cast<std::size_t>(count));
    for (int p = 0; p < count; ++p) {
        const auto err = rd_kafka_query_watermark_offsets(
            rk.get(), topic.c_str(), p, &out[p].low, &out[p].high, detail::remaining_ms(deadline));
        if (err)
            throw std::runtime_error("watermarks of " + topic + "/" + std::to_string(p) + ": " +
                                     rd_kafka_err2str(err));
    }
    return out;
}

/// Every record of topic from each partition's low watermark (0 unless the mock
/// dropped old data) up to the high watermark seen at the start, sorted by
/// partition then offset. Reads with a fresh, independent librdkafka consumer.
/// partitions: how many partitions to read (0..n-1); default: all, from metadata.
/// Throws when the records are not all read within timeout, or on a read error.
inline std::vector<ConsumedRecord> consume_all(
    const std::string &bootstrap, const std::string &topic,
    std::optional<int> partitions = std::nullopt,
    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto rk = detail::make_consumer(bootstrap);
    const int count =
        partitions ? *partitions
                   : detail::partition_count(rk.get(), topic, detail::remaining_ms(deadline));
    if (count < 0) throw std::runtime_error("consume_all: topic '" + topic + "' does not exist");

    std::map<std::int32_t, std::int64_t> end;   // partition -> high watermark
    std::map<std::int32_t, std::int64_t> next;  // partition -> next offset expected
    rd_kafka_topic_partition_list_t *assignment = rd_kafka_topic_partition_list_new(count);
    for (int p = 0; p < count; ++p) {
        std::int64_t low = 0, high = 0;
        const auto err = rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &low, &high,
                                                          detail::remaining_ms(deadline));
        if (err) {
            rd_kafka_topic_partition_list_destroy(assignment);
            throw std::runtime_error("consume_all: watermarks of " + topic + "/" +
                                     std::to_string(p) + ": " + rd_kafka_err2str(err));
        }
        if (high <= low) continue;
        end[p] = high;
        next[p] = low;
        rd_kafka_topic_partition_list_add(assignment, topic.c_str(), p)->offset = low;
    }
    std::vector<ConsumedRecord> records;
    if (end.empty()) {
        rd_kafka_topic_partition_list_destroy(assignment);
        return records;
    }
    const auto assign_err = rd_kafka_assign(rk.get(), assignment);
    rd_kafka_topic_partition_list_destroy(assignment);
    if (assign_err)
        throw std::runtime_error(std::string("consume_all: assign: ") +
                                 rd_kafka_err2str(assign_err));

    auto done = [&] {
        for (const auto &[p, high] : end)
            if (next[p] < high) return false;
        return true;
    };
    while (!done()) {
        const int left = detail::remaining_ms(deadline);
        if (left <= 0) {
            std::string progress;
            for (const auto &[p, high] : end)
                progress += " " + std::to_string(p) + ":" + std::to_string(next[p]) + "/" +
                            std::to_string(high);
            rd_kafka_consumer_close(rk.get());
            throw std::runtime_error("consume_all: timed out reading '" + topic +
                                     "' (partition:next/high" + progress + ")");
        }
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk.get(), std::min(left, 100));
        if (!msg) continue;
        std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t *)> guard(
            msg, rd_kafka_message_destroy);
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
        if (msg->err) {
            const std::string what = rd_kafka_message_errstr(msg);
            rd_kafka_consumer_close(rk.get());
            throw std::runtime_error("consume_all: reading '" + topic + "': " + what);
        }
        const auto it = end.find(msg->partition);
        if (it == end.end() || msg->offset >= it->second) continue;  // written after we started
        next[msg->partition] = msg->offset + 1;

        ConsumedRecord rec;
        rec.topic = rd_kafka_topic_name(msg->rkt);
        rec.partition = msg->partition;
        rec.offset = msg->offset;
        rec.timestamp = rd_kafka_message_timestamp(msg, nullptr);
        if (msg->key) rec.key.emplace(static_cast<const char *>(msg->key), msg->key_len);
        if (msg->payload) rec.value.emplace(static_cast<const char *>(msg->payload), msg->len);
        rd_kafka_headers_t *hdrs = nullptr;
        if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
            const char *name;
            const void *value;
            size_t size;
            for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) ==
                               RD_KAFKA_RESP_ERR_NO_ERROR;
                 ++i) {
                ConsumedHeader h{name, std::nullopt};
                if (value) h.value.emplace(static_cast<const char *>(value), size);
                rec.headers.push_back(std::move(h));
            }
        }
        records.push_back(std::move(rec));
    }
    rd_kafka_consumer_close(rk.get());
    std::sort(records.begin(), records.end(), [](const auto &a, const auto &b) {
        return a.partition != b.partition ? a.partition < b.partition : a.offset < b.offset;
    });
    return records;
}

}  // namespace sluice::test
