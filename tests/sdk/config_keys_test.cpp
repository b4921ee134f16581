// The C++ SDK's declared config keys (static config_keys(), ABI 1.1) as the descriptor carries
// them, and SLUICE_PLUGIN with and without a trailing ';'.

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <sluice/plugin.hpp>
#include <string>
#include <vector>

namespace {

struct Declares {
    void process(const sluice::Batch &) {}
    static std::vector<sluice::ConfigKey> config_keys() {
        return {{"top", sluice::ConfigType::integer, "10", "how many"},
                {"output", sluice::ConfigType::path, std::nullopt, "append here"}};
    }
};

struct DeclaresNone {
    void process(const sluice::Batch &) {}
    static std::vector<sluice::ConfigKey> config_keys() { return {}; }
};

struct Silent {
    void process(const sluice::Batch &) {}
};

TEST(SdkConfigKeys, DeclaredKeysReachTheDescriptor) {
    const sluice_plugin_t d = sluice::detail::make_descriptor<Declares>("d", "1", "x", 0);
    EXPECT_EQ(d.abi_minor, SLUICE_ABI_MINOR);
    EXPECT_GE(SLUICE_ABI_MINOR, 1);  // config_keys is ABI 1.1
    ASSERT_NE(d.config_keys, nullptr);
    ASSERT_EQ(d.config_key_count, 2u);
    EXPECT_EQ(d.config_key_stride, sizeof(sluice_config_key_t));
    const sluice_config_key_t &top = d.config_keys[0];
    EXPECT_EQ(top.struct_size, sizeof(sluice_config_key_t));
    EXPECT_STREQ(top.name, "top");
    EXPECT_EQ(top.type, SLUICE_CONFIG_INT);
    EXPECT_STREQ(top.default_value, "10");
    EXPECT_STREQ(top.description, "how many");
    EXPECT_STREQ(d.config_keys[1].name, "output");
    EXPECT_EQ(d.config_keys[1].type, SLUICE_CONFIG_PATH);
    EXPECT_EQ(d.config_keys[1].default_value, nullptr);  // no default
}

TEST(SdkConfigKeys, AnEmptyListDeclaresNoKeysAndNoMemberDeclaresNothing) {
    const sluice_plugin_t none = sluice::detail::make_descriptor<DeclaresNone>("n", "1", "x", 0);
    EXPECT_NE(none.config_keys, nullptr);  // declared: takes no settings
    EXPECT_EQ(none.config_key_count, 0u);
    const sluice_plugin_t silent = sluice::detail::make_descriptor<Silent>("s", "1", "x", 0);
    EXPECT_EQ(silent.config_keys, nullptr);  // not declared: any key reaches the plugin
    EXPECT_EQ(silent.config_key_count, 0u);
}

TEST(SdkMacro, BothFormsBuildAndExportTheEntry) {
    for (const std::string name : {"macro-without-semicolon", "macro-with-semicolon"}) {
        const std::string file = std::string(SDK_TEST_PLUGIN_DIR) + "/sdk_" + name + ".so";
        void *h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
        ASSERT_NE(h, nullptr) << dlerror();
        auto entry = reinterpret_cast<sluice_plugin_entry_fn>(dlsym(h, SLUICE_PLUGIN_ENTRY_SYMBOL));
        ASSERT_NE(entry, nullptr) << name;
        const sluice_plugin_t *d = entry(SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR);
        ASSERT_NE(d, nullptr);
        EXPECT_EQ(d->name, name);
        dlclose(h);
    }
}

}  // namespace
