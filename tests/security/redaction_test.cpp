// The one rule for what counts as a secret (host/common/secrets.hpp), case by case: the keys
// whose whole value is secret, and the passwords inside a conninfo or a URI.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sluice
