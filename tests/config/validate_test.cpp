// Unit tests of host/config/validate.*: required options and keys checked against each other.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_helpers.hpp"

namespace sluice::config {
namespace {

using namespace test_support;
using ::testing::HasSubstr;

TEST(RunConfigTest, MissingRequiredOptionsSayHowToGiveThem) {
    EXPECT_EQ(error_of({"--topics", "t", "--plugin", "p"}),
              "no brokers: give --brokers HOST:PORT[,HOST:PORT...] (or --brokers embedded for an "
              "in-process test cluster, or --zookeeper to find them there), or brokers = ... in "
              "the --config file");
    EXPECT_EQ(error_of({"--brokers", "b:1", "--plugin", "p"}),
              "no topics: give --topics NAME[,NAME...] (an entry starting with ^ is a regex), or "
              "topics = ... in the --config file");
    EXPECT_EQ(error_of({"--brokers", "b:1", "--topics", "t"}),
              "no plugin: give --plugin NAME (repeat it for a chain, in order), or plugin = NAME "
              "lines in the --config file");
    EXPECT_THAT(error_of({}), HasSubstr("no brokers"));
}

TEST(RunConfigTest, ReceiverAndDirectKeysAreCheckedAgainstTheMode) {
    const std::vector<std::string> receiver = {"--mode",   "receiver", "--brokers", "k",
                                               "--topics", "t",        "--plugin",  "p"};
    auto with = [](std::vector<std::string> base, std::vector<std::string> more) {
        base.insert(base.end(), more.begin(), more.end());
        return base;
    };
    EXPECT_EQ(error_of(receiver),
              "group: receiver mode needs a consumer group: add --group ID "
              "(its members split the partitions, and offsets are committed "
              "to it)");
    EXPECT_THAT(error_of(with(receiver, {"--group", "g", "--checkpoint", "/cp"})),
                HasSubstr("checkpoint: is a direct-mode option"));
    EXPECT_THAT(error_of(with(receiver, {"--group", "g", "--max-rate-per-partition", "5"})),
                HasSubstr("--receiver-max-rate"));
    EXPECT_THAT(error_of(with_required({"--wal-dir", "/w"})),
                HasSubstr("receiver-mode options; add --mode receiver"));
    EXPECT_THAT(error_of(with_required({"--topics", "t:2"})),
                HasSubstr("NAME:N (consumer threads) is for --mode receiver"));
    EXPECT_THAT(error_of(with(receiver, {"--group", "g", "--topics", "t:0"})),
                HasSubstr("threads of topic t"));
    EXPECT_THAT(error_of(with(receiver, {"--group", "g", "--wal-fsync", "sometimes"})),
                HasSubstr("neither 'block' nor a duration"));
    EXPECT_THAT(error_of(with(receiver, {"--group", "g", "--wal-max-bytes", "12 parsecs"})),
                HasSubstr("is not a size"));
}

}  // namespace
}  // namespace sluice::config
