// Unit tests of host/config/values.*: one value at a time.
#include "config/values.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::config {
namespace {

using namespace std::chrono_literals;

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
