#include "kafka/metadata.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <regex>
#include <set>
#include <stdexcept>
#include <thread>

namespace sluice::kafka {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// A named topic that is not in the metadata yet may still be propagating: wait this long.
constexpr milliseconds kUnknownTopicWait{5000};
// Under StopWaits, one metadata request waits at most this long before the stop is looked at
// again. A broker that is up answers in milliseconds; one that is not yet reachable keeps
// being connected to by librdkafka between the requests.
constexpr milliseconds kStopCheckEvery{500};

thread_local const std::atomic<bool> *t_stop = nullptr;

int remaining_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<int64_t>(left, 0, INT32_MAX));
}

PartitionListPtr make_list(const std::vector<TopicPartition> &tps, int64_t offset, size_t first = 0,
                           size_t count = SIZE_MAX) {
    const size_t end = first + std::min(count, tps.size() - first);
    PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(end - first)));
    for (size_t i = first; i < end; ++i)
        rd_kafka_topic_partition_list_add(list.get(), tps[i].topic.c_str(), tps[i].partition)
            ->offset = offset;
    return list;
}

// librdkafka 2.0.2 matches each partition of a ListOffsets reply against the request's list by
// a linear search (rd_kafka_topic_partition_list_find, a strcmp each): one request for 10,000
// partitions cost ~350 ms of CPU. Requests of this many partitions keep it linear (issue 17).
constexpr size_t kListOffsetsChunk = 500;

}  // namespace

StopWaits::StopWaits(const std::atomic<bool> &stop) : outer_(t_stop) {
    t_stop = &stop;
}

StopWaits::~StopWaits() {
    t_stop = outer_;
}

std::vector<TopicPartition> partitions_for(rd_kafka_t *rk, const std::string &brokers,
                                           const std::vector<std::string> &topics,
                                           milliseconds timeout) {
    if (topics.empty()) throw std::invalid_argument("no topics given: set --topics");
    std::set<std::string> names;
    std::vector<std::pair<std::string, std::regex>> patterns;
    for (const auto &t : topics) {
        if (t.empty()) throw std::invalid_argument("an empty topic name was given in --topics");
        if (t[0] != '^') {
            names.insert(t);
            continue;
        }
        try {
            patterns.emplace_back(t, std::regex(t, std::regex::ECMAScript));
        } catch (const std::regex_error &e) {
            throw std::invalid_argument("topic pattern '" + t + "' is not a valid regex (" +
                                        e.what() + "): fix --topics");
        }
    }
    const auto start = Clock::now();
    const auto deadline = start + timeout;
    const auto unknown_deadline = start + std::min(timeout, milliseconds(kUnknownTopicWait));
    const std::atomic<bool> *stop = t_stop;
    const auto stopped = [&] {
        if (stop && stop->load())
            throw WaitStopped("stopped while waiting for the Kafka brokers '" + brokers + "'");
    };
    for (;;) {
        stopped();
        const rd_kafka_metadata_t *md = nullptr;
        int wait_ms = remaining_ms(deadline);
        if (stop) wait_ms = std::min<int>(wait_ms, static_cast<int>(kStopCheckEvery.count()));
        const auto asked = Clock::now();
        // all_topics=1: a request for named topics would auto-create them.
        const rd_kafka_resp_err_t err =
            rd_kafka_metadata(rk, 1, nullptr, &md, std::max(wait_ms, 1));
        if (stop && Clock::now() < deadline &&
            (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__TIMED_OUT)) {
            // No broker reachable yet: look at the stop, then ask again (not in a busy loop
            // when librdkafka answers at once).
            if (Clock::now() - asked < milliseconds(50))
                std::this_thread::sleep_for(milliseconds(50));
            continue;
        }
        if (err)
            throw KafkaError("cannot get topic metadata from Kafka brokers '" + brokers +
                             "' within " + std::to_string(timeout.count()) +
                             " ms: " + rd_kafka_err2str(err) +
                             ": check --brokers and that the brokers are up");
        std::set<TopicPartition> found;
        std::set<std::string> missing = names;
        for (int i = 0; i < md->topic_cnt; ++i) {
            const auto &topic = md->topics[i];
            if (topic.err || topic.partition_cnt <= 0) continue;
            const std::string name = topic.topic;
            bool wanted = names.count(name) > 0;
            // Like Kafka's pattern subscriptions, patterns skip internal topics.
            if (!wanted && name.rfind("__", 0) != 0)
                for (const auto &[text, re] : patterns)
                    if (std::regex_search(name, re)) wanted = true;
            if (!wanted) continue;
            missing.erase(name);
            for (int p = 0; p < topic.partition_cnt; ++p)
                found.insert({name, topic.partitions[p].id});
        }
        rd_kafka_metadata_destroy(md);
        if (missing.empty()) return {found.begin(), found.end()};
        if (Clock::now() >= unknown_deadline) {
            std::string list;
            for (const auto &m : missing) list += (list.empty() ? "'" : ", '") + m + "'";
            throw KafkaError(
                "topic " + list + " not found on Kafka brokers '" + brokers + "' (waited " +
                std::to_string(
                    std::chrono::duration_cast<milliseconds>(Clock::now() - start).count()) +
                " ms): create it or fix --topics");
        }
        // Metadata has no change notification: poll while a new topic propagates.
        std::this_thread::sleep_for(milliseconds(200));
    }
}

