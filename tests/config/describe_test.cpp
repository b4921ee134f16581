// Unit tests of host/config/describe.cpp: --validate's effective configuration.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_helpers.hpp"

namespace sluice::config {
namespace {

using namespace std::chrono_literals;
using namespace test_support;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

// ------------------------------------------------------------------ describe

TEST_F(ConfigFiles, DescribeRoundTripsThroughParseRunArgs) {
    const std::string file = write("full.ini",
                                   "[kafka]\nclient.id = x\nsasl.mechanism = PLAIN\n"
                                   "[plugin.file-sink]\npath = /tmp/o.jsonl\nmode = a b c\n"
                                   "[plugin.my.dotted]\nk.x = 1\n");
    const std::vector<std::string> args = {"--config",
                                           file,
                                           "--mode",
                                           "direct",
                                           "--brokers",
                                           "k1:9092,k2:9092",
                                           "--topics",
                                           "a,^b{1,2}-.*",
                                           "--group",
                                           "g",
                                           "--batch-interval",
                                           "1500ms",
                                           "--plugin-dir",
                                           dir_.file("plugins"),
                                           "--plugin",
                                           "file-sink",
                                           "--plugin",
                                           "my.dotted",
                                           "--checkpoint",
                                           dir_.file("cp"),
                                           "--auto-offset-reset",
                                           "earliest",
                                           "--from-offsets",
                                           "a:0=1,a:2=3",
                                           "--from-timestamp",
                                           "1700000000000",
                                           "--max-rate-per-partition",
                                           "7",
                                           "--max-batch-records",
                                           "8",
                                           "--fail-on-data-loss",
                                           "false",
                                           "--commit-to-kafka",
                                           "false",
                                           "--hot-reload",
                                           "false",
                                           "--hot-reload-poll",
                                           "75ms",
                                           "--workers",
                                           "3",
                                           "--embedded-brokers",
                                           "2",
                                           "--embedded-partitions",
                                           "6",
                                           "--shutdown-timeout",
                                           "2m",
                                           "--max-batches",
                                           "9",
                                           "--log-level",
                                           "trace",
                                           "-X",
                                           "acks=all"};
    const RunConfig original = parse_cfg(args);
    const std::string text = describe(original);
    const RunConfig again = parse_cfg({"--config", write("described.ini", text)});
    EXPECT_EQ(again, original) << text;
    // A second round gives the same text.
    EXPECT_EQ(describe(again), text);

    // The defaults round-trip too (absent group, checkpoint, plugin-dir, timestamp).
    const RunConfig minimal = parse_cfg(kRequired);
    EXPECT_EQ(parse_cfg({"--config", write("minimal.ini", describe(minimal))}), minimal);
}

TEST_F(ConfigFiles, ReceiverModeDescribeRoundTrips) {
    const RunConfig original = parse_cfg({"--mode",
                                          "receiver",
                                          "--brokers",
                                          "k1:9092",
                                          "--topics",
                                          "events:3,clicks",
                                          "--group",
                                          "g",
                                          "--plugin",
                                          "p",
                                          "--block-interval",
                                          "150ms",
                                          "--receiver-max-rate",
                                          "900",
                                          "--wal-dir",
                                          dir_.file("wal"),
                                          "--wal-fsync",
                                          "25ms",
                                          "--wal-max-bytes",
                                          "2GiB"});
    EXPECT_EQ(original.topics, (std::vector<std::string>{"events", "clicks"}));
    EXPECT_EQ(original.topic_threads, (std::map<std::string, int>{{"events", 3}}));
    EXPECT_EQ(original.wal_max_bytes, 2ull << 30);
    const std::string text = describe(original);
    EXPECT_THAT(text, HasSubstr("topics = events:3\n"));
    EXPECT_THAT(text, HasSubstr("wal-fsync = 25ms\n"));
    EXPECT_EQ(parse_cfg({"--config", write("receiver.ini", text)}), original) << text;
    EXPECT_EQ(parse_cfg({"--mode", "receiver", "--brokers", "k", "--topics", "t", "--group", "g",
                         "--plugin", "p", "--wal-fsync", "BLOCK"})
                  .wal_fsync_interval,
              0ms);
}

TEST(RunConfigTest, DescribeMakesPathsAbsoluteAndRedactsSecrets) {
    RunConfig cfg = parse_cfg(with_required(
        {"--checkpoint", "rel/cp", "-X", "sasl.password=hunter2", "-X", "sasl.username=me"}));
    const std::string text = describe(cfg);
    EXPECT_THAT(text, HasSubstr("checkpoint = " + (fs::current_path() / "rel/cp").string() + "\n"));
    EXPECT_THAT(text, HasSubstr("sasl.password = <redacted>\n"));
    EXPECT_THAT(text, HasSubstr("sasl.username = me\n"));
    EXPECT_THAT(text, Not(HasSubstr("hunter2")));
}

TEST_F(ConfigFiles, DescribeCommentsOutValuesAConfigFileCannotHold) {
    const RunConfig cfg = parse_cfg(with_required({"-X", "client.id=a#b", "-X", "x.y=ok"}));
    const std::string text = describe(cfg);
    EXPECT_THAT(text, HasSubstr("give it on the command line\n# client.id = a#b\n"));
    // Read back, the key is absent rather than cut to "a".
    const RunConfig again = parse_cfg({"--config", write("hash.ini", text)});
    EXPECT_EQ(again.kafka, (std::map<std::string, std::string>{{"x.y", "ok"}}));
}

}  // namespace
}  // namespace sluice::config
