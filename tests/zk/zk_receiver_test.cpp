// `sluice run --mode receiver --zookeeper`, end to end: the real binary against a standalone
// mock broker and a real ZooKeeper server, read back with the test's own ZooKeeper client.
// The legacy layout must carry each partition's next offset after the batches, the owner
// nodes must follow the consumer group's assignment (including a rebalance with a second
// process), the ids node must show the thread map, and a clean stop must leave only the
// persistent offset nodes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "mock_broker_suite.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"
#include "zk/zk_client.hpp"
#include "zookeeper_server.hpp"
#include "zookeeper_suite.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

// Topics and partition counts of the mock cluster.
const std::map<std::string, int> kTopics{{"zrecv", 3}, {"zsolo", 2}};
const char *const kChroot = "/recv";

class ReceiverWithZooKeeper : public MockBrokerAndZooKeeperSuite<ReceiverWithZooKeeper> {
  public:
    static std::vector<MockTopic> mock_topics() {
        std::vector<MockTopic> topics;
        for (const auto &[name, n] : kTopics) topics.push_back({name, n});
        return topics;
    }

  protected:
    static zk::ZkSettings observer_settings() {
        zk::ZkSettings s;
        s.connect = zookeeper().connect_string() + kChroot;
        return s;
    }

    /// "topic/partition" -> high watermark, for every partition of the mock topics.
    static std::map<std::string, std::string> high_watermarks() {
        std::map<std::string, std::string> out;
        for (const auto &[topic, n] : kTopics) {
            const auto marks = watermarks(bootstrap(), topic);
            for (int p = 0; p < n; ++p)
                out[topic + "/" + std::to_string(p)] = std::to_string(marks.at(p).high);
        }
        return out;
    }

    /// "topic/partition" -> what /consumers/<group>/offsets/... holds (absent nodes left out).
    static std::map<std::string, std::string> zk_offsets(zk::ZkClient &zk,
                                                         const std::string &group) {
        std::map<std::string, std::string> out;
        for (const auto &[topic, n] : kTopics)
            for (int p = 0; p < n; ++p) {
                const std::string key = topic + "/" + std::to_string(p);
                if (auto v = zk.get("/consumers/" + group + "/offsets/" + key)) out[key] = *v;
            }
        return out;
    }

    /// "topic/partition" -> the data of its owner node (absent nodes left out).
    static std::map<std::string, std::string> zk_owners(zk::ZkClient &zk,
                                                        const std::string &group) {
        std::map<std::string, std::string> out;
        for (const auto &[topic, n] : kTopics)
            for (const auto &child : zk.children("/consumers/" + group + "/owners/" + topic))
                if (auto v = zk.get("/consumers/" + group + "/owners/" + topic + "/" + child))
                    out[topic + "/" + child] = *v;
        return out;
    }

    /// The consumer id this run logged ("... to ZooKeeper ... as consumer <id>"), or "".
    static std::string consumer_id(const std::string &log) {
        static const std::regex line(R"(ZooKeeper \S+ as consumer (\S+))");
        std::smatch m;
        return std::regex_search(log, m, line) ? m[1].str() : std::string();
    }

    /// The partitions a run holds now, from its "receiver-T-N: assigned/revoked" log lines,
    /// as "topic/partition".
    static std::set<std::string> held_per_log(const std::string &log) {
        std::set<std::string> out;
        for (const auto &[thread, tps] : read_ownership(log).now)
            for (std::string tp : tps) {
                tp[tp.rfind(':')] = '/';
                out.insert(tp);
            }
        return out;
    }

    /// The partitions whose owner node names consumer `id` (thread 0, as the mirror writes).
    static std::set<std::string> owned_by(const std::map<std::string, std::string> &owners,
                                          const std::string &id) {
        std::set<std::string> out;
        for (const auto &[tp, owner] : owners)
            if (owner == id + "-0") out.insert(tp);
        return out;
    }

