// `sluice replay`: the command line of host/replay (one batch of a checkpoint or WAL, read again
// and run through a fresh plugin chain, with what the plugins did printed).
#include <stdlib.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "app/usage.hpp"
#include "common/logging.hpp"
#include "config/run_config.hpp"
#include "plugins/plugin_error.hpp"
#include "plugins/plugin_loader.hpp"
#include "replay/replay_run.hpp"
#include "replay/replay_source.hpp"
#include "zk/legacy_layout.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace sluice::app {
namespace {

const char *const kReplayHelp =
    "Usage: sluice replay --checkpoint DIR --batch N --plugin NAME [options]\n"
    "       sluice replay --wal-dir DIR --block N --plugin NAME [options]\n"
    "       sluice replay --config HOST.ini --batch N [options]\n"
    "\n"
    "Runs one batch a host already ran through a plugin (or a chain: --plugin again) once more,\n"
    "for debugging, and prints what each plugin logged, returned, recorded as metrics and\n"
    "emitted. The plugins see the same batch id, batch time and ranges as on the host, with the\n"
    "replay flag (SLUICE_BATCH_REPLAY) set.\n"
    "\n"
    "Where the batch comes from:\n"
    "  direct mode    --checkpoint DIR --batch N: the plan of batch N in the host's checkpoint\n"
    "                 (offsets/N or commits/N); its ranges are read from Kafka again, exactly,\n"
    "                 which works while Kafka retains them (a clear error when it does not).\n"
    "                 Batch ids are in the host's log ('batch 7: ...'), in /status/batches and\n"
    "                 in `ls DIR/offsets` (a host keeps its newest 100 batches there).\n"
    "  receiver mode  --wal-dir DIR --block N: one block of the receiver's write-ahead log (the\n"
    "                 records are in the WAL; no broker needed), or --wal-dir DIR --batch N: the\n"
    "                 blocks of batch N while its plan is in the WAL. Block ids: `sluice wal\n"
    "                 inspect DIR --blocks`.\n"
    "\n"
    "What it never touches: the checkpoint and the WAL are only read (no lock taken, nothing\n"
    "written, cut or deleted), so it may run beside the live host; Kafka is read with no group\n"
    "(no join, no commit). The plugins start fresh (no state handed over from the host), in a\n"
    "scratch working directory that is removed afterwards (--keep-scratch keeps it). A plugin\n"
    "that writes to a place its config names (a file-sink's path, a database) writes there: point\n"
    "it elsewhere with --set NAME.KEY=VALUE. The error policy is not applied: a RETRY or SKIP is\n"
    "reported, never retried or dead-lettered.\n"
    "\n"
    "With --config (the host's own file), the brokers, [kafka] settings, plugin chain, plugin\n"
    "dirs, [plugin.NAME] sections, checkpoint and wal-dir come from it; options given here win.\n"
    "\n"
    "Exit status: 0 the chain returned OK, 3 a plugin returned RETRY, SKIP or FATAL (the report\n"
    "says which and why), 1 the batch could not be replayed, 2 a command-line mistake.\n"
    "\n";

const char *const kReplayExamples =
    "\nExamples:\n"
    "  sluice replay --checkpoint /var/lib/sluice/ckpt --batch 42 --brokers kafka:9092 \\\n"
    "      --plugin-dir build/plugins --plugin my-transform\n"
    "  sluice replay --config host.ini --batch 42 --set file-sink.path=/tmp/replayed.jsonl\n"
    "  sluice replay --wal-dir /var/lib/sluice/wal --block 1207 --plugin wordcount --json\n";

struct Parsed {
    std::string config_file;
    std::string checkpoint, wal_dir, brokers;
    std::optional<int64_t> batch;
    std::optional<uint64_t> block;
    std::vector<std::string> plugins, plugin_dirs, settings, sets;
    std::string timeout = "30s";
    size_t show = 20;
    bool json = false, input = false, keep_scratch = false;
    spdlog::level::level_enum log_level = spdlog::level::warn;
};

/// Returns nullopt after printing help.
std::optional<Parsed> parse_options(int argc, char **argv) {
    Parsed p;
    std::string log_level;
    po::options_description desc("Options");
    desc.add_options()("help,h", "print this help and exit")(
        "checkpoint", po::value<std::string>(&p.checkpoint),
        "DIR: the host's checkpoint directory (direct mode)")(
        "batch", po::value<int64_t>(), "N: the batch to replay (checkpoint, or a WAL's plan)")(
        "wal-dir", po::value<std::string>(&p.wal_dir),
        "DIR: the receiver's write-ahead log (receiver mode)")("block", po::value<uint64_t>(),
                                                               "N: the WAL block to replay")(
        "plugin", po::value<std::vector<std::string>>(&p.plugins)->composing(),
        "NAME: the plugin to run, repeatable for a chain (default: the --config file's chain)")(
        "plugin-dir", po::value<std::vector<std::string>>(&p.plugin_dirs)->composing(),
        "DIR: where the plugins are, repeatable (default: the config's, else the bundled dir)")(
        "config", po::value<std::string>(&p.config_file),
        "FILE: the host's config file (see above)")(
        "brokers", po::value<std::string>(&p.brokers),
        "LIST: the Kafka cluster the batch was read from (checkpoint batches)")(
        "kafka-setting,X", po::value<std::vector<std::string>>(&p.settings)->composing(),
        "KEY=VALUE: a librdkafka setting (security, ...), repeatable")(
        "set", po::value<std::vector<std::string>>(&p.sets)->composing(),
        "NAME.KEY=VALUE: a [plugin.NAME] setting for the replay, repeatable")(
        "json", "print the report as one JSON document (every record) instead of text")(
        "input", "also print the batch's own records")(
        "show", po::value<size_t>(&p.show)->default_value(20),
        "N: records printed per list in text (0 = all)")(
        "timeout", po::value<std::string>(&p.timeout)->default_value("30s"),
        "DURATION: how long reading the ranges from Kafka may take")(
        "keep-scratch", "keep the plugins' scratch working directory (its path is printed)")(
        "log-level", po::value<std::string>(&log_level)->default_value("warn"),
        "the host's own log on stderr (the plugins' lines are in the report at every level)");
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    if (vm.count("help")) {
        std::cout << kReplayHelp << desc << kReplayExamples;
        return std::nullopt;
    }
    po::notify(vm);
    if (vm.count("batch")) p.batch = vm["batch"].as<int64_t>();
    if (vm.count("block")) p.block = vm["block"].as<uint64_t>();
    p.json = vm.count("json") > 0;
    p.input = vm.count("input") > 0;
    p.keep_scratch = vm.count("keep-scratch") > 0;
    p.log_level = parse_log_level(log_level);
    if (p.batch && p.block)
        throw UsageError("give --batch N or --block N, not both (--block is a WAL block)");
    if (!p.batch && !p.block)
        throw UsageError(
            "name the batch: --batch N (with --checkpoint DIR or --wal-dir DIR) or --block N "
            "(with --wal-dir DIR); see sluice replay --help");
    if (!p.checkpoint.empty() && !p.wal_dir.empty())
        throw UsageError("give --checkpoint (direct mode) or --wal-dir (receiver mode), not both");
    if (p.block && !p.checkpoint.empty())
        throw UsageError("--block N is a WAL block: give --wal-dir DIR instead of --checkpoint");
    return p;
}

std::pair<std::string, std::string> split_setting(const std::string &s, char sep,
                                                  const char *option, const char *example) {
    const auto at = s.find(sep);
    const auto eq = s.find('=');
    if (at == std::string::npos || at == 0 ||
        (sep != '=' && (eq == std::string::npos || eq < at + 2)))
        throw UsageError(std::string(option) + " '" + s + "' is not in the form " + example);
    return {s.substr(0, at), s.substr(at + 1)};
}

/// The run's settings: the --config file's, then this command line's.
struct Effective {
    std::string brokers;
    std::map<std::string, std::string> kafka;
    replay::RunOptions run;
    std::string checkpoint, wal_dir;
};

Effective effective(const Parsed &p) {
    Effective e;
    if (!p.config_file.empty()) {
        std::vector<std::string> args{"run", "--config", p.config_file};
        if (!p.brokers.empty()) args.insert(args.end(), {"--brokers", p.brokers});
        std::vector<const char *> argv;
        argv.reserve(args.size());
        for (const auto &a : args) argv.push_back(a.c_str());
        config::RunConfig cfg;
        try {
            cfg = config::parse_run_args(static_cast<int>(argv.size()), argv.data()).config;
        } catch (const config::ConfigError &e) {
            throw UsageError(std::string("--config: ") + e.what());
        }
        e.brokers = cfg.brokers;
        if (e.brokers.empty() && !cfg.zookeeper.empty())
            e.brokers = zk::discover_brokers({cfg.zookeeper, cfg.zookeeper_auth});
        e.kafka = cfg.kafka;
        e.run.plugin_dirs = cfg.plugin_dirs;
        e.run.plugins = cfg.plugins;
        e.run.plugin_config = cfg.plugin_config;
        e.checkpoint = cfg.checkpoint_dir.string();
        e.wal_dir = cfg.wal_dir.string();
    }
    if (!p.brokers.empty()) e.brokers = p.brokers;
    for (const auto &s : p.settings) {
        auto [key, value] =
            split_setting(s, '=', "-X", "KEY=VALUE (e.g. -X security.protocol=ssl)");
        e.kafka[key] = value;
    }
    for (const auto &s : p.sets) {
        auto [name, rest] =
            split_setting(s, '.', "--set", "NAME.KEY=VALUE (e.g. --set file-sink.path=/tmp/x)");
        const auto eq = rest.find('=');
        e.run.plugin_config[name][rest.substr(0, eq)] = rest.substr(eq + 1);
    }
    if (!p.plugin_dirs.empty())
        e.run.plugin_dirs.assign(p.plugin_dirs.begin(), p.plugin_dirs.end());
    if (e.run.plugin_dirs.empty()) e.run.plugin_dirs = plugins::default_plugin_dirs();
    if (!p.plugins.empty()) e.run.plugins = p.plugins;
    if (e.run.plugins.empty())
        throw UsageError("name the plugin to run: --plugin NAME (repeatable for a chain)");
    // An explicit --checkpoint or --wal-dir picks the source; else the config's.
    if (!p.checkpoint.empty() || !p.wal_dir.empty()) {
        e.checkpoint = p.checkpoint;
        e.wal_dir = p.wal_dir;
    }
    if (p.block && e.wal_dir.empty())
        throw UsageError("--block N needs the WAL: add --wal-dir DIR");
    if (e.checkpoint.empty() && e.wal_dir.empty())
        throw UsageError(
            "where is the batch? add --checkpoint DIR (direct mode) or --wal-dir DIR (receiver "
            "mode)");
    if (!e.checkpoint.empty()) {
        if (e.brokers.empty())
            throw UsageError(
                "a checkpoint batch is read from Kafka again: add --brokers HOST:PORT (the "
                "cluster the host reads)");
        if (e.brokers == "embedded")
            throw UsageError(
                "--brokers embedded: the embedded cluster lived inside the host and is gone; "
                "give the address of a real (or `sluice mock-broker`) cluster");
    }
    return e;
}

/// A fresh working directory for the plugins, removed by the destructor unless kept.
class ScratchDir {
  public:
    explicit ScratchDir(bool keep) : keep_(keep) {
        std::string pattern = (fs::temp_directory_path() / "sluice-replay-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr)
            throw replay::ReplayError("cannot create a scratch directory under " +
                                      fs::temp_directory_path().string() + ": set TMPDIR");
        path_ = pattern;
        previous_ = fs::current_path();
        fs::current_path(path_);
    }
    ~ScratchDir() {
        std::error_code ec;
        fs::current_path(previous_, ec);
        if (!keep_) fs::remove_all(path_, ec);
    }
    ScratchDir(const ScratchDir &) = delete;
    ScratchDir &operator=(const ScratchDir &) = delete;
    const fs::path &path() const { return path_; }

  private:
    bool keep_;
    fs::path path_, previous_;
};

}  // namespace

int replay_command(int argc, char **argv) {
    Parsed parsed;
    Effective settings;
    const auto parse = [&] {
        auto result = parse_options(argc, argv);
        if (!result) return false;
        parsed = std::move(*result);
        settings = effective(parsed);
        return true;
    };
    if (auto exit_code = parse_command_line("replay", parse)) return *exit_code;
    use_stderr_logger(parsed.log_level);
    try {
        replay::ReplayInput input;
        if (!settings.checkpoint.empty()) {
            input = replay::read_checkpoint_batch(settings.checkpoint, *parsed.batch);
            replay::fetch_from_kafka(input, settings.brokers, settings.kafka,
                                     config::parse_duration(parsed.timeout, "timeout"));
        } else if (parsed.block) {
            input = replay::read_wal_block(settings.wal_dir, *parsed.block);
        } else {
            input = replay::read_wal_batch(settings.wal_dir, *parsed.batch);
        }
        // Paths of the plugin dirs are resolved before the scratch directory becomes the cwd.
        for (auto &dir : settings.run.plugin_dirs) dir = fs::absolute(dir);
        ScratchDir scratch(parsed.keep_scratch);
        auto report = replay::run_replay(input, settings.run);
        report.scratch_dir = scratch.path();
        if (parsed.json) {
            replay::print_json(std::cout, report, parsed.input);
        } else {
            replay::print_text(std::cout, report, parsed.show, parsed.input);
            if (parsed.keep_scratch)
                std::cout << "scratch directory kept: " << scratch.path().string() << "\n";
        }
        std::cout.flush();
        return report.status == SLUICE_OK ? 0 : 3;
    } catch (const replay::ReplayError &e) {
        std::fprintf(stderr, "sluice replay: %s\n", e.what());
    } catch (const plugins::PluginError &e) {
        std::fprintf(stderr, "sluice replay: %s\n", e.what());
    } catch (const config::ConfigError &e) {
        std::fprintf(stderr, "sluice replay: %s\n", e.what());
        return 2;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "sluice replay: %s\n", e.what());
    }
    return 1;
}

}  // namespace sluice::app
