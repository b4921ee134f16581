// direct-assignment (host/config): its values, and the keys it cannot go with, each refused
// with one line that names the way out.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/run_config.hpp"

namespace sluice::config {
namespace {

using ::testing::HasSubstr;

std::string error_of(std::vector<std::string> args) {
    args.insert(args.begin(), "run");
    std::vector<const char *> argv;
    for (const auto &a : args) argv.push_back(a.c_str());
    try {
        parse_run_args(static_cast<int>(argv.size()), argv.data());
    } catch (const ConfigError &e) {
        return e.what();
    }
    return "";
}

RunConfig parsed(std::vector<std::string> args) {
    args.insert(args.begin(), "run");
    std::vector<const char *> argv;
    for (const auto &a : args) argv.push_back(a.c_str());
    return parse_run_args(static_cast<int>(argv.size()), argv.data()).config;
}

const std::vector<std::string> kGroupJob = {
    "--brokers",           "k:1",  "--topics", "t", "--plugin", "p", "--group", "g",
    "--direct-assignment", "group"};

std::vector<std::string> with(std::vector<std::string> more) {
    std::vector<std::string> out = kGroupJob;
    out.insert(out.end(), more.begin(), more.end());
    return out;
}

TEST(DirectAssignment, SingleIsTheDefaultAndGroupIsAccepted) {
    EXPECT_FALSE(parsed({"--brokers", "k:1", "--topics", "t", "--plugin", "p"}).group_assignment);
    EXPECT_TRUE(parsed(kGroupJob).group_assignment);
    EXPECT_FALSE(parsed({"--brokers", "k:1", "--topics", "t", "--plugin", "p",
                         "--direct-assignment", "single"})
                     .group_assignment);
    EXPECT_EQ(error_of(with({"--auto-offset-reset", "earliest"})), "");
}

TEST(DirectAssignment, AnUnknownValueNamesTheValidOnes) {
    EXPECT_THAT(error_of({"--brokers", "k:1", "--topics", "t", "--plugin", "p",
                          "--direct-assignment", "cluster"}),
                HasSubstr("single, group"));
}

TEST(DirectAssignment, GroupNeedsAGroupAndRefusesWhatItReplaces) {
    EXPECT_THAT(error_of({"--brokers", "k:1", "--topics", "t", "--plugin", "p",
                          "--direct-assignment", "group"}),
                HasSubstr("group: direct-assignment=group needs a consumer group: add --group ID"));
    EXPECT_THAT(error_of(with({"--checkpoint", "/cp"})),
                HasSubstr("the plans are kept in --group's committed offsets"));
    EXPECT_THAT(error_of(with({"--from-offsets", "t:0=5"})),
                HasSubstr("not with direct-assignment=group"));
    EXPECT_THAT(error_of(with({"--commit-to-kafka", "false"})),
                HasSubstr("so it always commits: remove the key"));
    EXPECT_THAT(error_of({"--mode", "receiver", "--brokers", "k:1", "--topics", "t", "--plugin",
                          "p", "--group", "g", "--direct-assignment", "group"}),
                HasSubstr("direct-assignment: is a direct-mode option"));
}

}  // namespace
}  // namespace sluice::config
