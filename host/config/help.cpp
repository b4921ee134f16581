// run_help(): the text of `sluice run --help`, the option table walked group by group, each
// group explained, then examples.
#include <boost/program_options.hpp>

#include <sstream>

#include "config/options.hpp"

namespace sluice::config {

namespace po = boost::program_options;
using detail::Group;
using detail::OptionSpec;

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
         "topic; each thread cuts its records into blocks every block-interval and as\n"
         "each batch starts, so a batch holds every record read until it started. By\n"
         "default (receiver-commit = processed) offsets are committed only once their\n"
         "batch succeeded: nothing is lost when the process crashes, the machine is lost\n"
         "or partitions move; what was processed but not yet committed is read again\n"
         "(at-least-once). --wal-dir adds a\n"
         "local write-ahead log of the blocks: backpressure, and a restart replays the\n"
         "blocks never processed instead of reading them again. receiver-commit = stored\n"
         "(Spark's receiver WAL) commits once a block is fsynced there: a lost machine\n"
         "loses what its WAL held; read auto-commits what was read: a crash can lose\n"
         "records (docs/receiver-mode.md)."},
        {Group::Checkpoint, "Checkpoint",
         "Where the planned and committed batches are logged, so that after a crash the\n"
         "last uncommitted batch is replayed with exactly the same offset ranges."},
        {Group::Plugins, "Plugins",
         "The chain each batch goes through, in order. Settings for plugin NAME go in a\n"
         "[plugin.NAME] section of the config file; the plugin reads them. A plugin that\n"
         "declares its keys (sluice plugins DIR lists them) accepts no others, and\n"
         "--validate loads each plugin to check. Eight keys there are the host's, the\n"
         "plugin's error policy (docs/plugins.md) and its isolation (docs/isolation.md);\n"
         "a near-miss of one is an error:\n"
         "  on-error = stop|retry|skip|dead-letter  a batch still failing after\n"
         "      max-retries: stop/retry stop without committing it (default stop), skip\n"
         "      commits it without the plugin's work, dead-letter produces its records to\n"
         "      dead-letter-topic, then commits it. SLUICE_SKIP is never retried and never\n"
         "      stops (dead-lettered under dead-letter); SLUICE_FATAL always stops.\n"
         "  max-retries = 3                  re-runs after SLUICE_RETRY (0 to 1000)\n"
         "  retry-backoff = 100ms            wait before the first re-run, doubling, max 30s\n"
         "  dead-letter-topic = NAME         default: NAME.dead-letter\n"
         "  isolation = in-process|process   process: the plugin runs in a worker process;\n"
         "      a crash, hang or runaway allocation restarts the worker and redelivers\n"
         "      the batch instead of taking the host down (default in-process)\n"
         "  batch-timeout = 60s              a worker call not answered in time: killed,\n"
         "      handled as a crash (0 = no limit; process only)\n"
         "  memory-limit = 0                 the worker's address space (RLIMIT_AS), e.g.\n"
         "      512MiB, at least 64MiB; 0 = no limit (process only)\n"
         "  max-crashes = 3                  crashes of one batch in a row before the\n"
         "      records that cause them are found and on-error applies (1 to 100)\n"
         "  forbid-exec = false              true: a seccomp filter makes exec fail with\n"
         "      EPERM in the worker (process only)"},
        {Group::Logging, "Logging", "What goes to stderr."},
        {Group::Monitoring, "Monitoring",
         "Metrics of the run over HTTP, for Prometheus and for people (see docs/metrics.md)."},
    };
    constexpr unsigned kHelpWidth = 80;
    po::options_description all(kHelpWidth, kHelpWidth / 2);
    for (const OptionSpec &spec : detail::options()) detail::add_option(all, spec);
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
        for (const OptionSpec &spec : detail::options())
            if (spec.group == g.group) detail::add_option(desc, spec);
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
