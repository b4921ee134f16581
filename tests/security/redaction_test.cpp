// The one rule for what counts as a secret (host/common/secrets.hpp), case by case: the keys
// whose whole value is secret, and the passwords inside a conninfo or a URI.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "common/secrets.hpp"

namespace sluice {
namespace {

TEST(Redaction, KeysNamingAPasswordOrASecretHideTheirWholeValue) {
    for (const char *key : {"sasl.password", "ssl.key.password", "ssl.keystore.password",
                            "sasl.oauthbearer.client.secret", "ssl.key.pem",
                            "sasl.oauthbearer.config", "api-secret", "DB_PASSWORD"})
        EXPECT_EQ(shown_setting(key, "hunter2"), "<redacted>") << key;
    for (const char *key : {"bootstrap.servers", "sasl.username", "security.protocol", "table",
                            "sasl.oauthbearer.token.endpoint.url"})
        EXPECT_EQ(shown_setting(key, "visible"), "visible") << key;
    EXPECT_TRUE(is_secret_option("control-token"));
    EXPECT_TRUE(is_secret_option("zookeeper-auth"));
    EXPECT_FALSE(is_secret_option("topics"));
}

TEST(Redaction, APasswordInsideAConninfoIsHidden) {
    EXPECT_EQ(shown_setting("conninfo", "host=127.0.0.1 user=sluice password=hunter2 dbname=x"),
              "host=127.0.0.1 user=sluice password=<redacted> dbname=x");
    EXPECT_EQ(shown_setting("conninfo", "password = 'two words\\' quoted' host=h"),
              "password = <redacted> host=h");
    EXPECT_EQ(shown_setting("conninfo", "PASSWORD=hunter2"), "PASSWORD=<redacted>");
    EXPECT_EQ(shown_setting("conninfo", "host=127.0.0.1 dbname=x"), "host=127.0.0.1 dbname=x");
}

TEST(Redaction, APasswordInsideAUriIsHidden) {
    EXPECT_EQ(shown_setting("conninfo", "postgresql://sluice:hunter2@db.example:5432/events"),
              "postgresql://sluice:<redacted>@db.example:5432/events");
    EXPECT_EQ(shown_setting("url", "https://user:p%40ss@host/path?password=x&a=b"),
              "https://user:<redacted>@host/path?password=<redacted>");
    // No password: unchanged, user and all.
    EXPECT_EQ(shown_setting("conninfo", "postgresql://sluice@db/events"),
              "postgresql://sluice@db/events");
    EXPECT_EQ(shown_setting("endpoint", "http://127.0.0.1:8080/x"), "http://127.0.0.1:8080/x");
}

// The scan replaced two std::regex (which overflowed the stack on a long value); on short values
// it gives what they gave.
std::string with_the_old_regexes(const std::string &value) {
    static const std::regex keyword(R"((password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]+))",
                                    std::regex::icase);
    static const std::regex uri(R"((://[^/:@\s]*:)[^@/\s]*@)");
    return std::regex_replace(std::regex_replace(value, keyword, "$1<redacted>"), uri,
                              "$1<redacted>@");
}

TEST(Redaction, TheScanAgreesWithTheRegexesItReplaced) {
    const std::vector<std::string> cases = {"",
                                            "password",
                                            "password=",
                                            "password= ",
                                            "password =x",
                                            "PassWord\t=\t'a b' c",
                                            "password='unterminated rest",
                                            "password='a\\'b' c",
                                            "password='a\\\nb'",
                                            "xpassword=1 password=2",
                                            "password=password=3",
                                            "passwordpassword=4",
                                            "a://u:p@h",
                                            "a://u:p@h b://v:q@i",
                                            "://:@",
                                            "://u:p",
                                            "://u@h",
                                            "x://u:p/q@h",
                                            "postgresql://u:p@h/db?password=z",
                                            "password=a://u:p@h",
                                            "://u:p@@",
                                            "://a:b:c@d",
                                            "password=\n",
                                            "pass word=5",
                                            "password\n=\nsecret"};
    for (const std::string &c : cases)
        EXPECT_EQ(redact_inline_secrets(c), with_the_old_regexes(c)) << c;
}

TEST(Redaction, ALongValueIsScannedWithoutRecursion) {
    const std::string value =
        "password=" + std::string(1'000'000, 'x') + " a://u:" + std::string(1'000'000, 'y') + "@h";
    EXPECT_EQ(redact_inline_secrets(value), "password=<redacted> a://u:<redacted>@h");
}

}  // namespace
}  // namespace sluice
