// `sluice produce` against a `sluice mock-broker` child, read back with an
// independent librdkafka consumer (consume_all).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "kafka_helpers.hpp"
#include "mock_broker_process.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace std::chrono_literals;
using namespace sluice::test;

namespace {

// The record format documented in host/kafka/load_generator.cpp, rebuilt here
// independently so that a change on either side shows.
std::string seq20(std::uint64_t seq) {
    std::string digits = std::to_string(seq);
    return std::string(20 - digits.size(), '0') + digits;
}

std::string expected_value(std::uint64_t seq, std::size_t size) {
    std::string value = seq20(seq) + " ";
    const std::string filler = "abcdefghijklmnopqrstuvwxyz";
    for (std::size_t i = 0; value.size() < size; ++i) value += filler[i % filler.size()];
    return value;
}

std::string expected_key(std::uint64_t seq, std::size_t size) {
    const std::string digits = seq20(seq);
    if (size <= digits.size()) return digits.substr(digits.size() - size);
    return digits + std::string(size - digits.size(), '-');
}

std::uint64_t sequence_of(const ConsumedRecord &record) {
    return std::stoull(record.value.value().substr(0, 20));
}

/// key=value tokens of the summary line.
std::map<std::string, std::string> parse_summary(const std::string &out) {
    std::map<std::string, std::string> fields;
    std::istringstream words(out);
    for (std::string word; words >> word;)
        if (const auto eq = word.find('='); eq != std::string::npos)
            fields[word.substr(0, eq)] = word.substr(eq + 1);
    return fields;
}

/// Every sequence number 0..n-1 exactly once.
void expect_sequences_0_to(std::uint64_t n, const std::vector<ConsumedRecord> &records) {
    std::multiset<std::uint64_t> seqs;
    for (const auto &r : records) seqs.insert(sequence_of(r));
    ASSERT_EQ(seqs.size(), n);
    std::uint64_t expect = 0;
    for (auto seq : seqs) ASSERT_EQ(seq, expect++) << "missing or duplicate sequence number";
}

/// A loopback port nothing listens on.
int closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot find a free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

class Produce : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        broker_ = std::make_unique<MockBrokerProcess>(std::vector<MockTopic>{
            {"plain", 4}, {"keyed", 3}, {"long-keys", 2}, {"rate", 1}, {"interrupt", 2}});
    }
    static void TearDownTestSuite() {
        if (broker_) {
            EXPECT_EQ(broker_->stop().code, 0);
        }
        broker_.reset();
    }

    static CommandResult produce(const std::string &topic, std::vector<std::string> extra,
                                 std::chrono::milliseconds timeout = 60s) {
        std::vector<std::string> args = {"produce", "--brokers", broker_->bootstrap_servers(),
                                         "--topic", topic};
        args.insert(args.end(), extra.begin(), extra.end());
        return run_sluice(std::move(args), timeout);
    }

    static const std::string &bootstrap() { return broker_->bootstrap_servers(); }

    static std::unique_ptr<MockBrokerProcess> broker_;
};
std::unique_ptr<MockBrokerProcess> Produce::broker_;

TEST_F(Produce, DefaultRecordsHaveSequencedValuesNullKeysNoHeaders) {
    const auto result = produce("plain", {"--count", "1000"});
    ASSERT_EQ(result.status.code, 0) << result.status.describe() << "\n" << result.err;
    const auto summary = parse_summary(result.out);
    EXPECT_EQ(summary.at("records"), "1000") << result.out;
    EXPECT_EQ(summary.at("acked"), "1000");
    EXPECT_EQ(summary.at("failed"), "0");
    EXPECT_EQ(summary.at("MB"), "0.100");  // 1000 values of 100 bytes, no keys
    for (const char *field : {"seconds", "records/s", "MB/s"}) EXPECT_TRUE(summary.count(field));

    const auto records = consume_all(bootstrap(), "plain");
    for (const auto &r : records) {
        ASSERT_TRUE(r.value.has_value());
        EXPECT_EQ(*r.value, expected_value(sequence_of(r), 100));
        EXPECT_FALSE(r.key.has_value()) << "key-size 0 must give a null key";
        EXPECT_TRUE(r.headers.empty());
    }
    expect_sequences_0_to(1000, records);
}

