// The test kit repeats rules of the host's, since it must not link the host: the loader's
// negotiation and its refusals, the keys a [plugin.NAME] section may hold besides the declared
// ones, and the words of the refusal of an undeclared key ("did you mean"). These tests fail when
// the host's rule changes and the kit's copy was not changed with it.

#include <gtest/gtest.h>
#include <sluice/testing.hpp>

#include <map>
#include <string>
#include <vector>

#include "config/error_policy.hpp"
#include "config/plugin_keys.hpp"
#include "plugins/plugin_error.hpp"
#include "plugins/plugin_loader.hpp"

namespace sluice::testing {
namespace {

TEST(TestingKitAgreesWithTheHost, OnEveryRefusalOfTheLoader) {
    const plugins::PluginLoader loader({LOADER_TEST_PLUGIN_DIR});
    for (const char *build :
         {"bad_no_entry", "bad_major", "bad_minor", "bad_refuse", "bad_tiny", "bad_short",
          "bad_no_process", "bad_undefined", "keys_host", "bad_minimal", "keys_declared"}) {
        const std::string name = std::string("loader_") + build;
        const std::string file = std::string(LOADER_TEST_PLUGIN_DIR) + "/" + name + ".so";
        std::string host, kit;
        try {
            loader.load_file(name, file);
        } catch (const plugins::PluginError &e) {
            host = e.what();
        }
        try {
            Plugin p(file);
        } catch (const LoadError &e) {
            kit = e.what();
        }
        EXPECT_EQ(kit, host) << build;
    }
}

TEST(TestingKitAgreesWithTheHost, OnTheHostsOwnKeys) {
    for (const std::string &key : config::host_plugin_keys())
        EXPECT_TRUE(detail::is_host_key(key)) << key;
    EXPECT_EQ(config::host_plugin_keys().size(), 9u) << "the kit knows nine: update is_host_key";
    EXPECT_FALSE(detail::is_host_key("on-eror"));
}

TEST(TestingKitAgreesWithTheHost, OnTheRefusalOfAnUndeclaredKey) {
    Plugin keys(std::string(LOADER_TEST_PLUGIN_DIR) + "/loader_keys_declared.so");
    const std::vector<std::string> declared{"top", "output"};
    const std::vector<std::map<std::string, std::string>> sections = {
        {{"tpo", "1"}},     {{"outptu", "x"}},      {{"Top", "1"}},
        {{"out_put", "x"}}, {{"colour", "red"}},    {{"t", "1"}},
        {{"topp", "1"}},    {{"output2", "x"}},     {{"on-error", "skip"}, {"tp", "1"}},
        {{"top", "1"}},     {{"max-retries", "2"}}, {{"toppings", "1"}},
        {{"o", "x"}},
    };
    for (const auto &section : sections) {
        Instance inst(keys, section);
        const Result r = inst.create();
        const std::string host = config::undeclared_key_problem("keys", section, declared);
        EXPECT_EQ(r.ok() ? std::string() : r.message, host) << section.begin()->first;
    }
}

}  // namespace
}  // namespace sluice::testing
