#pragma once
// The configuration of `sluice run`: command line + INI file (Boost.Program_options),
// checked and normalised into one RunConfig. Every key is one row of the option table
// (options.cpp), which --help and describe() walk; docs/configuration.md lists the keys for
// readers, and host/config/example.ini is a complete annotated file.
//
// The parts: values.* parse one value; options.* is the table; layer.*, command_line.cpp and
// config_file.cpp read the two sources into layers; validate.* checks keys against each
// other; describe.cpp and help.cpp print; plugin_keys.* are the keys of [plugin.NAME].

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/one_line.hpp"
#include "common/types.hpp"

namespace sluice::config {

/// A bad command line or config file. what() is one line naming the key (and, for a file,
/// the file) and how to fix it; control characters of the values it quotes are escaped here
/// (one_line), so no message can be broken over lines by what a user typed.
class ConfigError : public std::runtime_error {
  public:
    explicit ConfigError(std::string_view what) : runtime_error(one_line(what)) {}
};

/// How records are read (docs/receiver-mode.md): direct plans exact offset ranges each batch;
/// receiver is a consumer group cutting records into blocks.
enum class Mode { direct, receiver };

/// "direct" or "receiver": the config value, and the label of logs and metrics.
std::string_view to_string(Mode mode);

/// When receiver mode commits a block's offsets to its group (receiver-commit): once the batch
/// holding it succeeded, once it is durable in the WAL, or as read (librdkafka's auto-commit).
enum class ReceiverCommit { processed, stored, read };

/// One explicit start position of --from-offsets: `offset` is the next offset to read.
struct StartOffset {
    TopicPartition tp;
    int64_t offset;

    bool operator==(const StartOffset &) const = default;
};

/// The effective configuration of one `sluice run`. A plain value: built on the control
/// thread by parse_run_args, then moved into the run loop.
struct RunConfig {
    Mode mode = Mode::direct;
    std::string brokers;              // "embedded" or host:port list
    std::vector<std::string> topics;  // names, or "^regex"
    std::string group;                // may be empty (required in receiver mode)
    // Receiver mode: consumer threads per topic, from --topics NAME:N (a topic not here has 1).
    std::map<std::string, int> topic_threads;
    std::chrono::milliseconds block_interval{200};    // receiver: records are cut into blocks
    int64_t receiver_max_rate = 0;                    // receiver: records/s per thread, 0 = no cap
    std::filesystem::path wal_dir;                    // receiver: write-ahead log; empty = none
    std::chrono::milliseconds wal_fsync_interval{0};  // 0 = fsync every block (wal-fsync=block)
    uint64_t wal_max_bytes = 1ull << 30;              // consumption pauses at this WAL size
    ReceiverCommit receiver_commit = ReceiverCommit::processed;
    std::chrono::milliseconds batch_interval{2000};
    std::vector<std::filesystem::path> plugin_dirs;  // empty = the bundled plugin dir
    std::vector<std::string> plugins;                // chain order
    bool hot_reload = true;                          // watch plugin files, swap new versions in
    std::chrono::milliseconds hot_reload_poll{250};  // polling fallback and debounce time
    int64_t canary_batches = 10;                     // batches a NAME.canary.so shadows
    int64_t canary_partitions = 1;                   // partitions a sink's canary serves
    std::filesystem::path checkpoint_dir;            // empty = none
    std::string auto_offset_reset = "latest";        // normalised: "earliest" or "latest"
    std::vector<StartOffset> from_offsets;
    std::optional<int64_t> from_timestamp_ms;
    int64_t max_rate_per_partition = 0;     // records/s, 0 = unlimited
    int64_t max_batch_records = 0;          // 0 = unlimited
    uint64_t max_batch_bytes = 0;           // keys + values per batch (both modes), 0 = unlimited
    bool backpressure = false;              // PID rate estimator bounds the next batch (issue 13)
    int64_t backpressure_initial_rate = 0;  // records/s before the first estimate, 0 = none
    bool fail_on_data_loss = true;
    bool commit_to_kafka = true;
    // Direct mode: false = one host reads every partition (direct-assignment=single); true =
    // each host reads the partitions --group assigns it, plans kept in Kafka (=group).
    bool group_assignment = false;
    std::string zookeeper;              // host:port[,host:port...][/chroot]; empty = no ZooKeeper
    std::string zookeeper_auth;         // "digest:user:password" or empty
    bool start_from_zookeeper = false;  // import legacy /consumers/<group>/offsets at start
    int workers = 0;                    // 0 = auto
    int embedded_brokers = 1;
    int embedded_partitions = 4;
    std::chrono::milliseconds shutdown_timeout{30000};
    int64_t max_batches = 0;                   // 0 = unlimited
    std::string log_level = "info";            // trace, debug, info, warn, error
    std::string metrics_address;               // HOST:PORT of /metrics, /status; "" = off
    std::string control_token;                 // bearer token of POST /control/...; "" = no control
    std::filesystem::path control_token_file;  // where control_token was read from; empty = given
    std::map<std::string, std::string> kafka;  // librdkafka pass-through (no "kafka." prefix)
    std::map<std::string, std::map<std::string, std::string>> plugin_config;  // [plugin.NAME]

    bool operator==(const RunConfig &) const = default;
};

struct ParsedRun {
    RunConfig config;
    bool help = false;      // --help given: print run_help(), exit 0
    bool validate = false;  // --validate given: print describe(config), exit 0
    /// What is allowed but unwise, one line each, for the caller to print or log (e.g. a
    /// config file holding secrets that other users can read).
    std::vector<std::string> warnings;
};

/// Parses `sluice run`'s command line (argv[0] is "run") and the --config file; the command
/// line wins over the file, key by key (a list given on the command line replaces the file's
/// list; -X KEY=VALUE overrides the same [kafka] key). Relative paths in the file are relative
/// to the file's directory. With --help (or -h) anywhere, returns help=true without checking
/// anything else. Throws ConfigError.
ParsedRun parse_run_args(int argc, const char *const argv[]);

/// The text of `sluice run --help`: the options in groups, each group explained, then examples.
std::string run_help();

/// The effective configuration as an INI file that parse_run_args accepts back with --config
/// (paths are made absolute so it means the same wherever it is saved). Values of Kafka keys
/// naming a password or secret are redacted, as Spark's UI does: the output is meant for
/// --validate, logs and bug reports.
std::string describe(const RunConfig &cfg);

/// A whole number with a unit: 500ms, 2s, 1m, 1h ("0" alone is allowed). A plain number other
/// than 0 is refused rather than guessed (2 could mean 2 s or 2 ms). Throws ConfigError
/// naming `key`.
std::chrono::milliseconds parse_duration(std::string_view text, std::string_view key);

/// true/false, yes/no, on/off, 1/0, any case. Throws ConfigError naming `key`.
bool parse_bool(std::string_view text, std::string_view key);

}  // namespace sluice::config
