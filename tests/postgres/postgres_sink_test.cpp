// postgres-sink through the real C ABI against a real PostgreSQL 15 server: what a batch
// writes (null vs empty, headers), exactly-once across replays, restarts and a second
// writer, resume_offsets, a server that goes away and comes back, and tables that differ.

#include <gtest/gtest.h>

#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "postgres_server.hpp"
#include "test_host.hpp"

namespace sluice::testing {
namespace {

using sluice::test::PgClient;
using sluice::test::PgRow;
using sluice::test::PostgresServer;

/// One server for the whole executable (about 2 s to start); each test has its own tables.
PostgresServer *server = nullptr;
class ServerEnvironment : public ::testing::Environment {
  public:
    void SetUp() override { server = new PostgresServer(); }
    void TearDown() override {
        delete server;
        server = nullptr;
    }
};
[[maybe_unused]] auto *const env = ::testing::AddGlobalTestEnvironment(new ServerEnvironment);

class PostgresSinkTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
        table_ = std::string("r_") + info->name();
        offsets_ = std::string("o_") + info->name();
        if (!server->running()) server->start();
        client_ = std::make_unique<PgClient>(server->conninfo());
    }

    void configure(TestHost &host) const {
        host.config["conninfo"] = server->conninfo();
        host.config["table"] = table_;
        host.config["offsets-table"] = offsets_;
    }
    std::unique_ptr<TestInstance> make(TestHost &host) {
        configure(host);
        auto inst = std::make_unique<TestInstance>(plugin_, host);
        inst->create_ok();
        return inst;
    }

    /// Batch `id` with `n` records of `partition` starting at `from`, and their range.
    static TestBatch batch(int64_t id, int64_t from, int64_t n, int32_t partition = 0) {
        TestBatch b;
        b.id = id;
        b.ranges.push_back({"t", partition, from, from + n});
        for (int64_t o = from; o < from + n; ++o) {
            b.records.push_back(TestRecord{.partition = partition,
                                           .offset = o,
                                           .timestamp = 1000 + o,
                                           .key = "k" + std::to_string(o),
                                           .value = "v" + std::to_string(o)});
        }
        return b;
    }

    /// Processes a temporary batch.
    static CallResult process(TestInstance &inst, TestBatch b) { return inst.process(b); }

    /// The stored offsets of partition `p` in order.
    std::vector<int64_t> offsets_of(int32_t p = 0) {
        std::vector<int64_t> out;
        for (const PgRow &r :
             client_->query("SELECT \"offset\" FROM \"" + table_ +
                            "\" WHERE partition = " + std::to_string(p) + " ORDER BY \"offset\""))
            out.push_back(std::stoll(*r[0]));
        return out;
    }
    std::string next_offset(const std::string &topic, int32_t p) {
        auto rows = client_->query("SELECT next_offset FROM \"" + offsets_ + "\" WHERE topic = '" +
                                   topic + "' AND partition = " + std::to_string(p));
        return rows.empty() ? "none" : *rows[0][0];
    }

    std::string table_, offsets_;
    std::unique_ptr<PgClient> client_;
    LoadedPlugin plugin_{bundled_plugin("postgres-sink")};
};

TEST_F(PostgresSinkTest, MissingConninfoIsAClearCreateError) {
    TestHost host;
    TestInstance inst(plugin_, host);
    CallResult r = inst.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_EQ(r.message,
              "postgres-sink: [plugin.postgres-sink] conninfo is not set: set it to a libpq "
              "connection string, e.g. conninfo = host=127.0.0.1 port=5432 dbname=events");
}

TEST_F(PostgresSinkTest, WritesEveryFieldWithNullKeptApartFromEmpty) {
    TestHost host;
    auto inst = make(host);
    TestBatch b;
    b.ranges.push_back({"events", 3, 40, 44});
    b.records.push_back(TestRecord{
        .topic = "events",
        .partition = 3,
        .offset = 40,
        .timestamp = 1700000000000,
        .key = std::nullopt,
        .value = std::string(""),
        .headers = {{"h", std::string("v")}, {"n", std::nullopt}, {"e", std::string("")}}});
    b.records.push_back(TestRecord{.topic = "events",
                                   .partition = 3,
                                   .offset = 41,
                                   .key = std::string(""),
                                   .value = std::string("\x00\xff\n\"", 4)});
    b.records.push_back(TestRecord{.topic = "events", .partition = 3, .offset = 42});
    ASSERT_EQ(inst->process(b).status, SLUICE_OK);

    auto rows = client_->query(
        "SELECT topic, partition, \"offset\", \"timestamp\", encode(key, 'hex'), "
        "encode(value, 'hex'), headers::text FROM \"" +
        table_ + "\" ORDER BY \"offset\"");
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0], (PgRow{"events", "3", "40", "1700000000000", std::nullopt, "",
                              R"([["h", "dg=="], ["n", null], ["e", ""]])"}));
    EXPECT_EQ(rows[1], (PgRow{"events", "3", "41", std::nullopt, "", "00ff0a22", "[]"}));
    EXPECT_EQ(rows[2],
              (PgRow{"events", "3", "42", std::nullopt, std::nullopt, std::nullopt, "[]"}));
    // The range's until_offset, not the last record's offset + 1.
    EXPECT_EQ(next_offset("events", 3), "44");
    EXPECT_EQ(host.metrics["records_written"], 3);
}

