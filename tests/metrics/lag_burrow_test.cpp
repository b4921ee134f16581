// The consumer lag that `sluice run` reports in /status and /metrics equals what the real Burrow
// (Debian's burrow) computes from the ZooKeeper mirror at the same moment, in direct and in
// receiver mode. A gate plugin (plugins/gate.c) holds the batches while a file exists: the
// committed offsets stop, the producer stops, and the lag is exactly what was produced since,
// on both sides; once the gate opens both fall to zero.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "burrow_process.hpp"
#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "metrics_http.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"
#include "zookeeper_suite.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using Lag = std::map<int, int64_t>;  // partition -> lag in records (-1: null)

class LagAgainstBurrow : public MockBrokerAndZooKeeperSuite<LagAgainstBurrow> {
  public:
    static std::vector<MockTopic> mock_topics() { return {{"lag-direct", 3}, {"lag-receiver", 3}}; }

  protected:
    /// /status: each partition's lag_records, and the whole document.
    static Lag host_lag(int port, const std::string &topic, nlohmann::json *status) {
        const auto response = http_get("127.0.0.1", port, "/status");
        Lag out;
        if (!response) return out;
        *status = nlohmann::json::parse(response->body, nullptr, false);
        if (status->is_discarded() || !status->contains("partitions")) return out;
        for (const auto &p : (*status)["partitions"])
            if (p["topic"] == topic)
                out[p["partition"].get<int>()] =
                    p["lag_records"].is_null() ? -1 : p["lag_records"].get<int64_t>();
        return out;
    }

