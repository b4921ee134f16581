#include "config/options.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <fstream>
#include <limits>
#include <type_traits>

#include "config/values.hpp"
#include "metrics/listen_address.hpp"

namespace sluice::config::detail {

namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;
using Values = std::vector<std::string>;

[[noreturn]] void fail(const std::string &label, const std::string &message) {
    throw ConfigError(label + ": " + message);
}

std::string absolute_path(const fs::path &path) {
    return fs::absolute(path).lexically_normal().string();
}

// ------------------------------------------------------------------ apply: the common shapes

template <auto Field>
void set_bool(RunConfig &cfg, const Values &v, const std::string &label, const Source &) {
    cfg.*Field = parse_bool(v.front(), label);
}

template <auto Field, int64_t Min = 0, int64_t Max = std::numeric_limits<int64_t>::max()>
void set_integer(RunConfig &cfg, const Values &v, const std::string &label, const Source &) {
    using T = std::remove_cvref_t<decltype(cfg.*Field)>;
    cfg.*Field = static_cast<T>(parse_integer(v.front(), label, Min, Max));
}

template <auto Field>
void set_duration(RunConfig &cfg, const Values &v, const std::string &label, const Source &) {
    cfg.*Field = parse_duration(v.front(), label);
}

template <auto Field>
void set_trimmed(RunConfig &cfg, const Values &v, const std::string &, const Source &) {
    cfg.*Field = trim(v.front());
}

/// An empty value turns the directory off (on the command line, also the file's).
template <auto Field>
void set_directory(RunConfig &cfg, const Values &v, const std::string &label,
                   const Source &source) {
    cfg.*Field =
        trim(v.front()).empty() ? fs::path() : parse_path(v.front(), label, source.base_dir);
}

// ------------------------------------------------------------------ apply: one key each

void apply_mode(RunConfig &cfg, const Values &v, const std::string &label, const Source &) {
    const std::string mode = one_of(
        v.front(), label, {{"direct", "direct"}, {"receiver", "receiver"}}, "direct, receiver");
    cfg.mode = mode == "receiver" ? Mode::receiver : Mode::direct;
}

void apply_direct_assignment(RunConfig &cfg, const Values &v, const std::string &label,
                             const Source &) {
    cfg.group_assignment = one_of(v.front(), label, {{"single", "single"}, {"group", "group"}},
                                  "single, group") == "group";
}

void apply_receiver_commit(RunConfig &cfg, const Values &v, const std::string &label,
                           const Source &) {
    const std::string rule = one_of(
        v.front(), label, {{"processed", "processed"}, {"stored", "stored"}, {"read", "read"}},
        "processed, stored, read");
    cfg.receiver_commit = rule == "processed" ? ReceiverCommit::processed
                          : rule == "stored"  ? ReceiverCommit::stored
                                              : ReceiverCommit::read;
}

void apply_batch_interval(RunConfig &cfg, const Values &v, const std::string &label,
                          const Source &) {
    cfg.batch_interval = parse_duration(v.front(), label);
    if (cfg.batch_interval.count() == 0) fail(label, "must be more than 0, e.g. 2s");
}

void apply_brokers(RunConfig &cfg, const Values &v, const std::string &label, const Source &) {
    cfg.brokers = parse_brokers(v.front(), label);
}

void apply_topics(RunConfig &cfg, const Values &values, const std::string &label, const Source &) {
    cfg.topics.clear();
    cfg.topic_threads.clear();
    for (const std::string &value : values) {
        for (std::string topic : split_list(value)) {
            // NAME:N gives receiver mode's consumer thread count for the topic.
            if (auto colon = topic.rfind(':'); colon != std::string::npos && topic[0] != '^') {
                const std::string count = topic.substr(colon + 1);
                topic.resize(colon);
                cfg.topic_threads[topic] = static_cast<int>(
                    parse_integer(count, label + " (threads of topic " + topic + ")", 1, 64));
            }
            if (!topic.empty() && topic[0] == '^') {
                if (const std::string problem = topic_pattern_problem(topic); !problem.empty())
                    fail(label, problem);
            } else if (topic.empty()) {
                fail(label, "empty topic name in '" + value + "': write NAME[,NAME...]");
            } else if (!legal_topic_name(topic)) {
                fail(label, "'" + topic +
                                "' is not a Kafka topic name (letters, digits, '.', '_', '-'; "
                                "at most 249); a pattern starts with ^");
            }
            if (std::find(cfg.topics.begin(), cfg.topics.end(), topic) == cfg.topics.end())
                cfg.topics.push_back(topic);
        }
    }
}

void apply_zookeeper(RunConfig &cfg, const Values &v, const std::string &label, const Source &) {
    cfg.zookeeper = parse_zookeeper(v.front(), label);
}

void apply_zookeeper_auth(RunConfig &cfg, const Values &v, const std::string &label,
                          const Source &) {
    cfg.zookeeper_auth = parse_zookeeper_auth(v.front(), label);
}

void apply_auto_offset_reset(RunConfig &cfg, const Values &v, const std::string &label,
                             const Source &) {
    cfg.auto_offset_reset = one_of(v.front(), label,
                                   {{"earliest", "earliest"},
                                    {"smallest", "earliest"},
                                    {"latest", "latest"},
                                    {"largest", "latest"}},
                                   "earliest, smallest, latest, largest");
}

void apply_from_offsets(RunConfig &cfg, const Values &v, const std::string &label, const Source &) {
    cfg.from_offsets = parse_from_offsets(v.front(), label);
}

void apply_block_interval(RunConfig &cfg, const Values &v, const std::string &label,
                          const Source &) {
    cfg.block_interval = parse_duration(v.front(), label);
    if (cfg.block_interval.count() < 10) fail(label, "must be at least 10ms, e.g. 200ms");
}

void apply_wal_fsync(RunConfig &cfg, const Values &v, const std::string &label, const Source &) {
    const std::string value = to_lower(trim(v.front()));
    if (value == "block") {
        cfg.wal_fsync_interval = std::chrono::milliseconds(0);
        return;
    }
    try {
        cfg.wal_fsync_interval = parse_duration(value, label);
    } catch (const ConfigError &) {
        fail(label, "'" + v.front() + "' is neither 'block' nor a duration such as 50ms");
    }
}

void apply_wal_max_bytes(RunConfig &cfg, const Values &v, const std::string &label,
                         const Source &) {
    cfg.wal_max_bytes = parse_size(v.front(), label);
    if (cfg.wal_max_bytes < (1ull << 20)) fail(label, "must be at least 1MiB");
}

void apply_max_batch_bytes(RunConfig &cfg, const Values &v, const std::string &label,
                           const Source &) {
    cfg.max_batch_bytes = trim(v.front()) == "0" ? 0 : parse_size(v.front(), label);
    if (cfg.max_batch_bytes != 0 && cfg.max_batch_bytes < (1ull << 20))
        fail(label, "must be 0 (unlimited) or at least 1MiB");
}

void apply_plugins(RunConfig &cfg, const Values &values, const std::string &label, const Source &) {
    cfg.plugins.clear();
    for (const std::string &value : values) {
        for (const std::string &name : split_list(value)) {
            if (name.empty()) fail(label, "empty plugin name in '" + value + "'");
            if (name.find('/') != std::string::npos)
                fail(label, "'" + name +
                                "' is a path: give the plugin's name and its directory with "
                                "--plugin-dir");
            cfg.plugins.push_back(name);
        }
    }
}

void apply_plugin_dirs(RunConfig &cfg, const Values &values, const std::string &label,
                       const Source &source) {
    cfg.plugin_dirs.clear();
    for (const std::string &dir : values)
        cfg.plugin_dirs.push_back(parse_path(dir, label, source.base_dir));
}

void apply_hot_reload_poll(RunConfig &cfg, const Values &v, const std::string &label,
                           const Source &) {
    cfg.hot_reload_poll = parse_duration(v.front(), label);
    if (cfg.hot_reload_poll.count() == 0) fail(label, "must be more than 0, e.g. 250ms");
}

void apply_log_level(RunConfig &cfg, const Values &v, const std::string &label, const Source &) {
    cfg.log_level = one_of(v.front(), label,
                           {{"trace", "trace"},
                            {"debug", "debug"},
                            {"info", "info"},
                            {"warn", "warn"},
                            {"error", "error"}},
                           "trace, debug, info, warn, error");
}

/// HOST:PORT of the metrics endpoint, checked by the exporter's own parser; empty = off.
void apply_metrics_address(RunConfig &cfg, const Values &v, const std::string &label,
                           const Source &) {
    const std::string value = trim(v.front());
    if (!value.empty()) {
        try {
            metrics::parse_listen_address(value);
        } catch (const std::invalid_argument &e) {
            fail(label, e.what());
        }
    }
    cfg.metrics_address = value;
}

/// The bearer token of POST /control/...: long enough not to be guessed, from one place only.
void check_control_token(const std::string &token, const std::string &label) {
    if (token.size() < 16)
        fail(label, "is shorter than 16 characters: use a random one, e.g. `openssl rand -hex 16`");
    if (token.find_first_of(" \t\r\n") != std::string::npos)
        fail(label, "contains white space: use a random token, e.g. `openssl rand -hex 16`");
}

void apply_control_token(RunConfig &cfg, const Values &v, const std::string &label,
                         const Source &) {
    const std::string value = trim(v.front());
    if (!value.empty() && !cfg.control_token_file.empty())
        fail(label, "given with control-token-file: keep one of them");
    if (!value.empty()) check_control_token(value, label);
    cfg.control_token = value;
}

/// The token from a file (its first line), which others may not read.
void apply_control_token_file(RunConfig &cfg, const Values &v, const std::string &label,
                              const Source &source) {
    if (trim(v.front()).empty()) {
        if (!cfg.control_token_file.empty()) cfg.control_token.clear();
        cfg.control_token_file.clear();
        return;
    }
    if (!cfg.control_token.empty() && cfg.control_token_file.empty())
        fail(label, "given with control-token: keep one of them");
    const fs::path path = parse_path(v.front(), label, source.base_dir);
    std::error_code ec;
    const auto perms = fs::status(path, ec).permissions();
    if (ec) fail(label, "cannot read " + path.string() + ": " + ec.message());
    if ((perms & fs::perms::others_read) != fs::perms::none)
        fail(label, path.string() + " is readable by every user: chmod 600 " + path.string());
    std::ifstream in(path);
    std::string token;
    if (!in || !std::getline(in, token))
        fail(label, "cannot read a token from " + path.string() +
                        ": write one line, e.g. `openssl rand -hex 16 > FILE`");
    token = trim(token);
    check_control_token(token, label + " (" + path.string() + ")");
    cfg.control_token = token;
    cfg.control_token_file = path;
}

/// The token itself is never shown (the output is for logs and bug reports).
void show_control_token(const RunConfig &cfg, Describer &out, std::string_view key) {
    if (cfg.control_token.empty())
        out.comment(std::string(key) + ": none (no /control routes)");
    else if (cfg.control_token_file.empty())
        out.comment(std::string(key) + ": set (redacted)");
}

// ------------------------------------------------------------------ show: the common shapes

template <auto Field>
void show_bool(const RunConfig &cfg, Describer &out, std::string_view key) {
    out.line(key, cfg.*Field ? "true" : "false");
}

template <auto Field>
void show_integer(const RunConfig &cfg, Describer &out, std::string_view key) {
    out.line(key, std::to_string(cfg.*Field));
}

template <auto Field>
void show_duration(const RunConfig &cfg, Describer &out, std::string_view key) {
    out.line(key, format_duration(cfg.*Field));
}

template <auto Field>
void show_text(const RunConfig &cfg, Describer &out, std::string_view key) {
    out.line(key, cfg.*Field);
}

/// "# KEY: none" for an empty value (a string or a path, made absolute).
template <auto Field>
void show_or_none(const RunConfig &cfg, Describer &out, std::string_view key) {
    if ((cfg.*Field).empty())
        out.comment(std::string(key) + ": none");
    else if constexpr (std::is_same_v<std::remove_cvref_t<decltype(cfg.*Field)>, fs::path>)
        out.line(key, absolute_path(cfg.*Field));
    else
        out.line(key, cfg.*Field);
}

// ------------------------------------------------------------------ show: one key each

void show_mode(const RunConfig &cfg, Describer &out, std::string_view key) {
    out.line(key, std::string(to_string(cfg.mode)));
}

void show_direct_assignment(const RunConfig &cfg, Describer &out, std::string_view key) {
    out.line(key, cfg.group_assignment ? "group" : "single");
}

void show_topics(const RunConfig &cfg, Describer &out, std::string_view key) {
    for (const auto &topic : cfg.topics) {
        auto threads = cfg.topic_threads.find(topic);
        out.line(key, threads == cfg.topic_threads.end()
                          ? topic
                          : topic + ":" + std::to_string(threads->second));
    }
}

void show_zookeeper_auth(const RunConfig &cfg, Describer &out, std::string_view key) {
    if (cfg.zookeeper_auth.empty()) return;
    // Commented out: a redacted password would not parse.
    out.comment(std::string(key) + " = " +
                cfg.zookeeper_auth.substr(0, cfg.zookeeper_auth.find(':', 7)) + ":<redacted>");
}

void show_from_offsets(const RunConfig &cfg, Describer &out, std::string_view key) {
    if (!cfg.from_offsets.empty()) out.line(key, format_from_offsets(cfg.from_offsets));
}

void show_from_timestamp(const RunConfig &cfg, Describer &out, std::string_view key) {
    if (cfg.from_timestamp_ms) out.line(key, std::to_string(*cfg.from_timestamp_ms));
}

void show_receiver_commit(const RunConfig &cfg, Describer &out, std::string_view key) {
    out.line(key, cfg.receiver_commit == ReceiverCommit::processed ? "processed"
                  : cfg.receiver_commit == ReceiverCommit::stored  ? "stored"
                                                                   : "read");
}

void show_wal_dir(const RunConfig &cfg, Describer &out, std::string_view key) {
    if (cfg.wal_dir.empty())
        out.comment(std::string(key) + ": none");
    else
        out.line(key, absolute_path(cfg.wal_dir));
}

void show_wal_fsync(const RunConfig &cfg, Describer &out, std::string_view key) {
    out.line(key, cfg.wal_fsync_interval.count() == 0 ? std::string("block")
                                                      : format_duration(cfg.wal_fsync_interval));
}

void show_plugins(const RunConfig &cfg, Describer &out, std::string_view key) {
    for (const auto &plugin : cfg.plugins) out.line(key, plugin);
}

void show_plugin_dirs(const RunConfig &cfg, Describer &out, std::string_view key) {
    if (cfg.plugin_dirs.empty()) out.comment(std::string(key) + ": the bundled plugin directory");
    for (const auto &dir : cfg.plugin_dirs) out.line(key, absolute_path(dir));
}

// ------------------------------------------------------------------ the table

using enum Arity;
using enum Group;
using C = RunConfig;

// One row per key, its help text last.
const OptionSpec kOptions[] = {
    {"help", "h", Switch, General, "", nullptr, nullptr, "print this help and exit"},
    {"validate", "", Switch, General, "", nullptr, nullptr,
     "check the configuration, print the effective values as a config file (defaults "
     "included) and exit"},
    {"config", "c", Scalar, General, "FILE", nullptr, nullptr,
     "read options from this INI file; options on the command line win"},
    {"mode", "", Scalar, General, "MODE", apply_mode, show_mode,
     "direct (default): read exact offset ranges each batch; receiver: a consumer group "
     "cuts records into blocks (see the Receiver mode group)"},
    {"batch-interval", "", Scalar, General, "DURATION", apply_batch_interval,
     show_duration<&C::batch_interval>, "how often a batch is cut (default 2s)"},
    {"max-batches", "", Scalar, General, "N", set_integer<&C::max_batches>,
     show_integer<&C::max_batches>,
     "stop cleanly after N batches (default 0 = run until SIGINT/SIGTERM)"},
    {"shutdown-timeout", "", Scalar, General, "DURATION", set_duration<&C::shutdown_timeout>,
     show_duration<&C::shutdown_timeout>,
     "on SIGINT/SIGTERM, how long to let the batch in flight finish before abandoning it "
     "(default 30s)"},
    {"max-batch-bytes", "", Scalar, General, "SIZE", apply_max_batch_bytes,
     show_integer<&C::max_batch_bytes>,
     "at most SIZE of keys and values per batch; also bounds librdkafka's prefetch "
     "(docs/benchmarks.md: peak memory against it; default 0 = unlimited; suffixes KiB MiB GiB)"},
    {"backpressure", "", Scalar, General, "BOOL", set_bool<&C::backpressure>,
     show_bool<&C::backpressure>,
     "a PID rate estimator (Spark's) sizes each batch from the last one's processing time and "
     "scheduling delay: direct mode's ranges, receiver mode's intake (default false)"},
    {"backpressure-initial-rate", "", Scalar, General, "N",
     set_integer<&C::backpressure_initial_rate>, show_integer<&C::backpressure_initial_rate>,
     "with backpressure: records/s before the first estimate (default 0 = unlimited)"},

    {"brokers", "", Scalar, Kafka, "LIST", apply_brokers, show_or_none<&C::brokers>,
     "HOST:PORT[,HOST:PORT...] of the cluster, or 'embedded' for an in-process mock cluster "
     "(required; aliases: -X bootstrap.servers, -X metadata.broker.list)"},
    {"topics", "", List, Kafka, "LIST", apply_topics, show_topics,
     "topics to read, comma-separated, repeatable (required); an entry starting with ^ is a "
     "regex, e.g. '^logs-.*'; in receiver mode NAME:N reads NAME with N consumer threads"},
    {"group", "", Scalar, Kafka, "ID", set_trimmed<&C::group>, show_or_none<&C::group>,
     "Kafka consumer group id: offsets are committed to it, and a start without checkpoint "
     "resumes from it"},
    {"commit-to-kafka", "", Scalar, Kafka, "BOOL", set_bool<&C::commit_to_kafka>,
     show_bool<&C::commit_to_kafka>, "commit each batch's offsets to --group (default true)"},
    {"zookeeper", "", Scalar, Kafka, "HOSTS", apply_zookeeper, show_or_none<&C::zookeeper>,
     "HOST:PORT[,HOST:PORT...][/CHROOT]: mirror each batch's offsets of --group to "
     "/consumers/<group>/offsets for ZooKeeper-based tools (Burrow); without --brokers, the "
     "brokers registered under /brokers/ids are used"},
    {"zookeeper-auth", "", Scalar, Kafka, "AUTH", apply_zookeeper_auth, show_zookeeper_auth,
     "digest:USER:PASSWORD: authenticate to ZooKeeper; created nodes get full rights for that "
     "identity, read for everyone"},
    {"start-from-zookeeper", "", Scalar, Kafka, "BOOL", set_bool<&C::start_from_zookeeper>,
     show_bool<&C::start_from_zookeeper>,
     "start partitions with no checkpoint (and no explicit start) from the legacy offsets under "
     "/consumers/<group>/offsets in --zookeeper, before the group's Kafka offsets (default false)"},
    {"X", "X", List, Kafka, "KEY=VALUE", nullptr, nullptr,
     "a librdkafka property, repeatable, passed unchanged (e.g. -X security.protocol=SSL); "
     "also --kafka.KEY=VALUE"},
    {"embedded-brokers", "", Scalar, Kafka, "N", set_integer<&C::embedded_brokers, 1, 64>,
     show_integer<&C::embedded_brokers>, "broker count of --brokers embedded (default 1)"},
    {"embedded-partitions", "", Scalar, Kafka, "N", set_integer<&C::embedded_partitions, 1, 100000>,
     show_integer<&C::embedded_partitions>,
     "partitions of each topic --brokers embedded creates (default 4)"},

    {"direct-assignment", "", Scalar, Direct, "HOW", apply_direct_assignment,
     show_direct_assignment,
     "single (default): this host reads every partition of --topics, plans in --checkpoint; "
     "group: every host started with the same --group reads only the partitions the group "
     "assigns it (cooperative-sticky), each range's plan is committed to Kafka before it is "
     "read and replayed by the partition's next owner, new partitions and topics matching a "
     "^regex are picked up while running (docs/scale-out.md)"},
    {"auto-offset-reset", "", Scalar, Direct, "WHERE", apply_auto_offset_reset,
     show_text<&C::auto_offset_reset>,
     "where to start a partition with no checkpoint, no --from-offsets and no group offset: "
     "earliest (= smallest) or latest (= largest, the default)"},
    {"from-offsets", "", Scalar, Direct, "LIST", apply_from_offsets, show_from_offsets,
     "explicit start offsets, topic:partition=offset,... (the next offset to read)"},
    {"from-timestamp", "", Scalar, Direct, "MS", set_integer<&C::from_timestamp_ms>,
     show_from_timestamp, "start at the first offset whose timestamp is >= MS (Unix milliseconds)"},
    {"max-rate-per-partition", "", Scalar, Direct, "N", set_integer<&C::max_rate_per_partition>,
     show_integer<&C::max_rate_per_partition>,
     "at most N records/s per partition: each range is clamped to N x batch-interval "
     "(default 0 = unlimited)"},
    {"max-batch-records", "", Scalar, Direct, "N", set_integer<&C::max_batch_records>,
     show_integer<&C::max_batch_records>,
     "at most N records per batch in total, which bounds memory (default 0 = unlimited)"},
    {"fail-on-data-loss", "", Scalar, Direct, "BOOL", set_bool<&C::fail_on_data_loss>,
     show_bool<&C::fail_on_data_loss>,
     "stop (exit 3) when a range starts below the partition's first retained offset; false: "
     "log it and skip ahead (default true)"},
    {"workers", "", Scalar, Direct, "N", set_integer<&C::workers, 0, 1024>,
     show_integer<&C::workers>, "parallel range readers (default 0 = min(partitions, 4))"},

    {"block-interval", "", Scalar, Receiver, "DURATION", apply_block_interval,
     show_duration<&C::block_interval>,
     "how often each consumer thread cuts its records into blocks (default 200ms); each "
     "batch also cuts them as it starts, so it holds every record read until then"},
    {"receiver-max-rate", "", Scalar, Receiver, "N", set_integer<&C::receiver_max_rate>,
     show_integer<&C::receiver_max_rate>,
     "at most N records/s per consumer thread (default 0 = unlimited)"},
    {"receiver-commit", "", Scalar, Receiver, "RULE", apply_receiver_commit, show_receiver_commit,
     "when a block's offsets are committed to the group. processed (default): once the batch "
     "holding it succeeded; nothing is lost in a process crash, a machine loss or a "
     "rebalance; a crash re-reads what was processed but not yet committed (about one "
     "batch). stored (needs wal-dir): once the block is fsynced in the WAL; a process crash "
     "loses nothing and re-reads least, but a lost machine LOSES the blocks its WAL held "
     "unprocessed. read (no wal-dir): librdkafka's auto-commit of what was read; a crash CAN "
     "LOSE records (docs/receiver-mode.md)"},
    {"wal-dir", "", Scalar, Receiver, "DIR", set_directory<&C::wal_dir>, show_wal_dir,
     "write-ahead log: each block is stored here before the batch thread takes it; a restart "
     "replays the blocks never processed before reading Kafka again, and its size bounds "
     "what is read ahead (wal-max-bytes); empty = none (the default: blocks wait in memory)"},
    {"wal-fsync", "", Scalar, Receiver, "WHEN", apply_wal_fsync, show_wal_fsync,
     "block (default): fsync every block before committing its offsets; or a duration, e.g. "
     "50ms: group commit, fsync at most that often (offsets wait for it)"},
    {"wal-max-bytes", "", Scalar, Receiver, "SIZE", apply_wal_max_bytes,
     show_integer<&C::wal_max_bytes>,
     "when the WAL holds this much (unprocessed plus not yet deleted), consumption pauses "
     "until batches catch up; never drops data (default 1GiB; suffixes KiB MiB GiB)"},

    {"checkpoint", "", Scalar, Checkpoint, "DIR", set_directory<&C::checkpoint_dir>,
     show_or_none<&C::checkpoint_dir>,
     "checkpoint directory (offset log + commit log); empty = none (the default)"},

    {"plugin", "", List, Plugins, "NAME", apply_plugins, show_plugins,
     "a plugin of the chain, repeatable, in chain order (required): NAME.so or libNAME.so in "
     "the plugin directories"},
    {"plugin-dir", "", List, Plugins, "DIR", apply_plugin_dirs, show_plugin_dirs,
     "a directory plugins are loaded from, repeatable, searched in order (default: the bundled "
     "plugin directory)"},
    {"hot-reload", "", Scalar, Plugins, "BOOL", set_bool<&C::hot_reload>, show_bool<&C::hot_reload>,
     "watch the plugin files and swap a new version in at the next batch boundary (default "
     "true); SIGHUP rescans"},
    {"hot-reload-poll", "", Scalar, Plugins, "DURATION", apply_hot_reload_poll,
     show_duration<&C::hot_reload_poll>,
     "how often plugin files are polled without inotify, and how long a changed file must stay "
     "unchanged before it is loaded (default 250ms)"},
    {"canary-batches", "", Scalar, Plugins, "N", set_integer<&C::canary_batches, 1, 1000000>,
     show_integer<&C::canary_batches>,
     "batches a canary (NAME.canary.so beside NAME.so) must pass before it is promoted: a "
     "transform's in shadow of the serving generation (its output compared and discarded), a "
     "sink's on its partition slice (canary-partitions) (default 10)"},
    {"canary-partitions", "", Scalar, Plugins, "N", set_integer<&C::canary_partitions, 1, 1000000>,
     show_integer<&C::canary_partitions>,
     "partitions a sink's canary serves (the first N of the assignment; the serving generation "
     "keeps the rest) for canary-batches batches before it takes all of them (default 1)"},

    {"log-level", "", Scalar, Logging, "LEVEL", apply_log_level, show_text<&C::log_level>,
     "trace, debug, info (default), warn or error"},

    {"metrics-address", "", Scalar, Monitoring, "HOST:PORT", apply_metrics_address,
     show_or_none<&C::metrics_address>,
     "serve GET /metrics (Prometheus) and GET /status (JSON) on this address, e.g. "
     "127.0.0.1:9100; port 0 picks a free port (logged); empty = off (the default)"},
    {"control-token", "", Scalar, Monitoring, "TOKEN", apply_control_token, show_control_token,
     "enables POST /control/pause, /control/resume and /control/reload on the metrics address "
     "for requests with 'Authorization: Bearer TOKEN' (at least 16 characters); empty = no "
     "control routes (the default)"},
    {"control-token-file", "", Scalar, Monitoring, "FILE", apply_control_token_file,
     show_or_none<&C::control_token_file>,
     "the control token from the first line of FILE (not readable by other users), instead of "
     "control-token"},
};

const char *const kBrokerAliases[] = {"bootstrap.servers", "metadata.broker.list"};

}  // namespace