TEST_F(PostgresSinkTest, AReplayWritesNothingTwice) {
    TestHost host;
    auto inst = make(host);
    TestBatch b1 = batch(1, 0, 3);
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
    b1.flags = SLUICE_BATCH_REPLAY;
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);  // same instance
    EXPECT_EQ(offsets_of(), (std::vector<int64_t>{0, 1, 2}));
    inst.reset();

    TestHost host2;
    auto again = make(host2);  // a restart replays it too
    ASSERT_EQ(again->process(b1).status, SLUICE_OK);
    EXPECT_EQ(offsets_of(), (std::vector<int64_t>{0, 1, 2}));
    EXPECT_EQ(host2.metrics["records_skipped"], 3);

    // A replay that overlaps new offsets writes only the new ones.
    TestBatch b2 = batch(2, 1, 4);  // offsets 1..4, 1 and 2 already stored
    ASSERT_EQ(again->process(b2).status, SLUICE_OK);
    EXPECT_EQ(offsets_of(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(next_offset("t", 0), "5");
}

TEST_F(PostgresSinkTest, ASecondWriterThatReadTheOffsetsEarlierIsFencedThenSkips) {
    TestHost host_a, host_b;
    auto a = make(host_a);
    auto b = make(host_b);  // reads the (empty) offsets now
    TestBatch b1 = batch(1, 0, 3);
    ASSERT_EQ(a->process(b1).status, SLUICE_OK);
    // b still believes nothing is stored: its transaction must not commit.
    CallResult r = b->process(b1);
    EXPECT_EQ(r.status, SLUICE_RETRY) << r.message;
    // The retry reads the offsets again and skips what a stored.
    ASSERT_EQ(b->process(b1).status, SLUICE_OK);
    EXPECT_EQ(offsets_of(), (std::vector<int64_t>{0, 1, 2}));

    // Same with a partition both know: a moves it, b's stale guard fails.
    TestBatch b2 = batch(2, 3, 2);
    ASSERT_EQ(a->process(b2).status, SLUICE_OK);
    EXPECT_EQ(b->process(b2).status, SLUICE_RETRY);
    ASSERT_EQ(b->process(b2).status, SLUICE_OK);
    EXPECT_EQ(offsets_of(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

// Hosts of one group start together and each creates the tables: CREATE TABLE IF NOT EXISTS
// alone lets two of them miss the table and one fail on pg_type's unique index (seen with
// three hosts in tests/scale_out); under the advisory lock every one of them succeeds.
TEST_F(PostgresSinkTest, HostsThatStartTogetherAllCreateTheTables) {
    constexpr int kHosts = 8;
    std::vector<std::unique_ptr<TestHost>> hosts;
    std::vector<std::unique_ptr<TestInstance>> instances;
    for (int i = 0; i < kHosts; ++i) {
        hosts.push_back(std::make_unique<TestHost>());
        configure(*hosts.back());
        instances.push_back(std::make_unique<TestInstance>(plugin_, *hosts.back()));
    }
    // create connects and creates the tables: all of them at once.
    std::vector<CallResult> created(kHosts);
    std::latch start(kHosts);
    std::vector<std::thread> threads;
    for (int i = 0; i < kHosts; ++i)
        threads.emplace_back([&, i] {
            start.arrive_and_wait();
            created[i] = instances[i]->create();
        });
    for (auto &t : threads) t.join();
    for (int i = 0; i < kHosts; ++i) {
        ASSERT_EQ(created[i].status, SLUICE_OK) << "host " << i << ": " << created[i].message;
        ASSERT_EQ(process(*instances[i], batch(1, 0, 5, i)).status, SLUICE_OK) << "host " << i;
        EXPECT_EQ(offsets_of(i), (std::vector<int64_t>{0, 1, 2, 3, 4})) << "host " << i;
        EXPECT_EQ(next_offset("t", i), "5");
    }
}

TEST_F(PostgresSinkTest, ResumeOffsetsReturnsWhatIsStored) {
    TestHost host;
    auto inst = make(host);
    TestBatch b = batch(1, 10, 5, 0);
    b.ranges.push_back({"t", 1, 7, 9});  // a range without records still moves its offset
    ASSERT_EQ(inst->process(b).status, SLUICE_OK);

    TestHost host2;
    auto other = make(host2);
    std::vector<int64_t> offsets;
    ASSERT_EQ(other->resume_offsets({{"t", 0}, {"t", 1}, {"t", 2}, {"u", 0}}, offsets).status,
              SLUICE_OK);
    EXPECT_EQ(offsets, (std::vector<int64_t>{15, 9, -1, -1}));

    // Asked again later, it answers from the database, not from what it read at create.
    ASSERT_EQ(process(*inst, batch(2, 15, 5, 0)).status, SLUICE_OK);
    ASSERT_EQ(other->resume_offsets({{"t", 0}}, offsets).status, SLUICE_OK);
    EXPECT_EQ(offsets, (std::vector<int64_t>{20}));
}

TEST_F(PostgresSinkTest, AServerThatIsDownIsRetryUntilItComesBack) {
    TestHost host;
    auto inst = make(host);
    ASSERT_EQ(process(*inst, batch(1, 0, 2)).status, SLUICE_OK);
    server->stop();
    TestBatch b2 = batch(2, 2, 3);
    CallResult down = inst->process(b2);
    EXPECT_EQ(down.status, SLUICE_RETRY);
    EXPECT_EQ(down.message.find('\n'), std::string::npos) << down.message;
    EXPECT_NE(down.message.find("postgres-sink: "), std::string::npos) << down.message;
    EXPECT_EQ(inst->process(b2).status, SLUICE_RETRY);  // still down

    TestHost host2;  // an instance made while it is down says so too
    configure(host2);
    TestInstance late(plugin_, host2);
    CallResult created = late.create();
    EXPECT_EQ(created.status, SLUICE_RETRY);
    EXPECT_EQ(created.message.rfind("postgres-sink: cannot connect to PostgreSQL: ", 0), 0u)
        << created.message;
    EXPECT_EQ(created.message.find('\n'), std::string::npos) << created.message;

    server->start();
    client_ = std::make_unique<PgClient>(server->conninfo());
    CallResult up = inst->process(b2);
    ASSERT_EQ(up.status, SLUICE_OK) << up.message;
    EXPECT_EQ(offsets_of(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(next_offset("t", 0), "5");
}

TEST_F(PostgresSinkTest, ATableWithAColumnOfAnotherTypeIsOneClearFatal) {
    client_->exec("CREATE TABLE \"" + table_ +
                  "\" (topic text, partition integer, \"offset\" bigint, \"timestamp\" bigint, "
                  "key bytea, value text, headers jsonb)");
    TestHost host;
    configure(host);
    TestInstance inst(plugin_, host);
    CallResult r = inst.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    const std::string t = "\"" + table_ + "\"";
    EXPECT_EQ(r.message, "postgres-sink: column \"value\" of table " + t +
                             " is text, expected bytea: change its type (ALTER TABLE " + t +
                             " ALTER COLUMN \"value\" TYPE bytea) (set [plugin.postgres-sink] "
                             "value-column to the column that holds it), or set table to a new "
                             "table");
}

TEST_F(PostgresSinkTest, ATableWithoutAColumnIsOneClearFatal) {
    client_->exec("CREATE TABLE \"" + table_ +
                  "\" (topic text, partition integer, \"offset\" bigint, \"timestamp\" bigint, "
                  "key bytea, payload bytea, headers jsonb)");
    TestHost host;
    configure(host);
    TestInstance inst(plugin_, host);
    CallResult r = inst.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    const std::string t = "\"" + table_ + "\"";
    EXPECT_EQ(r.message,
              "postgres-sink: table " + t +
                  " has no column \"value\" (bytea): add it (ALTER TABLE " + t +
                  " ADD COLUMN \"value\" bytea) (set [plugin.postgres-sink] value-column "
                  "to the column that holds it), or set table to a new table");

    // Naming the column that holds values makes the same table fine.
    TestHost host2;
    configure(host2);
    host2.config["value-column"] = "payload";
    TestInstance ok(plugin_, host2);
    ASSERT_EQ(ok.create().status, SLUICE_OK);
    TestBatch b = batch(1, 0, 1);
    ASSERT_EQ(ok.process(b).status, SLUICE_OK);
    EXPECT_EQ(client_->scalar("SELECT convert_from(payload, 'UTF8') FROM \"" + table_ + "\""),
              "v0");
}

TEST_F(PostgresSinkTest, AMissingTableWithCreateTablesOffIsOneClearFatal) {
    TestHost host;
    configure(host);
    host.config["create-tables"] = "false";
    TestInstance inst(plugin_, host);
    CallResult r = inst.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_EQ(r.message, "postgres-sink: table \"" + table_ +
                             "\" does not exist: create it (README.md has the statement), set "
                             "[plugin.postgres-sink] create-tables = true, or set table to an "
                             "existing table");
}

TEST_F(PostgresSinkTest, ATableChangedWhileRunningIsOneClearFatal) {
    TestHost host;
    auto inst = make(host);
    ASSERT_EQ(process(*inst, batch(1, 0, 1)).status, SLUICE_OK);
    client_->exec("ALTER TABLE \"" + table_ + "\" DROP COLUMN headers");
    CallResult r = process(*inst, batch(2, 1, 1));
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_EQ(r.message.rfind(
                  "postgres-sink: table \"" + table_ + "\" has no column \"headers\" (jsonb)", 0),
              0u)
        << r.message;
}

}  // namespace
}  // namespace sluice::testing