std::vector<TopicPartition> partitions_for(const std::string &brokers,
                                           const std::map<std::string, std::string> &settings,
                                           const std::vector<std::string> &topics,
                                           milliseconds timeout) {
    if (brokers.empty()) throw KafkaError("no Kafka brokers given: set --brokers");
    ConfPtr conf(rd_kafka_conf_new());
    set_conf(conf.get(), "bootstrap.servers", brokers);
    set_conf(conf.get(), "client.id", "sluice-metadata");
    for (const auto &[key, value] : settings) set_conf(conf.get(), key, value);
    rd_kafka_conf_set_log_cb(conf.get(), log_to_spdlog);
    rd_kafka_conf_set_error_cb(conf.get(), warn_on_error);
    HandlePtr rk = make_handle(RD_KAFKA_CONSUMER, std::move(conf));
    return partitions_for(rk.get(), brokers, topics, timeout);
}

std::map<TopicPartition, Watermarks> query_watermarks(rd_kafka_t *rk, const std::string &brokers,
                                                      const std::vector<TopicPartition> &tps,
                                                      milliseconds timeout) {
    std::map<TopicPartition, Watermarks> out;
    if (tps.empty()) return out;
    const auto deadline = Clock::now() + timeout;
    // ListOffsets for every partition (kListOffsetsChunk at a time): timestamp -2 is the earliest
    // offset, -1 the latest (what rd_kafka_query_watermark_offsets sends one
    // partition at a time).
    for (size_t first = 0; first < tps.size(); first += kListOffsetsChunk)
        for (const int64_t which : {int64_t{-2}, int64_t{-1}}) {
            auto list = make_list(tps, which, first, kListOffsetsChunk);
            const rd_kafka_resp_err_t err =
                rd_kafka_offsets_for_times(rk, list.get(), std::max(remaining_ms(deadline), 1));
            if (err)
                throw KafkaError("cannot read partition offsets from Kafka brokers '" + brokers +
                                 "': " + rd_kafka_err2str(err) +
                                 ": check --brokers and that the brokers are up");
            for (int i = 0; i < list->cnt; ++i) {
                const auto &p = list->elems[i];
                if (p.err)
                    throw KafkaError(std::string("cannot read the offsets of ") + p.topic + ":" +
                                     std::to_string(p.partition) + " from brokers '" + brokers +
                                     "': " + rd_kafka_err2str(p.err) +
                                     ": check that the partition exists");
                auto &w = out[{p.topic, p.partition}];
                (which == -2 ? w.low : w.high) = p.offset;
            }
        }
    return out;
}

std::map<TopicPartition, int64_t> query_high_watermarks(rd_kafka_t *rk, const std::string &brokers,
                                                        const std::vector<TopicPartition> &tps,
                                                        milliseconds timeout) {
    std::map<TopicPartition, int64_t> out;
    const auto deadline = Clock::now() + timeout;
    for (size_t first = 0; first < tps.size(); first += kListOffsetsChunk) {
        auto list = make_list(tps, -1, first, kListOffsetsChunk);  // timestamp -1: the latest
        const rd_kafka_resp_err_t err =
            rd_kafka_offsets_for_times(rk, list.get(), std::max(remaining_ms(deadline), 1));
        if (err)
            throw KafkaError("cannot read the high watermarks from Kafka brokers '" + brokers +
                             "': " + rd_kafka_err2str(err));
        for (int i = 0; i < list->cnt; ++i) {
            const auto &p = list->elems[i];
            if (!p.err && p.offset >= 0) out[{p.topic, p.partition}] = p.offset;
        }
    }
    return out;
}

