// `sluice run --metrics-address 127.0.0.1:0` end to end: the real binary against a standalone
// mock broker with a producer; /metrics and /status scraped over HTTP with a Beast client.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "metrics_http.hpp"
#include "mock_broker_suite.hpp"
#include "sluice_command.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class RunMetrics : public MockBrokerSuite<RunMetrics> {
  public:
    static std::vector<MockTopic> mock_topics() { return {{"metered", 3}}; }

  protected:
    static void produce(const std::vector<int> &per_partition) {
        MockBrokerSuite::produce("metered", per_partition, "value ");
    }

    /// Scrapes /metrics until `pred` holds for the samples (or timeout); the last samples.
    std::map<std::string, double> scrape_until(
        int port, const std::function<bool(const std::map<std::string, double> &)> &pred,
        std::chrono::milliseconds timeout = 30s) {
        std::map<std::string, double> samples;
        wait_until(
            [&] {
                const auto response = http_get("127.0.0.1", port, "/metrics");
                if (!response) return false;
                samples = parse_samples(response->body);
                return pred(samples);
            },
            timeout);
        return samples;
    }

    static double value(const std::map<std::string, double> &samples, const std::string &name) {
        const auto it = samples.find(name);
        return it == samples.end() ? -1 : it->second;
    }

    TempDir dir_ = temp_dir("sluice-metrics-run");
};

