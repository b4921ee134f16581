// The ZooKeeper module against a real ZooKeeper server: the offset mirror's
// layout and values, chroot creation, ACLs, session expiry, an absent
// ZooKeeper; broker discovery and legacy offset import.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>

#include "e2e_helpers.hpp"
#include "zk/legacy_layout.hpp"
#include "zk/offset_mirror.hpp"
#include "zk/zk_client.hpp"
#include "zookeeper_server.hpp"

namespace sluice::zk {
namespace {

using namespace std::chrono_literals;
using test::wait_until;
using ::testing::HasSubstr;

class ZooKeeperTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { server_ = new test::ZooKeeperServer(); }
    static void TearDownTestSuite() {
        delete server_;
        server_ = nullptr;
    }
    void SetUp() override {
        if (!server_->running()) server_->start();
    }

    static ZkSettings settings(const std::string &suffix = "", const std::string &auth = "") {
        ZkSettings s;
        s.connect = server_->connect_string() + suffix;
        s.auth = auth;
        s.session_timeout = 4000ms;
        return s;
    }
    /// A client at the real root, without auth: what a monitoring tool sees.
    static std::unique_ptr<ZkClient> observer() { return std::make_unique<ZkClient>(settings()); }

    static MirrorSettings mirror_settings(const std::string &group, const std::string &suffix = "",
                                          const std::string &auth = "") {
        MirrorSettings m;
        m.zookeeper = settings(suffix, auth);
        m.zookeeper.session_timeout = 2000ms;
        m.group = group;
        m.retry_interval = 100ms;
        return m;
    }

    static std::string node(ZkClient &zk, const std::string &path) {
        return zk.get(path).value_or("<none>");
    }

