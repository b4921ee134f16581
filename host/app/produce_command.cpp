// `sluice produce`: the command line of the load generator (kafka/load_generator.hpp).
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "app/usage.hpp"
#include "common/logging.hpp"
#include "kafka/load_generator.hpp"

namespace po = boost::program_options;

namespace sluice::app {
namespace {

const char *const kProduceHelp =
    "Usage: sluice produce --brokers B --topic T --count N [options]\n"
    "\n"
    "Writes N verifiable records to topic T (acks=all, idempotent) and prints a summary line\n"
    "on stdout: topic=T records=N acked=N failed=0 MB=... seconds=... records/s=... MB/s=...\n"
    "(MB = 10^6 bytes of keys and values acknowledged). A progress line goes to stderr about\n"
    "once a second. Exit 0 only if every record sent was acknowledged; 1 if any failed or the\n"
    "brokers could not be reached; 2 for a command-line mistake. SIGINT/SIGTERM stops\n"
    "producing, waits (at most 10 s) for what is queued, prints the summary; a second signal\n"
    "stops waiting.\n"
    "\n"
    "Each value starts with a 20-digit sequence number and a space (00000000000000000042 ),\n"
    "padded with filler to --value-size; keys are the sequence number cut or '-'-padded to\n"
    "--key-size; headers are h0..hN-1 with the sequence number as value.\n"
    "\n";

struct Parsed {
    kafka::ProduceOptions options;
    spdlog::level::level_enum log_level = spdlog::level::info;
};

/// Returns nullopt after printing help.
std::optional<Parsed> parse_options(int argc, char **argv) {
    Parsed parsed;
    kafka::ProduceOptions &opts = parsed.options;
    std::string log_level;
    std::vector<std::string> settings;
    po::options_description desc("Options");
    desc.add_options()("help,h", "print this help and exit")(
        "brokers", po::value<std::string>(&opts.brokers)->required(),
        "bootstrap servers, host:port,...")(
        "topic", po::value<std::string>(&opts.topic)->required(), "topic to write to")(
        "count", po::value<std::uint64_t>(&opts.count)->required(),
        "records to write; 0 = until SIGINT/SIGTERM")(
        "rate", po::value<double>(&opts.rate)->default_value(0),
        "records/s; 0 = as fast as possible")(
        "value-size", po::value<std::size_t>(&opts.value_size)->default_value(100),
        "bytes per value, at least 21")(
        "key-size", po::value<std::size_t>(&opts.key_size)->default_value(0),
        "bytes per key; 0 = null key")("headers", po::value<int>(&opts.headers)->default_value(0),
                                       "headers per record (h0..hN-1)")(
        "compression", po::value<std::string>(&opts.compression)->default_value("none"),
        "none|gzip|snappy|lz4|zstd")(
        "kafka-setting,X", po::value<std::vector<std::string>>(&settings)->composing(),
        "key=value passed to librdkafka, repeatable (e.g. -X message.timeout.ms=5000)")(
        "log-level", po::value<std::string>(&log_level)->default_value("info"),
        "trace|debug|info|warn|error|off (logs go to stderr)");

    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    if (vm.count("help")) {
        std::cout << kProduceHelp << desc
                  << "\nExample:\n  sluice produce --brokers 127.0.0.1:9092 --topic events "
                     "--count 1000000 --key-size 16 --compression lz4\n";
        return std::nullopt;
    }
    po::notify(vm);

    if (opts.value_size < kafka::kMinValueSize)
        throw UsageError("--value-size " + std::to_string(opts.value_size) +
                         " is too small: each value starts with a 20-digit sequence number and a "
                         "space, so use at least 21");
    if (!(opts.rate >= 0)) throw UsageError("--rate must be 0 (unlimited) or a positive number");
    if (opts.headers < 0 || opts.headers > 1000)
        throw UsageError("--headers " + std::to_string(opts.headers) +
                         " is out of range: use 0 to 1000");
    if (opts.topic.empty()) throw UsageError("--topic must not be empty");
    for (const auto &s : settings) {
        const auto eq = s.find('=');
        if (eq == std::string::npos || eq == 0)
            throw UsageError("-X '" + s + "' is not key=value (e.g. -X linger.ms=10)");
        opts.kafka_settings.emplace_back(s.substr(0, eq), s.substr(eq + 1));
    }
    parsed.log_level = parse_log_level(log_level);
    return parsed;
}

}  // namespace

int produce_command(int argc, char **argv) {
    Parsed parsed;
    const auto parse = [&] {
        auto result = parse_options(argc, argv);
        if (result) parsed = std::move(*result);
        return result.has_value();
    };
    if (auto exit_code = parse_command_line("produce", parse)) return *exit_code;
    use_stderr_logger(parsed.log_level);
    return kafka::produce(parsed.options);
}

}  // namespace sluice::app
