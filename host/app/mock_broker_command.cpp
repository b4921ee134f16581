// `sluice mock-broker`: the command line of kafka::serve_mock_cluster (librdkafka's mock cluster
// as a standalone process that tests, kcat, Burrow and `sluice run` can talk to).

#include <boost/program_options.hpp>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "app/commands.hpp"
#include "app/usage.hpp"
#include "common/logging.hpp"
#include "kafka/mock_cluster.hpp"

namespace po = boost::program_options;

namespace sluice::app {
namespace {

const char *const kMockBrokerHelp =
    "Usage: sluice mock-broker [--brokers N] [--topic NAME:PARTITIONS]... [--log-level L]\n"
    "\n"
    "Serves librdkafka's mock Kafka cluster on random loopback ports until SIGTERM or SIGINT.\n"
    "The first line on stdout is `bootstrap.servers=HOST:PORT,...`; pass it to clients.\n"
    "Topics must be given here: the mock refuses CreateTopics, and a topic used without being\n"
    "created is auto-created with 4 partitions. Each partition keeps only about 5 MiB (older\n"
    "records are dropped silently) and nothing survives a restart.\n"
    "\n"
    "Fault commands, one a line on standard input while it serves, each acknowledged with one\n"
    "line on stderr (`fault ok: COMMAND` or `fault error: WHY; use SYNTAX`); brokers are\n"
    "numbered 1 to N, and -1 means every broker (for leader: no leader). End of input leaves it\n"
    "serving.\n"
    "  broker-down ID                  disconnect the broker and refuse new connections (its\n"
    "                                  partitions keep their leader: nothing moves)\n"
    "  broker-up ID                    accept connections again\n"
    "  request-errors API COUNT ERROR  the next COUNT requests of API, to any broker, fail with\n"
    "                                  ERROR: a librdkafka name without RD_KAFKA_RESP_ERR_\n"
    "                                  (NOT_LEADER_FOR_PARTITION, _TRANSPORT: disconnect) or a\n"
    "                                  number. API: Produce, Fetch, ListOffsets, Metadata,\n"
    "                                  OffsetCommit, OffsetFetch, FindCoordinator, JoinGroup,\n"
    "                                  Heartbeat, LeaveGroup, SyncGroup, ApiVersions,\n"
    "                                  InitProducerId\n"
    "  leader TOPIC PARTITION ID       move the partition's leadership (a --topic topic)\n"
    "  rtt ID MS                       delay the broker's responses by MS ms (0: none)\n"
    "\n";

struct TopicSpec {
    std::string name;
    int partitions = 0;
};

bool valid_topic_name(const std::string &name) {
    if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

TopicSpec parse_topic_spec(const std::string &spec) {
    const auto colon = spec.rfind(':');
    const std::string hint =
        "--topic '" + spec + "' is not NAME:PARTITIONS (e.g. --topic events:8)";
    if (colon == std::string::npos) throw UsageError(hint);
    TopicSpec out;
    out.name = spec.substr(0, colon);
    if (!valid_topic_name(out.name))
        throw UsageError(hint + ": topic names use only letters, digits, '.', '_' and '-'");
    const std::string count = spec.substr(colon + 1);
    const auto [end, ec] =
        std::from_chars(count.data(), count.data() + count.size(), out.partitions);
    if (ec != std::errc() || end != count.data() + count.size() || out.partitions < 1 ||
        out.partitions > 100000)
        throw UsageError(hint + ": PARTITIONS must be an integer from 1 to 100000");
    return out;
}

}  // namespace

int mock_broker_command(int argc, char **argv) {
    int broker_count = 1;
    std::vector<std::string> topic_args;
    std::string log_level = "info";

    po::options_description desc("Options");
    desc.add_options()("help,h", "print this help and exit")(
        "brokers", po::value<int>(&broker_count)->default_value(1), "number of mock brokers")(
        "topic", po::value<std::vector<std::string>>(&topic_args)->composing(),
        "NAME:PARTITIONS, repeatable: topics created before serving")(
        "log-level", po::value<std::string>(&log_level)->default_value("info"),
        "trace|debug|info|warn|error|off (logs go to stderr)");

    std::vector<std::pair<std::string, int>> topics;
    spdlog::level::level_enum level = spdlog::level::info;
    const auto parse = [&] {
        po::variables_map vm;
        po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
        if (vm.count("help")) {
            std::fputs(kMockBrokerHelp, stdout);
            std::cout << desc
                      << "\nExample:\n  sluice mock-broker --brokers 3 --topic events:8 "
                         "--topic audit:1\n"
                         "  (sleep 5; echo 'broker-down 1'; sleep 10; echo 'broker-up 1') |\n"
                         "    sluice mock-broker --brokers 3 --topic events:8\n";
            return false;
        }
        po::notify(vm);
        if (broker_count < 1 || broker_count > 64)
            throw UsageError("--brokers " + std::to_string(broker_count) +
                             " is out of range: use 1 to 64");
        for (const auto &arg : topic_args) {
            const TopicSpec spec = parse_topic_spec(arg);
            topics.emplace_back(spec.name, spec.partitions);
        }
        level = parse_log_level(log_level);
        return true;
    };
    if (auto exit_code = parse_command_line("mock-broker", parse)) return *exit_code;
    use_stderr_logger(level);

    return kafka::serve_mock_cluster(broker_count, topics);
}

}  // namespace sluice::app
