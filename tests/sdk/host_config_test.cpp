// sluice::Host's typed config lookups: each reads what a user writes, falls back when the key
// is absent, and throws Fatal naming the key (and the form it wants) for anything else.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sluice/plugin.hpp>

#include <map>
#include <string>

namespace {

using ::testing::HasSubstr;

std::map<std::string, std::string> g_config;

const char *config_get(sluice_host_ctx_t *, const char *key) {
    auto it = g_config.find(key);
    return it == g_config.end() ? nullptr : it->second.c_str();
}

sluice::Host make_host() {
    static sluice_host_api_t api{};
    api.struct_size = sizeof api;
    api.abi_major = SLUICE_ABI_MAJOR;
    api.abi_minor = SLUICE_ABI_MINOR;
    api.config_get = &config_get;
    return sluice::Host(&api, nullptr);
}

template <typename F>
std::string fatal_of(F &&f) {
    try {
        f();
    } catch (const sluice::Fatal &e) {
        return e.what();
    }
    return "";
}

TEST(HostConfig, Booleans) {
    g_config = {{"a", "true"}, {"b", "Off"}, {"c", "1"}, {"d", "no"}, {"bad", "maybe"}};
    sluice::Host host = make_host();
    EXPECT_TRUE(host.config_bool("a", false));
    EXPECT_FALSE(host.config_bool("b", true));
    EXPECT_TRUE(host.config_bool("c", false));
    EXPECT_FALSE(host.config_bool("d", true));
    EXPECT_TRUE(host.config_bool("absent", true));
    const std::string error = fatal_of([&] { host.config_bool("bad", false); });
    EXPECT_THAT(error, HasSubstr("'bad' is 'maybe'"));
    EXPECT_THAT(error, HasSubstr("true or false"));
}

TEST(HostConfig, Durations) {
    g_config = {{"ms", "250ms"}, {"s", "2s"},    {"m", "5m"},        {"h", "1h"},
                {"bare", "40"},  {"neg", "-1s"}, {"unit", "3 days"}, {"frac", "1.5s"}};
    sluice::Host host = make_host();
    EXPECT_EQ(host.config_duration_ms("ms", 0), 250);
    EXPECT_EQ(host.config_duration_ms("s", 0), 2000);
    EXPECT_EQ(host.config_duration_ms("m", 0), 300000);
    EXPECT_EQ(host.config_duration_ms("h", 0), 3600000);
    EXPECT_EQ(host.config_duration_ms("bare", 0), 40);
    EXPECT_EQ(host.config_duration_ms("absent", 7), 7);
    for (const char *bad : {"neg", "unit", "frac"})
        EXPECT_THAT(fatal_of([&] { host.config_duration_ms(bad, 0); }),
                    HasSubstr(std::string("'") + bad + "' is"));
}

TEST(HostConfig, Sizes) {
    g_config = {{"b", "512"},   {"k", "64KiB"},  {"m", "64MiB"},
                {"g", "1GiB"},  {"short", "2M"}, {"huge", "99999999999GiB"},
                {"bad", "lots"}};
    sluice::Host host = make_host();
    EXPECT_EQ(host.config_size_bytes("b", 0), 512);
    EXPECT_EQ(host.config_size_bytes("k", 0), 64 * 1024);
    EXPECT_EQ(host.config_size_bytes("m", 0), 64ll << 20);
    EXPECT_EQ(host.config_size_bytes("g", 0), 1ll << 30);
    EXPECT_EQ(host.config_size_bytes("short", 0), 2ll << 20);
    EXPECT_EQ(host.config_size_bytes("absent", 9), 9);
    EXPECT_THAT(fatal_of([&] { host.config_size_bytes("huge", 0); }), HasSubstr("'huge' is"));
    EXPECT_THAT(fatal_of([&] { host.config_size_bytes("bad", 0); }), HasSubstr("MiB"));
}

TEST(HostConfig, Lists) {
    g_config = {{"topics", " a, b ,,c "}, {"empty", ""}};
    sluice::Host host = make_host();
    EXPECT_EQ(host.config_list("topics"), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_TRUE(host.config_list("empty").empty());
    EXPECT_EQ(host.config_list("absent", {"x"}), (std::vector<std::string>{"x"}));
}

}  // namespace
