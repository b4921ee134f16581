// `sluice run --validate` and `sluice plugins DIR` as a user runs them: the real binary, the
// bundled plugins and the loader's broken test plugins.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "loader_test_support.hpp"
#include "sluice_command.hpp"

namespace sluice::plugins {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::PluginDir;

class ValidateCommand : public ::testing::Test {
  protected:
    /// `sluice run --config FILE --validate` with FILE holding `ini` after the common keys.
    test::CommandResult validate(const std::string &ini) {
        const std::string file = plugins_.file("run.ini");
        std::ofstream(file) << "brokers = embedded\ntopics = t\nplugin-dir = "
                            << plugins_.path().string()
                            << "\nplugin-dir = " << SLUICE_PLUGIN_OUTPUT_DIR << "\n"
                            << ini;
        return test::run_sluice({"run", "--config", file, "--validate"});
    }
    PluginDir plugins_;  // the loader's test plugins, in a private directory
};

TEST_F(ValidateCommand, LoadsEveryPluginAndPrintsTheConfigurationWhenAllWouldLoad) {
    auto r = validate("plugin = wordcount\nplugin = print-offsets\n[plugin.wordcount]\ntop = 3\n");
    EXPECT_EQ(r.status.code, 0) << r.err;
    EXPECT_THAT(r.out, AllOf(HasSubstr("plugin = wordcount"), HasSubstr("top = 3")));
    EXPECT_EQ(r.err, "");
}

TEST_F(ValidateCommand, ReportsEachPluginARunWouldRefuse) {
    auto r = validate(
        "plugin = wordcnt\nplugin = wordcount\nplugin = loader_bad_major\n"
        "[plugin.wordcount]\ntpo = 3\n");
    EXPECT_EQ(r.status.code, 1);
    EXPECT_THAT(r.err,
                AllOf(HasSubstr("sluice run: plugin 'wordcnt' (searched "),
                      HasSubstr("no wordcnt.so or libwordcnt.so found"),
                      HasSubstr("[plugin.wordcount] has the key 'tpo', which the plugin does not "
                                "declare (did you mean 'top'?)"),
                      HasSubstr("plugin 'loader_bad_major' (" +
                                (plugins_.path() / "loader_bad_major.so").string() +
                                "): built for Sluice ABI 2.0")));
    EXPECT_EQ(r.out, "") << "no configuration is printed when a plugin would be refused";
}

TEST_F(ValidateCommand, AMisspeltHostKeyIsAConfigError) {
    auto r = validate("plugin = print-offsets\n[plugin.print-offsets]\non-eror = skip\n");
    EXPECT_EQ(r.status.code, 2);
    EXPECT_THAT(r.err, HasSubstr("[plugin.print-offsets] unknown key 'on-eror' (did you mean "
                                 "'on-error'?)"));
}

TEST(PluginsCommand, ListsTheKeysAPluginDeclares) {
    auto r = test::run_sluice({"plugins", SLUICE_PLUGIN_OUTPUT_DIR});
    EXPECT_THAT(r.out, AllOf(HasSubstr("      top (int, default 10): how many words to print"),
                             HasSubstr("      output (path): append the counts to this file"),
                             HasSubstr("      keys: none (it takes no [plugin.noop] settings)")));
}

}  // namespace
}  // namespace sluice::plugins
