// `sluice run` with a deployment that is rolled back, then a restart with the bad file still
// deployed: the rollback is visible in /metrics and /status (result, hash, version, reason),
// and the restarted host serves the last good version (kept in the checkpoint's plugin-state
// directory) instead of exiting on its first batch; it goes on processing batches.

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "e2e_helpers.hpp"
#include "metrics_http.hpp"
#include "mock_broker_process.hpp"
#include "reload_test_support.hpp"
#include "sluice_command.hpp"

using namespace std::chrono_literals;
namespace rt = sluice::reload_test;
namespace st = sluice::test;

namespace {

/// `sha256sum FILE`'s digest: an implementation independent of the host's.
std::string sha256sum(const rt::fs::path &file) {
    const std::string command = "sha256sum '" + file.string() + "'";
    FILE *p = ::popen(command.c_str(), "r");
    char out[65] = {0};
    const size_t n = p ? std::fread(out, 1, 64, p) : 0;
    if (p) ::pclose(p);
    return std::string(out, n);
}

/// partition/offset -> version of every line in the sink's b<id>.txt files.
std::map<std::pair<int, int64_t>, std::string> read_sink(const rt::fs::path &dir) {
    std::map<std::pair<int, int64_t>, std::string> out;
    for (const auto &entry : rt::fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name[0] != 'b' || entry.path().extension() != ".txt") continue;
        std::istringstream in(rt::read_text(entry.path()));
        int partition;
        int64_t offset;
        std::string version;
        while (in >> partition >> offset >> version) out[{partition, offset}] = version;
    }
    return out;
}

class RejectedDeployRun : public ::testing::Test {
  protected:
    void SetUp() override {
        rt::fs::create_directory(out_dir_);
        rt::deploy_by_rename(rt::build_file("v1"), plugin_file_);
        st::write_text(
            config_, "log-level = info\n[plugin.versioned]\nout_dir = " + out_dir_.string() + "\n");
    }

    std::unique_ptr<st::ChildProcess> start_host(const std::string &log) {
        return std::make_unique<st::ChildProcess>(st::sluice_argv({"run",
                                                                   "--config",
                                                                   config_,
                                                                   "--brokers",
                                                                   broker_.bootstrap_servers(),
                                                                   "--topics",
                                                                   "deploys",
                                                                   "--plugin-dir",
                                                                   plugins_.path().string(),
                                                                   "--plugin",
                                                                   "versioned",
                                                                   "--auto-offset-reset",
                                                                   "earliest",
                                                                   "--checkpoint",
                                                                   checkpoint_.string(),
                                                                   "--batch-interval",
                                                                   "100ms",
                                                                   "--hot-reload-poll",
                                                                   "20ms",
                                                                   "--metrics-address",
                                                                   "127.0.0.1:0",
                                                                   "-X",
                                                                   "fetch.wait.max.ms=10"}),
                                                  st::ChildProcess::Options{log, true});
    }
    void produce(int count) {
        const auto r = st::run_sluice({"produce", "--brokers", broker_.bootstrap_servers(),
                                       "--topic", "deploys", "--count", std::to_string(count)});
        ASSERT_EQ(r.status.code, 0) << r.err;
        produced_ += count;
    }
    bool sink_has_all() { return static_cast<int>(read_sink(out_dir_).size()) == produced_; }
    static int port_of(const std::string &log) {
        int port = 0;
        rt::wait_until([&] { return (port = st::logged_metrics_port(log)) != 0; }, 30s);
        return port;
    }
    static nlohmann::json status(int port) {
        const auto r = st::http_get("127.0.0.1", port, "/status");
        return r ? nlohmann::json::parse(r->body) : nlohmann::json();
    }
    static std::map<std::string, double> metrics(int port) {
        const auto r = st::http_get("127.0.0.1", port, "/metrics");
        return r ? st::parse_samples(r->body) : std::map<std::string, double>{};
    }
    static double reloads(const std::map<std::string, double> &m, const std::string &result) {
        const auto it =
            m.find(R"(sluice_plugin_reloads_total{plugin="versioned",result=")" + result + "\"}");
        return it == m.end() ? -1 : it->second;
    }

    st::MockBrokerProcess broker_{{{"deploys", 2}}};
    rt::TempDir work_{"sluice-rejected-deploy"};
    rt::TempDir plugins_{"sluice-rejected-deploy-plugins"};
    rt::fs::path out_dir_ = work_.path() / "out";
    rt::fs::path plugin_file_ = plugins_.path() / "versioned.so";
    rt::fs::path checkpoint_ = work_.path() / "checkpoint";
    std::string config_ = work_.file("run.ini");
    int produced_ = 0;
};

