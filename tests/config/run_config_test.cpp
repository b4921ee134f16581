// Unit tests of host/config: `sluice run`'s command line, config file, validation, --help and
// describe().
#include "config/run_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <regex>

#include "config/plugin_keys.hpp"
#include "config/values.hpp"
#include "temp_dir.hpp"

namespace sluice::config {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

// What every valid run needs; tests add to it.
const std::vector<std::string> kRequired = {"--brokers", "k1:9092",  "--topics",
                                            "t",         "--plugin", "p"};

ParsedRun parse(std::vector<std::string> args) {
    args.insert(args.begin(), "run");
    std::vector<const char *> argv;
    for (const auto &a : args) argv.push_back(a.c_str());
    return parse_run_args(static_cast<int>(argv.size()), argv.data());
}

RunConfig parse_cfg(std::vector<std::string> args) {
    return parse(std::move(args)).config;
}

std::vector<std::string> with_required(std::vector<std::string> args) {
    args.insert(args.end(), kRequired.begin(), kRequired.end());
    return args;
}

/// The ConfigError message of parsing `args`, or "" if it parsed.
std::string error_of(std::vector<std::string> args) {
    try {
        parse(std::move(args));
    } catch (const ConfigError &e) {
        return e.what();
    }
    return "";
}

class ConfigFiles : public ::testing::Test {
  protected:
    std::string write(const std::string &name, const std::string &content) {
        const std::string path = dir_.file(name);
        std::ofstream(path) << content;
        return path;
    }
    test::TempDir dir_ = test::temp_dir("sluice-config-test");
};

// ------------------------------------------------------------------ defaults

TEST(RunConfigTest, DefaultsWhenOnlyTheRequiredOptionsAreGiven) {
    const RunConfig cfg = parse_cfg(kRequired);
    RunConfig expected;
    expected.brokers = "k1:9092";
    expected.topics = {"t"};
    expected.plugins = {"p"};
    EXPECT_EQ(cfg, expected);
    // The documented defaults, spelled out so a changed default fails here.
    EXPECT_EQ(cfg.mode, Mode::direct);
    EXPECT_EQ(cfg.group, "");
    EXPECT_EQ(cfg.batch_interval, 2s);
    EXPECT_TRUE(cfg.plugin_dirs.empty());
    EXPECT_TRUE(cfg.checkpoint_dir.empty());
    EXPECT_EQ(cfg.auto_offset_reset, "latest");
    EXPECT_TRUE(cfg.from_offsets.empty());
    EXPECT_FALSE(cfg.from_timestamp_ms);
    EXPECT_EQ(cfg.max_rate_per_partition, 0);
    EXPECT_EQ(cfg.max_batch_records, 0);
    EXPECT_TRUE(cfg.fail_on_data_loss);
    EXPECT_TRUE(cfg.commit_to_kafka);
    EXPECT_TRUE(cfg.hot_reload);
    EXPECT_EQ(cfg.hot_reload_poll, 250ms);
    EXPECT_EQ(cfg.workers, 0);
    EXPECT_EQ(cfg.embedded_brokers, 1);
    EXPECT_EQ(cfg.embedded_partitions, 4);
    EXPECT_EQ(cfg.shutdown_timeout, 30s);
    EXPECT_EQ(cfg.max_batches, 0);
    EXPECT_EQ(cfg.log_level, "info");
    EXPECT_TRUE(cfg.kafka.empty());
    EXPECT_TRUE(cfg.plugin_config.empty());
    EXPECT_FALSE(parse(kRequired).help);
    EXPECT_FALSE(parse(kRequired).validate);
}

// ------------------------------------------------------------------ every key, both ways

struct KeyCase {
    std::string key;
    std::string value;
    std::function<void(const RunConfig &)> check;
    std::vector<std::string> also = {};  // other keys and values the key needs, k1, v1, ...
};

const std::vector<std::string> kReceiver = {"mode", "receiver", "group", "g1"};

std::vector<KeyCase> key_cases() {
    return {
        {"mode",
         "receiver",
         [](const RunConfig &c) { EXPECT_EQ(c.mode, Mode::receiver); },
         {"group", "g1"}},
        {"block-interval", "50ms", [](const RunConfig &c) { EXPECT_EQ(c.block_interval, 50ms); },
         kReceiver},
        {"receiver-max-rate", "5000",
         [](const RunConfig &c) { EXPECT_EQ(c.receiver_max_rate, 5000); }, kReceiver},
        {"wal-dir", "/var/wal", [](const RunConfig &c) { EXPECT_EQ(c.wal_dir, "/var/wal"); },
         kReceiver},
        {"wal-fsync", "20ms", [](const RunConfig &c) { EXPECT_EQ(c.wal_fsync_interval, 20ms); },
         kReceiver},
        {"wal-max-bytes", "64MiB",
         [](const RunConfig &c) { EXPECT_EQ(c.wal_max_bytes, 64u << 20); }, kReceiver},
        {"brokers", "a:1,b:2", [](const RunConfig &c) { EXPECT_EQ(c.brokers, "a:1,b:2"); }},
        {"topics", "x,^y-.*",
         [](const RunConfig &c) {
             EXPECT_EQ(c.topics, (std::vector<std::string>{"x", "^y-.*"}));
         }},
        {"group", "g1", [](const RunConfig &c) { EXPECT_EQ(c.group, "g1"); }},
        {"batch-interval", "500ms", [](const RunConfig &c) { EXPECT_EQ(c.batch_interval, 500ms); }},
        {"plugin-dir", "/opt/plugins",
         [](const RunConfig &c) {
             EXPECT_EQ(c.plugin_dirs, (std::vector<fs::path>{"/opt/plugins"}));
         }},
        {"plugin", "q",
         [](const RunConfig &c) { EXPECT_EQ(c.plugins, std::vector<std::string>{"q"}); }},
        {"checkpoint", "/var/cp",
         [](const RunConfig &c) { EXPECT_EQ(c.checkpoint_dir, "/var/cp"); }},
        {"auto-offset-reset", "smallest",
         [](const RunConfig &c) { EXPECT_EQ(c.auto_offset_reset, "earliest"); }},
        {"from-offsets", "t:0=5,t:3=7",
         [](const RunConfig &c) {
             EXPECT_EQ(c.from_offsets, (std::vector<StartOffset>{{{"t", 0}, 5}, {{"t", 3}, 7}}));
         }},
        {"from-timestamp", "1700000000000",
         [](const RunConfig &c) { EXPECT_EQ(c.from_timestamp_ms, 1700000000000); }},
        {"max-rate-per-partition", "1000",
         [](const RunConfig &c) { EXPECT_EQ(c.max_rate_per_partition, 1000); }},
        {"max-batch-records", "50000",
         [](const RunConfig &c) { EXPECT_EQ(c.max_batch_records, 50000); }},
        {"fail-on-data-loss", "off", [](const RunConfig &c) { EXPECT_FALSE(c.fail_on_data_loss); }},
        {"commit-to-kafka", "no", [](const RunConfig &c) { EXPECT_FALSE(c.commit_to_kafka); }},
        {"hot-reload", "off", [](const RunConfig &c) { EXPECT_FALSE(c.hot_reload); }},
        {"hot-reload-poll", "1s", [](const RunConfig &c) { EXPECT_EQ(c.hot_reload_poll, 1s); }},
        {"workers", "3", [](const RunConfig &c) { EXPECT_EQ(c.workers, 3); }},
        {"embedded-brokers", "3", [](const RunConfig &c) { EXPECT_EQ(c.embedded_brokers, 3); }},
        {"embedded-partitions", "8",
         [](const RunConfig &c) { EXPECT_EQ(c.embedded_partitions, 8); }},
        {"shutdown-timeout", "1m", [](const RunConfig &c) { EXPECT_EQ(c.shutdown_timeout, 60s); }},
        {"max-batches", "12", [](const RunConfig &c) { EXPECT_EQ(c.max_batches, 12); }},
        {"log-level", "debug", [](const RunConfig &c) { EXPECT_EQ(c.log_level, "debug"); }},
        {"zookeeper", "z1:2181,z2:2181/kafka",
         [](const RunConfig &c) { EXPECT_EQ(c.zookeeper, "z1:2181,z2:2181/kafka"); }},
    };
}

TEST(RunConfigTest, EveryKeyOnTheCommandLine) {
    for (const KeyCase &kc : key_cases()) {
        SCOPED_TRACE(kc.key);
        // Given after the required options, so that a given brokers/topics/plugin replaces them.
        std::vector<std::string> args = kRequired;
        for (size_t i = 0; i < args.size(); i += 2)
            if (args[i] == "--" + kc.key) args.erase(args.begin() + i, args.begin() + i + 2);
        for (size_t i = 0; i < kc.also.size(); i += 2) {
            args.push_back("--" + kc.also[i]);
            args.push_back(kc.also[i + 1]);
        }
        args.push_back("--" + kc.key);
        args.push_back(kc.value);
        kc.check(parse_cfg(args));
        // The --key=value spelling too.
        args.pop_back();
        args.back() += "=" + kc.value;
        kc.check(parse_cfg(args));
    }
}

TEST_F(ConfigFiles, EveryKeyInTheConfigFile) {
    for (const KeyCase &kc : key_cases()) {
        SCOPED_TRACE(kc.key);
        std::string text = "# comment\n" + kc.key + " = " + kc.value + "\n";
        for (size_t i = 0; i < kc.also.size(); i += 2)
            text += kc.also[i] + " = " + kc.also[i + 1] + "\n";
        if (kc.key != "brokers") text += "brokers = k1:9092\n";
        if (kc.key != "topics") text += "topics = t\n";
        if (kc.key != "plugin") text += "plugin = p\n";
        kc.check(parse_cfg({"--config", write("every.ini", text)}));
    }
}

TEST(RunConfigTest, ListsAreCommaSeparatedAndRepeatable) {
    const RunConfig cfg = parse_cfg({"--brokers", "b:1", "--topics", "a, b", "--topics", "^t{1,3}",
                                     "--topics", "a", "--plugin", "x,y", "--plugin", "z",
                                     "--plugin-dir", "/p1", "--plugin-dir", "/p2"});
    // Commas inside {} belong to the regex; a repeated topic is read once.
    EXPECT_EQ(cfg.topics, (std::vector<std::string>{"a", "b", "^t{1,3}"}));
    EXPECT_EQ(cfg.plugins, (std::vector<std::string>{"x", "y", "z"}));
    EXPECT_EQ(cfg.plugin_dirs, (std::vector<fs::path>{"/p1", "/p2"}));
}

TEST(RunConfigTest, ValuesAreNormalised) {
    const RunConfig cfg =
        parse_cfg(with_required({"--auto-offset-reset", "LARGEST", "--log-level", "WARN",
                                 "--fail-on-data-loss", "Yes", "--mode", "Direct"}));
    EXPECT_EQ(cfg.auto_offset_reset, "latest");
    EXPECT_EQ(cfg.log_level, "warn");
    EXPECT_TRUE(cfg.fail_on_data_loss);
    EXPECT_EQ(cfg.mode, Mode::direct);
    EXPECT_EQ(parse_cfg(with_required({"--auto-offset-reset", "earliest"})).auto_offset_reset,
              "earliest");
    EXPECT_EQ(parse_cfg({"--brokers", "Embedded", "--topics", "t", "--plugin", "p"}).brokers,
              "embedded");
}

TEST(RunConfigTest, ValidateAndHelpFlags) {
    EXPECT_TRUE(parse(with_required({"--validate"})).validate);
    // --help needs nothing else, and wins over errors elsewhere on the line.
    EXPECT_TRUE(parse({"--help"}).help);
    EXPECT_TRUE(parse({"-h"}).help);
    EXPECT_TRUE(parse({"--bogus", "--batch-interval", "2x", "--help"}).help);
    EXPECT_TRUE(parse({"--config", "/no/such/file.ini", "--help"}).help);
}

// ------------------------------------------------------------------ file + command line

TEST_F(ConfigFiles, CommandLineOverridesTheFileKeyByKey) {
    const std::string file = write("base.ini",
                                   "brokers = file:9092\n"
                                   "topics = a,b\n"
                                   "plugin = x\nplugin = y\n"
                                   "batch-interval = 5s\n"
                                   "group = from-file\n"
                                   "workers = 2\n"
                                   "[kafka]\n"
                                   "client.id = file\n"
                                   "socket.timeout.ms = 1000\n");
    const RunConfig cfg = parse_cfg({"--batch-interval", "1s", "--topics", "c", "--config", file,
                                     "-X", "client.id=cli", "--workers", "0"});
    EXPECT_EQ(cfg.batch_interval, 1s);                             // command line wins
    EXPECT_EQ(cfg.topics, std::vector<std::string>{"c"});          // a list is replaced
    EXPECT_EQ(cfg.plugins, (std::vector<std::string>{"x", "y"}));  // untouched: from the file
    EXPECT_EQ(cfg.brokers, "file:9092");
    EXPECT_EQ(cfg.group, "from-file");
    EXPECT_EQ(cfg.workers, 0);  // an explicit default on the command line still wins
    EXPECT_EQ(cfg.kafka, (std::map<std::string, std::string>{{"client.id", "cli"},
                                                             {"socket.timeout.ms", "1000"}}));
}

TEST_F(ConfigFiles, RelativePathsInTheFileAreRelativeToTheFile) {
    const std::string file = write("paths.ini",
                                   "brokers = b:1\ntopics = t\nplugin = p\n"
                                   "plugin-dir = plugins\n"
                                   "plugin-dir = /abs/plugins\n"
                                   "checkpoint = state/../cp\n");
    const RunConfig cfg = parse_cfg({"--config", file});
    EXPECT_EQ(cfg.plugin_dirs,
              (std::vector<fs::path>{dir_.path() / "plugins", fs::path("/abs/plugins")}));
    EXPECT_EQ(cfg.checkpoint_dir, dir_.path() / "cp");
    // On the command line they stay relative to the working directory; an empty checkpoint
    // there turns the file's checkpoint off.
    const RunConfig cli = parse_cfg({"--config", file, "--plugin-dir", "here", "--checkpoint", ""});
    EXPECT_EQ(cli.plugin_dirs, std::vector<fs::path>{"here"});
    EXPECT_TRUE(cli.checkpoint_dir.empty());
}

// ------------------------------------------------------------------ brokers aliases

TEST_F(ConfigFiles, BrokerAliasesEndUpInBrokersNeverInKafka) {
    for (const std::string text :
         {"bootstrap.servers = a:1\n", "metadata.broker.list = a:1\n",
          "[kafka]\nbootstrap.servers = a:1\n", "kafka.metadata.broker.list = a:1\n",
          "brokers = a:1\n[kafka]\nbootstrap.servers = a:1\n"}) {
        SCOPED_TRACE(text);
        const RunConfig cfg =
            parse_cfg({"--topics", "t", "--plugin", "p", "--config", write("alias.ini", text)});
        EXPECT_EQ(cfg.brokers, "a:1");
        EXPECT_TRUE(cfg.kafka.empty());
    }
    for (const std::vector<std::string> &args :
         {std::vector<std::string>{"-X", "bootstrap.servers=c:3"},
          {"-X", "metadata.broker.list=c:3"},
          {"--kafka.bootstrap.servers=c:3"},
          {"-Xbootstrap.servers=c:3", "--brokers", "c:3"}}) {
        std::vector<std::string> full = args;
        full.insert(full.end(), {"--topics", "t", "--plugin", "p", "-X", "acks=all"});
        const RunConfig cfg = parse_cfg(full);
        EXPECT_EQ(cfg.brokers, "c:3");
        EXPECT_EQ(cfg.kafka, (std::map<std::string, std::string>{{"acks", "all"}}));
    }
    // Across sources there is no conflict: the command line wins.
    EXPECT_EQ(parse_cfg({"--config", write("a.ini", "bootstrap.servers = file:1\n"), "--brokers",
                         "cli:1", "--topics", "t", "--plugin", "p"})
                  .brokers,
              "cli:1");
    EXPECT_EQ(parse_cfg({"--config", write("b.ini", "brokers = file:1\n"), "-X",
                         "bootstrap.servers=cli:1", "--topics", "t", "--plugin", "p"})
                  .brokers,
              "cli:1");
}

TEST_F(ConfigFiles, ConflictingBrokerAliasesAreAnErrorNamingBoth) {
    EXPECT_EQ(error_of({"--brokers", "a:1", "-X", "bootstrap.servers=b:2", "--topics", "t",
                        "--plugin", "p"}),
              "conflicting brokers: --brokers 'a:1' and -X bootstrap.servers 'b:2': give the "
              "brokers once");
    const std::string file =
        write("conflict.ini", "brokers = a:1\n[kafka]\nmetadata.broker.list = b:2\n");
    EXPECT_EQ(error_of({"--config", file, "--topics", "t", "--plugin", "p"}),
              "config file '" + file +
                  "': conflicting brokers: brokers 'a:1' and kafka.metadata.broker.list 'b:2': "
                  "give the brokers once");
    const std::string two =
        write("two.ini", "bootstrap.servers = a:1\nmetadata.broker.list = b:2\n");
    EXPECT_THAT(error_of({"--config", two, "--topics", "t", "--plugin", "p"}),
                HasSubstr("bootstrap.servers 'a:1' and metadata.broker.list 'b:2'"));
}

// ------------------------------------------------------------------ kafka pass-through

TEST_F(ConfigFiles, KafkaPropertiesPassThroughUnchangedEveryWay) {
    const std::string file = write("kafka.ini",
                                   "brokers = b:1\ntopics = t\nplugin = p\n"
                                   "kafka.client.id = top-level\n"
                                   "[kafka]\n"
                                   "security.protocol = SASL_SSL\n"
                                   "sasl.mechanism = PLAIN\n");
    const RunConfig cfg =
        parse_cfg({"--config", file, "-X", "fetch.wait.max.ms=10", "-Xqueued.min.messages=5",
                   "--kafka.acks=all", "-X", "statistics.interval.ms="});
    EXPECT_EQ(cfg.kafka, (std::map<std::string, std::string>{
                             {"client.id", "top-level"},
                             {"security.protocol", "SASL_SSL"},
                             {"sasl.mechanism", "PLAIN"},
                             {"fetch.wait.max.ms", "10"},
                             {"queued.min.messages", "5"},
                             {"acks", "all"},
                             {"statistics.interval.ms", ""},
                         }));
    // A value may itself contain '=' (only the first one separates).
    EXPECT_EQ(parse_cfg(with_required({"-X", "sasl.oauthbearer.config=a=b c=d"}))
                  .kafka.at("sasl.oauthbearer.config"),
              "a=b c=d");
}

TEST(RunConfigTest, KafkaPropertyErrors) {
    EXPECT_EQ(error_of(with_required({"-X", "novalue"})), "-X 'novalue': write -X KEY=VALUE");
    EXPECT_EQ(error_of({"--brokers", "b:1", "--topics", "t", "--plugin", "p", "-X"}),
              "the required argument for option '-X' is missing");
    EXPECT_EQ(error_of(with_required({"-X"})),
              "option '-X' has no value ('--brokers' is the next option)");
    EXPECT_EQ(error_of(with_required({"-X", "=v"})),
              "-X : empty librdkafka property name: write KEY=VALUE");
    EXPECT_EQ(error_of(with_required({"--kafka.acks"})),
              "option '--kafka.acks': write --kafka.KEY=VALUE or -X KEY=VALUE");
    EXPECT_EQ(error_of(with_required({"-X", "acks=1", "-X", "acks=all"})),
              "-X acks: librdkafka property 'acks' given twice ('1' and 'all'): give it once");
}

// ------------------------------------------------------------------ plugin sections

TEST_F(ConfigFiles, PluginSectionsCollectArbitraryKeys) {
    const std::string file = write("plugins.ini",
                                   "brokers = b:1\ntopics = t\nplugin = file-sink\n"
                                   "plugin = my.dotted\n"
                                   "plugin.inline.key = 1\n"
                                   "[plugin.file-sink]\n"
                                   "path = /tmp/out.jsonl\n"
                                   "topics = not-the-option\n"
                                   "nested.key = v\n"
                                   "empty =\n"
                                   "[plugin.my.dotted]\n"
                                   "a.b = c\n");
    const RunConfig cfg = parse_cfg({"--config", file});
    EXPECT_EQ(cfg.topics, std::vector<std::string>{"t"});
    EXPECT_EQ(cfg.plugin_config, (std::map<std::string, std::map<std::string, std::string>>{
                                     {"file-sink",
                                      {{"path", "/tmp/out.jsonl"},
                                       {"topics", "not-the-option"},
                                       {"nested.key", "v"},
                                       {"empty", ""}}},
                                     {"my.dotted", {{"a.b", "c"}}},
                                     {"inline", {{"key", "1"}}},
                                 }));
    EXPECT_TRUE(cfg.kafka.empty());
}

TEST_F(ConfigFiles, SectionErrors) {
    const std::string bad = write("section.ini", "[plugins.x]\nk = v\n");
    EXPECT_EQ(error_of(with_required({"--config", bad})),
              "config file '" + bad +
                  "': unknown section '[plugins.x]' (the sections are [kafka] and [plugin.NAME])");
    const std::string empty = write("empty.ini", "[plugin.]\nk = v\n");
    EXPECT_THAT(error_of(with_required({"--config", empty})),
                HasSubstr("unknown section '[plugin.]'"));
    const std::string twice = write("twice.ini", "[plugin.x]\nk = 1\nk = 2\n");
    EXPECT_EQ(error_of(with_required({"--config", twice})),
              "config file '" + twice + "': [plugin.x] k given twice ('1' and '2'): give it once");
    const std::string nokey = write("nokey.ini", "plugin.x = 1\n");
    EXPECT_THAT(error_of(with_required({"--config", nokey})),
                HasSubstr("key 'plugin.x': plugin settings go in a [plugin.NAME] section"));
}

TEST_F(ConfigFiles, MisspeltHostKeyInAPluginSectionSaysDidYouMean) {
    const std::string file = write("typo.ini", "[plugin.enrich]\non-eror = skip\n");
    EXPECT_EQ(error_of(with_required({"--config", file})),
              "config file '" + file +
                  "': [plugin.enrich] unknown key 'on-eror' (did you mean 'on-error'?): on-error "
                  "is one of the host's keys of a plugin section");
    for (const std::string typo :
         {"max_retries", "max-retry", "retry-backof", "dead-leter-topic"}) {
        const std::string f = write("t.ini", "[plugin.enrich]\n" + typo + " = 1\n");
        EXPECT_THAT(error_of(with_required({"--config", f})),
                    HasSubstr("[plugin.enrich] unknown key '" + typo + "' (did you mean"))
            << typo;
    }
    // The plugin's own keys, far from the host's, still pass.
    const std::string own = write("own.ini", "[plugin.enrich]\nmode = x\noutput = y\ntop = 3\n");
    EXPECT_EQ(error_of(with_required({"--config", own})), "");
}

TEST(PluginKeysTest, UndeclaredKeyProblemNamesTheKeyAndTheNearestDeclaredOne) {
    const std::vector<std::string> declared{"path", "top"};
    EXPECT_EQ(undeclared_key_problem("wc", {{"top", "1"}, {"on-error", "skip"}}, declared), "");
    EXPECT_EQ(undeclared_key_problem("wc", {{"tpo", "1"}}, declared),
              "[plugin.wc] has the key 'tpo', which the plugin does not declare (did you mean "
              "'top'?)");
    EXPECT_EQ(undeclared_key_problem("wc", {{"colour", "1"}}, declared),
              "[plugin.wc] has the key 'colour', which the plugin does not declare");
    EXPECT_EQ(undeclared_key_problem("wc", {{"x", "1"}}, {}),
              "[plugin.wc] has the key 'x', which the plugin does not declare");
    EXPECT_EQ(host_plugin_keys(), (std::vector<std::string>{"on-error", "max-retries",
                                                            "retry-backoff", "dead-letter-topic"}));
}

// ------------------------------------------------------------------ errors

TEST_F(ConfigFiles, UnknownKeyInFileNamesFileKeyAndSuggestion) {
    const std::string file = write("a.ini", "batch-intervall = 2s\n");
    EXPECT_EQ(error_of(with_required({"--config", file})),
              "config file '" + file +
                  "': unknown key 'batch-intervall' (did you mean 'batch-interval'?)");
    const std::string far = write("far.ini", "colour = blue\n");
    EXPECT_EQ(error_of(with_required({"--config", far})),
              "config file '" + far + "': unknown key 'colour'");
    const std::string dotted = write("dotted.ini", "security.protocol = SSL\n");
    EXPECT_THAT(error_of(with_required({"--config", dotted})),
                HasSubstr("unknown key 'security.protocol' (librdkafka properties go in the "
                          "[kafka] section or as kafka.security.protocol)"));
    const std::string cli_only = write("cli.ini", "validate = true\n");
    EXPECT_EQ(error_of(with_required({"--config", cli_only})),
              "config file '" + cli_only + "': 'validate' can only be given on the command line");
    const std::string syntax = write("syntax.ini", "just a line\n");
    EXPECT_THAT(error_of(with_required({"--config", syntax})),
                ::testing::StartsWith("config file '" + syntax + "': "));
}

TEST(RunConfigTest, UnknownOptionOnTheCommandLine) {
    EXPECT_EQ(error_of(with_required({"--batch-intervall", "2s"})),
              "unknown option '--batch-intervall' (did you mean '--batch-interval'?)");
    EXPECT_EQ(error_of(with_required({"--plugin_dir=/x"})),
              "unknown option '--plugin_dir' (did you mean '--plugin-dir'?)");
    EXPECT_EQ(error_of(with_required({"--bootstrap.servers", "b:1"})),
              "unknown option '--bootstrap.servers' (did you mean '--brokers'?)");
    EXPECT_EQ(error_of(with_required({"--security.protocol=SSL"})),
              "unknown option '--security.protocol' (librdkafka properties are given as -X "
              "security.protocol=VALUE)");
    EXPECT_EQ(error_of(with_required({"--zzz"})), "unknown option '--zzz'");
    // No abbreviations: --batch is not --batch-interval.
    EXPECT_THAT(error_of(with_required({"--batch", "2s"})), HasSubstr("unknown option '--batch'"));
    EXPECT_THAT(error_of(with_required({"stray"})), HasSubstr("unexpected argument 'stray'"));
    EXPECT_THAT(error_of(with_required({"my.ini"})), HasSubstr("did you mean --config my.ini?"));
    EXPECT_EQ(error_of({"--topics", "t", "--plugin", "p", "--brokers"}),
              "the required argument for option '--brokers' is missing");
    EXPECT_EQ(error_of(with_required({"--group", "--workers", "2"})),
              "option '--group' has no value ('--workers' is the next option)");
    EXPECT_EQ(error_of(with_required({"--group", "-X", "a=b"})),
              "the required argument for option '--group' is missing");
}

TEST_F(ConfigFiles, BadValuesNameTheKeyAndForFilesTheFile) {
    EXPECT_EQ(error_of(with_required({"--batch-interval", "2x"})),
              "--batch-interval: '2x' has an unknown unit 'x': write a whole number with a unit: "
              "500ms, 2s, 1m or 1h");
    EXPECT_EQ(error_of(with_required({"--shutdown-timeout", "30"})),
              "--shutdown-timeout: '30' has no unit: write 30ms or 30s");
    EXPECT_EQ(error_of(with_required({"--batch-interval", "0s"})),
              "--batch-interval: must be more than 0, e.g. 2s");
    EXPECT_EQ(error_of(with_required({"--commit-to-kafka", "maybe"})),
              "--commit-to-kafka: 'maybe' is not a boolean: write true/false, yes/no, on/off or "
              "1/0");
    EXPECT_EQ(error_of(with_required({"--workers", "many"})),
              "--workers: 'many' is not a whole number (expected a number from 0 to 1024)");
    EXPECT_EQ(error_of(with_required({"--max-batches=-1"})),
              "--max-batches: '-1' is out of range (expected a number >= 0)");
    EXPECT_EQ(error_of(with_required({"--max-batch-records", "99999999999999999999"})),
              "--max-batch-records: '99999999999999999999' is out of range (expected a number "
              ">= 0)");
    EXPECT_EQ(error_of(with_required({"--embedded-brokers", "0"})),
              "--embedded-brokers: '0' is out of range (expected a number from 1 to 64)");
    EXPECT_EQ(error_of(with_required({"--from-timestamp", "yesterday"})),
              "--from-timestamp: 'yesterday' is not a whole number (expected a number >= 0)");
    EXPECT_EQ(error_of(with_required({"--mode", "batch"})),
              "--mode: 'batch' is not one of direct, receiver");
    EXPECT_EQ(error_of(with_required({"--auto-offset-reset", "beginning"})),
              "--auto-offset-reset: 'beginning' is not one of earliest, smallest, latest, "
              "largest");
    EXPECT_EQ(error_of(with_required({"--log-level", "loud"})),
              "--log-level: 'loud' is not one of trace, debug, info, warn, error");
    EXPECT_EQ(error_of(with_required({"--plugin", "../evil"})),
              "--plugin: '../evil' is a path: give the plugin's name and its directory with "
              "--plugin-dir");
    EXPECT_EQ(error_of(with_required({"--workers", "1", "--workers", "2"})),
              "--workers: given twice ('1' and '2'): give it once");
    EXPECT_EQ(error_of({"--topics", "t", "--plugin", "p", "--brokers", "a:1, b 2"}),
              "--brokers: 'a:1, b 2' is not a broker list: write HOST:PORT[,HOST:PORT...]");

    const std::string file = write("bad.ini", "batch-interval = 2 fortnights\n");
    EXPECT_EQ(error_of(with_required({"--config", file})),
              "config file '" + file +
                  "': batch-interval: '2 fortnights' has an unknown unit 'fortnights': write a "
                  "whole number with a unit: 500ms, 2s, 1m or 1h");
    const std::string bool_file = write("bool.ini", "fail-on-data-loss = sometimes\n");
    EXPECT_THAT(error_of(with_required({"--config", bool_file})),
                ::testing::StartsWith("config file '" + bool_file +
                                      "': fail-on-data-loss: 'sometimes' is not a boolean"));
    const std::string num_file = write("num.ini", "max-rate-per-partition = 1e6\n");
    EXPECT_THAT(error_of(with_required({"--config", num_file})),
                ::testing::StartsWith("config file '" + num_file +
                                      "': max-rate-per-partition: '1e6' is not a whole number"));
    const std::string twice = write("twice.ini", "group = a\ngroup = b\n");
    EXPECT_EQ(error_of(with_required({"--config", twice})),
              "config file '" + twice + "': group: given twice ('a' and 'b'): give it once");
    EXPECT_EQ(error_of(with_required({"--config", dir_.file("missing.ini")})),
              "config file '" + dir_.file("missing.ini") +
                  "': no such file (check the path given to --config)");
    EXPECT_EQ(error_of(with_required({"--config", dir_.path().string()})),
              "config file '" + dir_.path().string() +
                  "': it is a directory (check the path given to --config)");
    // An empty file is a valid (empty) configuration.
    EXPECT_EQ(parse_cfg(with_required({"--config", write("empty.ini", "")})).brokers, "k1:9092");
}

TEST(RunConfigTest, BadFromOffsets) {
    const std::string syntax = "write topic:partition=offset[,topic:partition=offset...]";
    EXPECT_EQ(error_of(with_required({"--from-offsets", "t0=5"})),
              "--from-offsets: 't0=5' is not topic:partition=offset: " + syntax);
    EXPECT_EQ(error_of(with_required({"--from-offsets", "t:0"})),
              "--from-offsets: 't:0' is not topic:partition=offset: " + syntax);
    EXPECT_EQ(error_of(with_required({"--from-offsets", ":0=1"})),
              "--from-offsets: ':0=1' is not topic:partition=offset: " + syntax);
    EXPECT_EQ(error_of(with_required({"--from-offsets", "t:x=1"})),
              "--from-offsets: partition in 't:x=1': 'x' is not a whole number (expected a "
              "number from 0 to 2147483647)");
    EXPECT_EQ(error_of(with_required({"--from-offsets", "t:0=-3"})),
              "--from-offsets: offset in 't:0=-3': '-3' is out of range (expected a number >= 0)");
    EXPECT_EQ(error_of(with_required({"--from-offsets", "t:0=1,,t:1=2"})),
              "--from-offsets: '' is not topic:partition=offset: " + syntax);
    EXPECT_EQ(error_of(with_required({"--from-offsets", "t:0=1,t:0=2"})),
              "--from-offsets: partition t:0 is given twice");
    EXPECT_EQ(error_of(with_required({"--from-offsets", "other:0=1"})),
              "from-offsets: topic 'other' is not among the topics read (add it to --topics)");
    // A topic matched by a pattern is subscribed.
    EXPECT_EQ(parse_cfg({"--brokers", "b:1", "--topics", "^ev.*", "--plugin", "p", "--from-offsets",
                         " events:2=9 "})
                  .from_offsets,
              (std::vector<StartOffset>{{{"events", 2}, 9}}));
}

TEST(RunConfigTest, BadTopics) {
    EXPECT_EQ(
        error_of({"--brokers", "b:1", "--plugin", "p", "--topics", "ok,^bad(["}),
        "--topics: topic pattern '^bad([' is not a valid regular expression: " + [] {
            try {
                std::regex re("^bad([");
            } catch (const std::regex_error &e) {
                return std::string(e.what());
            }
            return std::string("(compiled)");
        }());
    EXPECT_EQ(error_of({"--brokers", "b:1", "--plugin", "p", "--topics", "a,,b"}),
              "--topics: empty topic name in 'a,,b': write NAME[,NAME...]");
    EXPECT_THAT(error_of({"--brokers", "b:1", "--plugin", "p", "--topics", "has space"}),
                HasSubstr("'has space' is not a Kafka topic name"));
    EXPECT_EQ(error_of({"--brokers", "embedded", "--plugin", "p", "--topics", "^t.*"}),
              "topics: --brokers embedded creates its topics, so it needs names, not the pattern "
              "'^t.*'");
}

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

TEST(RunConfigTest, ZooKeeperKeys) {
    // --zookeeper without --brokers: the brokers are discovered there.
    RunConfig c = parse_cfg({"--zookeeper", "127.0.0.1:2181/kafka", "--topics", "t", "--plugin",
                             "p", "--group", "g", "--zookeeper-auth", "digest:u:p:w",
                             "--start-from-zookeeper", "yes"});
    EXPECT_EQ(c.brokers, "");
    EXPECT_EQ(c.zookeeper, "127.0.0.1:2181/kafka");
    EXPECT_EQ(c.zookeeper_auth, "digest:u:p:w");
    EXPECT_TRUE(c.start_from_zookeeper);
    EXPECT_FALSE(parse_cfg(kRequired).start_from_zookeeper);
    EXPECT_EQ(parse_cfg(kRequired).zookeeper, "");

    EXPECT_THAT(error_of(with_required({"--zookeeper", "nohost"})),
                HasSubstr("--zookeeper: 'nohost' is not a ZooKeeper address"));
    EXPECT_THAT(error_of(with_required({"--zookeeper", "h:99999"})), HasSubstr("--zookeeper"));
    EXPECT_THAT(error_of(with_required({"--zookeeper", "h:1/kafka/"})),
                HasSubstr("chroot '/kafka/' is not a ZooKeeper path"));
    EXPECT_THAT(error_of(with_required({"--zookeeper", "h:1", "--zookeeper-auth", "sasl:u:p"})),
                HasSubstr("--zookeeper-auth: not digest:USER:PASSWORD"));
    EXPECT_THAT(error_of(with_required({"--zookeeper-auth", "digest:u:p"})),
                HasSubstr("given without --zookeeper"));
    EXPECT_THAT(error_of(with_required({"--zookeeper", "h:1", "--start-from-zookeeper", "true"})),
                HasSubstr("start-from-zookeeper: needs --zookeeper and --group"));

    // describe() redacts the password and reads back.
    const std::string text = describe(c);
    EXPECT_THAT(text, HasSubstr("zookeeper = 127.0.0.1:2181/kafka\n"));
    EXPECT_THAT(text, Not(HasSubstr("u:p:w")));
    EXPECT_THAT(run_help(), HasSubstr("--start-from-zookeeper"));
}

// ------------------------------------------------------------------ describe, help, example

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

TEST(RunConfigTest, HelpExplainsEveryOptionGroupAndGivesExamples) {
    const std::string help = run_help();
    // The keys as docs/configuration.md lists them, kept apart from the option table on purpose.
    for (const char *key : {"config",
                            "mode",
                            "brokers",
                            "topics",
                            "group",
                            "batch-interval",
                            "plugin-dir",
                            "plugin",
                            "checkpoint",
                            "auto-offset-reset",
                            "from-offsets",
                            "from-timestamp",
                            "max-rate-per-partition",
                            "max-batch-records",
                            "fail-on-data-loss",
                            "commit-to-kafka",
                            "hot-reload",
                            "hot-reload-poll",
                            "workers",
                            "embedded-brokers",
                            "embedded-partitions",
                            "shutdown-timeout",
                            "max-batches",
                            "log-level",
                            "validate",
                            "help"}) {
        EXPECT_THAT(help, HasSubstr(std::string("--") + key + " ")) << key;
    }
    for (const char *text : {"-X", "[kafka]", "kafka.KEY", "[plugin.NAME]", "bootstrap.servers",
                             "metadata.broker.list", "\nGeneral:\n", "\nKafka:\n",
                             "\nDirect mode:\n", "\nCheckpoint:\n", "\nPlugins:\n", "\nLogging:\n",
                             "500ms", "yes/no", "--brokers embedded", "--config orders.ini"}) {
        EXPECT_THAT(help, HasSubstr(text));
    }
    // Examples come last.
    EXPECT_GT(help.find("\nExamples:\n"), help.find("\nLogging:\n"));
}

TEST(RunConfigTest, TheAnnotatedExampleFileParses) {
    const fs::path example = fs::path(SLUICE_SOURCE_DIR) / "host/config/example.ini";
    const ParsedRun parsed = parse({"--config", example.string()});
    const RunConfig &cfg = parsed.config;
    EXPECT_EQ(cfg.brokers, "embedded");
    EXPECT_EQ(cfg.topics, (std::vector<std::string>{"orders", "payments", "audit"}));
    EXPECT_EQ(cfg.plugins, (std::vector<std::string>{"wordcount", "file-sink"}));
    EXPECT_EQ(cfg.checkpoint_dir, example.parent_path() / "checkpoints/example");
    EXPECT_EQ(cfg.auto_offset_reset, "earliest");
    EXPECT_EQ(cfg.from_offsets.size(), 2u);
    EXPECT_EQ(cfg.kafka.at("fetch.wait.max.ms"), "10");
    EXPECT_EQ(cfg.plugin_config.at("file-sink").at("path"), "/tmp/sluice-example.jsonl");
    EXPECT_EQ(cfg.plugin_config.at("wordcount").at("top"), "10");
}

// ------------------------------------------------------------------ value parsers

TEST(ValueParsersTest, Durations) {
    EXPECT_EQ(parse_duration("500ms", "k"), 500ms);
    EXPECT_EQ(parse_duration("2s", "k"), 2s);
    EXPECT_EQ(parse_duration(" 1m ", "k"), 1min);
    EXPECT_EQ(parse_duration("1h", "k"), 1h);
    EXPECT_EQ(parse_duration("0", "k"), 0ms);
    EXPECT_EQ(parse_duration("10 s", "k"), 10s);
    for (const char *bad : {"", "2", "s", "-1s", "1.5s", "2S", "2d", "99999999999999999999ms",
                            "9223372036854775807h"}) {
        SCOPED_TRACE(bad);
        try {
            parse_duration(bad, "the-key");
            ADD_FAILURE() << "accepted";
        } catch (const ConfigError &e) {
            EXPECT_THAT(e.what(), ::testing::StartsWith("the-key: '"));
        }
    }
    EXPECT_EQ(detail::format_duration(2000ms), "2s");
    EXPECT_EQ(detail::format_duration(1500ms), "1500ms");
    EXPECT_EQ(detail::format_duration(120s), "2m");
    EXPECT_EQ(detail::format_duration(7200s), "2h");
    EXPECT_EQ(detail::format_duration(0ms), "0s");
}

TEST(ValueParsersTest, Booleans) {
    for (const char *yes : {"true", "TRUE", "yes", "On", "1", " true "})
        EXPECT_TRUE(parse_bool(yes, "k")) << yes;
    for (const char *no : {"false", "No", "off", "0"}) EXPECT_FALSE(parse_bool(no, "k")) << no;
    for (const char *bad : {"", "2", "y", "nope"}) EXPECT_THROW(parse_bool(bad, "k"), ConfigError);
}

TEST(ValueParsersTest, SplitListAndNearest) {
    EXPECT_EQ(detail::split_list("a, b ,c"), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(detail::split_list("^(a|b),[x,y],c{1,2}"),
              (std::vector<std::string>{"^(a|b)", "[x,y]", "c{1,2}"}));
    EXPECT_EQ(detail::split_list(""), std::vector<std::string>{""});
    EXPECT_EQ(detail::nearest("topic", {"topics", "group"}), "topics");
    EXPECT_EQ(detail::nearest("LOG_LEVEL", {"log-level", "mode"}), "log-level");
    EXPECT_EQ(detail::nearest("xyz", {"topics", "group"}), "");
    // A swap of two neighbouring letters is one slip.
    EXPECT_EQ(detail::nearest("tpo", {"top", "output"}), "top");
    EXPECT_EQ(detail::nearest("gorup", {"topics", "group"}), "group");
}

}  // namespace
}  // namespace sluice::config
