// `sluice mock-broker` as a separate process: the bootstrap line comes first,
// topics get the asked partition counts, SIGTERM/SIGINT end it with exit 0.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <regex>
#include <string>

#include "kafka_helpers.hpp"
#include "mock_broker_process.hpp"
#include "sluice_command.hpp"

using namespace std::chrono_literals;
using namespace sluice::test;

namespace {

TEST(MockBroker, PrintsBootstrapFirstAndServesTopicsWithAskedPartitions) {
    MockBrokerProcess broker({{"alpha", 3}, {"beta", 1}, {"gamma", 7}});
    EXPECT_TRUE(std::regex_match(broker.bootstrap_servers(), std::regex(R"(127\.0\.0\.1:\d+)")))
        << broker.bootstrap_servers();
    EXPECT_EQ(partition_count(broker.bootstrap_servers(), "alpha"), 3);
    EXPECT_EQ(partition_count(broker.bootstrap_servers(), "beta"), 1);
    EXPECT_EQ(partition_count(broker.bootstrap_servers(), "gamma"), 7);
    EXPECT_EQ(partition_count(broker.bootstrap_servers(), "not-created"), -1);

    const auto status = broker.stop(10s);
    EXPECT_TRUE(status.exited()) << status.describe();
    EXPECT_EQ(status.code, 0);
}

TEST(MockBroker, SeveralBrokersAndSigintExitsZero) {
    MockBrokerProcess broker({{"multi", 6}}, 3);
    EXPECT_TRUE(std::regex_match(broker.bootstrap_servers(),
                                 std::regex(R"(127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+){2})")))
        << broker.bootstrap_servers();
    EXPECT_EQ(partition_count(broker.bootstrap_servers(), "multi"), 6);

    broker.process().send_signal(SIGINT);
    const auto status = broker.process().wait(10s);
    ASSERT_TRUE(status.has_value()) << "mock-broker still running 10 s after SIGINT";
    EXPECT_EQ(status->code, 0) << status->describe();
}

TEST(MockBroker, BadTopicSyntaxIsAOneLineErrorWithExitCode2) {
    for (const std::string bad : {"nocolon", "name:0", "name:abc", ":3", "bad/name:2", "x:3y"}) {
        const auto result = run_sluice({"mock-broker", "--topic", bad}, 15s);
        EXPECT_EQ(result.status.code, 2) << bad << ": " << result.status.describe();
        EXPECT_TRUE(result.out.empty()) << bad << " printed on stdout: " << result.out;
        EXPECT_NE(result.err.find("--topic '" + bad + "'"), std::string::npos) << result.err;
        EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    }
}

TEST(MockBroker, UnknownOptionAndBadBrokerCountAreUsageErrors) {
    EXPECT_EQ(run_sluice({"mock-broker", "--bogus"}, 15s).status.code, 2);
    const auto result = run_sluice({"mock-broker", "--brokers", "0"}, 15s);
    EXPECT_EQ(result.status.code, 2);
    EXPECT_NE(result.err.find("--brokers"), std::string::npos) << result.err;
}

TEST(MockBroker, HelpExplainsTheOptions) {
    const auto result = run_sluice({"mock-broker", "--help"}, 15s);
    EXPECT_EQ(result.status.code, 0);
    for (const char *word :
         {"--brokers", "--topic", "NAME:PARTITIONS", "SIGTERM", "bootstrap.servers"})
        EXPECT_NE(result.out.find(word), std::string::npos) << word << " missing in:\n"
                                                            << result.out;
}

}  // namespace