TEST_F(RunMetrics, CountersGrowWithTheRecordsProducedAndStatusIsJson) {
    produce({100, 100, 100});
    const std::string sink = dir_.file("sink.jsonl");
    write_text(dir_.file("run.ini"),
               "plugin = noop\nplugin = file-sink\n[plugin.file-sink]\npath = " + sink + "\n");
    const std::string log = dir_.file("host.log");
    ChildProcess host(
        sluice_argv({"run", "--config", dir_.file("run.ini"), "--brokers", bootstrap(), "--topics",
                     "metered", "--batch-interval", "200ms", "--auto-offset-reset", "earliest",
                     "--metrics-address", "127.0.0.1:0", "-X", "fetch.wait.max.ms=10"}),
        ChildProcess::Options{log, false});
    int port = 0;
    ASSERT_TRUE(wait_until([&] { return (port = logged_metrics_port(log)) != 0; }, 30s))
        << read_file(log);

    const std::string noop = R"({plugin="noop",slot="0"})";
    const std::string file_sink = R"({plugin="file-sink",slot="1"})";
    auto samples = scrape_until(port, [&](const auto &s) {
        return value(s, "sluice_records_total") == 300 &&
               value(s, "sluice_plugin_records_total" + file_sink) == 300;
    });
    ASSERT_EQ(value(samples, "sluice_records_total"), 300) << read_file(log);
    const double batches_first = value(samples, "sluice_batches_total");
    EXPECT_GE(batches_first, 1);
    EXPECT_EQ(value(samples, "sluice_plugin_records_total" + noop), 300);
    EXPECT_GE(value(samples, "sluice_plugin_batches_total" + noop), 1);
    EXPECT_LE(value(samples, "sluice_plugin_batches_total" + noop), batches_first);
    EXPECT_EQ(value(samples, "sluice_plugin_errors_total" + noop), 0);
    EXPECT_EQ(value(samples, "sluice_plugin_retries_total" + file_sink), 0);
    EXPECT_GE(value(samples, "sluice_plugin_seconds_total" + file_sink), 0);
    EXPECT_EQ(value(samples, "sluice_plugin_generation" + noop), 1);
    EXPECT_EQ(value(samples, "sluice_plugin_generation" + file_sink), 1);
    // The records carry the producer's timestamps: each batch sampled some of them, every one
    // younger than the test (the whole run takes well under 5 minutes).
    EXPECT_GT(value(samples, "sluice_record_latency_seconds_count"), 0);
    EXPECT_EQ(value(samples, R"(sluice_record_latency_seconds_bucket{le="300"})"),
              value(samples, "sluice_record_latency_seconds_count"));
    for (int p = 0; p < 3; ++p)
        EXPECT_EQ(value(samples, R"(sluice_partition_offset{topic="metered",partition=")" +
                                     std::to_string(p) + "\"}"),
                  100)
            << p;
    EXPECT_GE(value(samples, "sluice_batch_processing_seconds"), 0);
    EXPECT_GE(value(samples, "sluice_batch_scheduling_delay_seconds"), 0);
    EXPECT_EQ(value(samples, R"(sluice_info{mode="direct",state="running"})"), 1);
    EXPECT_FALSE(samples.count("sluice_zookeeper_mirror_lag_seconds"));  // no --zookeeper

    // More records: every counter follows, and the partition offsets move.
    produce({50, 0, 25});
    samples = scrape_until(port, [&](const auto &s) {
        return value(s, "sluice_records_total") == 375 &&
               value(s, "sluice_plugin_records_total" + file_sink) == 375;
    });
    EXPECT_EQ(value(samples, "sluice_records_total"), 375);
    EXPECT_GT(value(samples, "sluice_batches_total"), batches_first);
    EXPECT_EQ(value(samples, "sluice_plugin_records_total" + noop), 375);
    EXPECT_EQ(value(samples, R"(sluice_partition_offset{topic="metered",partition="0"})"), 150);
    EXPECT_EQ(value(samples, R"(sluice_partition_offset{topic="metered",partition="1"})"), 100);
    EXPECT_EQ(value(samples, R"(sluice_partition_offset{topic="metered",partition="2"})"), 125);
    // What the plugins counted is what reached the sink.
    EXPECT_EQ(read_sink(sink).size(), 375u);

    const auto status = http_get("127.0.0.1", port, "/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(status->content_type, "application/json");
    const auto j = nlohmann::json::parse(status->body);
    EXPECT_EQ(j["mode"], "direct");
    EXPECT_EQ(j["state"], "running");
    EXPECT_EQ(j["records"], 375);
    ASSERT_EQ(j["plugins"].size(), 2u);
    EXPECT_EQ(j["plugins"][0]["name"], "noop");
    EXPECT_EQ(j["plugins"][1]["name"], "file-sink");
    EXPECT_EQ(j["plugins"][1]["records"], 375);
    EXPECT_EQ(j["partitions"].size(), 3u);
    EXPECT_TRUE(j["zookeeper_mirror"].is_null());

    // SIGTERM: the run ends cleanly and the endpoint goes with it.
    ASSERT_TRUE(stops_cleanly(host, log));
    EXPECT_FALSE(http_get("127.0.0.1", port, "/metrics", 2s));
}

TEST_F(RunMetrics, APortInUseStopsTheRunWithOneClearLine) {
    // A listener of our own holds the port.
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor holder(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    const std::string address = "127.0.0.1:" + std::to_string(holder.local_endpoint().port());
    const auto result = run_sluice({"run", "--brokers", bootstrap(), "--topics", "metered",
                                    "--plugin", "noop", "--metrics-address", address});
    EXPECT_EQ(result.status.code, 1) << result.err;
    EXPECT_THAT(result.err,
                HasSubstr("--metrics-address " + address + ": the port is already in use"));
    EXPECT_THAT(result.err, HasSubstr("port 0 for a free one"));
}

TEST_F(RunMetrics, ABadAddressIsAConfigError) {
    const auto result = run_sluice({"run", "--brokers", bootstrap(), "--topics", "metered",
                                    "--plugin", "noop", "--metrics-address", "9100"});
    EXPECT_EQ(result.status.code, 2) << result.err;
    EXPECT_THAT(result.err,
                HasSubstr("sluice run: --metrics-address: '9100' has no port: write HOST:PORT"));
}

}  // namespace
}  // namespace sluice::test