TEST_F(Produce, KeysAndHeadersFollowTheSequence) {
    const auto result = produce(
        "keyed", {"--count", "500", "--key-size", "8", "--headers", "3", "--value-size", "64"});
    ASSERT_EQ(result.status.code, 0) << result.status.describe() << "\n" << result.err;
    EXPECT_EQ(parse_summary(result.out).at("acked"), "500");

    const auto records = consume_all(bootstrap(), "keyed", 3);
    for (const auto &r : records) {
        const auto seq = sequence_of(r);
        EXPECT_EQ(*r.value, expected_value(seq, 64));
        ASSERT_TRUE(r.key.has_value());
        EXPECT_EQ(*r.key, expected_key(seq, 8));
        ASSERT_EQ(r.headers.size(), 3u);
        for (std::size_t i = 0; i < 3; ++i) {
            EXPECT_EQ(r.headers[i].name, "h" + std::to_string(i));
            EXPECT_EQ(r.headers[i].value.value_or("<null>"), std::to_string(seq));
        }
    }
    expect_sequences_0_to(500, records);
}

TEST_F(Produce, LongKeysWithLz4Compression) {
    const auto result = produce("long-keys", {"--count", "2000", "--key-size", "30", "--value-size",
                                              "1000", "--compression", "lz4"});
    ASSERT_EQ(result.status.code, 0) << result.status.describe() << "\n" << result.err;
    EXPECT_EQ(parse_summary(result.out).at("MB"), "2.060");  // 2000 * (1000 + 30) bytes

    const auto records = consume_all(bootstrap(), "long-keys");
    for (const auto &r : records) {
        const auto seq = sequence_of(r);
        EXPECT_EQ(r.value->size(), 1000u);
        EXPECT_EQ(*r.value, expected_value(seq, 1000));
        EXPECT_EQ(r.key.value_or("<null>"), expected_key(seq, 30));
    }
    expect_sequences_0_to(2000, records);
    // The same key always lands in the same partition (keyed partitioner).
    std::map<std::string, std::int32_t> partition_of;
    for (const auto &r : records) partition_of.emplace(*r.key, r.partition);
    EXPECT_EQ(partition_of.size(), 2000u);
}

TEST_F(Produce, RateIsRoughlyHonoured) {
    const auto result = produce("rate", {"--count", "1000", "--rate", "500"});
    ASSERT_EQ(result.status.code, 0) << result.status.describe() << "\n" << result.err;
    // 1000 records at 500/s: about 2 s; loose bounds for a busy machine.
    EXPECT_GE(result.elapsed.count(), 1.5);
    EXPECT_LT(result.elapsed.count(), 15.0);
    EXPECT_GE(std::stod(parse_summary(result.out).at("seconds")), 1.5);
    EXPECT_EQ(consume_all(bootstrap(), "rate").size(), 1000u);
}

TEST_F(Produce, SigintStopsFlushesAndReportsEverythingAcked) {
    auto dir = temp_dir();
    ChildProcess child(sluice_argv({"produce", "--brokers", bootstrap(), "--topic", "interrupt",
                                    "--count", "0", "--rate", "2000"}),
                       ChildProcess::Options{dir.file("stderr.txt"), true});
    // Interrupt once records are visible in the topic.
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    std::int64_t written = 0;
    while (written < 200 && std::chrono::steady_clock::now() < deadline && child.running()) {
        written = 0;
        for (const auto &w : watermarks(bootstrap(), "interrupt")) written += w.high;
        if (written < 200) child.wait(20ms);  // returns early only if the child ended
    }
    ASSERT_GE(written, 200) << read_file(dir.file("stderr.txt"));
    child.send_signal(SIGINT);
    const auto status = child.wait(20s);
    ASSERT_TRUE(status.has_value()) << "produce still running 20 s after SIGINT";
    EXPECT_EQ(status->code, 0) << status->describe() << "\n" << read_file(dir.file("stderr.txt"));

    const auto summary = parse_summary(child.read_all(5s).value_or(""));
    const auto sent = std::stoull(summary.at("records"));
    EXPECT_EQ(summary.at("acked"), summary.at("records"));
    EXPECT_EQ(summary.at("failed"), "0");
    EXPECT_GE(sent, 200u);
    expect_sequences_0_to(sent, consume_all(bootstrap(), "interrupt"));
}