TEST_F(RejectedDeployRun, RolledBackVersionIsVisibleAndARestartKeepsServingTheGoodOne) {
    const std::string log1 = work_.file("host1.err");
    auto host = start_host(log1);
    const int port = port_of(log1);
    ASSERT_NE(port, 0) << rt::read_text(log1);
    produce(20);
    ASSERT_TRUE(rt::wait_until([&] { return sink_has_all(); }, 30s)) << rt::read_text(log1);

    // A version whose first batch is fatal: rolled back, and v1 takes that batch.
    rt::deploy_by_rename(rt::build_file("broken_fatal"), plugin_file_);
    ASSERT_TRUE(rt::wait_until(
        [&] {
            return rt::read_text(log1).find("hot reload: plugin 'versioned' new version ready") !=
                   std::string::npos;
        },
        10s))
        << rt::read_text(log1);
    produce(10);
    ASSERT_TRUE(rt::wait_until([&] { return sink_has_all(); }, 30s)) << rt::read_text(log1);
    ASSERT_NE(rt::read_text(log1).find("rolling back"), std::string::npos) << rt::read_text(log1);

    std::map<std::string, double> m;
    ASSERT_TRUE(rt::wait_until([&] { return reloads(m = metrics(port), "rolled_back") == 1; }, 10s))
        << rt::read_text(log1);
    EXPECT_EQ(reloads(m, "swapped"), 0);
    EXPECT_EQ(reloads(m, "rejected"), 0);
    nlohmann::json s = status(port);
    ASSERT_EQ(s["plugins"].size(), 1u) << s.dump(2);
    const nlohmann::json p = s["plugins"][0];
    EXPECT_EQ(p["version"], "1") << p.dump(2);
    EXPECT_EQ(p["serving"]["version"], "1");
    EXPECT_EQ(p["serving"]["sha256"], sha256sum(rt::build_file("v1")));
    EXPECT_EQ(p["last_rejected"]["result"], "rolled_back") << p.dump(2);
    EXPECT_EQ(p["last_rejected"]["version"], "3");
    EXPECT_EQ(p["last_rejected"]["sha256"], sha256sum(rt::build_file("broken_fatal")));
    EXPECT_EQ(p["last_rejected"]["file"], plugin_file_.string());
    EXPECT_NE(p["last_rejected"]["reason"].get<std::string>().find("v3 is broken"),
              std::string::npos);
    EXPECT_GT(p["last_rejected"]["time_ms"].get<int64_t>(), 0);
    EXPECT_EQ(p["reloads"]["rolled_back"], 1);

    auto exit = stop_gracefully(*host, 30s);
    ASSERT_TRUE(exit);
    ASSERT_EQ(exit->code, 0) << rt::read_text(log1);

    // --validate says what the restart will do: not "refused" (exit 1) but a note that the kept
    // copy serves.
    const auto validate =
        st::run_sluice({"run", "--config", config_, "--brokers", broker_.bootstrap_servers(),
                        "--topics", "deploys", "--plugin-dir", plugins_.path().string(), "--plugin",
                        "versioned", "--checkpoint", checkpoint_.string(), "--validate"});
    EXPECT_EQ(validate.status.code, 0) << validate.err;
    EXPECT_NE(validate.err.find("note: plugin 'versioned': " + plugin_file_.string()),
              std::string::npos)
        << validate.err;
    EXPECT_NE(validate.err.find("a run serves the kept copy " +
                                (checkpoint_ / "plugin-state" / "versioned.good.so").string() +
                                " (version 1)"),
              std::string::npos)
        << validate.err;

    // The bad file is still deployed. Before, this restart exited 1 on its first batch.
    const std::string log2 = work_.file("host2.err");
    host = start_host(log2);
    const int port2 = port_of(log2);
    ASSERT_NE(port2, 0) << rt::read_text(log2);
    produce(15);
    ASSERT_TRUE(rt::wait_until([&] { return sink_has_all() || !host->running(); }, 30s));
    ASSERT_TRUE(host->running()) << rt::read_text(log2);
    EXPECT_TRUE(sink_has_all()) << rt::read_text(log2);
    for (const auto &[id, version] : read_sink(out_dir_)) EXPECT_EQ(version, "v1");

    const std::string text = rt::read_text(log2);
    const std::string kept = (checkpoint_ / "plugin-state" / "versioned.good.so").string();
    EXPECT_NE(text.find(plugin_file_.string() + " (version 3, sha256 " +
                        sha256sum(rt::build_file("broken_fatal")) + ") was rolled back"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("serving the last good version instead: " + kept + " (version 1)"),
              std::string::npos)
        << text;
    s = status(port2);
    EXPECT_EQ(s["plugins"][0]["serving"]["file"], kept) << s.dump(2);
    EXPECT_EQ(s["plugins"][0]["serving"]["sha256"], sha256sum(rt::build_file("v1")));
    EXPECT_EQ(s["plugins"][0]["last_rejected"]["result"], "rolled_back");
    EXPECT_EQ(reloads(metrics(port2), "rolled_back"), 0);  // counts are this run's

    // A fixed version is deployed as usual.
    rt::deploy_by_rename(rt::build_file("v2"), plugin_file_);
    produce(5);
    ASSERT_TRUE(rt::wait_until([&] { return reloads(metrics(port2), "swapped") == 1; }, 30s))
        << rt::read_text(log2);
    exit = stop_gracefully(*host, 30s);
    ASSERT_TRUE(exit);
    EXPECT_EQ(exit->code, 0) << rt::read_text(log2);
}

}  // namespace
