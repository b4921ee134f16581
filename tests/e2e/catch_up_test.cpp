// `sluice run` resuming from a checkpoint with a backlog says what its first batch catches up
// (issue 18.6: a new user watched a 7.5 s catch-up with nothing logged). How fast it catches up
// is a benchmark (bench/resume.sh), not a test.

#include <gtest/gtest.h>

#include <regex>

#include "e2e_helpers.hpp"
#include "mock_broker_process.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

namespace {

TEST(CatchUp, TheFirstBatchAfterARestartNamesTheBacklogItTakes) {
    MockBrokerProcess broker({{"backlog", 3}});
    TempDir dir = temp_dir("sluice-catch-up");
    const auto produce = [&](int count) {
        auto r = run_sluice({"produce", "--brokers", broker.bootstrap_servers(), "--topic",
                             "backlog", "--count", std::to_string(count)});
        ASSERT_EQ(r.status.code, 0) << r.err;
    };
    const auto run = [&](std::vector<std::string> extra) {
        std::vector<std::string> args{"run",
                                      "--brokers",
                                      broker.bootstrap_servers(),
                                      "--topics",
                                      "backlog",
                                      "--plugin",
                                      "noop",
                                      "--checkpoint",
                                      dir.file("checkpoint"),
                                      "--batch-interval",
                                      "100ms",
                                      "--max-batches",
                                      "2",
                                      "-X",
                                      "fetch.wait.max.ms=10"};
        args.insert(args.end(), extra.begin(), extra.end());
        return run_sluice(args, 60s);
    };
    produce(300);
    auto first = run({"--auto-offset-reset", "earliest"});
    ASSERT_EQ(first.status.code, 0) << first.err;
    EXPECT_NE(first.err.find("batch 0: catching up 300 records on "), std::string::npos)
        << first.err;

    produce(1234);  // while it is stopped
    auto second = run({});
    ASSERT_EQ(second.status.code, 0) << second.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        second.err, m,
        std::regex(R"(batch 2: catching up 1234 records on (\d) of 3 partitions in one batch)")))
        << second.err;
    EXPECT_GE(std::stoi(m[1]), 1);
    // Only the first batch of a run says so.
    EXPECT_EQ(second.err.find("batch 3: catching up"), std::string::npos) << second.err;
    // With a record limit the backlog is split, and the line does not suggest it.
    produce(500);
    auto third = run({"--max-batch-records", "200"});
    ASSERT_EQ(third.status.code, 0) << third.err;
    EXPECT_NE(third.err.find("batch 4: catching up 200 records on "), std::string::npos)
        << third.err;
    EXPECT_EQ(third.err.find("max-batch-records splits"), std::string::npos) << third.err;
}

}  // namespace
