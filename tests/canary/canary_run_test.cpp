// Canary generations on a running host: the real `sluice run` (tagger -> file-sink) against a
// `sluice mock-broker`, builds of the test transform deployed as tagger.canary.so while records
// flow. A differing canary is rejected, an agreeing one promoted; both show in the log, /status
// and /metrics, and the sink holds every record exactly once with the serving output.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "metrics_http.hpp"
#include "mock_broker_suite.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

class CanaryRun : public MockBrokerSuite<CanaryRun> {
  public:
    static std::vector<MockTopic> mock_topics() { return {{"events", 2}}; }

  protected:
    static fs::path tagger(const std::string &build) {
        return fs::path(CANARY_TEST_PLUGIN_DIR) / ("canary_tagger_" + build + ".so");
    }
    void deploy(const std::string &build, const std::string &name) {
        const fs::path tmp = deploy_ / ("." + name + ".tmp");
        fs::copy_file(tagger(build), tmp, fs::copy_options::overwrite_existing);
        fs::permissions(tmp, fs::perms(0755));
        fs::rename(tmp, deploy_ / name);
    }
    void produce(int from, int count, const std::string &value = "") {
        std::vector<RecordToProduce> records;
        for (int i = from; i < from + count; ++i)
            records.push_back(
                {i % 2, std::nullopt, value.empty() ? "r" + std::to_string(i) : value, {}});
        produce_records(bootstrap(), "events", records);
        produced_ += count;
    }
    bool sink_has(size_t n) {
        return wait_until([&] { return read_sink(sink_).size() >= n; }, 30s);
    }
    bool logged(const std::string &text) {
        return wait_until([&] { return read_file(log_).find(text) != std::string::npos; }, 30s);
    }
    nlohmann::json plugin_status(int port) {
        const auto r = http_get("127.0.0.1", port, "/status");
        return r ? nlohmann::json::parse(r->body)["plugins"][0] : nlohmann::json();
    }

    TempDir dir_ = temp_dir("sluice-canary-run");
    fs::path deploy_ = dir_.path() / "deploy";
    std::string sink_ = dir_.file("sink.jsonl");
    std::string log_ = dir_.file("host.err");
    int produced_ = 0;
};

TEST_F(CanaryRun, RejectedAndPromotedCanariesOnALiveHostWithExactlyOnceOutput) {
    fs::create_directories(deploy_);
    fs::permissions(deploy_, fs::perms(0755));
    deploy("v1", "tagger.so");
    write_text(dir_.file("run.ini"), "[plugin.file-sink]\npath = " + sink_ + "\n");
    ChildProcess host(sluice_argv({"run",
                                   "--config",
                                   dir_.file("run.ini"),
                                   "--brokers",
                                   bootstrap(),
                                   "--topics",
                                   "events",
                                   "--plugin-dir",
                                   deploy_.string(),
                                   "--plugin-dir",
                                   SLUICE_PLUGIN_OUTPUT_DIR,
                                   "--plugin",
                                   "tagger",
                                   "--plugin",
                                   "file-sink",
                                   "--batch-interval",
                                   "100ms",
                                   "--canary-batches",
                                   "3",
                                   "--hot-reload-poll",
                                   "50ms",
                                   "--auto-offset-reset",
                                   "earliest",
                                   "--metrics-address",
                                   "127.0.0.1:0",
                                   "--control-token",
                                   "canary-test-token-0123",
                                   "-X",
                                   "fetch.wait.max.ms=10"}),
                      {log_, true});
    produce(0, 20);
    ASSERT_TRUE(sink_has(20)) << read_file(log_);
    const int port = logged_metrics_port(log_);
    ASSERT_GT(port, 0) << read_file(log_);

    // A build that differs on the value "x": rejected; generation 1 serves throughout.
    // (The canary starts at the first batch with records: a plugin is not called for others.)
    deploy("differs", "tagger.canary.so");
    ASSERT_TRUE(wait_until(
        [&] {
            produce(produced_, 2);
            return read_file(log_).find("is shadowing generation 1") != std::string::npos;
        },
        30s))
        << read_file(log_);
    produce(produced_, 2, "x");
    ASSERT_TRUE(logged("rejected:")) << read_file(log_);
    EXPECT_NE(read_file(log_).find("value: serving \"x\", canary \"X\""), std::string::npos)
        << read_file(log_);
    // /status is published once the batch is committed, just after the log line.
    nlohmann::json st;
    EXPECT_TRUE(wait_until(
        [&] {
            st = plugin_status(port);
            return st["canary"]["state"] == "rejected";
        },
        10s))
        << st.dump(2);
    EXPECT_EQ(st["generation"], 1);
    EXPECT_EQ(st["version"], "1");

    // A build with the same output: promoted after 3 batches, then it serves.
    deploy("same", "tagger.canary.so");
    ASSERT_TRUE(wait_until(
        [&] {
            produce(produced_, 2);
            return read_file(log_).find("generation 3 swapped in") != std::string::npos;
        },
        30s))
        << read_file(log_);
    EXPECT_TRUE(wait_until(
        [&] {
            st = plugin_status(port);
            return st["version"] == "2";
        },
        10s))
        << st.dump(2);
    EXPECT_EQ(st["canary"]["state"], "promoted");
    EXPECT_EQ(st["canary"]["promoted"], 1);
    EXPECT_EQ(st["canary"]["rejected"], 1);
    const auto metrics = http_get("127.0.0.1", port, "/metrics");
    ASSERT_TRUE(metrics);
    const auto samples = parse_samples(metrics->body);
    EXPECT_EQ(
        samples.at(R"(sluice_plugin_canaries_total{plugin="tagger",slot="0",result="promoted"})"),
        1);
    EXPECT_EQ(
        samples.at(R"(sluice_plugin_canaries_total{plugin="tagger",slot="0",result="rejected"})"),
        1);

    produce(produced_, 10, "x");  // the new generation passes "x" on as it is
    ASSERT_TRUE(sink_has(static_cast<size_t>(produced_))) << read_file(log_);
    ASSERT_TRUE(stops_cleanly(host, log_));
    const auto written = read_sink(sink_);
    EXPECT_TRUE(exactly_once(written, consume_all(bootstrap(), "events")));
    for (const auto &r : written) {
        ASSERT_EQ(r.headers.size(), 1u);
        EXPECT_EQ(r.headers[0].name, "tag");
    }
}

}  // namespace
