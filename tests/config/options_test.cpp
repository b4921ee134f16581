// Unit tests of host/config/options.*: the one table that both sources, --help, --validate's
// output and docs/configuration.md follow. A key added to the table fails here until it has
// a way to be shown and a line in the docs.
#include "config/options.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config_test_helpers.hpp"

namespace sluice::config {
namespace {

using ::testing::HasSubstr;

/// Not a valid run (it sets keys of both modes): a value to show for every key.
RunConfig every_key_set() {
    RunConfig cfg;
    cfg.mode = Mode::receiver;
    cfg.brokers = "k1:9092";
    cfg.topics = {"t"};
    cfg.group = "g";
    cfg.plugins = {"p"};
    cfg.plugin_dirs = {"/plugins"};
    cfg.checkpoint_dir = "/cp";
    cfg.wal_dir = "/wal";
    cfg.from_offsets = {{{"t", 0}, 5}};
    cfg.from_timestamp_ms = 1700000000000;
    cfg.zookeeper = "z1:2181";
    cfg.zookeeper_auth = "digest:u:p";
    cfg.metrics_address = "127.0.0.1:0";
    return cfg;
}

/// Where describe() shows `key`, as a line or commented out; npos if it does not.
size_t position_in(const std::string &described, const std::string &key) {
    for (const std::string &start : {"\n" + key + " =", "\n# " + key + ":", "\n# " + key + " ="})
        if (const size_t at = described.find(start); at != std::string::npos) return at;
    return std::string::npos;
}

/// How --help names the option.
std::string help_name(const detail::OptionSpec &spec) {
    return spec.name == std::string_view("X") ? "-X " : "--" + std::string(spec.name) + " ";
}

TEST(OptionTableTest, ARowReadFromAFileIsAlsoShown) {
    for (const detail::OptionSpec &spec : detail::options()) {
        SCOPED_TRACE(spec.name);
        EXPECT_EQ(spec.apply == nullptr, spec.show == nullptr);
        EXPECT_EQ(detail::find_option(spec.name), &spec);
    }
}

TEST(OptionTableTest, EveryKeyOfTheTableIsInTheHelpInTableOrder) {
    const std::string help = run_help();
    size_t previous = 0;
    for (const detail::OptionSpec &spec : detail::options()) {
        SCOPED_TRACE(spec.name);
        const size_t at = help.find(help_name(spec), previous);
        ASSERT_NE(at, std::string::npos) << help;
        previous = at;
    }
}

TEST(OptionTableTest, EveryKeyOfTheFileIsInTheValidateOutputInTableOrder) {
    const std::string described = describe(every_key_set());
    size_t previous = 0;
    for (const detail::OptionSpec &spec : detail::options()) {
        if (spec.command_line_only()) continue;
        SCOPED_TRACE(spec.name);
        const size_t at = position_in(described, spec.name);
        ASSERT_NE(at, std::string::npos) << described;
        EXPECT_GT(at, previous);
        previous = at;
    }
}

TEST(OptionTableTest, DirectModeShowsEveryKeyButTheReceiversAndTheUnsetStarts) {
    const std::string described = describe(test_support::parse_cfg(test_support::kRequired));
    for (const detail::OptionSpec &spec : detail::options()) {
        if (spec.command_line_only()) continue;
        SCOPED_TRACE(spec.name);
        const std::string key = spec.name;
        const bool unset = key == "from-offsets" || key == "from-timestamp" ||
                           key == "zookeeper-auth";  // shown only when given
        const bool shown = position_in(described, key) != std::string::npos;
        EXPECT_EQ(shown, spec.group != detail::Group::Receiver && !unset) << described;
    }
}

TEST(OptionTableTest, EveryKeyOfTheFileIsInTheDocs) {
    std::ifstream in(std::string(SLUICE_SOURCE_DIR) + "/docs/configuration.md");
    std::stringstream docs;
    docs << in.rdbuf();
    ASSERT_FALSE(docs.str().empty());
    for (const detail::OptionSpec &spec : detail::options()) {
        if (spec.command_line_only()) continue;
        EXPECT_THAT(docs.str(), HasSubstr("| `" + std::string(spec.name) + "` |"));
    }
}

TEST(OptionTableTest, ModeNamesAreTheConfigValues) {
    EXPECT_EQ(to_string(Mode::direct), "direct");
    EXPECT_EQ(to_string(Mode::receiver), "receiver");
    EXPECT_EQ(
        test_support::parse_cfg(test_support::with_required({"--mode", "receiver", "--group", "g"}))
            .mode,
        Mode::receiver);
}

}  // namespace
}  // namespace sluice::config
