// Secrets never leave the host (docs/security.md): a real `sluice run` with sasl.password,
// ssl.key.password, the ZooKeeper digest, the control token and a postgres-sink conninfo
// password each set to a marker string, against a real ZooKeeper and a real PostgreSQL. No
// marker appears in what --validate prints, in the run's log (at debug level) and standard
// output, or in anything its endpoints serve. Nor in the error lines of a secret librdkafka
// refuses (sasl.oauthbearer.client.secret: Debian's librdkafka is built without OIDC) or of a
// secret given twice.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "../metrics/control_http.hpp"
#include "host_run.hpp"
#include "metrics_http.hpp"
#include "postgres_server.hpp"
#include "sluice_command.hpp"
#include "zookeeper_suite.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// One marker per secret, so a failure names the one that leaked.
const std::vector<std::pair<std::string, std::string>> kMarkers = {
    {"kafka.sasl.password", "SASLPW-MARKER-7f3a"},
    {"kafka.ssl.key.password", "SSLKEYPW-MARKER-91c2"},
    {"kafka.sasl.oauthbearer.client.secret", "OAUTHSECRET-MARKER-44d0"},
    {"zookeeper-auth", "ZKDIGEST-MARKER-5be8"},
    {"control-token", "CONTROLTOKEN-MARKER-0a6f2c"},
    {"postgres-sink conninfo", "PGPASSWORD-MARKER-d17e"},
};

std::string marker(const std::string &secret) {
    for (const auto &[name, value] : kMarkers)
        if (name == secret) return value;
    throw std::logic_error(secret);
}

// Fails naming every marker found in `text` (what `where` is).
::testing::AssertionResult no_secret_in(const std::string &where, const std::string &text) {
    std::string found;
    for (const auto &[name, value] : kMarkers) {
        const size_t at = text.find(value);
        if (at == std::string::npos) continue;
        const size_t from = text.rfind('\n', at);
        const size_t to = text.find('\n', at);
        found += "\n  " + name + " in: " +
                 text.substr(from == std::string::npos ? 0 : from + 1,
                             (to == std::string::npos ? text.size() : to) -
                                 (from == std::string::npos ? 0 : from + 1));
    }
    if (found.empty()) return ::testing::AssertionSuccess() << where << " has no secret";
    return ::testing::AssertionFailure() << where << " shows secrets:" << found;
}

class SecretsRun : public MockBrokerAndZooKeeperSuite<SecretsRun> {
  public:
    static std::vector<MockTopic> mock_topics() { return {{"secrets", 2}}; }

  protected:
    std::string write_config() {
        const std::string path = dir_.file("secrets.ini");
        std::ofstream out(path);
        out << "brokers = " << bootstrap() << "\n"
            << "topics = secrets\n"
            << "plugin = postgres-sink\n"
            << "batch-interval = 200ms\n"
            << "auto-offset-reset = earliest\n"
            << "checkpoint = " << dir_.file("checkpoint") << "\n"
            << "group = secrets-mirrored\n"  // with a group, offsets go to ZooKeeper too
            << "zookeeper = " << zookeeper().connect_string() << "\n"
            << "zookeeper-auth = digest:sluice:" << marker("zookeeper-auth") << "\n"
            << "metrics-address = 127.0.0.1:0\n"
            << "control-token = " << marker("control-token") << "\n"
            << "\n[kafka]\n"
            << "fetch.wait.max.ms = 10\n"
            << "sasl.password = " << marker("kafka.sasl.password") << "\n"
            << "ssl.key.password = " << marker("kafka.ssl.key.password") << "\n"
            << "\n[plugin.postgres-sink]\n"
            // trust authentication: the server ignores the password, the host still holds it.
            << "conninfo = " << postgres_.conninfo() << " password='"
            << marker("postgres-sink conninfo") << "'\n";
        return path;
    }

    TempDir dir_ = temp_dir("sluice-security-secrets");
    PostgresServer postgres_;
};