    void check_mode(const std::string &mode) {
        const std::string topic = "lag-" + mode, group = "lag-group-" + mode;
        const std::string gate = dir_.file("gate"), log = dir_.file("host-" + mode + ".log");
        write_text(dir_.file("run.ini"), "[plugin.gate]\ngate = " + gate + "\n");
        produce(topic, {30, 40, 50});

        const std::string zk = zookeeper().connect_string() + "/kafka";
        const std::vector<std::string> common{"--plugin-dir",      METRICS_TEST_PLUGIN_DIR,
                                              "--config",          dir_.file("run.ini"),
                                              "--metrics-address", "127.0.0.1:0"};
        std::vector<std::string> args;
        if (mode == "direct") {
            args = {"run",
                    "--brokers",
                    bootstrap(),
                    "--topics",
                    topic,
                    "--group",
                    group,
                    "--zookeeper",
                    zk,
                    "--plugin",
                    "gate",
                    "--batch-interval",
                    "200ms",
                    "--auto-offset-reset",
                    "earliest",
                    "-X",
                    "fetch.wait.max.ms=10"};
        } else {
            ReceiverArgs receiver;
            receiver.brokers = bootstrap();
            receiver.topics = topic;
            receiver.group = group;
            receiver.plugins = {"gate"};
            receiver.zookeeper = zk;
            args = receiver.args();
        }
        args.insert(args.end(), common.begin(), common.end());
        ChildProcess host(sluice_argv(args), ChildProcess::Options{log, false});
        int port = 0;
        ASSERT_TRUE(wait_until([&] { return (port = logged_metrics_port(log)) != 0; }, 30s))
            << read_file(log);

        // 1. Everything read and its watermarks known: no lag.
        nlohmann::json status;
        const Lag zero{{0, 0}, {1, 0}, {2, 0}};
        // The mirror has written them too: Burrow needs /consumers when it starts (below).
        const auto mirrored = [&] {
            const auto &m = status["zookeeper_mirror"];
            return m.is_object() && m["connected"] == true && m["pending_partitions"] == 0 &&
                   m["writes"].get<int64_t>() >= 3;
        };
        ASSERT_TRUE(
            wait_until([&] { return host_lag(port, topic, &status) == zero && mirrored(); }, 60s))
            << status.dump() << "\n"
            << read_file(log);
        // The backlog was read just now: the topic's rate is known, nothing is behind.
        ASSERT_EQ(status["topics"].size(), 1u) << status.dump();
        EXPECT_GT(status["topics"][0]["input_rate"].get<double>(), 0) << status.dump();
        EXPECT_EQ(status["topics"][0]["lag_seconds"], 0.0) << status.dump();
        // Burrow from here: its kafka_zk module watches /consumers only if it exists when it
        // starts, and the mirror has made it by now.
        BurrowProcess burrow(bootstrap(), zookeeper().connect_string(), "/kafka",
                             ZooKeeperServer::free_port());

        // 2. The gate closes, the producer writes 7, 0 and 13 more and stops: the batch that
        //    carries them is held, so the committed offsets (and the mirror) stay at 30/40/50.
        write_text(gate, "closed");
        produce(topic, {7, 0, 13});
        const Lag behind{{0, 7}, {1, 0}, {2, 13}};
        std::string raw;
        ASSERT_TRUE(wait_until([&] { return burrow.lag(group, topic, &raw) == behind; }, 60s))
            << "Burrow answered: " << raw << "\nBurrow log:\n"
            << burrow.log();
        ASSERT_TRUE(wait_until([&] { return host_lag(port, topic, &status) == behind; }, 30s))
            << status.dump();
        // The same moment: ours, Burrow's, ours again (settled, so all three agree).
        const Lag ours = host_lag(port, topic, &status);
        const Lag theirs = burrow.lag(group, topic, &raw);
        EXPECT_EQ(ours, theirs) << "Burrow: " << raw << "\n/status: " << status.dump();
        EXPECT_EQ(host_lag(port, topic, &status), theirs);
        std::cerr << mode << " mode, held: /status lag " << status["topics"].dump()
                  << "\nBurrow: " << raw << "\n";

        // The topic's sum, its rate and seconds, and the same numbers in /metrics.
        ASSERT_EQ(status["topics"].size(), 1u) << status.dump();
        const auto &t = status["topics"][0];
        EXPECT_EQ(t["topic"], topic);
        EXPECT_EQ(t["partitions"], 3);
        EXPECT_EQ(t["lag_records"], 20);
        // Its seconds are the lag at the rate of the last 30 s: unknown once nothing has
        // moved for that long (the batch is held), else lag_records / input_rate.
        ASSERT_TRUE(t["input_rate"].is_number()) << t.dump();
        if (t["input_rate"].get<double>() > 0)
            EXPECT_NEAR(t["lag_seconds"].get<double>() * t["input_rate"].get<double>(), 20.0, 1e-6)
                << t.dump();
        else
            EXPECT_TRUE(t["lag_seconds"].is_null()) << t.dump();
        const auto metrics = http_get("127.0.0.1", port, "/metrics");
        ASSERT_TRUE(metrics);
        const auto samples = parse_samples(metrics->body);
        const std::string labels = "{topic=\"" + topic + "\"";
        EXPECT_EQ(samples.at("sluice_topic_lag_records" + labels + "}"), 20);
        for (const auto &[partition, lag] : behind) {
            const std::string series = labels + ",partition=\"" + std::to_string(partition) + "\"}";
            EXPECT_EQ(samples.at("sluice_partition_lag_records" + series), lag) << series;
            EXPECT_EQ(samples.at("sluice_partition_high_watermark" + series),
                      std::vector<int>({37, 40, 63})[partition])
                << series;
        }

        // 3. The gate opens: both see the group catch up.
        std::filesystem::remove(gate);
        EXPECT_TRUE(wait_until([&] { return burrow.lag(group, topic, &raw) == zero; }, 60s))
            << "Burrow answered: " << raw;
        EXPECT_TRUE(wait_until([&] { return host_lag(port, topic, &status) == zero; }, 30s))
            << status.dump();
        EXPECT_EQ(host_lag(port, topic, &status), burrow.lag(group, topic, &raw));

        // The periodic log line (every 30 s, from the run loop's monitor whatever the mode: looked
        // for once) names the topic's lag.
        if (mode == "direct") {
            EXPECT_TRUE(wait_until(
                [&] {
                    return read_file(log).find("lag: " + topic + " 0 records") != std::string::npos;
                },
                40s))
                << read_file(log);
        }
        ASSERT_TRUE(stops_cleanly(host, log));
    }

    TempDir dir_ = temp_dir("sluice-lag-burrow");
};

TEST_F(LagAgainstBurrow, DirectModeReportsTheLagBurrowReports) {
    check_mode("direct");
}

TEST_F(LagAgainstBurrow, ReceiverModeReportsTheLagBurrowReports) {
    check_mode("receiver");
}

}  // namespace
}  // namespace sluice::test
