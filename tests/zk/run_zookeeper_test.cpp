// `sluice run` with --zookeeper, end to end: a standalone mock broker, a real
// ZooKeeper server and a real Burrow reading what the mirror writes; broker
// discovery and legacy offset import through the binary.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "burrow_process.hpp"
#include "e2e_helpers.hpp"
#include "mock_broker_suite.hpp"
#include "sluice_command.hpp"
#include "zk/zk_client.hpp"
#include "zookeeper_server.hpp"
#include "zookeeper_suite.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class RunWithZooKeeper : public MockBrokerAndZooKeeperSuite<RunWithZooKeeper> {
  public:
    static std::vector<MockTopic> mock_topics() { return {{"burrowed", 3}, {"imported", 3}}; }

  protected:
    static zk::ZkClient observer() {
        zk::ZkSettings s;
        s.connect = zookeeper().connect_string();
        return zk::ZkClient(s);
    }
    static std::vector<std::string> run_args(const std::string &topic, const std::string &group,
                                             const std::string &zookeeper) {
        return {"run",
                "--topics",
                topic,
                "--group",
                group,
                "--zookeeper",
                zookeeper,
                "--plugin",
                "noop",
                "--batch-interval",
                "200ms",
                "--auto-offset-reset",
                "earliest",
                "-X",
                "fetch.wait.max.ms=10"};
    }

    TempDir dir_ = temp_dir("sluice-zk-run");
};

TEST_F(RunWithZooKeeper, BurrowSeesTheExactLagThenZeroOnceCaughtUp) {
    const std::string zk_connect = zookeeper().connect_string() + "/kafka";
    const std::string group = "burrow-group";
    produce("burrowed", {30, 40, 50});

    // 1. The host reads everything; the mirror writes the next offsets.
    {
        ChildProcess host(sluice_argv([&] {
                              auto a = run_args("burrowed", group, zk_connect);
                              a.insert(a.end(), {"--brokers", bootstrap()});
                              return a;
                          }()),
                          ChildProcess::Options{dir_.file("host1.log"), true});
        auto zk = observer();
        ASSERT_TRUE(wait_until(
            [&] {
                return zk.get("/kafka/consumers/burrow-group/offsets/burrowed/0") ==
                           std::optional<std::string>("30") &&
                       zk.get("/kafka/consumers/burrow-group/offsets/burrowed/1") ==
                           std::optional<std::string>("40") &&
                       zk.get("/kafka/consumers/burrow-group/offsets/burrowed/2") ==
                           std::optional<std::string>("50");
            },
            30s))
            << read_file(dir_.file("host1.log"));
        // The mirror creates the offset nodes first and registers the consumer right after
        // (a separate ZooKeeper call): under ThreadSanitizer the offsets were seen before it.
        EXPECT_TRUE(wait_until(
            [&] { return zk.children("/kafka/consumers/burrow-group/ids").size() == 1u; }, 10s))
            << read_file(dir_.file("host1.log"));
        ASSERT_TRUE(stop_gracefully(host, 30s));
    }

    // 2. The producer goes on, then pauses: Burrow must show exactly what was
    //    produced since, per partition.
    BurrowProcess burrow(bootstrap(), zookeeper().connect_string(), "/kafka",
                         ZooKeeperServer::free_port());
    produce("burrowed", {7, 0, 13});
    std::string raw;
    const std::map<int, int64_t> expected{{0, 7}, {1, 0}, {2, 13}};
    EXPECT_TRUE(wait_until([&] { return burrow.lag(group, "burrowed", &raw) == expected; }, 45s))
        << "Burrow answered: " << raw << "\nBurrow log:\n"
        << burrow.log();
    std::cerr << "Burrow lag while the producer is paused: " << raw << "\n";

    // 3. The host starts again (from the group's Kafka offsets) and catches up.
    ChildProcess host(sluice_argv([&] {
                          auto a = run_args("burrowed", group, zk_connect);
                          a.insert(a.end(), {"--brokers", bootstrap()});
                          return a;
                      }()),
                      ChildProcess::Options{dir_.file("host2.log"), true});
    const std::map<int, int64_t> zero{{0, 0}, {1, 0}, {2, 0}};
    EXPECT_TRUE(wait_until([&] { return burrow.lag(group, "burrowed", &raw) == zero; }, 45s))
        << "Burrow answered: " << raw << "\nhost log:\n"
        << read_file(dir_.file("host2.log"));
    std::cerr << "Burrow lag once caught up: " << raw << "\n";
    EXPECT_TRUE(stop_gracefully(host, 30s));
}

TEST_F(RunWithZooKeeper, DiscoversBrokersAndImportsLegacyOffsets) {
    auto zk = observer();
    zk.ensure_path("/legacy/brokers/ids");
    const std::string bootstrap = RunWithZooKeeper::bootstrap();
    ASSERT_EQ(zk.create("/legacy/brokers/ids/0",
                        nlohmann::json{{"endpoints", {"PLAINTEXT://" + bootstrap}},
                                       {"host", nullptr},
                                       {"port", -1},
                                       {"version", 4}}
                            .dump(),
                        true),
              zk::ZkResult::ok);
    // A legacy consumer left offsets for partitions 0 and 1; 2 has none.
    zk.ensure_path("/legacy/consumers/migrated/offsets/imported");
    ASSERT_EQ(zk.create("/legacy/consumers/migrated/offsets/imported/0", "5", false),
              zk::ZkResult::ok);
    ASSERT_EQ(zk.create("/legacy/consumers/migrated/offsets/imported/1", "9", false),
              zk::ZkResult::ok);
    produce("imported", {20, 20, 20});

    auto args = run_args("imported", "migrated", zookeeper().connect_string() + "/legacy");
    args.insert(args.end(), {"--start-from-zookeeper", "true", "--max-batches", "3"});
    const auto r = run_sluice(args, 60s);
    ASSERT_EQ(r.status.code, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("brokers from ZooKeeper " + zookeeper().connect_string() +
                                 "/legacy: " + bootstrap));
    EXPECT_THAT(r.err, HasSubstr("start imported:0 at offset 5 (ZooKeeper "
                                 "/consumers/migrated/offsets)"));
    EXPECT_THAT(r.err, HasSubstr("start imported:1 at offset 9 (ZooKeeper "
                                 "/consumers/migrated/offsets)"));
    EXPECT_THAT(r.err, HasSubstr("start imported:2 at offset 0 (auto-offset-reset=earliest)"));
    // The mirror then carried the same group on, in the same place.
    for (int p = 0; p < 3; ++p)
        EXPECT_EQ(zk.get("/legacy/consumers/migrated/offsets/imported/" + std::to_string(p)),
                  std::optional<std::string>("20"));

    // Without registrations: a clear error.
    const auto none = run_sluice(
        run_args("imported", "migrated", zookeeper().connect_string() + "/nothing"), 60s);
    EXPECT_EQ(none.status.code, 1);
    EXPECT_THAT(none.err, HasSubstr("no Kafka broker is registered under /nothing/brokers/ids"));
}

}  // namespace
}  // namespace sluice::test
