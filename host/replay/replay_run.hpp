#pragma once
// `sluice replay`'s run: the batch through a fresh chain of the named plugins (the replay flag
// set, no state handed over from the running host, no error policy: a RETRY is reported, not
// retried, and nothing is dead-lettered), with everything the plugins logged, returned,
// recorded as metrics and emitted captured into a report, printed as text or JSON. Main thread.

#include <sluice/sluice.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "plugins/plugin_instance.hpp"
#include "replay/replay_source.hpp"

namespace sluice::replay {

/// A record a plugin emitted, copied out of the host's emit buffer.
struct RecordCopy {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = 0;
    int64_t timestamp_ms = -1;
    std::optional<std::string> key, value;  // nullopt: null
    std::vector<std::pair<std::string, std::optional<std::string>>> headers;
};

RecordCopy copy_record(const sluice_record_t &r);

/// One line the host's logger took while the plugins ran (theirs, and the host's about them).
struct LogLine {
    std::string level;   // "trace" .. "critical"
    std::string plugin;  // the plugin's name for "[plugin NAME] ..." lines, else empty
    std::string text;    // without the "[plugin NAME] " prefix
};

/// What one plugin of the chain did with the batch.
struct PluginOutcome {
    std::string name;
    std::string file;  // the library loaded
    bool transform = false;
    bool called = false;  // false: the chain stopped before it, or the batch was empty for it
    std::string not_called_why;
    uint64_t input_records = 0;
    sluice_status_t status = SLUICE_OK;  // of process_batch (when called)
    std::string message;                 // its error text
    std::optional<sluice_status_t> flush_status;
    std::string flush_message;
    double seconds = 0;
    std::map<std::string, double> metrics;  // from the host API's metric()
    std::vector<RecordCopy> emitted;        // transforms only
    std::vector<LogLine> logs;
};

struct ReplayReport {
    const ReplayInput *input = nullptr;
    std::vector<PluginOutcome> plugins;
    std::vector<LogLine> host_logs;      // lines not from a plugin
    sluice_status_t status = SLUICE_OK;  // the chain's: OK means the host would commit it
    std::string failed_plugin, failed_message;
    std::filesystem::path scratch_dir;
};

struct RunOptions {
    std::vector<std::filesystem::path> plugin_dirs;
    std::vector<std::string> plugins;                                         // chain order
    std::map<std::string, std::map<std::string, std::string>> plugin_config;  // [plugin.NAME]
};

/// Loads and creates the plugins (a PluginError propagates: it names the plugin and the way
/// out), runs partitions_assigned, process_batch and flush on `input`, then
/// partitions_revoked, and destroys them. The default spdlog logger must be set; its lines are
/// captured for the run (every level) and still reach its own sinks.
ReplayReport run_replay(const ReplayInput &input, const RunOptions &options);

using plugins::status_name;  // OK, RETRY, SKIP or FATAL

/// The report for a reader. `show`: at most that many records per list (0 = all);
/// `show_input`: also the batch's own records.
void print_text(std::ostream &out, const ReplayReport &report, size_t show, bool show_input);
/// The report as one JSON document (every record; bytes that are not UTF-8 as base64).
void print_json(std::ostream &out, const ReplayReport &report, bool show_input);

}  // namespace sluice::replay
