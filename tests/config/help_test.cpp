// Unit tests of host/config/help.cpp: the text of `sluice run --help`.
#include "config/run_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::config {
namespace {

using ::testing::HasSubstr;

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

}  // namespace
}  // namespace sluice::config
