#pragma once
// Helpers for end-to-end tests of `sluice run`: read the file-sink's output,
// produce hand-made records, read a group's committed offsets, wait for a
// condition.

#include <librdkafka/rdkafka.h>

#include <boost/beast/core/detail/base64.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kafka_helpers.hpp"
#include "sluice_command.hpp"

namespace sluice::test {

inline std::optional<std::string> decode_base64_or_null(const nlohmann::json &j) {
    if (j.is_null()) return std::nullopt;
    const std::string text = j.get<std::string>();
    std::string out(boost::beast::detail::base64::decoded_size(text.size()), '\0');
    auto [written, read] =
        boost::beast::detail::base64::decode(out.data(), text.data(), text.size());
    (void)read;
    out.resize(written);
    return out;
}

/// Parses the file-sink's JSON lines back into records. A final line without
/// its newline is not a record yet: the host is writing it, or a kill -9 cut
/// it and the next start truncates it away (tests poll the sink while hosts
/// run and are killed; a record cut for good shows up as missing). Any other
/// line that does not parse throws: the sink must never leave a torn line
/// behind a complete one.
inline std::vector<ConsumedRecord> read_sink(const std::string &path) {
    std::vector<ConsumedRecord> out;
    std::ifstream in(path);
    std::string line;
    size_t number = 0;
    while (std::getline(in, line)) {
        if (in.eof()) break;  // no newline after it: incomplete
        ++number;
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const std::exception &e) {
            throw std::runtime_error("sink line " + std::to_string(number) +
                                     " is not JSON: " + e.what());
        }
        ConsumedRecord r;
        r.topic = j.at("topic").get<std::string>();
        r.partition = j.at("partition").get<int32_t>();
        r.offset = j.at("offset").get<int64_t>();
        r.timestamp = j.at("timestamp").get<int64_t>();
        r.key = decode_base64_or_null(j.at("key"));
        r.value = decode_base64_or_null(j.at("value"));
        for (const auto &h : j.at("headers"))
            r.headers.push_back({h.at(0).get<std::string>(), decode_base64_or_null(h.at(1))});
        out.push_back(std::move(r));
    }
    return out;
}

/// Polls pred every 50 ms until it is true or timeout passes.
inline bool wait_until(const std::function<bool()> &pred, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return pred();
}

struct RecordToProduce {
    int32_t partition = 0;
    std::optional<std::string> key;
    std::optional<std::string> value;
    std::vector<ConsumedHeader> headers;
};

/// Produces records exactly as given (null vs empty kept) and waits for acks.
inline void produce_records(const std::string &bootstrap, const std::string &topic,
                            const std::vector<RecordToProduce> &records) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "1", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) throw std::runtime_error(std::string("test producer: ") + err);
    for (const auto &r : records) {
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(r.headers.size());
        for (const auto &h : r.headers)
            rd_kafka_header_add(hdrs, h.name.data(), static_cast<ssize_t>(h.name.size()),
                                h.value ? h.value->data() : nullptr,
                                h.value ? static_cast<ssize_t>(h.value->size()) : 0);
        // librdkafka treats a NULL pointer as null and a non-NULL one with
        // length 0 as empty.
        static const char empty[1] = {0};
        const void *key = r.key ? (r.key->empty() ? empty : r.key->data()) : nullptr;
        const void *value = r.value ? (r.value->empty() ? empty : r.value->data()) : nullptr;
        // The macros cast their length argument: keep it a plain variable.
        const size_t key_len = r.key ? r.key->size() : 0;
        const size_t value_len = r.value ? r.value->size() : 0;
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(r.partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(const_cast<void *>(key), key_len),
            RD_KAFKA_V_VALUE(const_cast<void *>(value), value_len), RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_END);
        if (e) {
            rd_kafka_headers_destroy(hdrs);
            rd_kafka_destroy(rk);
            throw std::runtime_error(std::string("test produce: ") + rd_kafka_err2str(e));
        }
    }
    const rd_kafka_resp_err_t flushed = rd_kafka_flush(rk, 20000);
    rd_kafka_destroy(rk);
    if (flushed) throw std::runtime_error("test producer: records not acknowledged in 20 s");
}

/// On each partition p < partitions of topic, the records key "k<i>", value "v<p*10000+i>" for
/// i in [from, until): a value says where its record belongs.
inline void produce_numbered(const std::string &bootstrap, const std::string &topic, int partitions,
                             int from, int until) {
    std::vector<RecordToProduce> records;
    for (int p = 0; p < partitions; ++p)
        for (int i = from; i < until; ++i)
            records.push_back(
                {p, "k" + std::to_string(i), "v" + std::to_string(p * 10000 + i), {}});
    produce_records(bootstrap, topic, records);
}

/// Offsets committed by group for partitions 0..n-1 of topic (-1 = none).
inline std::vector<int64_t> committed_offsets(const std::string &bootstrap,
                                              const std::string &group, const std::string &topic,
                                              int partitions) {
    auto rk = detail::make_consumer(bootstrap, {{"group.id", group}});
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
    const rd_kafka_resp_err_t err = rd_kafka_committed(rk.get(), list, 10000);
    std::vector<int64_t> out(partitions, -1);
    if (!err)
        for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(list);
    if (err) throw std::runtime_error(std::string("committed: ") + rd_kafka_err2str(err));
    return out;
}

/// Writes an INI config file.
inline void write_text(const std::string &path, const std::string &text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
}

/// Key of a record for set comparisons: (topic, partition, offset).
inline std::tuple<std::string, int32_t, int64_t> record_id(const ConsumedRecord &r) {
    return {r.topic, r.partition, r.offset};
}

struct RangeLine {
    int64_t batch;
    std::string topic;
    int partition;
    int64_t from, until;
};

/// Parses print-offsets output: "batch ID time MS records N" then one
/// "topic partition from until" line per range.
inline std::vector<RangeLine> read_ranges(const std::string &path) {
    std::vector<RangeLine> out;
    std::istringstream in(read_file(path));
    std::string line;
    int64_t batch = -1;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string first;
        words >> first;
        if (first == "batch") {
            words >> batch;
            continue;
        }
        RangeLine r{batch, first, 0, 0, 0};
        if (words >> r.partition >> r.from >> r.until) out.push_back(r);
    }
    return out;
}

}  // namespace sluice::test