TEST_F(SecretsRun, NoSecretIsPrintedLoggedOrServed) {
    const std::string config = write_config();

    // --validate: the effective configuration, with every secret redacted.
    const CommandResult validated = run_sluice({"run", "--config", config, "--validate"});
    ASSERT_EQ(validated.status.code, 0) << validated.out << validated.err;
    EXPECT_THAT(validated.out, HasSubstr("sasl.password = <redacted>"));
    EXPECT_THAT(validated.out, HasSubstr("password=<redacted>"));  // inside the conninfo
    EXPECT_TRUE(no_secret_in("--validate's output", validated.out));
    EXPECT_TRUE(no_secret_in("--validate's errors", validated.err));

    // The run, at debug level: its log, its standard output and everything it serves.
    const std::string log = dir_.file("host.log");
    ChildProcess host(sluice_argv({"run", "--config", config, "--log-level", "debug"}),
                      ChildProcess::Options{log, true});
    int port = 0;
    ASSERT_TRUE(wait_until([&] { return (port = logged_metrics_port(log)) != 0; }, 30s))
        << read_file(log);
    produce("secrets", {20, 20});
    ASSERT_TRUE(wait_until(
        [&] {
            const auto s = http_get("127.0.0.1", port, "/status");
            return s && nlohmann::json::parse(s->body).at("records") == 40;
        },
        60s))
        << read_file(log);
    // The control token works (so it was set) and is refused when wrong; neither answer
    // echoes it.
    const auto wrong = control_post(port, "pause", marker("control-token") + "x");
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 403);
    EXPECT_TRUE(no_secret_in("a refused control request's answer", wrong->body));
    const auto right = control_post(port, "promote", marker("control-token"));
    ASSERT_TRUE(right);
    EXPECT_EQ(right->status, 200);
    EXPECT_TRUE(no_secret_in("a control answer", right->body));
    for (const std::string target :
         {"/status", "/status/batches", "/metrics", "/healthz", "/readyz", "/"}) {
        const auto r = http_get("127.0.0.1", port, target);
        ASSERT_TRUE(r) << target;
        EXPECT_TRUE(no_secret_in(target, r->body));
    }
    ASSERT_TRUE(stops_cleanly(host, log));
    const std::string logged = read_file(log);
    EXPECT_THAT(logged, HasSubstr(" debug ")) << "the run did not log at debug level";
    // The digest was used: the mirror connected (with it) and the sink wrote (with its conninfo).
    EXPECT_THAT(logged, HasSubstr("ZooKeeper offset mirror connected to"));
    EXPECT_TRUE(no_secret_in("the run's log", logged));
    EXPECT_TRUE(no_secret_in("the run's standard output", host.read_all(5s).value_or("")));
}

TEST_F(SecretsRun, ErrorLinesAboutASecretDoNotShowIt) {
    // Refused by librdkafka when the run creates its client.
    const CommandResult refused = run_sluice(
        {"run", "--brokers", bootstrap(), "--topics", "secrets", "--plugin", "noop", "-X",
         "sasl.oauthbearer.client.secret=" + marker("kafka.sasl.oauthbearer.client.secret")});
    EXPECT_NE(refused.status.code, 0);
    EXPECT_THAT(refused.err, HasSubstr("sasl.oauthbearer.client.secret=<redacted>"));
    EXPECT_TRUE(no_secret_in("a refused secret's error", refused.out + refused.err));
    // Given twice with different values.
    const CommandResult twice =
        run_sluice({"run", "--brokers", bootstrap(), "--topics", "secrets", "--plugin", "noop",
                    "-X", "sasl.password=" + marker("kafka.sasl.password"), "-X",
                    "sasl.password=other-password", "--validate"});
    EXPECT_NE(twice.status.code, 0);
    EXPECT_THAT(twice.err, HasSubstr("given twice"));
    EXPECT_TRUE(no_secret_in("a secret given twice", twice.out + twice.err));
    const CommandResult token_twice =
        run_sluice({"run", "--brokers", bootstrap(), "--topics", "secrets", "--plugin", "noop",
                    "--control-token", marker("control-token"), "--control-token",
                    "another-control-token-0123456789", "--validate"});
    EXPECT_NE(token_twice.status.code, 0);
    EXPECT_THAT(token_twice.err, HasSubstr("given twice"));
    EXPECT_TRUE(no_secret_in("a control token given twice", token_twice.out + token_twice.err));
}

}  // namespace
}  // namespace sluice::test
