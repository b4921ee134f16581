// The error-policy keys of [plugin.NAME]: accepted values, defaults, and one-line errors that
// name the key, the section and the fix.

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "config/error_policy.hpp"
#include "config/run_config.hpp"
#include "temp_dir.hpp"

using namespace sluice::config;
using namespace std::chrono_literals;

namespace {

class ErrorPolicyConfig : public ::testing::Test {
  protected:
    /// Parses `sluice run --config FILE` where FILE has the required keys plus `section`.
    RunConfig parse(const std::string &section) {
        const std::string path = dir_.file("run.ini");
        std::ofstream(path) << "brokers = embedded\ntopics = t\nplugin = flaky\n" << section;
        std::vector<const char *> argv{"run", "--config", path.c_str()};
        return parse_run_args(static_cast<int>(argv.size()), argv.data()).config;
    }

    /// The ConfigError text for `section`, or "" when it parses.
    std::string error_of(const std::string &section) {
        try {
            parse(section);
        } catch (const ConfigError &e) {
            return e.what();
        }
        return "";
    }

    sluice::test::TempDir dir_ = sluice::test::temp_dir("sluice-policy-config");
};

}  // namespace

TEST_F(ErrorPolicyConfig, DefaultsWhenTheSectionHasNoPolicyKeys) {
    const RunConfig cfg = parse("[plugin.flaky]\nmode = x\n");
    const ErrorPolicy p = parse_error_policy("flaky", cfg.plugin_config.at("flaky"));
    EXPECT_EQ(p.on_error, OnError::stop);
    EXPECT_EQ(p.max_retries, 3);
    EXPECT_EQ(p.retry_backoff, 100ms);
    EXPECT_EQ(p.dead_letter_topic, "");
}

TEST_F(ErrorPolicyConfig, EveryKeyIsReadAndStaysVisibleToThePlugin) {
    const RunConfig cfg = parse(
        "[plugin.flaky]\non-error = dead-letter\nmax-retries = 5\nretry-backoff = 250ms\n"
        "dead-letter-topic = orders.dlq\n");
    const auto &settings = cfg.plugin_config.at("flaky");
    EXPECT_EQ(settings.at("on-error"), "dead-letter");  // config_get sees the keys too
    const ErrorPolicy p = parse_error_policy("flaky", settings);
    EXPECT_EQ(p.on_error, OnError::dead_letter);
    EXPECT_EQ(p.max_retries, 5);
    EXPECT_EQ(p.retry_backoff, 250ms);
    EXPECT_EQ(p.dead_letter_topic, "orders.dlq");
}

TEST_F(ErrorPolicyConfig, DeadLetterTopicDefaultsToThePluginName) {
    const RunConfig cfg = parse("[plugin.flaky]\non-error = dead-letter\n");
    EXPECT_EQ(parse_error_policy("flaky", cfg.plugin_config.at("flaky")).dead_letter_topic,
              "flaky.dead-letter");
}

TEST_F(ErrorPolicyConfig, EachPolicyNameIsAccepted) {
    for (const auto &[text, value] :
         std::vector<std::pair<std::string, OnError>>{{"retry", OnError::retry},
                                                      {"skip", OnError::skip},
                                                      {"dead-letter", OnError::dead_letter},
                                                      {"stop", OnError::stop}}) {
        const RunConfig cfg = parse("[plugin.flaky]\non-error = " + text + "\n");
        EXPECT_EQ(parse_error_policy("flaky", cfg.plugin_config.at("flaky")).on_error, value)
            << text;
    }
}

TEST_F(ErrorPolicyConfig, BadValuesAreOneLineNamingKeySectionAndFix) {
    struct Case {
        std::string section;
        std::string key;
        std::string fix;
    };
    const std::vector<Case> cases = {
        {"on-error = ignore", "on-error", "retry, skip, dead-letter, stop"},
        {"on-error = Skip", "on-error", "retry, skip, dead-letter, stop"},
        {"max-retries = -1", "max-retries", "0 to 1000"},
        {"max-retries = 3x", "max-retries", "0 to 1000"},
        {"max-retries = 1001", "max-retries", "0 to 1000"},
        {"max-retries =", "max-retries", "0 to 1000"},
        {"retry-backoff = 100", "retry-backoff", "retry-backoff = 100ms"},
        {"retry-backoff = soon", "retry-backoff", "retry-backoff = 100ms"},
        {"retry-backoff = 1m", "retry-backoff", "at most 30s"},
        {"dead-letter-topic = dlq", "dead-letter-topic", "add on-error = dead-letter"},
        {"on-error = dead-letter\ndead-letter-topic = bad topic", "dead-letter-topic",
         "a-z A-Z 0-9 . _ -"},
        {"on-error = dead-letter\ndead-letter-topic = ..", "dead-letter-topic", "a-z A-Z"},
    };
    for (const Case &c : cases) {
        const std::string err = error_of("[plugin.flaky]\n" + c.section + "\n");
        EXPECT_NE(err.find("[plugin.flaky] " + c.key + ":"), std::string::npos)
            << c.section << " -> " << err;
        EXPECT_NE(err.find(c.fix), std::string::npos) << c.section << " -> " << err;
        EXPECT_NE(err.find("run.ini"), std::string::npos) << c.section << " -> " << err;
        EXPECT_EQ(err.find('\n'), std::string::npos) << err;
    }
}

TEST_F(ErrorPolicyConfig, SectionsOfPluginsOutsideTheChainAreCheckedToo) {
    EXPECT_NE(error_of("[plugin.other]\non-error = later\n").find("[plugin.other] on-error"),
              std::string::npos);
}

TEST_F(ErrorPolicyConfig, DescribeKeepsThePolicyKeys) {
    const RunConfig cfg = parse("[plugin.flaky]\non-error = skip\nmax-retries = 0\n");
    const std::string text = describe(cfg);
    EXPECT_NE(text.find("on-error = skip"), std::string::npos) << text;
    EXPECT_NE(text.find("max-retries = 0"), std::string::npos) << text;
}

TEST(ErrorPolicy, BackoffDoublesFromTheInitialWaitUpToTheCap) {
    ErrorPolicy p;
    p.retry_backoff = 100ms;
    EXPECT_EQ(p.backoff_before(1), 100ms);
    EXPECT_EQ(p.backoff_before(2), 200ms);
    EXPECT_EQ(p.backoff_before(3), 400ms);
    EXPECT_EQ(p.backoff_before(12), 30000ms);
    EXPECT_EQ(p.backoff_before(1000), 30000ms);
    p.retry_backoff = 0ms;
    EXPECT_EQ(p.backoff_before(5), 0ms);
}

TEST(ErrorPolicy, HelpNamesTheKeys) {
    const std::string help = run_help();
    for (const char *key : {"on-error", "max-retries", "retry-backoff", "dead-letter-topic"})
        EXPECT_NE(help.find(key), std::string::npos) << key;
}
