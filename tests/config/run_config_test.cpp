// Unit tests of host/config through parse_run_args: every key from the command line and from the
// config file, how the two combine, and the errors each source gives.
#include "config/run_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <regex>

#include "config_test_helpers.hpp"

namespace sluice::config {
namespace {

using namespace std::chrono_literals;
using namespace test_support;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

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

TEST_F(ConfigFiles, AFileWithSecretsThatOthersCanReadIsWarnedAbout) {
    const std::string plain = write("plain.ini", "brokers = b:1\ntopics = t\nplugin = p\n");
    const std::string secret = write("secret.ini",
                                     "brokers = b:1\ntopics = t\nplugin = pg\n"
                                     "[kafka]\nsasl.password = hunter2\n"
                                     "[plugin.pg]\nconninfo = host=db password=hunter2\n");
    fs::permissions(plain, fs::perms(0644));
    fs::permissions(secret, fs::perms(0640));
    EXPECT_THAT(parse({"--config", plain}).warnings, ::testing::IsEmpty());
    const auto warnings = parse({"--config", secret}).warnings;
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0], "config file '" + secret +
                               "': holds secrets ([kafka] sasl.password, [plugin.pg] conninfo) "
                               "and other users can read it (mode 640): chmod 600 " +
                               secret);
    EXPECT_THAT(warnings[0], Not(HasSubstr("hunter2")));
    fs::permissions(secret, fs::perms(0600));
    EXPECT_THAT(parse({"--config", secret}).warnings, ::testing::IsEmpty());
    // The command line is not a file: nothing to chmod (docs/security.md says why not to).
    EXPECT_THAT(parse(with_required({"-X", "sasl.password=hunter2"})).warnings,
                ::testing::IsEmpty());
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
    EXPECT_EQ(error_of(with_required({"--config", syntax})),
              "config file '" + syntax +
                  "': line 'just a line' is not KEY = VALUE, a [section] or a # comment");
    // Boost's own message substituted the line into itself for ever (config_fuzz found it).
    const std::string placeholder = write("placeholder.ini", "%invalid_line% %option%\n");
    EXPECT_EQ(error_of(with_required({"--config", placeholder})),
              "config file '" + placeholder +
                  "': line '%invalid_line% %option%' is not KEY = VALUE, a [section] or a # "
                  "comment");
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
    // A value may hold a newline or an escape sequence (shell quoting): the error quotes it
    // escaped, still one line (config_fuzz found '--group: given twice' broken over two).
    EXPECT_EQ(error_of(with_required({"--group", "/g", "--group", "/g\n-X\tx\x1b[2J"})),
              "--group: given twice ('/g' and '/g\\n-X\\tx\\x1b[2J'): give it once");
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
    EXPECT_EQ(error_of(with_required({"--from-offsets", "no space:0=1"})),
              "--from-offsets: 'no space' in 'no space:0=1' is not a Kafka topic name (letters, "
              "digits, '.', '_', '-'; at most 249)");
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
    // libstdc++ reads these numbers without an overflow check (config_fuzz found it).
    EXPECT_EQ(
        error_of({"--brokers", "b:1", "--plugin", "p", "--topics", "^a\\7777777777777777777"}),
        "--topics: topic pattern '^a\\7777777777777777777': a back-reference of more than "
        "6 digits: write a smaller number");
    EXPECT_EQ(error_of({"--brokers", "b:1", "--plugin", "p", "--topics", "^a{2,12345678}"}),
              "--topics: topic pattern '^a{2,12345678}': a repeat count of more than 6 digits: "
              "write a smaller number");
    EXPECT_EQ(error_of({"--brokers", "b:1", "--plugin", "p", "--topics", "^logs-20261203.*"}),
              "");  // digits outside braces are letters
    EXPECT_EQ(error_of({"--brokers", "b:1", "--plugin", "p", "--topics", "a,,b"}),
              "--topics: empty topic name in 'a,,b': write NAME[,NAME...]");
    EXPECT_THAT(error_of({"--brokers", "b:1", "--plugin", "p", "--topics", "has space"}),
                HasSubstr("'has space' is not a Kafka topic name"));
    EXPECT_EQ(error_of({"--brokers", "embedded", "--plugin", "p", "--topics", "^t.*"}),
              "topics: --brokers embedded creates its topics, so it needs names, not the pattern "
              "'^t.*'");
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

}  // namespace
}  // namespace sluice::config
