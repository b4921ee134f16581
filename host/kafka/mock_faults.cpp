#include "kafka/mock_faults.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <sstream>
#include <vector>

namespace sluice::kafka {

const char *const kFaultCommandSyntax =
    "broker-down ID | broker-up ID | request-errors API COUNT ERROR | leader TOPIC PARTITION ID "
    "| rtt ID MS";

namespace {

// The Kafka protocol's ApiKey of each request a fault can target.
struct Api {
    const char *name;
    int16_t key;
};
constexpr Api kApis[] = {
    {"Produce", 0},         {"Fetch", 1},       {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},    {"OffsetFetch", 9}, {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},      {"LeaveGroup", 13}, {"SyncGroup", 14},       {"ApiVersions", 18},
    {"InitProducerId", 22},
};

bool iequals(const std::string &a, const char *b) {
    const size_t n = std::strlen(b);
    if (a.size() != n) return false;
    for (size_t i = 0; i < n; ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

std::string api_names() {
    std::string out;
    for (const Api &api : kApis) out += (out.empty() ? "" : ", ") + std::string(api.name);
    return out;
}

std::optional<long long> integer(const std::string &word) {
    long long v = 0;
    const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
    if (ec != std::errc() || end != word.data() + word.size()) return std::nullopt;
    return v;
}

long long integer_in(const std::string &word, const char *what, long long lo, long long hi) {
    const auto v = integer(word);
    if (!v || *v < lo || *v > hi)
        throw FaultSyntaxError(std::string(what) + " '" + word + "' is not an integer from " +
                               std::to_string(lo) + " to " + std::to_string(hi));
    return *v;
}

int32_t broker_id(const std::string &word) {
    return static_cast<int32_t>(integer_in(word, "broker ID", -1, 1 << 20));
}

// librdkafka's name for an error (without RD_KAFKA_RESP_ERR_), or its number.
rd_kafka_resp_err_t error_code(std::string word) {
    const struct rd_kafka_err_desc *descs = nullptr;
    size_t count = 0;
    rd_kafka_get_err_descs(&descs, &count);
    if (const auto n = integer(word)) {
        for (size_t i = 0; i < count; ++i)
            if (descs[i].name && descs[i].code == *n && *n != 0) return descs[i].code;
        throw FaultSyntaxError("error code " + word + " is not one librdkafka knows");
    }
    const std::string prefix = "RD_KAFKA_RESP_ERR_";
    if (word.size() > prefix.size() && iequals(word.substr(0, prefix.size()), prefix.c_str()))
        word.erase(0, prefix.size());
    for (size_t i = 0; i < count; ++i)
        if (descs[i].name && descs[i].code != 0 && iequals(word, descs[i].name))
            return descs[i].code;
    throw FaultSyntaxError("error '" + word +
                           "' is not a librdkafka error name (e.g. NOT_LEADER_FOR_PARTITION, "
                           "REQUEST_TIMED_OUT, _TRANSPORT) or number");
}

std::string error_name(rd_kafka_resp_err_t err) {
    return rd_kafka_err2name(err);
}

void check_broker(const MockCluster &cluster, int32_t id, bool minus_one_ok) {
    if (id == -1 && minus_one_ok) return;
    if (id < 1 || id > cluster.broker_count())
        throw FaultSyntaxError("there is no broker " + std::to_string(id) +
                               ": the brokers are 1 to " + std::to_string(cluster.broker_count()) +
                               (minus_one_ok ? " (-1: all)" : ""));
}

void check_mock(rd_kafka_resp_err_t err, const std::string &what) {
    if (err)
        throw FaultSyntaxError("the mock cluster refused " + what + ": " + rd_kafka_err2str(err));
}

}  // namespace

std::string FaultCommand::describe() const {
    switch (kind) {
        case Kind::broker_down:
            return "broker-down " + std::to_string(broker);
        case Kind::broker_up:
            return "broker-up " + std::to_string(broker);
        case Kind::request_errors:
            return "request-errors " + api_name + " " + std::to_string(count) + " " +
                   error_name(error);
        case Kind::leader:
            return "leader " + topic + " " + std::to_string(partition) + " " +
                   std::to_string(broker);
        case Kind::rtt:
            return "rtt " + std::to_string(broker) + " " + std::to_string(rtt_ms);
    }
    return {};
}

FaultCommand parse_fault_command(const std::string &line) {
    std::istringstream in(line);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    if (words.empty()) throw FaultSyntaxError("empty command");
    const std::string &verb = words[0];
    const auto want = [&](size_t args, const char *usage) {
        if (words.size() != args + 1)
            throw FaultSyntaxError("'" + verb + "' takes " + std::to_string(args) +
                                   " argument(s): " + usage);
    };
    FaultCommand c;
    if (verb == "broker-down" || verb == "broker-up") {
        want(1, verb == "broker-down" ? "broker-down ID" : "broker-up ID");
        c.kind =
            verb == "broker-down" ? FaultCommand::Kind::broker_down : FaultCommand::Kind::broker_up;
        c.broker = broker_id(words[1]);
    } else if (verb == "request-errors") {
        want(3, "request-errors API COUNT ERROR");
        c.kind = FaultCommand::Kind::request_errors;
        const auto api = std::find_if(std::begin(kApis), std::end(kApis),
                                      [&](const Api &a) { return iequals(words[1], a.name); });
        if (api == std::end(kApis))
            throw FaultSyntaxError("API '" + words[1] + "' is not one of " + api_names());
        c.api_key = api->key;
        c.api_name = api->name;
        c.count = static_cast<int>(integer_in(words[2], "COUNT", 1, 1000000));
        c.error = error_code(words[3]);
    } else if (verb == "leader") {
        want(3, "leader TOPIC PARTITION ID");
        c.kind = FaultCommand::Kind::leader;
        c.topic = words[1];
        c.partition = static_cast<int32_t>(integer_in(words[2], "PARTITION", 0, 1000000));
        c.broker = broker_id(words[3]);
    } else if (verb == "rtt") {
        want(2, "rtt ID MS");
        c.kind = FaultCommand::Kind::rtt;
        c.broker = broker_id(words[1]);
        c.rtt_ms = static_cast<int>(integer_in(words[2], "MS", 0, 600000));
    } else {
        throw FaultSyntaxError("unknown command '" + verb + "'");
    }
    return c;
}

std::string apply_fault_command(MockCluster &cluster, const std::string &line) {
    try {
        const FaultCommand c = parse_fault_command(line);
        rd_kafka_mock_cluster_t *mc = cluster.get();
        switch (c.kind) {
            case FaultCommand::Kind::broker_down:
                check_broker(cluster, c.broker, true);
                check_mock(rd_kafka_mock_broker_set_down(mc, c.broker), c.describe());
                break;
            case FaultCommand::Kind::broker_up:
                check_broker(cluster, c.broker, true);
                check_mock(rd_kafka_mock_broker_set_up(mc, c.broker), c.describe());
                break;
            case FaultCommand::Kind::request_errors: {
                const std::vector<rd_kafka_resp_err_t> errors(static_cast<size_t>(c.count),
                                                              c.error);
                rd_kafka_mock_push_request_errors_array(mc, c.api_key, errors.size(),
                                                        errors.data());
                break;
            }
            case FaultCommand::Kind::leader: {
                const int partitions = cluster.partitions(c.topic);
                if (partitions == 0)
                    throw FaultSyntaxError("topic '" + c.topic + "' was not created with --topic");
                if (c.partition >= partitions)
                    throw FaultSyntaxError("topic '" + c.topic + "' has partitions 0 to " +
                                           std::to_string(partitions - 1));
                check_broker(cluster, c.broker, true);
                check_mock(
                    rd_kafka_mock_partition_set_leader(mc, c.topic.c_str(), c.partition, c.broker),
                    c.describe());
                break;
            }
            case FaultCommand::Kind::rtt:
                check_broker(cluster, c.broker, true);
                check_mock(rd_kafka_mock_broker_set_rtt(mc, c.broker, c.rtt_ms), c.describe());
                break;
        }
        return "fault ok: " + c.describe();
    } catch (const FaultSyntaxError &e) {
        std::string shown = line.size() > 80 ? line.substr(0, 80) + "..." : line;
        return "fault error: '" + shown + "': " + e.what() + "; use " + kFaultCommandSyntax;
    }
}

FaultCommandReader::FaultCommandReader(MockCluster &cluster, int fd) : cluster_(cluster), fd_(fd) {
    if (::pipe2(wake_, O_CLOEXEC) != 0)
        throw KafkaError(std::string("fault commands: pipe2: ") + std::strerror(errno));
    thread_ = std::thread([this] { run(); });
}

FaultCommandReader::~FaultCommandReader() {
    const char byte = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_[1], &byte, 1);
    if (thread_.joinable()) thread_.join();
    ::close(wake_[0]);
    ::close(wake_[1]);
}

void FaultCommandReader::run() {
    constexpr size_t kMaxLine = 4096;
    std::string pending;
    bool overlong = false;  // the current line passed kMaxLine: dropped up to its newline
    const auto handle = [&](std::string line) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') return;  // blank or comment
        const std::string ack = apply_fault_command(cluster_, line) + "\n";
        // One write per line: spdlog's lines from other threads do not cut into it.
        [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, ack.data(), ack.size());
    };
    for (;;) {
        pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            spdlog::warn("fault commands: poll failed ({}); no more commands are read",
                         std::strerror(errno));
            return;
        }
        if (fds[1].revents) return;  // shutdown
        if (fds[0].revents & POLLNVAL) return;
        char chunk[4096];
        const ssize_t n = ::read(fd_, chunk, sizeof chunk);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) {
            if (!pending.empty() && !overlong) handle(pending);
            if (n < 0)
                spdlog::info("fault commands: standard input unreadable ({}); serving on",
                             std::strerror(errno));
            else
                spdlog::info("fault commands: end of standard input; serving on");
            return;
        }
        for (ssize_t i = 0; i < n; ++i) {
            if (chunk[i] == '\n') {
                if (!overlong) handle(pending);
                pending.clear();
                overlong = false;
            } else if (!overlong) {
                pending.push_back(chunk[i]);
                if (pending.size() > kMaxLine) {
                    const std::string ack = "fault error: a line over " + std::to_string(kMaxLine) +
                                            " bytes; use " + kFaultCommandSyntax + "\n";
                    [[maybe_unused]] const ssize_t w =
                        ::write(STDERR_FILENO, ack.data(), ack.size());
                    pending.clear();
                    overlong = true;
                }
            }
        }
    }
}

}  // namespace sluice::kafka
