// Unit tests of host/config/plugin_keys.*: the keys of a [plugin.NAME] section.
#include "config/plugin_keys.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::config {
namespace {

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
    EXPECT_EQ(host_plugin_keys(),
              (std::vector<std::string>{"on-error", "max-retries", "retry-backoff",
                                        "dead-letter-topic", "isolation", "batch-timeout",
                                        "memory-limit", "max-crashes", "forbid-exec"}));
    // The isolation keys are the host's too, and checked when the file is read.
    EXPECT_EQ(undeclared_key_problem("wc", {{"isolation", "process"}, {"max-crashes", "2"}}, {}),
              "");
}

}  // namespace
}  // namespace sluice::config
