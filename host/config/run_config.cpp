#include "config/run_config.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "config/error_policy.hpp"
#include "config/plugin_keys.hpp"
#include "config/values.hpp"
#include "kafka/reserved_settings.hpp"
#include "metrics/listen_address.hpp"

namespace sluice::config {

namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;
using detail::trim;

enum class Arity { Scalar, List, Switch };
enum class Group { General, Kafka, Direct, Receiver, Checkpoint, Plugins, Logging, Monitoring };

/// Where values came from: names keys in errors and anchors relative paths.
struct Source {
    bool command_line = true;
    std::string where;  // "" or "config file 'F': ", prefixed to every error
    fs::path base_dir;  // a file's relative paths are relative to the file, not the cwd

    std::string label(std::string_view key) const {
        return command_line ? "--" + std::string(key) : where + std::string(key);
    }
};

/// Sets one RunConfig field from all the values one source gave for its key (exactly one for
/// a Scalar). Throws ConfigError starting with `label`.
using Apply = void (*)(RunConfig &, const std::vector<std::string> &values,
                       const std::string &label, const Source &);

struct OptionSpec {
    const char *name;        // long name = config-file key
    const char *short_name;  // "" if none
    Arity arity;
    Group group;
    const char *value_name;
    const char *help;
    bool command_line_only;
    Apply apply;  // nullptr: handled by the parser itself
};

[[noreturn]] void fail(const std::string &label, const std::string &message) {
    throw ConfigError(label + ": " + message);
}

fs::path resolve_path(const std::string &text, const std::string &label, const Source &source) {
    const std::string t = trim(text);
    if (t.empty()) fail(label, "empty path");
    fs::path path(t);
    if (path.is_relative() && !source.base_dir.empty()) path = source.base_dir / path;
    return path.lexically_normal();
}

std::string one_of(const std::string &text, const std::string &label,
                   const std::vector<std::pair<const char *, const char *>> &accepted,
                   const std::string &expected) {
    const std::string t = detail::to_lower(trim(text));
    for (const auto &[word, normalised] : accepted)
        if (t == word) return normalised;
    fail(label, "'" + text + "' is not one of " + expected);
}

bool legal_topic_name(const std::string &topic) {
    // Kafka's own rule (kafka.common.internals.Topic): [a-zA-Z0-9._-]{1,249}.
    if (topic.empty() || topic.size() > 249) return false;
    return std::all_of(topic.begin(), topic.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
}

void apply_topics(RunConfig &cfg, const std::vector<std::string> &values, const std::string &label,
                  const Source &) {
    cfg.topics.clear();
    cfg.topic_threads.clear();
    for (const std::string &value : values) {
        for (std::string topic : detail::split_list(value)) {
            // NAME:N gives receiver mode's consumer thread count for the topic.
            if (auto colon = topic.rfind(':'); colon != std::string::npos && topic[0] != '^') {
                const std::string count = topic.substr(colon + 1);
                topic.resize(colon);
                cfg.topic_threads[topic] = static_cast<int>(detail::parse_integer(
                    count, label + " (threads of topic " + topic + ")", 1, 64));
            }
            if (!topic.empty() && topic[0] == '^') {
                try {
                    std::regex re(topic);
                } catch (const std::regex_error &e) {
                    fail(label, "topic pattern '" + topic +
                                    "' is not a valid regular expression: " + e.what());
                }
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

void apply_brokers(RunConfig &cfg, const std::vector<std::string> &values, const std::string &label,
                   const Source &) {
    const std::string value = trim(values.front());
    if (value.empty()) fail(label, "empty: write HOST:PORT[,HOST:PORT...] or 'embedded'");
    if (detail::to_lower(value) == "embedded") {
        cfg.brokers = "embedded";
        return;
    }
    std::string joined;
    for (const std::string &broker : detail::split_list(value)) {
        if (broker.empty() || broker.find_first_of(" \t") != std::string::npos)
            fail(label, "'" + value + "' is not a broker list: write HOST:PORT[,HOST:PORT...]");
        joined += (joined.empty() ? "" : ",") + broker;
    }
    cfg.brokers = joined;
}

/// HOST:PORT[,HOST:PORT...][/CHROOT], as ZooKeeper clients write it.
std::string parse_zookeeper(const std::string &text, const std::string &label) {
    const std::string value = trim(text);
    if (value.empty()) return value;
    const auto slash = value.find('/');
    const std::string hosts = value.substr(0, slash);
    const std::string chroot = slash == std::string::npos ? "" : value.substr(slash);
    for (const std::string &host : detail::split_list(hosts)) {
        const auto colon = host.rfind(':');
        if (host.empty() || colon == std::string::npos || colon == 0 ||
            host.find_first_of(" \t") != std::string::npos)
            fail(label, "'" + value +
                            "' is not a ZooKeeper address: write "
                            "HOST:PORT[,HOST:PORT...][/CHROOT]");
        detail::parse_integer(host.substr(colon + 1), label, 1, 65535);
    }
    if (chroot == "/" ||
        (!chroot.empty() && (chroot.back() == '/' || chroot.find("//") != std::string::npos)))
        fail(label, "chroot '" + chroot + "' is not a ZooKeeper path: write /NAME[/NAME...]");
    return value;
}

/// digest:USER:PASSWORD (the only scheme a ZooKeeper client can add by itself).
std::string parse_zookeeper_auth(const std::string &text, const std::string &label) {
    const std::string value = trim(text);
    if (value.empty()) return value;
    const std::string prefix = "digest:";
    const auto colon = value.find(':', prefix.size());
    if (value.rfind(prefix, 0) != 0 || colon == std::string::npos || colon == prefix.size())
        fail(label, "not digest:USER:PASSWORD (the only scheme supported)");
    return value;
}

void apply_plugins(RunConfig &cfg, const std::vector<std::string> &values, const std::string &label,
                   const Source &) {
    cfg.plugins.clear();
    for (const std::string &value : values) {
        for (const std::string &name : detail::split_list(value)) {
            if (name.empty()) fail(label, "empty plugin name in '" + value + "'");
            if (name.find('/') != std::string::npos)
                fail(label, "'" + name +
                                "' is a path: give the plugin's name and its directory with "
                                "--plugin-dir");
            cfg.plugins.push_back(name);
        }
    }
}

/// HOST:PORT of the metrics endpoint, checked by the exporter's own parser; empty = off.
void apply_metrics_address(RunConfig &cfg, const std::vector<std::string> &values,
                           const std::string &label, const Source &) {
    const std::string value = trim(values.front());
    if (!value.empty()) {
        try {
            metrics::parse_listen_address(value);
        } catch (const std::invalid_argument &e) {
            fail(label, e.what());
        }
    }
    cfg.metrics_address = value;
}

void apply_block_interval(RunConfig &cfg, const std::vector<std::string> &values,
                          const std::string &label, const Source &) {
    cfg.block_interval = parse_duration(values.front(), label);
    if (cfg.block_interval.count() < 10) fail(label, "must be at least 10ms, e.g. 200ms");
}

void apply_receiver_max_rate(RunConfig &cfg, const std::vector<std::string> &values,
                             const std::string &label, const Source &) {
    cfg.receiver_max_rate = detail::parse_integer(values.front(), label);
}

void apply_wal_dir(RunConfig &cfg, const std::vector<std::string> &values, const std::string &label,
                   const Source &source) {
    cfg.wal_dir =
        trim(values.front()).empty() ? fs::path() : resolve_path(values.front(), label, source);
}

void apply_wal_fsync(RunConfig &cfg, const std::vector<std::string> &values,
                     const std::string &label, const Source &) {
    const std::string value = detail::to_lower(trim(values.front()));
    if (value == "block") {
        cfg.wal_fsync_interval = std::chrono::milliseconds(0);
        return;
    }
    try {
        cfg.wal_fsync_interval = parse_duration(value, label);
    } catch (const ConfigError &) {
        fail(label, "'" + values.front() + "' is neither 'block' nor a duration such as 50ms");
    }
}

/// A byte count with an optional binary suffix: 1073741824, 512MiB, 1GiB (also K/M/G, KB/MB/GB
/// as binary units, the way JVM and Kafka tooling read them).
void apply_wal_max_bytes(RunConfig &cfg, const std::vector<std::string> &values,
                         const std::string &label, const Source &) {
    const std::string value = trim(values.front());
    size_t digits = 0;
    while (digits < value.size() && std::isdigit(static_cast<unsigned char>(value[digits])))
        ++digits;
    const std::string unit = detail::to_lower(value.substr(digits));
    uint64_t scale = 0;
    if (unit.empty() || unit == "b")
        scale = 1;
    else if (unit == "k" || unit == "kb" || unit == "kib")
        scale = 1ull << 10;
    else if (unit == "m" || unit == "mb" || unit == "mib")
        scale = 1ull << 20;
    else if (unit == "g" || unit == "gb" || unit == "gib")
        scale = 1ull << 30;
    else if (unit == "t" || unit == "tb" || unit == "tib")
        scale = 1ull << 40;
    if (digits == 0 || scale == 0)
        fail(label, "'" + value + "' is not a size: write e.g. 1GiB, 512MiB or a byte count");
    const auto number =
        static_cast<uint64_t>(detail::parse_integer(value.substr(0, digits), label, 1));
    cfg.wal_max_bytes = number * scale;
    if (cfg.wal_max_bytes < (1ull << 20)) fail(label, "must be at least 1MiB");
}

// Lambdas of type Apply; not every one needs every parameter.
#define SLUICE_APPLY                                                                         \
    []([[maybe_unused]] RunConfig & cfg, [[maybe_unused]] const std::vector<std::string> &v, \
       [[maybe_unused]] const std::string &label, [[maybe_unused]] const Source &source)

// The single list of options: parsing, validation, --help and describe() all read it.
const OptionSpec kOptions[] = {
    // General
    {"help", "h", Arity::Switch, Group::General, "", "print this help and exit", true, nullptr},
    {"validate", "", Arity::Switch, Group::General, "",
     "check the configuration, print the effective values as a config file (defaults "
     "included) and exit",
     true, nullptr},
    {"config", "c", Arity::Scalar, Group::General, "FILE",
     "read options from this INI file; options on the command line win", true, nullptr},
    {"mode", "", Arity::Scalar, Group::General, "MODE",
     "direct (default): read exact offset ranges each batch; receiver: a consumer group "
     "cuts records into blocks (see the Receiver mode group)",
     false,
     SLUICE_APPLY{cfg.mode =
                      one_of(v.front(), label, {{"direct", "direct"}, {"receiver", "receiver"}},
                             "direct, receiver");
}  // namespace
}  // namespace sluice::config
, {"batch-interval", "", Arity::Scalar, Group::General, "DURATION",
   "how often a batch is cut (default 2s)", false,
   SLUICE_APPLY{cfg.batch_interval = parse_duration(v.front(), label);
if (cfg.batch_interval.count() == 0) fail(label, "must be more than 0, e.g. 2s");
}
}
, {"max-batches", "", Arity::Scalar, Group::General, "N",
   "stop cleanly after N batches (default 0 = run until SIGINT/SIGTERM)", false,
   SLUICE_APPLY{cfg.max_batches = detail::parse_integer(v.front(), label);
}
}
, {"shutdown-timeout", "", Arity::Scalar, Group::General, "DURATION",
   "on SIGINT/SIGTERM, how long to let the batch in flight finish before abandoning it "
   "(default 30s)",
   false, SLUICE_APPLY{cfg.shutdown_timeout = parse_duration(v.front(), label);
}
}
,
    // Kafka
    {"brokers",
     "",
     Arity::Scalar,
     Group::Kafka,
     "LIST",
     "HOST:PORT[,HOST:PORT...] of the cluster, or 'embedded' for an in-process mock cluster "
     "(required; aliases: -X bootstrap.servers, -X metadata.broker.list)",
     false,
     apply_brokers},
    {"topics",
     "",
     Arity::List,
     Group::Kafka,
     "LIST",
     "topics to read, comma-separated, repeatable (required); an entry starting with ^ is a "
     "regex, e.g. '^logs-.*'; in receiver mode NAME:N reads NAME with N consumer threads",
     false,
     apply_topics},
    {"group", "", Arity::Scalar, Group::Kafka, "ID",
     "Kafka consumer group id: offsets are committed to it, and a start without checkpoint "
     "resumes from it",
     false, SLUICE_APPLY{cfg.group = trim(v.front());
}
}
, {"commit-to-kafka", "", Arity::Scalar, Group::Kafka, "BOOL",
   "commit each batch's offsets to --group (default true)", false,
   SLUICE_APPLY{cfg.commit_to_kafka = parse_bool(v.front(), label);
}
}
, {"zookeeper", "", Arity::Scalar, Group::Kafka, "HOSTS",
   "HOST:PORT[,HOST:PORT...][/CHROOT]: mirror each batch's offsets of --group to "
   "/consumers/<group>/offsets for ZooKeeper-based tools (Burrow); without --brokers, the "
   "brokers registered under /brokers/ids are used",
   false, SLUICE_APPLY{cfg.zookeeper = parse_zookeeper(v.front(), label);
}
}
, {"zookeeper-auth", "", Arity::Scalar, Group::Kafka, "AUTH",
   "digest:USER:PASSWORD: authenticate to ZooKeeper; created nodes get full rights for that "
   "identity, read for everyone",
   false, SLUICE_APPLY{cfg.zookeeper_auth = parse_zookeeper_auth(v.front(), label);
}
}
, {"start-from-zookeeper", "", Arity::Scalar, Group::Kafka, "BOOL",
   "start partitions with no checkpoint (and no explicit start) from the legacy offsets under "
   "/consumers/<group>/offsets in --zookeeper, before the group's Kafka offsets (default false)",
   false, SLUICE_APPLY{cfg.start_from_zookeeper = parse_bool(v.front(), label);
}
}
,
    {"X",
     "X",
     Arity::List,
     Group::Kafka,
     "KEY=VALUE",
     "a librdkafka property, repeatable, passed unchanged (e.g. -X security.protocol=SSL); "
     "also --kafka.KEY=VALUE",
     true,
     nullptr},
    {"embedded-brokers", "", Arity::Scalar, Group::Kafka, "N",
     "broker count of --brokers embedded (default 1)", false,
     SLUICE_APPLY{cfg.embedded_brokers =
                      static_cast<int>(detail::parse_integer(v.front(), label, 1, 64));
}
}
, {"embedded-partitions", "", Arity::Scalar, Group::Kafka, "N",
   "partitions of each topic --brokers embedded creates (default 4)", false,
   SLUICE_APPLY{cfg.embedded_partitions =
                    static_cast<int>(detail::parse_integer(v.front(), label, 1, 100000));
}
}
,
    // Direct mode
    {"auto-offset-reset", "", Arity::Scalar, Group::Direct, "WHERE",
     "where to start a partition with no checkpoint, no --from-offsets and no group offset: "
     "earliest (= smallest) or latest (= largest, the default)",
     false,
     SLUICE_APPLY{cfg.auto_offset_reset = one_of(v.front(), label,
                                                 {{"earliest", "earliest"},
                                                  {"smallest", "earliest"},
                                                  {"latest", "latest"},
                                                  {"largest", "latest"}},
                                                 "earliest, smallest, latest, largest");
}
}
, {"from-offsets", "", Arity::Scalar, Group::Direct, "LIST",
   "explicit start offsets, topic:partition=offset,... (the next offset to read)", false,
   SLUICE_APPLY{cfg.from_offsets = detail::parse_from_offsets(v.front(), label);
}
}
, {"from-timestamp", "", Arity::Scalar, Group::Direct, "MS",
   "start at the first offset whose timestamp is >= MS (Unix milliseconds)", false,
   SLUICE_APPLY{cfg.from_timestamp_ms = detail::parse_integer(v.front(), label);
}
}
, {"max-rate-per-partition", "", Arity::Scalar, Group::Direct, "N",
   "at most N records/s per partition: each range is clamped to N x batch-interval "
   "(default 0 = unlimited)",
   false, SLUICE_APPLY{cfg.max_rate_per_partition = detail::parse_integer(v.front(), label);
}
}
, {"max-batch-records", "", Arity::Scalar, Group::Direct, "N",
   "at most N records per batch in total, which bounds memory (default 0 = unlimited)", false,
   SLUICE_APPLY{cfg.max_batch_records = detail::parse_integer(v.front(), label);
}
}
, {"fail-on-data-loss", "", Arity::Scalar, Group::Direct, "BOOL",
   "stop (exit 3) when a range starts below the partition's first retained offset; false: "
   "log it and skip ahead (default true)",
   false, SLUICE_APPLY{cfg.fail_on_data_loss = parse_bool(v.front(), label);
}
}
, {"workers", "", Arity::Scalar, Group::Direct, "N",
   "parallel range readers (default 0 = min(partitions, 4))", false,
   SLUICE_APPLY{cfg.workers = static_cast<int>(detail::parse_integer(v.front(), label, 0, 1024));
}
}
,
    // Receiver mode
    {"block-interval",
     "",
     Arity::Scalar,
     Group::Receiver,
     "DURATION",
     "how often each consumer thread cuts its records into blocks (default 200ms); a batch "
     "is the blocks of one batch-interval",
     false,
     apply_block_interval},
    {"receiver-max-rate",
     "",
     Arity::Scalar,
     Group::Receiver,
     "N",
     "at most N records/s per consumer thread (default 0 = unlimited)",
     false,
     apply_receiver_max_rate},
    {"wal-dir",
     "",
     Arity::Scalar,
     Group::Receiver,
     "DIR",
     "write-ahead log: each block is stored and fsynced here before its offsets are "
     "committed, so a crash loses nothing; empty = none (the default: auto-commit, a crash "
     "CAN LOSE records)",
     false,
     apply_wal_dir},
    {"wal-fsync",
     "",
     Arity::Scalar,
     Group::Receiver,
     "WHEN",
     "block (default): fsync every block before committing its offsets; or a duration, e.g. "
     "50ms: group commit, fsync at most that often (offsets wait for it)",
     false,
     apply_wal_fsync},
    {"wal-max-bytes",
     "",
     Arity::Scalar,
     Group::Receiver,
     "SIZE",
     "when the WAL holds this much (unprocessed plus not yet deleted), consumption pauses "
     "until batches catch up; never drops data (default 1GiB; suffixes KiB MiB GiB)",
     false,
     apply_wal_max_bytes},
    // Checkpoint
    {"checkpoint", "", Arity::Scalar, Group::Checkpoint, "DIR",
     "checkpoint directory (offset log + commit log); empty = none (the default)", false,
     SLUICE_APPLY{cfg.checkpoint_dir =
                      trim(v.front()).empty() ? fs::path() : resolve_path(v.front(), label, source);
}
}
,
    // Plugins
    {"plugin",
     "",
     Arity::List,
     Group::Plugins,
     "NAME",
     "a plugin of the chain, repeatable, in chain order (required): NAME.so or libNAME.so in "
     "the plugin directories",
     false,
     apply_plugins},
    {"plugin-dir", "", Arity::List, Group::Plugins, "DIR",
     "a directory plugins are loaded from, repeatable, searched in order (default: the bundled "
     "plugin directory)",
     false, SLUICE_APPLY{cfg.plugin_dirs.clear();
for (const std::string &dir : v) cfg.plugin_dirs.push_back(resolve_path(dir, label, source));
}
}
, {"hot-reload", "", Arity::Scalar, Group::Plugins, "BOOL",
   "watch the plugin files and swap a new version in at the next batch boundary (default "
   "true); SIGHUP rescans",
   false, SLUICE_APPLY{cfg.hot_reload = parse_bool(v.front(), label);
}
}
, {"hot-reload-poll", "", Arity::Scalar, Group::Plugins, "DURATION",
   "how often plugin files are polled without inotify, and how long a changed file must stay "
   "unchanged before it is loaded (default 250ms)",
   false, SLUICE_APPLY{cfg.hot_reload_poll = parse_duration(v.front(), label);
if (cfg.hot_reload_poll.count() == 0) fail(label, "must be more than 0, e.g. 250ms");
}
}
,
    // Logging
    {"log-level", "", Arity::Scalar, Group::Logging, "LEVEL",
     "trace, debug, info (default), warn or error", false,
     SLUICE_APPLY{cfg.log_level = one_of(v.front(), label,
                                         {{"trace", "trace"},
                                          {"debug", "debug"},
                                          {"info", "info"},
                                          {"warn", "warn"},
                                          {"error", "error"}},
                                         "trace, debug, info, warn, error");
}
}
,
    // Monitoring
    {"metrics-address",
     "",
     Arity::Scalar,
     Group::Monitoring,
     "HOST:PORT",
     "serve GET /metrics (Prometheus) and GET /status (JSON) on this address, e.g. "
     "127.0.0.1:9100; port 0 picks a free port (logged); empty = off (the default)",
     false,
     apply_metrics_address},
}
;

#undef SLUICE_APPLY

const OptionSpec *find_option(std::string_view name) {
    for (const OptionSpec &spec : kOptions)
        if (name == spec.name) return &spec;
    return nullptr;
}

const char *const kBrokerAliases[] = {"bootstrap.servers", "metadata.broker.list"};

bool is_broker_alias(std::string_view key) {
    return std::find(std::begin(kBrokerAliases), std::end(kBrokerAliases), key) !=
           std::end(kBrokerAliases);
}

void add_option(po::options_description &desc, const OptionSpec &spec) {
    std::string names = spec.name == std::string_view("X") ? "" : spec.name;
    if (*spec.short_name) names += std::string(",") + spec.short_name;
    const po::value_semantic *semantic = nullptr;
    if (spec.arity == Arity::Switch)
        semantic = po::bool_switch();
    else if (spec.arity == Arity::Scalar)
        semantic = po::value<std::string>()->value_name(spec.value_name);
    else
        semantic = po::value<std::vector<std::string>>()->value_name(spec.value_name);
    desc.add_options()(names.c_str(), semantic, spec.help);
}

po::options_description make_description(bool command_line) {
    po::options_description desc;
    for (const OptionSpec &spec : kOptions)
        if (command_line || !spec.command_line_only) add_option(desc, spec);
    return desc;
}

/// Everything one source (the command line or the file) said, before merging.
struct Layer {
    Source source;
    std::map<std::string, std::vector<std::string>> values;  // option name -> values in order
    std::map<std::string, std::string> kafka;
    std::map<std::string, std::map<std::string, std::string>> plugin_config;
    std::vector<std::pair<std::string, std::string>> broker_values;  // (how it was named, value)
    std::optional<std::string> config_file;
    bool validate = false;

    void add_value(const OptionSpec &spec, const std::string &value) {
        auto &slot = values[spec.name];
        if (spec.arity == Arity::Scalar && !slot.empty() && slot.front() != value)
            fail(source.label(spec.name),
                 "given twice ('" + slot.front() + "' and '" + value + "'): give it once");
        if (spec.arity == Arity::List || slot.empty()) slot.push_back(value);
    }

    void add_kafka(const std::string &key, const std::string &value, const std::string &label) {
        if (key.empty())
            fail(source.where + label, "empty librdkafka property name: write KEY=VALUE");
        if (is_broker_alias(key)) {
            broker_values.emplace_back(label, value);
            return;
        }
        const auto [it, inserted] = kafka.emplace(key, value);
        if (!inserted && it->second != value)
            fail(source.where + label, "librdkafka property '" + key + "' given twice ('" +
                                           it->second + "' and '" + value + "'): give it once");
    }

    /// bootstrap.servers / metadata.broker.list are the brokers option under other names:
    /// fold them in, refusing two different values from this one source.
    void resolve_broker_aliases() {
        if (auto it = values.find("brokers"); it != values.end())
            broker_values.insert(broker_values.begin(),
                                 {source.command_line ? "--brokers" : "brokers", it->second[0]});
        for (const auto &[label, value] : broker_values)
            if (trim(value) != trim(broker_values.front().second))
                throw ConfigError(source.where +
                                  "conflicting brokers: " + broker_values.front().first + " '" +
                                  broker_values.front().second + "' and " + label + " '" + value +
                                  "': give the brokers once");
        if (!broker_values.empty()) values["brokers"] = {broker_values.front().second};
    }
};

std::vector<std::string> option_names(bool command_line) {
    std::vector<std::string> names;
    for (const OptionSpec &spec : kOptions) {
        if (spec.command_line_only && !command_line) continue;
        if (spec.name == std::string_view("X")) continue;
        names.push_back(command_line ? "--" + std::string(spec.name) : spec.name);
    }
    return names;
}

std::string did_you_mean(const std::string &word, const std::vector<std::string> &candidates) {
    const std::string best = detail::nearest(word, candidates);
    return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
}

[[noreturn]] void unknown_option(const std::string &token) {
    const std::string name = token.substr(0, token.find('='));
    std::string bare = name;
    bare.erase(0, bare.find_first_not_of('-'));
    if (is_broker_alias(bare))
        throw ConfigError("unknown option '" + name + "' (did you mean '--brokers'?)");
    std::string hint = did_you_mean(name, option_names(true));
    if (hint.empty() && bare.find('.') != std::string::npos)
        hint = " (librdkafka properties are given as -X " + bare + "=VALUE)";
    throw ConfigError("unknown option '" + name + "'" + hint);
}

Layer parse_command_line(std::vector<std::string> args) {
    Layer layer;
    // --kafka.KEY=VALUE is -X KEY=VALUE, mirroring the file's kafka.KEY = VALUE.
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i].rfind("--kafka.", 0) != 0) continue;
        if (args[i].find('=') == std::string::npos)
            throw ConfigError("option '" + args[i] + "': write --kafka.KEY=VALUE or -X KEY=VALUE");
        args[i] = args[i].substr(8);
        args.insert(args.begin() + static_cast<std::ptrdiff_t>(i), "-X");
        ++i;
    }
    po::parsed_options parsed(nullptr);
    try {
        parsed = po::command_line_parser(args)
                     .options(make_description(true))
                     .style(po::command_line_style::default_style &
                            ~po::command_line_style::allow_guessing)
                     .allow_unregistered()
                     .run();
    } catch (const po::error &e) {
        // Boost names the short-only option -X as "--X".
        std::string message = e.what();
        if (const size_t at = message.find("'--X'"); at != std::string::npos)
            message.replace(at, 5, "'-X'");
        throw ConfigError(message);
    }
    for (const po::option &opt : parsed.options) {
        const std::string token = opt.original_tokens.empty() ? "" : opt.original_tokens[0];
        if (opt.unregistered && !opt.string_key.empty()) unknown_option(token);
        if (opt.position_key >= 0 || opt.string_key.empty()) {
            std::string hint = " (options start with --; see sluice run --help)";
            if (token.rfind("kafka.", 0) == 0)
                hint = " (write --" + token + " or -X " + token.substr(6) + ")";
            else if (token.size() > 4 && token.substr(token.size() - 4) == ".ini")
                hint = " (did you mean --config " + token + "?)";
            throw ConfigError("unexpected argument '" + token + "'" + hint);
        }
        const std::string &key = opt.string_key;
        const std::string value = opt.value.empty() ? "" : opt.value.front();
        // Boost takes the next token as the value even if it is a long option: "--group --plugin
        // p" would silently make "--plugin" the group.
        if (opt.original_tokens.size() == 2 && value.rfind("--", 0) == 0) {
            const std::string name = value.substr(2, value.find('=') - 2);
            if (find_option(name))
                throw ConfigError("option '" + token + "' has no value ('" + value +
                                  "' is the next option)");
        }
        if (key == "-X") {
            const size_t eq = value.find('=');
            if (eq == std::string::npos)
                throw ConfigError("-X '" + value + "': write -X KEY=VALUE");
            const std::string name = trim(value.substr(0, eq));
            layer.add_kafka(name, value.substr(eq + 1), "-X " + name);
        } else if (key == "validate") {
            layer.validate = true;
        } else if (key == "config") {
            if (layer.config_file && *layer.config_file != value)
                throw ConfigError("--config given twice ('" + *layer.config_file + "' and '" +
                                  value + "'): give one file");
            layer.config_file = value;
        } else if (const OptionSpec *spec = find_option(key); spec && spec->apply) {
            layer.add_value(*spec, value);
        }
    }
    layer.resolve_broker_aliases();
    return layer;
}

Layer parse_config_file(const std::string &file) {
    Layer layer;
    layer.source.command_line = false;
    layer.source.where = "config file '" + file + "': ";
    layer.source.base_dir = fs::path(file).parent_path();
    const std::string &where = layer.source.where;

    std::error_code ec;
    std::ifstream in;
    // On Linux a directory opens fine and reads as nothing: check it first.
    if (!fs::is_directory(file, ec)) in.open(file);
    std::stringstream text;
    if (in.is_open()) text << in.rdbuf();
    if (!in.is_open() || !in) {
        const std::string why = !fs::exists(file, ec)        ? "no such file"
                                : fs::is_directory(file, ec) ? "it is a directory"
                                                             : "cannot be read";
        throw ConfigError(where + why + " (check the path given to --config)");
    }
    const std::string content = text.str();

    // Boost flattens "[plugin.a.b]\nk = v" to "plugin.a.b.k", so the section names are read
    // here first to split it back at the right dot; unknown sections are refused here too.
    std::vector<std::string> plugin_sections;
    {
        std::istringstream lines(content);
        std::string line;
        while (std::getline(lines, line)) {
            line = trim(line.substr(0, line.find('#')));
            if (line.size() < 2 || line.front() != '[' || line.back() != ']') continue;
            const std::string section = line.substr(1, line.size() - 2);
            if (section == "kafka") continue;
            if (section.rfind("plugin.", 0) == 0 && section.size() > 7 &&
                section.find_first_of(" \t") == std::string::npos) {
                plugin_sections.push_back(section);
                continue;
            }
            throw ConfigError(where + "unknown section '" + line +
                              "' (the sections are [kafka] and [plugin.NAME])");
        }
        std::sort(plugin_sections.begin(), plugin_sections.end(),
                  [](const auto &a, const auto &b) { return a.size() > b.size(); });
    }

    po::parsed_options parsed(nullptr);
    try {
        std::istringstream stream(content);
        parsed = po::parse_config_file(stream, make_description(false), true);
    } catch (const po::error &e) {
        throw ConfigError(where + e.what());
    }
    for (const po::option &opt : parsed.options) {
        const std::string &key = opt.string_key;
        const std::string value = opt.value.empty() ? "" : opt.value.front();
        if (!opt.unregistered) {
            layer.add_value(*find_option(key), value);
        } else if (key.rfind("kafka.", 0) == 0) {
            layer.add_kafka(key.substr(6), value, key);
        } else if (is_broker_alias(key)) {
            layer.broker_values.emplace_back(key, value);
        } else if (key.rfind("plugin.", 0) == 0) {
            std::string section;
            for (const std::string &s : plugin_sections)
                if (key.size() > s.size() + 1 && key.rfind(s + ".", 0) == 0) {
                    section = s;
                    break;
                }
            if (section.empty()) section = key.substr(0, key.find('.', 7));  // plugin.NAME.KEY
            if (section.size() + 1 >= key.size())
                throw ConfigError(where + "key '" + key +
                                  "': plugin settings go in a [plugin.NAME] section");
            const std::string plugin = section.substr(7), name = key.substr(section.size() + 1);
            const auto [it, inserted] = layer.plugin_config[plugin].emplace(name, value);
            if (!inserted && it->second != value)
                throw ConfigError(where + "[" + section + "] " + name + " given twice ('" +
                                  it->second + "' and '" + value + "'): give it once");
        } else if (const OptionSpec *spec = find_option(key); spec && spec->command_line_only) {
            throw ConfigError(where + "'" + key + "' can only be given on the command line");
        } else {
            std::string hint = did_you_mean(key, option_names(false));
            if (hint.empty() && key.find('.') != std::string::npos)
                hint = " (librdkafka properties go in the [kafka] section or as kafka." + key + ")";
            throw ConfigError(where + "unknown key '" + key + "'" + hint);
        }
    }
    // The host's own keys of each [plugin.NAME] section (error policy): checked here, misspelt
    // ones too, so a bad value stops `sluice run --validate` and startup with one line.
    for (const auto &[plugin, settings] : layer.plugin_config) {
        check_host_key_spelling(plugin, settings, where);
        parse_error_policy(plugin, settings, where);
    }
    layer.resolve_broker_aliases();
    return layer;
}

void apply_layer(RunConfig &cfg, const Layer &layer) {
    for (const OptionSpec &spec : kOptions) {
        const auto it = layer.values.find(spec.name);
        if (spec.apply && it != layer.values.end())
            spec.apply(cfg, it->second, layer.source.label(spec.name), layer.source);
    }
    for (const auto &[key, value] : layer.kafka) cfg.kafka[key] = value;
    for (const auto &[plugin, settings] : layer.plugin_config)
        for (const auto &[key, value] : settings) cfg.plugin_config[plugin][key] = value;
}

/// Checks what no single key can: required options and keys that depend on each other.
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
    if (cfg.mode == "receiver") {
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
        if (!cfg.commit_to_kafka)
            throw ConfigError(
                "commit-to-kafka: receiver mode always commits to its group (it is how members "
                "hand partitions over); remove the key");
    } else {
        if (!cfg.topic_threads.empty())
            throw ConfigError(
                "topics: NAME:N (consumer threads) is for --mode receiver; in direct "
                "mode write the bare topic name (use --workers for parallel reads)");
        if (!cfg.wal_dir.empty() || cfg.block_interval != defaults.block_interval ||
            cfg.receiver_max_rate != defaults.receiver_max_rate ||
            cfg.wal_fsync_interval != defaults.wal_fsync_interval ||
            cfg.wal_max_bytes != defaults.wal_max_bytes)
            throw ConfigError(
                "wal-dir/wal-fsync/wal-max-bytes/block-interval/receiver-max-rate: receiver-mode "
                "options; add --mode receiver, or use --checkpoint for direct mode's replay log");
        for (const auto &[key, value] : cfg.kafka)
            if (auto error = kafka::direct_reserved_error(key, value)) throw ConfigError(*error);
    }
    if (cfg.topics.empty())
        throw ConfigError(
            "no topics: give --topics NAME[,NAME...] (an entry starting with ^ is a regex), or "
            "topics = ... in the --config file");
    if (cfg.plugins.empty())
        throw ConfigError(
            "no plugin: give --plugin NAME (repeat it for a chain, in order), or plugin = NAME "
            "lines in the --config file");
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

bool is_secret(const std::string &key) {
    static const std::regex secret("password|secret|ssl\\.key\\.pem|oauthbearer\\.config",
                                   std::regex::icase);
    return std::regex_search(key, secret);
}

}  // namespace

ParsedRun parse_run_args(int argc, const char *const argv[]) {
    ParsedRun out;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
    // Help first, so it works whatever else is missing or wrong.
    if (std::any_of(args.begin(), args.end(),
                    [](const std::string &a) { return a == "--help" || a == "-h"; })) {
        out.help = true;
        return out;
    }
    const Layer command_line = parse_command_line(args);
    out.validate = command_line.validate;
    if (command_line.config_file)
        apply_layer(out.config, parse_config_file(*command_line.config_file));
    apply_layer(out.config, command_line);
    check_complete(out.config);
    return out;
}

std::string describe(const RunConfig &cfg) {
    std::ostringstream os;
    const auto line = [&os](const std::string &key, const std::string &value) {
        // The INI reader cuts a line at '#' and trims values: such a value is shown, but
        // commented out rather than silently changed.
        if (value.find_first_of("#\r\n") != std::string::npos || value != trim(value))
            os << "# " << key << ": this value cannot be written in a config file ('#' starts "
               << "a comment, spaces around it are trimmed): give it on the command line\n# ";
        os << key << " =" << (value.empty() ? "" : " ") << value << "\n";
    };
    const auto path = [](const fs::path &p) { return fs::absolute(p).lexically_normal().string(); };
    os << "# The effective configuration of sluice run; run it with: sluice run --config FILE\n";
    line("mode", cfg.mode);
    line("brokers", cfg.brokers);
    for (const auto &topic : cfg.topics) {
        auto threads = cfg.topic_threads.find(topic);
        line("topics", threads == cfg.topic_threads.end()
                           ? topic
                           : topic + ":" + std::to_string(threads->second));
    }
    if (cfg.group.empty())
        os << "# group: none\n";
    else
        line("group", cfg.group);
    line("batch-interval", detail::format_duration(cfg.batch_interval));
    if (cfg.plugin_dirs.empty()) os << "# plugin-dir: the bundled plugin directory\n";
    for (const auto &dir : cfg.plugin_dirs) line("plugin-dir", path(dir));
    for (const auto &plugin : cfg.plugins) line("plugin", plugin);
    line("hot-reload", cfg.hot_reload ? "true" : "false");
    line("hot-reload-poll", detail::format_duration(cfg.hot_reload_poll));
    if (cfg.checkpoint_dir.empty())
        os << "# checkpoint: none\n";
    else
        line("checkpoint", path(cfg.checkpoint_dir));
    if (cfg.mode == "receiver") {
        line("block-interval", detail::format_duration(cfg.block_interval));
        line("receiver-max-rate", std::to_string(cfg.receiver_max_rate));
        if (cfg.wal_dir.empty())
            os << "# wal-dir: none (auto-commit: a crash can lose records)\n";
        else
            line("wal-dir", path(cfg.wal_dir));
        line("wal-fsync", cfg.wal_fsync_interval.count() == 0
                              ? std::string("block")
                              : detail::format_duration(cfg.wal_fsync_interval));
        line("wal-max-bytes", std::to_string(cfg.wal_max_bytes));
    }
    line("auto-offset-reset", cfg.auto_offset_reset);
    if (!cfg.from_offsets.empty())
        line("from-offsets", detail::format_from_offsets(cfg.from_offsets));
    if (cfg.from_timestamp_ms) line("from-timestamp", std::to_string(*cfg.from_timestamp_ms));
    line("max-rate-per-partition", std::to_string(cfg.max_rate_per_partition));
    line("max-batch-records", std::to_string(cfg.max_batch_records));
    line("fail-on-data-loss", cfg.fail_on_data_loss ? "true" : "false");
    line("commit-to-kafka", cfg.commit_to_kafka ? "true" : "false");
    if (cfg.zookeeper.empty())
        os << "# zookeeper: none\n";
    else
        line("zookeeper", cfg.zookeeper);
    if (!cfg.zookeeper_auth.empty())  // commented out: a redacted password would not parse
        os << "# zookeeper-auth = " << cfg.zookeeper_auth.substr(0, cfg.zookeeper_auth.find(':', 7))
           << ":<redacted>\n";
    line("start-from-zookeeper", cfg.start_from_zookeeper ? "true" : "false");
    line("workers", std::to_string(cfg.workers));
    line("embedded-brokers", std::to_string(cfg.embedded_brokers));
    line("embedded-partitions", std::to_string(cfg.embedded_partitions));
    line("shutdown-timeout", detail::format_duration(cfg.shutdown_timeout));
    line("max-batches", std::to_string(cfg.max_batches));
    line("log-level", cfg.log_level);
    if (cfg.metrics_address.empty())
        os << "# metrics-address: none\n";
    else
        line("metrics-address", cfg.metrics_address);
    const auto section = [&](const std::string &name,
                             const std::map<std::string, std::string> &settings) {
        os << "\n[" << name << "]\n";
        for (const auto &[key, value] : settings) line(key, is_secret(key) ? "<redacted>" : value);
    };
    if (!cfg.kafka.empty()) section("kafka", cfg.kafka);
    for (const auto &[plugin, settings] : cfg.plugin_config) section("plugin." + plugin, settings);
    return os.str();
}

std::string run_help() {
    struct GroupText {
        Group group;
        const char *title;
        const char *intro;
    };
    const GroupText groups[] = {
        {Group::General, "General",
         "What runs and for how long. Durations are a whole number with a unit (500ms,\n"
         "2s, 1m, 1h); booleans are true/false, yes/no, on/off or 1/0."},
        {Group::Kafka, "Kafka",
         "Which cluster and topics to read, and the consumer group offsets are committed\n"
         "to. Any librdkafka property passes through unchanged: -X KEY=VALUE,\n"
         "--kafka.KEY=VALUE, or in the config file a [kafka] section (or kafka.KEY =\n"
         "VALUE lines). bootstrap.servers and metadata.broker.list are other names of\n"
         "--brokers."},
        {Group::Direct, "Direct mode",
         "How each batch's offset ranges are chosen: where to start (a checkpoint, when\n"
         "present, wins over all of these), how much one batch may take, and what to do\n"
         "about lost data."},
        {Group::Receiver, "Receiver mode (--mode receiver)",
         "A consumer group (--group, required) reads --topics NAME:N with N threads per\n"
         "topic; each thread cuts its records into blocks every block-interval, and a\n"
         "batch is the blocks of one batch-interval. With --wal-dir every block is\n"
         "fsynced to a write-ahead log before its offsets are committed, and blocks never\n"
         "processed are replayed at the next start: nothing is lost in a crash, a record\n"
         "may be seen twice. Without it the group auto-commits what it has read, so a\n"
         "crash loses the records read but not yet processed (docs/receiver-mode.md)."},
        {Group::Checkpoint, "Checkpoint",
         "Where the planned and committed batches are logged, so that after a crash the\n"
         "last uncommitted batch is replayed with exactly the same offset ranges."},
        {Group::Plugins, "Plugins",
         "The chain each batch goes through, in order. Settings for plugin NAME go in a\n"
         "[plugin.NAME] section of the config file; the plugin reads them. A plugin that\n"
         "declares its keys (sluice plugins DIR lists them) accepts no others, and\n"
         "--validate loads each plugin to check. Four keys there are the host's, the\n"
         "plugin's error policy (docs/plugins.md); a near-miss of one is an error:\n"
         "  on-error = stop|retry|skip|dead-letter  a batch still failing after\n"
         "      max-retries: stop/retry stop without committing it (default stop), skip\n"
         "      commits it without the plugin's work, dead-letter produces its records to\n"
         "      dead-letter-topic, then commits it. SLUICE_SKIP is never retried and never\n"
         "      stops (dead-lettered under dead-letter); SLUICE_FATAL always stops.\n"
         "  max-retries = 3                  re-runs after SLUICE_RETRY (0 to 1000)\n"
         "  retry-backoff = 100ms            wait before the first re-run, doubling, max 30s\n"
         "  dead-letter-topic = NAME         default: NAME.dead-letter"},
        {Group::Logging, "Logging", "What goes to stderr."},
        {Group::Monitoring, "Monitoring",
         "Metrics of the run over HTTP, for Prometheus and for people (see docs/metrics.md)."},
    };
    constexpr unsigned kHelpWidth = 80;
    po::options_description all(kHelpWidth, kHelpWidth / 2);
    for (const OptionSpec &spec : kOptions) add_option(all, spec);
    const unsigned column = all.get_option_column_width() + 1;
    std::ostringstream os;
    os << "Usage: sluice run --brokers LIST --topics LIST --plugin NAME [options]\n"
          "       sluice run --config FILE [options]\n"
          "\n"
          "Reads Kafka in micro-batches: every batch interval, sluice fixes one offset\n"
          "range per partition, reads the ranges, hands the batch to the plugin chain,\n"
          "then commits. Every option is also a key of the --config file (INI: 'key =\n"
          "value' lines before any [section], '#' starts a comment); the command line\n"
          "wins over the file, and a list given on the command line replaces the file's.\n"
          "Relative paths in the file are relative to the file's directory.\n";
    for (const GroupText &g : groups) {
        po::options_description desc(kHelpWidth, kHelpWidth / 2);
        for (const OptionSpec &spec : kOptions)
            if (spec.group == g.group) add_option(desc, spec);
        os << "\n" << g.title << ":\n" << g.intro << "\n";
        std::ostringstream options;
        desc.print(options, column);  // one column for all groups, so they line up
        std::istringstream lines(options.str());
        for (std::string line; std::getline(lines, line);)  // Boost leaves spaces at wraps
            os << line.substr(0, line.find_last_not_of(' ') + 1) << "\n";
    }
    os << "\n"
          "Examples:\n"
          "  # No Kafka needed: an in-process mock cluster, ten 1-second batches\n"
          "  sluice run --brokers embedded --topics demo --plugin print-offsets \\\n"
          "      --batch-interval 1s --max-batches 10\n"
          "\n"
          "  # A real cluster: from the beginning, with a checkpoint, offsets committed to a "
          "group\n"
          "  sluice run --brokers kafka1:9092,kafka2:9092 --topics orders,'^logs-.*' \\\n"
          "      --group sluice-orders --auto-offset-reset earliest \\\n"
          "      --checkpoint /var/lib/sluice/orders --plugin wordcount --plugin file-sink \\\n"
          "      -X security.protocol=SSL\n"
          "\n"
          "  # Receiver mode: a consumer group, 2 threads for events, blocks fsynced to a WAL\n"
          "  sluice run --mode receiver --brokers kafka1:9092 --topics events:2,clicks \\\n"
          "      --group sluice-events --wal-dir /var/lib/sluice/wal --plugin file-sink\n"
          "\n"
          "  # Everything in a file (see host/config/example.ini), one value overridden;\n"
          "  # --validate prints the effective configuration and exits\n"
          "  sluice run --config orders.ini --batch-interval 5s\n"
          "  sluice run --config orders.ini --validate\n";
    return os.str();
}

}  // namespace sluice::config
