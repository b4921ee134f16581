#pragma once
// What the scale-out tests (direct-assignment=group) share: the command line of one host, the
// plan records a group holds in Kafka (read with an independent client), and what a host's log
// says (its host id, its batches, the ranges it replayed, the group's assignments).

#include <librdkafka/rdkafka.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "e2e_helpers.hpp"
#include "kafka_helpers.hpp"
#include "sluice_command.hpp"

namespace sluice::test {

/// The command line of one host of `group` on `topics`: `plugin` configured by `config`,
/// 100 ms batches of at most 700 records, and the mock-cluster settings of DESIGN.md (a short
/// session so that a killed host's partitions move within seconds; heartbeats at 1/6 of it).
inline std::vector<std::string> group_host_args(const std::string &bootstrap,
                                                const std::string &topics, const std::string &group,
                                                const std::string &config,
                                                const std::string &plugin,
                                                int session_timeout_ms = 3000) {
    // clang-format off
    return sluice_argv({"run", "--brokers", bootstrap, "--topics", topics, "--group", group,
                        "--direct-assignment", "group", "--config", config, "--plugin", plugin,
                        "--auto-offset-reset", "earliest", "--batch-interval", "100ms",
                        "--max-batch-records", "700", "--shutdown-timeout", "10s",
                        "-X", "fetch.wait.max.ms=10",
                        "-X", "session.timeout.ms=" + std::to_string(session_timeout_ms),
                        "-X", "heartbeat.interval.ms=" + std::to_string(session_timeout_ms / 6)});
    // clang-format on
}

/// One partition's committed offset and what its metadata says (the plan record).
struct KafkaPlan {
    int64_t offset = -1;
    std::string kind;  // "plan", "done" or "" (no plan record)
    int64_t until = -1;
    int64_t batch = -1;
    std::string host;

    bool pending() const { return kind == "plan" && until > offset; }
};

/// The committed offsets and plan records of `group` for partitions 0..n-1 of `topic`, read
/// by a client that does not join the group. Throws when the broker does not answer.
inline std::vector<KafkaPlan> kafka_plans(const std::string &bootstrap, const std::string &group,
                                          const std::string &topic, int partitions) {
    auto rk = detail::make_consumer(bootstrap, {{"group.id", group}});
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
    const rd_kafka_resp_err_t err = rd_kafka_committed(rk.get(), list, 10000);
    std::vector<KafkaPlan> out(partitions);
    for (int i = 0; !err && i < list->cnt; ++i) {
        const auto &e = list->elems[i];
        KafkaPlan &plan = out[e.partition];
        plan.offset = e.offset;
        if (!e.metadata || e.metadata_size == 0) continue;
        const auto j = nlohmann::json::parse(
            std::string(static_cast<const char *>(e.metadata), e.metadata_size), nullptr, false);
        if (!j.is_object() || !j.contains("sluice")) continue;
        plan.kind = j.at("sluice").get<std::string>();
        plan.batch = j.at("batch").get<int64_t>();
        plan.host = j.at("host").get<std::string>();
        if (j.contains("until")) plan.until = j.at("until").get<int64_t>();
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (err) throw std::runtime_error(std::string("committed: ") + rd_kafka_err2str(err));
    return out;
}

/// The host id a host's log announces ("... member as host ID (").
inline std::optional<std::string> host_id(const std::string &log) {
    static const std::regex re("member as host (\\S+) \\(");
    std::smatch m;
    if (!std::regex_search(log, m, re)) return std::nullopt;
    return m[1].str();
}

/// How many lines of `log` contain `text`.
inline size_t count_lines(const std::string &log, const std::string &text) {
    size_t n = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    return n;
}

/// The partitions of `topic` the group has assigned to the host of `log` and not revoked.
inline std::set<int> owned_partitions(const std::string &log, const std::string &topic) {
    std::set<int> owned;
    static const std::regex line_re("group '[^']*' (assigned|revoked) ([^\\n]*)");
    const std::regex tp_re(topic + ":(\\d+)");
    for (std::sregex_iterator it(log.begin(), log.end(), line_re), end; it != end; ++it) {
        const bool assigned = (*it)[1] == "assigned";
        const std::string list = (*it)[2];
        for (std::sregex_iterator t(list.begin(), list.end(), tp_re); t != end; ++t) {
            const int p = std::stoi((*t)[1]);
            if (assigned)
                owned.insert(p);
            else
                owned.erase(p);
        }
    }
    return owned;
}

/// The id of the last "batch N:" line of `log` (-1: none).
inline int64_t last_batch(const std::string &log) {
    static const std::regex re("\\bbatch (\\d+): \\d+ records");
    int64_t last = -1;
    for (std::sregex_iterator it(log.begin(), log.end(), re), end; it != end; ++it)
        last = std::max<int64_t>(last, std::stoll((*it)[1]));
    return last;
}

}  // namespace sluice::test