TEST(ProduceUnreachable, FailsWithinBoundedTimeWithAClearMessage) {
    const std::string brokers = "127.0.0.1:" + std::to_string(closed_port());
    const auto result =
        run_sluice({"produce", "--brokers", brokers, "--topic", "t", "--count", "10"}, 60s);
    EXPECT_EQ(result.status.code, 1) << result.status.describe();
    EXPECT_LT(result.elapsed.count(), 20.0);
    EXPECT_NE(result.err.find("cannot reach Kafka at '" + brokers + "'"), std::string::npos)
        << result.err;
}

TEST(ProduceBrokerLost, FailsWithinBoundedTimeWhenTheBrokerDiesMidRun) {
    MockBrokerProcess broker({{"lost", 2}});
    auto dir = temp_dir();
    ChildProcess child(
        sluice_argv({"produce", "--brokers", broker.bootstrap_servers(), "--topic", "lost",
                     "--count", "1000000", "--rate", "5000", "-X", "message.timeout.ms=1000", "-X",
                     "queue.buffering.max.messages=1000"}),
        ChildProcess::Options{dir.file("stderr.txt"), true});
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    std::int64_t written = 0;
    while (written == 0 && std::chrono::steady_clock::now() < deadline && child.running()) {
        for (const auto &w : watermarks(broker.bootstrap_servers(), "lost")) written += w.high;
        if (written == 0) child.wait(20ms);
    }
    ASSERT_GT(written, 0) << read_file(dir.file("stderr.txt"));
    broker.process().send_signal(SIGKILL);

    // Bounded by message.timeout.ms + 5 s without delivery reports, plus slack.
    const auto status = child.wait(30s);
    ASSERT_TRUE(status.has_value()) << "produce hangs after its broker died";
    EXPECT_EQ(status->code, 1) << status->describe();
    const auto summary = parse_summary(child.read_all(5s).value_or(""));
    EXPECT_NE(summary.at("failed"), "0");
    EXPECT_NE(read_file(dir.file("stderr.txt")).find("not acknowledged"), std::string::npos);
}

TEST(ProduceUsage, MistakesExitWith2AndNameTheProblem) {
    struct Case {
        std::vector<std::string> args;
        std::string expect_in_stderr;
    };
    const std::vector<Case> cases = {
        {{"--topic", "t", "--count", "1"}, "--brokers"},
        {{"--brokers", "127.0.0.1:1", "--count", "1"}, "--topic"},
        {{"--brokers", "127.0.0.1:1", "--topic", "t", "--count", "1", "--value-size", "10"},
         "--value-size"},
        {{"--brokers", "127.0.0.1:1", "--topic", "t", "--count", "1", "-X", "no.such.key=1"},
         "no.such.key"},
        {{"--brokers", "127.0.0.1:1", "--topic", "t", "--count", "1", "-X", "novalue"}, "-X"},
        {{"--brokers", "127.0.0.1:1", "--topic", "t", "--count", "1", "--compression", "zip"},
         "zip"},
    };
    for (const auto &c : cases) {
        std::vector<std::string> args = {"produce"};
        args.insert(args.end(), c.args.begin(), c.args.end());
        const auto result = run_sluice(args, 15s);
        EXPECT_EQ(result.status.code, 2) << c.expect_in_stderr << ": " << result.err;
        EXPECT_NE(result.err.find(c.expect_in_stderr), std::string::npos) << result.err;
    }
    const auto help = run_sluice({"produce", "--help"}, 15s);
    EXPECT_EQ(help.status.code, 0);
    EXPECT_NE(help.out.find("--key-size"), std::string::npos);
}

}  // namespace
