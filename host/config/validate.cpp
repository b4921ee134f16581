#include "config/validate.hpp"

#include <algorithm>
#include <regex>

#include "kafka/reserved_settings.hpp"

namespace sluice::config::detail {

void check_complete(const RunConfig &cfg) {
    // With --zookeeper, empty brokers mean "discover them under /brokers/ids".
    if (cfg.brokers.empty() && cfg.zookeeper.empty())
        throw ConfigError(
            "no brokers: give --brokers HOST:PORT[,HOST:PORT...] (or --brokers embedded for an "
            "in-process test cluster, or --zookeeper to find them there), or brokers = ... in the "
            "--config file");
    if (!cfg.zookeeper_auth.empty() && cfg.zookeeper.empty())
        throw ConfigError("zookeeper-auth: given without --zookeeper: add --zookeeper HOST:PORT");
    if (cfg.start_from_zookeeper && (cfg.zookeeper.empty() || cfg.group.empty()))
        throw ConfigError(
            "start-from-zookeeper: needs --zookeeper and --group (the offsets are read from "
            "/consumers/<group>/offsets)");
    const RunConfig defaults;
    if (cfg.mode == Mode::receiver) {
        if (cfg.group.empty())
            throw ConfigError(
                "group: receiver mode needs a consumer group: add --group ID (its members split "
                "the partitions, and offsets are committed to it)");
        if (!cfg.checkpoint_dir.empty())
            throw ConfigError(
                "checkpoint: is a direct-mode option; receiver mode keeps its blocks in --wal-dir "
                "and its offsets in --group");
        if (!cfg.from_offsets.empty() || cfg.from_timestamp_ms)
            throw ConfigError(
                "from-offsets/from-timestamp: direct-mode options; a receiver starts from its "
                "group's committed offsets, else auto-offset-reset");
        if (cfg.max_rate_per_partition != defaults.max_rate_per_partition ||
            cfg.max_batch_records != defaults.max_batch_records)
            throw ConfigError(
                "max-rate-per-partition/max-batch-records: direct-mode options; in receiver mode "
                "cap intake with --receiver-max-rate (records/s per consumer thread)");
        if (cfg.group_assignment)
            throw ConfigError(
                "direct-assignment: is a direct-mode option; receiver mode's group always "
                "assigns the partitions: remove the key");
        if (!cfg.commit_to_kafka)
            throw ConfigError(
                "commit-to-kafka: receiver mode always commits to its group (it is how members "
                "hand partitions over); remove the key");
        if (cfg.receiver_commit == ReceiverCommit::stored && cfg.wal_dir.empty())
            throw ConfigError(
                "receiver-commit: stored commits a block's offsets once it is durable in the "
                "WAL: add --wal-dir DIR, or use processed (the default)");
        if (cfg.receiver_commit == ReceiverCommit::read && !cfg.wal_dir.empty())
            throw ConfigError(
                "receiver-commit: read is librdkafka's auto-commit, without a WAL: remove "
                "--wal-dir, or use processed (the default) or stored");
    } else if (cfg.group_assignment) {
        if (cfg.group.empty())
            throw ConfigError(
                "group: direct-assignment=group needs a consumer group: add --group ID (its "
                "members split the partitions, and each range's plan is committed to it)");
        if (!cfg.checkpoint_dir.empty())
            throw ConfigError(
                "checkpoint: with direct-assignment=group the plans are kept in --group's "
                "committed offsets, so any host can replay them: remove --checkpoint");
        if (!cfg.from_offsets.empty() || cfg.from_timestamp_ms)
            throw ConfigError(
                "from-offsets/from-timestamp: not with direct-assignment=group (a partition "
                "starts from its plan in Kafka, the plugins' own offsets, then "
                "auto-offset-reset): remove the key");
        if (!cfg.commit_to_kafka)
            throw ConfigError(
                "commit-to-kafka: direct-assignment=group keeps its plans in the group's "
                "offsets, so it always commits: remove the key");
    }
    if (cfg.mode == Mode::direct) {
        if (!cfg.topic_threads.empty())
            throw ConfigError(
                "topics: NAME:N (consumer threads) is for --mode receiver; in direct "
                "mode write the bare topic name (use --workers for parallel reads)");
        if (!cfg.wal_dir.empty() || cfg.block_interval != defaults.block_interval ||
            cfg.receiver_max_rate != defaults.receiver_max_rate ||
            cfg.wal_fsync_interval != defaults.wal_fsync_interval ||
            cfg.wal_max_bytes != defaults.wal_max_bytes ||
            cfg.receiver_commit != defaults.receiver_commit)
            throw ConfigError(
                "wal-dir/wal-fsync/wal-max-bytes/block-interval/receiver-max-rate/receiver-commit: "
                "receiver-mode options; add --mode receiver, or use --checkpoint for direct mode's "
                "replay log");
        for (const auto &[key, value] : cfg.kafka)
            if (auto error = kafka::direct_reserved_error(key, value)) throw ConfigError(*error);
    }
    if (!cfg.backpressure && cfg.backpressure_initial_rate != defaults.backpressure_initial_rate)
        throw ConfigError(
            "backpressure-initial-rate: only used with backpressure = true: add it, or remove "
            "the key");
    if (cfg.topics.empty())
        throw ConfigError(
            "no topics: give --topics NAME[,NAME...] (an entry starting with ^ is a regex), or "
            "topics = ... in the --config file");
    if (cfg.plugins.empty())
        throw ConfigError(
            "no plugin: give --plugin NAME (repeat it for a chain, in order), or plugin = NAME "
            "lines in the --config file");
    // The one check of this: app/run_command.cpp creates the embedded topics by these names.
    if (cfg.brokers == "embedded")
        for (const std::string &topic : cfg.topics)
            if (topic[0] == '^')
                throw ConfigError(
                    "topics: --brokers embedded creates its topics, so it needs "
                    "names, not the pattern '" +
                    topic + "'");
    for (const StartOffset &start : cfg.from_offsets) {
        const bool subscribed =
            std::any_of(cfg.topics.begin(), cfg.topics.end(), [&](const std::string &topic) {
                return topic[0] == '^' ? std::regex_search(start.tp.topic, std::regex(topic))
                                       : topic == start.tp.topic;
            });
        if (!subscribed)
            throw ConfigError("from-offsets: topic '" + start.tp.topic +
                              "' is not among the topics read (add it to --topics)");
    }
}

}  // namespace sluice::config::detail
