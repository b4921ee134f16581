// Direct mode refuses [kafka] / -X settings that would change its guarantees (auto-commit,
// silent offset resets, ...), naming the key; settings that only tune the client pass.
#include "kafka/reserved_settings.hpp"

#include <gtest/gtest.h>

#include "sluice_command.hpp"

namespace {

using namespace std::chrono_literals;
using sluice::kafka::direct_reserved_error;

TEST(ReservedSettings, GuaranteesCannotBeChangedAndTheErrorNamesTheKeyAndTheWayOut) {
    const auto commit = direct_reserved_error("enable.auto.commit", "true");
    ASSERT_TRUE(commit);
    EXPECT_NE(commit->find("'enable.auto.commit=true' is not allowed in direct mode"),
              std::string::npos)
        << *commit;
    const auto reset = direct_reserved_error("auto.offset.reset", "earliest");
    ASSERT_TRUE(reset);
    EXPECT_NE(reset->find("--auto-offset-reset"), std::string::npos) << *reset;
    EXPECT_TRUE(direct_reserved_error("enable.auto.offset.store", "true"));
    EXPECT_TRUE(direct_reserved_error("enable.partition.eof", "false"));
    const auto group = direct_reserved_error("group.id", "anything");
    ASSERT_TRUE(group);
    EXPECT_NE(group->find("--group"), std::string::npos) << *group;
}

TEST(ReservedSettings, TheValuesDirectModeUsesAnywayAndOtherKeysPass) {
    EXPECT_FALSE(direct_reserved_error("enable.auto.commit", "false"));
    EXPECT_FALSE(direct_reserved_error("auto.offset.reset", "error"));
    EXPECT_FALSE(direct_reserved_error("enable.partition.eof", "true"));
    EXPECT_FALSE(direct_reserved_error("fetch.wait.max.ms", "100"));
    EXPECT_FALSE(direct_reserved_error("security.protocol", "SSL"));
}

TEST(ReservedSettings, SluiceRunRefusesThemBeforeReadingAnything) {
    for (const char *setting : {"enable.auto.commit=true", "auto.offset.reset=earliest"}) {
        const auto result = sluice::test::run_sluice(
            {"run", "--brokers", "embedded", "--topics", "reserved", "--plugin", "noop",
             "--plugin-dir", SLUICE_PLUGIN_OUTPUT_DIR, "-X", setting, "--batch-interval", "100ms"},
            30s);
        EXPECT_NE(result.status.code, 0) << setting << ": " << result.err;
        EXPECT_NE(result.err.find(std::string("'") + setting + "' is not allowed in direct mode"),
                  std::string::npos)
            << result.err;
        EXPECT_EQ(result.out.find("batch "), std::string::npos) << "no batch may run";
    }
}

}  // namespace