    std::vector<std::string> run_args(const std::string &group) const {
        ReceiverArgs run{.brokers = bootstrap(),
                         .topics = "zrecv:2,zsolo",
                         .group = group,
                         .plugins = {"noop"},
                         .zookeeper = zookeeper().connect_string() + kChroot};
        run.block_interval = "100ms";
        return run.args();
    }

    /// Starts a host and waits until it logged its consumer id.
    std::unique_ptr<ChildProcess> start_host(const std::string &group, const std::string &log,
                                             std::string *id) {
        auto host = std::make_unique<ChildProcess>(sluice_argv(run_args(group)),
                                                   ChildProcess::Options{log, true});
        EXPECT_TRUE(wait_until([&] { return !consumer_id(read_file(log)).empty(); }, 20s))
            << read_file(log);
        *id = consumer_id(read_file(log));
        return host;
    }

    static void stop_host(ChildProcess &host, const std::string &log) {
        EXPECT_TRUE(stops_cleanly(host, log));
    }

    /// Waits for the exit after a SIGTERM (a second one would abandon the batch in flight).
    static void expect_clean_exit(ChildProcess &host, const std::string &log) {
        const auto status = host.wait(30s);
        ASSERT_TRUE(status) << "no exit within 30 s after SIGTERM\n" << read_file(log);
        EXPECT_EQ(status->code, 0) << read_file(log);
    }

    TempDir dir_ = temp_dir("sluice-zk-receiver");
};

TEST_F(ReceiverWithZooKeeper, MirrorsOffsetsOwnersAndIdsThenLeavesOnlyTheOffsets) {
    const std::string group = "zk-receiver";
    produce("zrecv", {11, 17, 23});
    produce("zsolo", {5, 9});
    zk::ZkClient zk(observer_settings());

    const std::string log = dir_.file("host.log");
    std::string id;
    auto host = start_host(group, log, &id);
    ASSERT_FALSE(id.empty());
    EXPECT_EQ(id.rfind(group + "_", 0), 0u) << id;

    // 1. Every partition's offset node reaches its high watermark (the next offset to read).
    auto expected = high_watermarks();
    ASSERT_TRUE(wait_until([&] { return zk_offsets(zk, group) == expected; }, 30s))
        << "ZooKeeper has " << nlohmann::json(zk_offsets(zk, group)).dump() << ", expected "
        << nlohmann::json(expected).dump() << "\n"
        << read_file(log);

    // ... and follows later batches of the same run.
    produce("zrecv", {0, 4, 0});
    produce("zsolo", {2, 0});
    expected = high_watermarks();
    EXPECT_EQ(expected["zrecv/1"], "21");
    EXPECT_EQ(expected["zsolo/0"], "7");
    ASSERT_TRUE(wait_until([&] { return zk_offsets(zk, group) == expected; }, 30s))
        << "ZooKeeper has " << nlohmann::json(zk_offsets(zk, group)).dump() << ", expected "
        << nlohmann::json(expected).dump() << "\n"
        << read_file(log);

    // 2. Alone in the group, the process owns every partition: an ephemeral owner node each,
    //    naming this consumer, in the same session as its ids node.
    const std::set<std::string> all{"zrecv/0", "zrecv/1", "zrecv/2", "zsolo/0", "zsolo/1"};
    ASSERT_TRUE(wait_until([&] { return owned_by(zk_owners(zk, group), id) == all; }, 20s))
        << nlohmann::json(zk_owners(zk, group)).dump() << "\n"
        << read_file(log);
    EXPECT_EQ(held_per_log(read_file(log)), all);

    EXPECT_EQ(zk.children("/consumers/" + group + "/ids"), std::vector<std::string>{id});
    int64_t id_session = 0;
    const auto ids = zk.get("/consumers/" + group + "/ids/" + id, &id_session);
    ASSERT_TRUE(ids);
    EXPECT_NE(id_session, 0) << "the ids node must be ephemeral";
    const auto j = nlohmann::json::parse(*ids);
    EXPECT_EQ(j.at("version"), 1);
    EXPECT_EQ(j.at("pattern"), "static");
    // --topics zrecv:2,zsolo: two threads for zrecv, one for zsolo.
    EXPECT_EQ(j.at("subscription"), (nlohmann::json{{"zrecv", 2}, {"zsolo", 1}})) << *ids;
    EXPECT_TRUE(j.at("timestamp").is_string()) << *ids;
    for (const auto &tp : all) {
        int64_t owner_session = 0;
        EXPECT_TRUE(zk.get("/consumers/" + group + "/owners/" + tp, &owner_session)) << tp;
        EXPECT_EQ(owner_session, id_session) << tp << " must be ephemeral, in the mirror's session";
    }

    // 3. SIGTERM: exit 0, the ephemeral nodes go with the session, the offsets stay.
    stop_host(*host, log);
    EXPECT_TRUE(zk.children("/consumers/" + group + "/ids").empty());
    EXPECT_TRUE(zk_owners(zk, group).empty()) << nlohmann::json(zk_owners(zk, group)).dump();
    EXPECT_EQ(zk_offsets(zk, group), expected);
}