std::span<const OptionSpec> options() {
    return kOptions;
}

const OptionSpec *find_option(std::string_view name) {
    for (const OptionSpec &spec : kOptions)
        if (name == spec.name) return &spec;
    return nullptr;
}

bool is_broker_alias(std::string_view key) {
    return std::find(std::begin(kBrokerAliases), std::end(kBrokerAliases), key) !=
           std::end(kBrokerAliases);
}

std::string did_you_mean_option(const std::string &word, bool command_line) {
    std::vector<std::string> names;
    for (const OptionSpec &spec : kOptions) {
        if (spec.command_line_only() && !command_line) continue;
        if (spec.name == std::string_view("X")) continue;
        names.push_back(command_line ? "--" + std::string(spec.name) : spec.name);
    }
    const std::string best = nearest(word, names);
    return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
}

void add_option(po::options_description &desc, const OptionSpec &spec) {
    std::string names = spec.name == std::string_view("X") ? "" : spec.name;
    if (*spec.short_name) names += std::string(",") + spec.short_name;
    const po::value_semantic *semantic = nullptr;
    if (spec.arity == Switch)
        semantic = po::bool_switch();
    else if (spec.arity == Scalar)
        semantic = po::value<std::string>()->value_name(spec.value_name);
    else
        semantic = po::value<std::vector<std::string>>()->value_name(spec.value_name);
    desc.add_options()(names.c_str(), semantic, spec.help);
}

po::options_description option_description(bool command_line) {
    po::options_description desc;
    for (const OptionSpec &spec : kOptions)
        if (command_line || !spec.command_line_only()) add_option(desc, spec);
    return desc;
}

}  // namespace sluice::config::detail