std::map<TopicPartition, int64_t> offsets_for_timestamp(rd_kafka_t *rk,
                                                        const std::vector<TopicPartition> &tps,
                                                        int64_t ts_ms, milliseconds timeout) {
    std::map<TopicPartition, int64_t> out;
    if (tps.empty()) return out;
    if (ts_ms < 0)
        throw std::invalid_argument("timestamp " + std::to_string(ts_ms) +
                                    " is negative: give milliseconds since the epoch");
    auto list = make_list(tps, ts_ms);
    const rd_kafka_resp_err_t err =
        rd_kafka_offsets_for_times(rk, list.get(), std::max(static_cast<int>(timeout.count()), 1));
    const std::string advice = ": use --auto-offset-reset or --from-offsets";
    if (err)
        throw KafkaError("broker returned no offset for timestamp " + std::to_string(ts_ms) + " (" +
                         rd_kafka_err2str(err) + ")" + advice);
    for (int i = 0; i < list->cnt; ++i) {
        const auto &p = list->elems[i];
        const std::string tp = std::string(p.topic) + ":" + std::to_string(p.partition);
        if (p.err || p.offset < 0)
            throw KafkaError(
                "broker returned no offset for timestamp " + std::to_string(ts_ms) + " on " + tp +
                " (" + (p.err ? rd_kafka_err2str(p.err) : "offset " + std::to_string(p.offset)) +
                "; librdkafka 2.0.2's mock broker does not support it)" + advice);
        out[{p.topic, p.partition}] = p.offset;
    }
    return out;
}

std::map<TopicPartition, int64_t> committed_offsets(rd_kafka_t *rk, const std::string &brokers,
                                                    const std::string &group,
                                                    const std::vector<TopicPartition> &tps,
                                                    milliseconds timeout) {
    std::map<TopicPartition, int64_t> out;
    if (group.empty() || tps.empty()) return out;
    auto list = make_list(tps, RD_KAFKA_OFFSET_INVALID);
    const rd_kafka_resp_err_t err =
        rd_kafka_committed(rk, list.get(), std::max(static_cast<int>(timeout.count()), 1));
    if (err)
        throw KafkaError("cannot read the committed offsets of group '" + group +
                         "' from brokers '" + brokers + "': " + rd_kafka_err2str(err) +
                         ": check --brokers and that the brokers are up");
    for (int i = 0; i < list->cnt; ++i) {
        const auto &p = list->elems[i];
        if (p.err)
            throw KafkaError("cannot read the committed offset of group '" + group + "' for " +
                             p.topic + ":" + std::to_string(p.partition) + ": " +
                             rd_kafka_err2str(p.err));
        if (p.offset >= 0) out[{p.topic, p.partition}] = p.offset;
    }
    return out;
}

void commit_offsets(rd_kafka_t *rk, const std::string &group,
                    const std::vector<OffsetRange> &ranges) {
    if (group.empty() || ranges.empty()) return;
    PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size())));
    for (const auto &r : ranges)
        rd_kafka_topic_partition_list_add(list.get(), r.topic.c_str(), r.partition)->offset =
            r.until_offset;
    const rd_kafka_resp_err_t err = rd_kafka_commit(rk, list.get(), 0);
    std::string failed;
    for (int i = 0; i < list->cnt; ++i)
        if (list->elems[i].err)
            failed += std::string(failed.empty() ? "" : ", ") + list->elems[i].topic + ":" +
                      std::to_string(list->elems[i].partition) + " (" +
                      rd_kafka_err2str(list->elems[i].err) + ")";
    if (err || !failed.empty())
        throw KafkaError("cannot commit offsets to group '" + group +
                         "': " + (failed.empty() ? rd_kafka_err2str(err) : failed) +
                         ": check that the brokers are up; the next batch commits again");
}

}  // namespace sluice::kafka
