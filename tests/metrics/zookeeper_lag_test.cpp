// The ZooKeeper mirror's metrics through `sluice run --metrics-address`: present and connected
// with a real ZooKeeper, and the lag grows while ZooKeeper is away.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "metrics_http.hpp"
#include "mock_broker_process.hpp"
#include "sluice_command.hpp"
#include "zookeeper_server.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

double value(const std::map<std::string, double> &samples, const std::string &name) {
    const auto it = samples.find(name);
    return it == samples.end() ? -1 : it->second;
}

std::map<std::string, double> scrape(int port) {
    const auto response = http_get("127.0.0.1", port, "/metrics");
    return response ? parse_samples(response->body) : std::map<std::string, double>{};
}

TEST(MirrorLagMetric, IsExposedAndGrowsWhileZooKeeperIsAway) {
    ZooKeeperServer zookeeper;
    MockBrokerProcess broker({{"mirrored", 2}});
    auto dir = temp_dir("sluice-metrics-zk");
    const std::string log = dir.file("host.log");
    std::vector<RecordToProduce> records;
    for (int i = 0; i < 40; ++i) records.push_back({i % 2, std::nullopt, "v", {}});
    produce_records(broker.bootstrap_servers(), "mirrored", records);

    ChildProcess host(
        sluice_argv({"run", "--brokers", broker.bootstrap_servers(), "--topics", "mirrored",
                     "--group", "metered-group", "--zookeeper", zookeeper.connect_string(),
                     "--plugin", "noop", "--batch-interval", "200ms", "--auto-offset-reset",
                     "earliest", "--metrics-address", "127.0.0.1:0", "-X", "fetch.wait.max.ms=10"}),
        ChildProcess::Options{log, false});
    int port = 0;
    ASSERT_TRUE(wait_until([&] { return (port = logged_metrics_port(log)) != 0; }, 30s))
        << read_file(log);

    // Connected, everything written: the lag is there and the writes count.
    std::map<std::string, double> samples;
    ASSERT_TRUE(wait_until(
        [&] {
            samples = scrape(port);
            return value(samples, "sluice_records_total") == 40 &&
                   value(samples, "sluice_zookeeper_mirror_connected") == 1 &&
                   value(samples, "sluice_zookeeper_mirror_pending_partitions") == 0 &&
                   value(samples, "sluice_zookeeper_mirror_writes_total") >= 2;
        },
        30s))
        << read_file(log);
    EXPECT_GE(value(samples, "sluice_zookeeper_mirror_lag_seconds"), 0);
    EXPECT_GE(value(samples, "sluice_zookeeper_mirror_sessions_total"), 1);
    const auto status = http_get("127.0.0.1", port, "/status");
    ASSERT_TRUE(status);
    const auto j = nlohmann::json::parse(status->body);
    ASSERT_TRUE(j["zookeeper_mirror"].is_object()) << status->body;
    EXPECT_EQ(j["zookeeper_mirror"]["connected"], true);

    // ZooKeeper gone, new records committed: they cannot be mirrored, so the lag grows from 0.
    zookeeper.kill9();
    produce_records(broker.bootstrap_servers(), "mirrored", {{0, std::nullopt, "late", {}}});
    EXPECT_TRUE(wait_until(
        [&] {
            samples = scrape(port);
            return value(samples, "sluice_records_total") == 41 &&
                   value(samples, "sluice_zookeeper_mirror_pending_partitions") >= 1 &&
                   value(samples, "sluice_zookeeper_mirror_lag_seconds") > 0;
        },
        30s))
        << "lag " << value(samples, "sluice_zookeeper_mirror_lag_seconds") << "\n"
        << read_file(log);

    ASSERT_TRUE(stops_cleanly(host, log));
}

}  // namespace
}  // namespace sluice::test