TEST_F(ReceiverWithZooKeeper, OwnerNodesFollowTheGroupAcrossARebalance) {
    const std::string group = "zk-receiver-pair";
    produce("zrecv", {3, 3, 3});
    produce("zsolo", {3, 3});
    zk::ZkClient zk(observer_settings());
    const std::set<std::string> all{"zrecv/0", "zrecv/1", "zrecv/2", "zsolo/0", "zsolo/1"};

    const std::string log_a = dir_.file("a.log"), log_b = dir_.file("b.log");
    std::string id_a, id_b;
    auto a = start_host(group, log_a, &id_a);
    ASSERT_TRUE(wait_until([&] { return owned_by(zk_owners(zk, group), id_a) == all; }, 20s))
        << nlohmann::json(zk_owners(zk, group)).dump() << "\n"
        << read_file(log_a);

    // A second process joins: the group splits the partitions, and each process's owner
    // nodes are exactly what its consumer threads hold.
    auto b = start_host(group, log_b, &id_b);
    ASSERT_NE(id_a, id_b);
    auto split = [&] {
        const auto owners = zk_owners(zk, group);
        const auto held_a = held_per_log(read_file(log_a));
        const auto held_b = held_per_log(read_file(log_b));
        std::set<std::string> both = held_a;
        both.insert(held_b.begin(), held_b.end());
        return !held_a.empty() && !held_b.empty() && both == all && owners.size() == all.size() &&
               owned_by(owners, id_a) == held_a && owned_by(owners, id_b) == held_b;
    };
    EXPECT_TRUE(wait_until(split, 30s))
        << "owners " << nlohmann::json(zk_owners(zk, group)).dump() << "\nA holds "
        << nlohmann::json(held_per_log(read_file(log_a))).dump() << ", B holds "
        << nlohmann::json(held_per_log(read_file(log_b))).dump() << "\nA's log:\n"
        << read_file(log_a) << "\nB's log:\n"
        << read_file(log_b);
    auto registered = zk.children("/consumers/" + group + "/ids");
    std::sort(registered.begin(), registered.end());
    auto both_ids = std::vector<std::string>{id_a, id_b};
    std::sort(both_ids.begin(), both_ids.end());
    EXPECT_EQ(registered, both_ids);

    // Both stop (a clean leave of each, possibly during the rebalance the first one
    // starts): exit 0, their nodes go, the offsets stay at the high watermarks.
    a->send_signal(SIGTERM);
    stop_host(*b, log_b);
    expect_clean_exit(*a, log_a);
    EXPECT_TRUE(zk.children("/consumers/" + group + "/ids").empty());
    EXPECT_TRUE(zk_owners(zk, group).empty()) << nlohmann::json(zk_owners(zk, group)).dump();
    EXPECT_EQ(zk_offsets(zk, group), high_watermarks());
}

}  // namespace
}  // namespace sluice::test
