// `sluice status` against a real running host: --once prints the numbers /status reports (the
// host held by the gate plugin, so nothing moves between the two readings), the screen is
// refreshed without --once, an unreachable URL is one line and exit 1, --help explains.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "metrics_http.hpp"
#include "mock_broker_suite.hpp"
#include "sluice_command.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;

class StatusCommand : public MockBrokerSuite<StatusCommand> {
  public:
    static std::vector<MockTopic> mock_topics() { return {{"watched", 3}}; }

  protected:
    static nlohmann::json status(int port) {
        const auto response = http_get("127.0.0.1", port, "/status");
        return response ? nlohmann::json::parse(response->body, nullptr, false) : nlohmann::json();
    }
    static nlohmann::json topic_lag(const nlohmann::json &s) {
        if (!s.is_object() || !s["topics"].is_array() || s["topics"].size() != 1) return {};
        return s["topics"][0]["lag_records"];
    }

    TempDir dir_ = temp_dir("sluice-status-command");
};

/// A loopback port nothing listens on.
int refused_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

TEST_F(StatusCommand, OnceShowsTheNumbersOfStatusAndTheScreenRefreshes) {
    const std::string gate = dir_.file("gate"), log = dir_.file("host.log");
    write_text(dir_.file("run.ini"), "[plugin.gate]\ngate = " + gate + "\n");
    produce("watched", {30, 40, 50});
    ChildProcess host(
        sluice_argv({"run", "--brokers", bootstrap(), "--topics", "watched", "--plugin-dir",
                     METRICS_TEST_PLUGIN_DIR, "--plugin", "gate", "--config", dir_.file("run.ini"),
                     "--batch-interval", "200ms", "--auto-offset-reset", "earliest",
                     "--metrics-address", "127.0.0.1:0", "-X", "fetch.wait.max.ms=10"}),
        ChildProcess::Options{log, false});
    int port = 0;
    ASSERT_TRUE(wait_until([&] { return (port = logged_metrics_port(log)) != 0; }, 30s))
        << read_file(log);
    ASSERT_TRUE(wait_until([&] { return topic_lag(status(port)) == 0; }, 60s)) << read_file(log);

    // Held: 10 records behind, no batch commits, so /status stands still.
    write_text(gate, "closed");
    produce("watched", {5, 0, 5});
    // Held once the batch with them is cut: then nothing commits any more.
    nlohmann::json before;
    ASSERT_TRUE(wait_until(
        [&] {
            before = status(port);
            std::this_thread::sleep_for(600ms);
            return topic_lag(before) == 10 && status(port)["batches"] == before["batches"];
        },
        30s))
        << before.dump();
    const auto once = run_sluice({"status", "127.0.0.1:" + std::to_string(port), "--once"}, 30s);
    const nlohmann::json after = status(port);
    ASSERT_EQ(once.status.code, 0) << once.err;
    ASSERT_EQ(before["batches"], after["batches"]) << "the host was not held";
    const std::string &out = once.out;
    std::cerr << "sluice status --once:\n" << out;

    EXPECT_THAT(out, HasSubstr("direct mode, running"));
    EXPECT_THAT(out, HasSubstr("batches " + before["batches"].dump() + " (0 replayed)"));
    EXPECT_THAT(out, HasSubstr("records " + before["records"].dump()));
    EXPECT_EQ(before["records"], 120);
    EXPECT_THAT(out, HasSubstr("last batch " + before["last_batch"]["id"].dump() + ": "));
    // The topic's line: partitions, lag in records (10, as /status says), its seconds and rate.
    EXPECT_THAT(out, ContainsRegex("watched +3 +10 +"));
    const auto &plugin = before["plugins"][0];
    EXPECT_THAT(out, ContainsRegex("gate +0 +1 +" + plugin["batches"].dump() + " +" +
                                   plugin["records"].dump() + " +0 +0 "));

    // Without --once: a screen a second (frames after one another when not on a terminal).
    ChildProcess watching(sluice_argv({"status", "http://127.0.0.1:" + std::to_string(port)}),
                          ChildProcess::Options{dir_.file("watch.err"), true});
    std::this_thread::sleep_for(2500ms);
    watching.send_signal(SIGINT);
    ASSERT_TRUE(watching.wait(10s));
    const std::string frames = watching.read_all(5s).value_or("");
    size_t count = 0;
    for (size_t at = frames.find("PLUGIN"); at != std::string::npos;
         at = frames.find("PLUGIN", at + 1))
        ++count;
    EXPECT_GE(count, 2u) << frames;

    std::filesystem::remove(gate);
    ASSERT_TRUE(wait_until([&] { return topic_lag(status(port)) == 0; }, 30s));
    ASSERT_TRUE(stops_cleanly(host, log));
}

TEST_F(StatusCommand, AnUnreachableUrlIsOneLineAndHelpExplains) {
    const std::string url = "127.0.0.1:" + std::to_string(refused_port());
    const auto r = run_sluice({"status", url, "--once"}, 30s);
    EXPECT_EQ(r.status.code, 1);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr("sluice status: cannot reach http://" + url + "/status"));
    EXPECT_TRUE(r.out.empty());

    const auto bad = run_sluice({"status", "not-an-address"}, 30s);
    EXPECT_EQ(bad.status.code, 2);
    EXPECT_THAT(bad.err, HasSubstr("give HOST:PORT"));

    const auto help = run_sluice({"status", "--help"}, 30s);
    EXPECT_EQ(help.status.code, 0);
    EXPECT_THAT(help.out, HasSubstr("Usage: sluice status [URL] [--once]"));
    EXPECT_THAT(help.out, HasSubstr("metrics-address"));
    EXPECT_THAT(help.out, HasSubstr("default 127.0.0.1:9100"));
}

}  // namespace
}  // namespace sluice::test
