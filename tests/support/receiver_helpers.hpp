#pragma once
// Reading what a receiver-mode run did from its log: which consumer thread owned which
// partitions, and how often each offset reached the plugins.

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "e2e_helpers.hpp"

namespace sluice::test {

/// `sluice run --mode receiver` as the receiver tests start it: earliest offsets and the mock
/// cluster's fetch.wait.max.ms, with the plugins, files and timings a test sets. A killed member
/// stays in the mock's group until its session expires: the kill -9 tests shorten it.
struct ReceiverArgs {
    std::string brokers = {}, topics = {}, group = {};
    std::vector<std::string> plugins = {};  // one --plugin each, in chain order
    std::string config = {};                // --config, when set
    std::string wal_dir = {};               // --wal-dir, when set
    std::string zookeeper = {};             // --zookeeper, when set
    std::string batch_interval = "200ms";   // "": left to the extra arguments
    std::string block_interval = "50ms";
    int session_timeout_ms = 6000;
    int heartbeat_interval_ms = 0;  // 0: librdkafka's default
    std::vector<std::string> extra = {};

    /// The arguments after the binary's name (sluice_argv() adds it).
    std::vector<std::string> args() const {
        std::vector<std::string> a{"run",      "--mode", "receiver", "--brokers", brokers,
                                   "--topics", topics,   "--group",  group};
        if (!config.empty()) a.insert(a.end(), {"--config", config});
        if (!zookeeper.empty()) a.insert(a.end(), {"--zookeeper", zookeeper});
        for (const auto &plugin : plugins) a.insert(a.end(), {"--plugin", plugin});
        if (!wal_dir.empty()) a.insert(a.end(), {"--wal-dir", wal_dir});
        a.insert(a.end(), {"--auto-offset-reset", "earliest"});
        if (!batch_interval.empty()) a.insert(a.end(), {"--batch-interval", batch_interval});
        a.insert(a.end(), {"--block-interval", block_interval, "-X", "fetch.wait.max.ms=10", "-X",
                           "session.timeout.ms=" + std::to_string(session_timeout_ms)});
        if (heartbeat_interval_ms > 0)
            a.insert(a.end(),
                     {"-X", "heartbeat.interval.ms=" + std::to_string(heartbeat_interval_ms)});
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    }
};

/// Ownership history from "receiver-T-N: assigned a:0, a:1" / "... revoked ..." / "... lost"
/// log lines: per thread name, the partitions held now and the most held at once.
struct Ownership {
    std::map<std::string, std::set<std::string>> now;
    std::map<std::string, size_t> most;
    std::map<std::string, size_t> ever;  // distinct partitions ever assigned
};

inline Ownership read_ownership(const std::string &log) {
    Ownership out;
    std::map<std::string, std::set<std::string>> ever;
    static const std::regex line(R"((receiver-\S+): (assigned|revoked|lost) (.*))");
    std::istringstream in(log);
    std::string text;
    while (std::getline(in, text)) {
        std::smatch m;
        if (!std::regex_search(text, m, line)) continue;
        const std::string thread = m[1], what = m[2];
        auto &held = out.now[thread];
        std::istringstream parts(m[3].str());
        std::string tp;
        while (std::getline(parts, tp, ',')) {
            tp.erase(0, tp.find_first_not_of(' '));
            if (tp.empty() || tp == "none") continue;
            if (what == "assigned") {
                held.insert(tp);
                ever[thread].insert(tp);
            } else {
                held.erase(tp);
            }
        }
        out.most[thread] = std::max(out.most[thread], held.size());
    }
    for (const auto &[thread, set] : ever) out.ever[thread] = set.size();
    return out;
}

/// How many times each (topic, partition, offset) was handed to the plugins, from
/// print-offsets' ranges (the topics of these tests have no gaps in their offsets).
inline std::map<std::tuple<std::string, int32_t, int64_t>, int> deliveries(
    const std::string &print_offsets_path) {
    std::map<std::tuple<std::string, int32_t, int64_t>, int> count;
    for (const auto &r : read_ranges(print_offsets_path))
        for (int64_t o = r.from; o < r.until; ++o) ++count[{r.topic, r.partition, o}];
    return count;
}

/// Records missing from and duplicated in `written`, against `expected`.
struct Tally {
    size_t missing = 0, duplicated = 0, wrong_value = 0;
};
inline Tally tally(const std::vector<ConsumedRecord> &written,
                   const std::vector<ConsumedRecord> &expected) {
    Tally t;
    std::map<std::tuple<std::string, int32_t, int64_t>, std::vector<const ConsumedRecord *>> by_id;
    for (const auto &r : written) by_id[record_id(r)].push_back(&r);
    for (const auto &e : expected) {
        auto it = by_id.find(record_id(e));
        if (it == by_id.end()) {
            ++t.missing;
            continue;
        }
        if (it->second.front()->value != e.value) ++t.wrong_value;
    }
    for (const auto &[id, list] : by_id) t.duplicated += list.size() - 1;
    return t;
}

/// The lines of a receiver-mode log about the group and the WAL (assignments, revokes, lost
/// partitions, resumed offsets, refused commits, replays), for failure messages.
inline std::string ownership_lines(const std::string &log) {
    static const std::regex interesting(
        R"(assigned|revoked|lost|starts at|commit failed|to replay|did not land)");
    std::istringstream in(log);
    std::string line, out;
    while (std::getline(in, line))
        if (std::regex_search(line, interesting)) out += line + "\n";
    return out;
}

/// Per partition, how many records of `expected` are not in `written` and the lowest and
/// highest of their offsets ("rcrash/2: 120 missing, offsets 4001..4120"), for failure messages.
inline std::string missing_summary(const std::vector<ConsumedRecord> &written,
                                   const std::vector<ConsumedRecord> &expected) {
    std::set<std::tuple<std::string, int32_t, int64_t>> have;
    for (const auto &r : written) have.insert(record_id(r));
    struct Gap {
        size_t count = 0;
        int64_t lowest = 0, highest = 0;
    };
    std::map<std::pair<std::string, int32_t>, Gap> gaps;
    for (const auto &e : expected) {
        if (have.count(record_id(e))) continue;
        Gap &g = gaps[{e.topic, e.partition}];
        g.lowest = g.count == 0 ? e.offset : std::min(g.lowest, e.offset);
        g.highest = g.count == 0 ? e.offset : std::max(g.highest, e.offset);
        ++g.count;
    }
    std::ostringstream out;
    for (const auto &[tp, g] : gaps)
        out << tp.first << "/" << tp.second << ": " << g.count << " missing, offsets " << g.lowest
            << ".." << g.highest << "\n";
    return gaps.empty() ? std::string("nothing missing\n") : out.str();
}

}  // namespace sluice::test