    static test::ZooKeeperServer *server_;
};
test::ZooKeeperServer *ZooKeeperTest::server_ = nullptr;

TopicPartition tp(const std::string &t, int p) {
    return {t, p};
}

TEST_F(ZooKeeperTest, MirrorWritesTheLegacyLayoutWithBareNextOffsets) {
    auto zk = observer();
    std::string consumer_id;
    {
        OffsetMirror mirror(mirror_settings("layout"), {{tp("orders", 0), 5},
                                                        {tp("orders", 1), 0},
                                                        {tp("orders", 2), 0},
                                                        {tp("audit", 0), 42}});
        consumer_id = mirror.consumer_id();
        ASSERT_TRUE(mirror.wait_caught_up(10s));
        // Every partition of every topic has its node from the start.
        EXPECT_THAT(zk->children("/consumers/layout/offsets/orders"),
                    ::testing::UnorderedElementsAre("0", "1", "2"));
        EXPECT_EQ(node(*zk, "/consumers/layout/offsets/orders/0"), "5");
        EXPECT_EQ(node(*zk, "/consumers/layout/offsets/orders/2"), "0");
        EXPECT_EQ(node(*zk, "/consumers/layout/offsets/audit/0"), "42");

        // A committed batch: the until_offset (the next offset to read), nothing else.
        mirror.publish(std::vector<OffsetRange>{{"orders", 0, 5, 17}, {"orders", 2, 0, 3}});
        mirror.publish(std::vector<OffsetRange>{{"orders", 0, 17, 20}});
        ASSERT_TRUE(mirror.wait_caught_up(10s));
        EXPECT_EQ(node(*zk, "/consumers/layout/offsets/orders/0"), "20");
        EXPECT_EQ(node(*zk, "/consumers/layout/offsets/orders/1"), "0");
        EXPECT_EQ(node(*zk, "/consumers/layout/offsets/orders/2"), "3");
        EXPECT_EQ(mirror.lag(), 0ms);
        EXPECT_TRUE(mirror.status().connected);

        // Ephemeral registration, in Kafka's legacy format.
        ASSERT_TRUE(wait_until(
            [&] { return zk->children("/consumers/layout/owners/orders").size() == 3; }, 5s));
        const auto ids = zk->children("/consumers/layout/ids");
        ASSERT_EQ(ids, std::vector<std::string>{consumer_id});
        EXPECT_THAT(consumer_id, ::testing::StartsWith("layout_"));
        int64_t owner_session = 0;
        const auto id_json =
            nlohmann::json::parse(*zk->get("/consumers/layout/ids/" + consumer_id, &owner_session));
        EXPECT_NE(owner_session, 0);  // ephemeral
        EXPECT_EQ(id_json.at("version"), 1);
        EXPECT_EQ(id_json.at("pattern"), "static");
        EXPECT_EQ(id_json.at("subscription"), (nlohmann::json{{"audit", 1}, {"orders", 1}}));
        EXPECT_TRUE(id_json.at("timestamp").is_string());
        EXPECT_EQ(node(*zk, "/consumers/layout/owners/orders/1"), consumer_id + "-0");
        EXPECT_EQ(node(*zk, "/consumers/layout/owners/audit/0"), consumer_id + "-0");

        // A rebalance (receiver mode): owner nodes follow.
        mirror.set_owned({tp("orders", 1)});
        ASSERT_TRUE(wait_until(
            [&] {
                return zk->children("/consumers/layout/owners/orders") ==
                           std::vector<std::string>{"1"} &&
                       zk->children("/consumers/layout/owners/audit").empty();
            },
            5s));
    }
    // Closing the session removes the ephemerals at once; the offsets stay.
    EXPECT_TRUE(zk->children("/consumers/layout/ids").empty());
    EXPECT_TRUE(zk->children("/consumers/layout/owners/orders").empty());
    EXPECT_EQ(node(*zk, "/consumers/layout/offsets/orders/0"), "20");
}

// Issue 17: an idle batch (every range empty, at the mirrored offsets) writes nothing to
// ZooKeeper however many partitions the job has; a batch that moves one partition writes one node.
TEST_F(ZooKeeperTest, IdleBatchesWriteNoNodeAndAMovedPartitionWritesOne) {
    constexpr int kPartitions = 2000;
    std::map<TopicPartition, int64_t> start;
    std::vector<OffsetRange> idle;
    for (int p = 0; p < kPartitions; ++p) {
        start[tp("wide", p)] = 10;
        idle.push_back({"wide", p, 10, 10});
    }
    OffsetMirror mirror(mirror_settings("idle"), start);
    ASSERT_TRUE(mirror.wait_caught_up(30s));
    const uint64_t after_start = mirror.status().writes;
    EXPECT_GE(after_start, static_cast<uint64_t>(kPartitions));
    for (int batch = 0; batch < 20; ++batch) mirror.publish(idle);
    ASSERT_TRUE(mirror.wait_caught_up(10s));
    EXPECT_EQ(mirror.status().writes, after_start);
    auto moved = idle;
    moved[1234].until_offset = 11;
    mirror.publish(moved);
    ASSERT_TRUE(mirror.wait_caught_up(10s));
    EXPECT_EQ(mirror.status().writes, after_start + 1);
    auto zk = observer();
    EXPECT_EQ(node(*zk, "/consumers/idle/offsets/wide/1234"), "11");
    EXPECT_EQ(node(*zk, "/consumers/idle/offsets/wide/1233"), "10");
}

TEST_F(ZooKeeperTest, UnknownStartOffsetsGetAnEmptyNodeAndKeepAnExistingValue) {
    auto zk = observer();
    zk->ensure_path("/consumers/keep/offsets/t");
    ASSERT_EQ(zk->create("/consumers/keep/offsets/t/1", "77", false), ZkResult::ok);
    OffsetMirror mirror(mirror_settings("keep"), {{tp("t", 0), -1}, {tp("t", 1), -1}});
    ASSERT_TRUE(
        wait_until([&] { return zk->children("/consumers/keep/offsets/t").size() == 2; }, 10s));
    EXPECT_EQ(node(*zk, "/consumers/keep/offsets/t/0"), "");
    EXPECT_EQ(node(*zk, "/consumers/keep/offsets/t/1"), "77");
}

TEST_F(ZooKeeperTest, ChrootAndParentsAreCreated) {
    auto zk = observer();
    ASSERT_FALSE(zk->get("/kafka").has_value());
    OffsetMirror mirror(mirror_settings("rooted", "/kafka/prod"), {{tp("t", 0), 9}});
    ASSERT_TRUE(mirror.wait_caught_up(10s));
    EXPECT_EQ(node(*zk, "/kafka/prod/consumers/rooted/offsets/t/0"), "9");
    EXPECT_FALSE(zk->get("/consumers/rooted").has_value());
    // Tools connected with the chroot see the plain layout.
    ZkClient rooted(settings("/kafka/prod"));
    EXPECT_EQ(node(rooted, "/consumers/rooted/offsets/t/0"), "9");
}

TEST_F(ZooKeeperTest, WithDigestAuthOthersReadButCannotWrite) {
    OffsetMirror mirror(mirror_settings("secured", "", "digest:sluice:s3cret"), {{tp("t", 0), 3}});
    ASSERT_TRUE(mirror.wait_caught_up(10s));
    auto anonymous = observer();
    EXPECT_EQ(node(*anonymous, "/consumers/secured/offsets/t/0"), "3");
    EXPECT_EQ(anonymous->set("/consumers/secured/offsets/t/0", "0"), ZkResult::no_auth);
    EXPECT_EQ(anonymous->create("/consumers/secured/offsets/t/9", "0", false), ZkResult::no_auth);
    ZkClient intruder(settings("", "digest:someone:else"));
    EXPECT_EQ(intruder.set("/consumers/secured/offsets/t/0", "0"), ZkResult::no_auth);
    EXPECT_EQ(intruder.remove("/consumers/secured/offsets/t/0"), ZkResult::no_auth);
    // The same identity (another sluice of the group) may write.
    ZkClient same(settings("", "digest:sluice:s3cret"));
    EXPECT_EQ(same.set("/consumers/secured/offsets/t/0", "4"), ZkResult::ok);
    EXPECT_EQ(node(*anonymous, "/consumers/secured/offsets/t/0"), "4");
}

TEST_F(ZooKeeperTest, AbsentZooKeeperNeverBlocksPublishAndTheLagShowsIt) {
    // A port nobody listens on.
    MirrorSettings m = mirror_settings("nowhere");
    m.zookeeper.connect = "127.0.0.1:1";
    const auto start = std::chrono::steady_clock::now();
    {
        OffsetMirror mirror(m, {{tp("t", 0), 0}});
        mirror.flush_timeout = 300ms;
        for (int i = 1; i <= 1000; ++i)
            mirror.publish(std::vector<OffsetRange>{{"t", 0, i - 1, i}});
        EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
        ASSERT_TRUE(wait_until([&] { return mirror.lag() >= 200ms; }, 5s));
        EXPECT_FALSE(mirror.status().connected);
        EXPECT_EQ(mirror.status().pending_partitions, 1u);
        EXPECT_FALSE(mirror.wait_caught_up(100ms));
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // the destructor is bounded too
}

TEST_F(ZooKeeperTest, DiscoveryReadsBrokerRegistrations) {
    auto zk = observer();
    zk->ensure_path("/disc/brokers/ids");
    // Kafka 0.8 style (host/port) and 0.10+ style (endpoints, host null for SSL-only).
    ASSERT_EQ(zk->create(
                  "/disc/brokers/ids/10",
                  R"({"jmx_port":-1,"timestamp":"1","host":"k10.example","version":1,"port":9092})",
                  true),
              ZkResult::ok);
    ASSERT_EQ(
        zk->create("/disc/brokers/ids/2",
                   R"({"listener_security_protocol_map":{"SSL":"SSL","PLAINTEXT":"PLAINTEXT"},)"
                   R"("endpoints":["SSL://k2.example:9093","PLAINTEXT://k2.example:9092"],)"
                   R"("host":null,"port":-1,"version":4})",
                   true),
        ZkResult::ok);
    ASSERT_EQ(zk->create("/disc/brokers/ids/3", R"({"endpoints":["SASL_SSL://k3:9094"]})", true),
              ZkResult::ok);
    EXPECT_EQ(discover_brokers(settings("/disc")), "k2.example:9092,k3:9094,k10.example:9092");

    try {
        discover_brokers(settings("/empty"));
        FAIL() << "no error without registrations";
    } catch (const std::runtime_error &e) {
        EXPECT_THAT(e.what(), HasSubstr("no Kafka broker is registered under /empty/brokers/ids"));
    }
    EXPECT_EQ(broker_address("not json"), std::nullopt);
    EXPECT_EQ(broker_address(R"({"host":"h","port":0})"), std::nullopt);
}

TEST_F(ZooKeeperTest, UnreachableZooKeeperIsAClearError) {
    ZkSettings s = settings();
    s.connect = "127.0.0.1:1";
    s.connect_timeout = 500ms;
    try {
        discover_brokers(s);
        FAIL();
    } catch (const ZkError &e) {
        EXPECT_THAT(e.what(), HasSubstr("no ZooKeeper session with '127.0.0.1:1'"));
    }
}

TEST_F(ZooKeeperTest, ImportReadsLegacyOffsets) {
    auto zk = observer();
    zk->ensure_path("/consumers/legacy/offsets/t");
    ASSERT_EQ(zk->create("/consumers/legacy/offsets/t/0", "120", false), ZkResult::ok);
    ASSERT_EQ(zk->create("/consumers/legacy/offsets/t/1", "7\n", false), ZkResult::ok);
    ASSERT_EQ(zk->create("/consumers/legacy/offsets/t/2", "garbage", false), ZkResult::ok);
    const auto found =
        read_legacy_offsets(settings(), "legacy", {tp("t", 0), tp("t", 1), tp("t", 2), tp("t", 3)});
    EXPECT_EQ(found, (std::map<TopicPartition, int64_t>{{tp("t", 0), 120}, {tp("t", 1), 7}}));
    EXPECT_EQ(parse_offset_text(" 15 "), 15);
    EXPECT_EQ(parse_offset_text("-1"), std::nullopt);
    EXPECT_EQ(parse_offset_text(""), std::nullopt);
}

// Runs last among these (gtest keeps the file order): it wipes the server.
TEST_F(ZooKeeperTest, SessionExpiryRegistersAgainAndRewritesEverything) {
    OffsetMirror mirror(mirror_settings("expiry"), {{tp("t", 0), 1}, {tp("t", 1), 2}});
    ASSERT_TRUE(mirror.wait_caught_up(10s));
    ASSERT_TRUE(wait_until(
        [&] { return observer()->children("/consumers/expiry/owners/t").size() == 2; }, 5s));
    const uint64_t sessions = mirror.status().sessions;

    // A server that lost its data knows no session: the mirror's is expired
    // when it reconnects, and everything (ephemeral or not) must come back.
    server_->kill9();
    mirror.publish(std::vector<OffsetRange>{{"t", 0, 1, 50}});
    server_->start(/*wipe_data=*/true);
    auto zk = observer();
    ASSERT_TRUE(wait_until(
        [&] {
            return zk->get("/consumers/expiry/offsets/t/0") == std::optional<std::string>("50") &&
                   zk->get("/consumers/expiry/offsets/t/1") == std::optional<std::string>("2") &&
                   zk->children("/consumers/expiry/owners/t").size() == 2 &&
                   zk->children("/consumers/expiry/ids").size() == 1;
        },
        15s));
    EXPECT_GT(mirror.status().sessions, sessions);
    EXPECT_EQ(mirror.lag(), 0ms);
}

}  // namespace
}  // namespace sluice::zk
