// ZooKeeper killed (kill -9) under a running `sluice run --zookeeper`: batches
// keep their pace, and after the restart the mirror converges to the host's
// offsets within seconds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <regex>
#include <thread>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "mock_broker_process.hpp"
#include "sluice_command.hpp"
#include "zk/zk_client.hpp"
#include "zookeeper_server.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

size_t count_batches(const std::string &log) {
    static const std::regex line("batch [0-9]+: [0-9]+ records");
    return static_cast<size_t>(
        std::distance(std::sregex_iterator(log.begin(), log.end(), line), std::sregex_iterator()));
}

TEST(ZooKeeperOutage, BatchesKeepFlowingAndTheMirrorConvergesAfterRestart) {
    constexpr int kPartitions = 4;
    ZooKeeperServer zookeeper;
    MockBrokerProcess broker({{"outage", kPartitions}});
    auto dir = temp_dir("sluice-zk-outage");
    const std::string host_log = dir.file("host.log");

    // A producer that never stops until told: 20 records per partition per round.
    std::atomic<bool> producing{true};
    std::atomic<int64_t> rounds{0};
    std::thread producer([&] {
        while (producing) {
            std::vector<RecordToProduce> records;
            for (int p = 0; p < kPartitions; ++p)
                for (int i = 0; i < 20; ++i) records.push_back({p, std::nullopt, "x", {}});
            produce_records(broker.bootstrap_servers(), "outage", records);
            ++rounds;
            std::this_thread::sleep_for(50ms);
        }
    });
    struct JoinProducer {
        std::atomic<bool> &flag;
        std::thread &thread;
        ~JoinProducer() {
            flag = false;
            if (thread.joinable()) thread.join();
        }
    } join_producer{producing, producer};

    ChildProcess host(
        sluice_argv({"run", "--brokers", broker.bootstrap_servers(), "--topics", "outage",
                     "--group", "outage-group", "--zookeeper", zookeeper.connect_string(),
                     "--plugin", "noop", "--batch-interval", "200ms", "--auto-offset-reset",
                     "earliest", "-X", "fetch.wait.max.ms=10"}),
        ChildProcess::Options{host_log, true});
    zk::ZkSettings settings;
    settings.connect = zookeeper.connect_string();
    const auto offset_of = [&](zk::ZkClient &zk, int p) {
        const auto text = zk.get("/consumers/outage-group/offsets/outage/" + std::to_string(p));
        return text && !text->empty() ? std::stoll(*text) : -1;
    };
    {
        zk::ZkClient zk(settings);
        ASSERT_TRUE(wait_until([&] { return offset_of(zk, 0) > 0; }, 30s)) << read_file(host_log);
    }

    const auto window = 3s;
    const size_t before_start = count_batches(read_file(host_log));
    std::this_thread::sleep_for(window);
    const size_t with_zookeeper = count_batches(read_file(host_log)) - before_start;

    zookeeper.kill9();
    const size_t outage_start = count_batches(read_file(host_log));
    std::this_thread::sleep_for(window);
    const size_t without_zookeeper = count_batches(read_file(host_log)) - outage_start;
    std::cerr << "batches in " << window.count() << " s: " << with_zookeeper << " with ZooKeeper, "
              << without_zookeeper << " with ZooKeeper killed\n";
    EXPECT_GE(without_zookeeper + 2, with_zookeeper) << read_file(host_log);
    EXPECT_TRUE(host.running());

    zookeeper.start();
    const auto restarted = Clock::now();
    producing = false;
    producer.join();
    const int64_t expected = rounds.load() * 20;  // per partition, all acknowledged

    zk::ZkClient zk(settings);
    ASSERT_TRUE(wait_until(
        [&] {
            for (int p = 0; p < kPartitions; ++p)
                if (offset_of(zk, p) != expected) return false;
            return true;
        },
        20s))
        << "expected " << expected << " everywhere, partition 0 has " << offset_of(zk, 0) << "\n"
        << read_file(host_log);
    const auto converged = std::chrono::duration<double>(Clock::now() - restarted).count();
    std::cerr << "mirror converged " << converged << " s after the ZooKeeper restart\n";
    EXPECT_LT(converged, 10.0);
    EXPECT_EQ(zk.children("/consumers/outage-group/ids").size(), 1u);
    EXPECT_EQ(zk.children("/consumers/outage-group/owners/outage").size(),
              static_cast<size_t>(kPartitions));
    // The host's own commits agree: the mirror shows what was committed.
    EXPECT_EQ(committed_offsets(broker.bootstrap_servers(), "outage-group", "outage", kPartitions),
              std::vector<int64_t>(kPartitions, expected));

    ASSERT_TRUE(stops_cleanly(host, host_log));
}

}  // namespace
}  // namespace sluice::test
