// `sluice run` with postgres-sink end to end: the real binary on a standalone
// `sluice mock-broker`, writing into a real PostgreSQL 15 server, cross-checked by an
// independent consumer of the topic.

#include <gtest/gtest.h>

#include "e2e_helpers.hpp"
#include "mock_broker_process.hpp"
#include "pg_records.hpp"
#include "postgres_server.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

namespace {

class PostgresSinkRun : public ::testing::Test {
  protected:
    std::string config(const std::string &table) {
        const std::string path = dir_.file(table + ".ini");
        write_text(path, "log-level = info\n[plugin.postgres-sink]\nconninfo = " + pg_.conninfo() +
                             "\ntable = " + table + "\noffsets-table = " + table + "_offsets\n");
        return path;
    }
    std::vector<std::string> run_args(const std::string &topic, const std::string &cfg,
                                      std::vector<std::string> extra) {
        std::vector<std::string> args{"run",
                                      "--config",
                                      cfg,
                                      "--brokers",
                                      broker_.bootstrap_servers(),
                                      "--topics",
                                      topic,
                                      "--plugin",
                                      "postgres-sink",
                                      "--batch-interval",
                                      "100ms",
                                      "-X",
                                      "fetch.wait.max.ms=10"};
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    }

    MockBrokerProcess broker_{{{"bytes", 1}, {"resume", 2}}};
    PostgresServer pg_;
    PgClient client_{pg_.conninfo()};
    TempDir dir_ = temp_dir("sluice-pg-run");
};

TEST_F(PostgresSinkRun, NullEmptyBinaryAndHeadersArriveIntact) {
    const std::string binary("\x00\x01\xff\xfe\n\"\\", 7);
    produce_records(broker_.bootstrap_servers(), "bytes",
                    {{0, std::nullopt, std::string(), {}},
                     {0, std::string(), std::nullopt, {}},
                     {0,
                      binary,
                      binary,
                      {{"h-null", std::nullopt},
                       {"h-empty", std::string()},
                       {"h-bin", binary},
                       {"h-null", std::string("dup")}}}});
    auto r = run_sluice(run_args("bytes", config("bytes"),
                                 {"--auto-offset-reset", "earliest", "--max-batches", "1"}),
                        60s);
    ASSERT_EQ(r.status.code, 0) << r.err;
    const auto rows = read_table(client_, "bytes");
    const auto expected = consume_all(broker_.bootstrap_servers(), "bytes");
    ASSERT_EQ(rows.size(), 3u);
    ASSERT_EQ(expected.size(), 3u);
    for (size_t i = 0; i < rows.size(); ++i) {
        EXPECT_EQ(rows[i].offset, expected[i].offset);
        EXPECT_EQ(rows[i].timestamp, expected[i].timestamp);
        EXPECT_EQ(rows[i].key, expected[i].key) << i;
        EXPECT_EQ(rows[i].value, expected[i].value) << i;
        ASSERT_EQ(rows[i].headers.size(), expected[i].headers.size()) << i;
        for (size_t h = 0; h < rows[i].headers.size(); ++h) {
            EXPECT_EQ(rows[i].headers[h].name, expected[i].headers[h].name);
            EXPECT_EQ(rows[i].headers[h].value, expected[i].headers[h].value);
        }
    }
    EXPECT_EQ(rows[0].key, std::nullopt);
    EXPECT_EQ(rows[0].value, std::string());
    EXPECT_EQ(rows[1].key, std::string());
    EXPECT_EQ(rows[1].value, std::nullopt);
    EXPECT_EQ(rows[2].headers[0].value, std::nullopt);
    EXPECT_EQ(rows[2].headers[1].value, std::string());
    EXPECT_EQ(rows[2].headers[2].value, binary);
    EXPECT_EQ(client_.scalar("SELECT next_offset FROM bytes_offsets"), "3");
}

TEST_F(PostgresSinkRun, WithoutACheckpointARestartResumesFromTheDatabase) {
    auto p = run_sluice({"produce", "--brokers", broker_.bootstrap_servers(), "--topic", "resume",
                         "--count", "600", "--key-size", "8"},
                        60s);
    ASSERT_EQ(p.status.code, 0) << p.err;
    const auto cfg = config("resume");
    auto first = run_sluice(run_args("resume", cfg,
                                     {"--auto-offset-reset", "earliest", "--max-batch-records",
                                      "100", "--max-batches", "2"}),
                            60s);
    ASSERT_EQ(first.status.code, 0) << first.err;
    EXPECT_EQ(read_table(client_, "resume").size(), 200u);
    // auto-offset-reset=latest would skip the rest: the database's offsets must win.
    auto second = run_sluice(run_args("resume", cfg,
                                      {"--auto-offset-reset", "latest", "--max-batch-records",
                                       "100", "--max-batches", "4"}),
                             60s);
    ASSERT_EQ(second.status.code, 0) << second.err;
    EXPECT_NE(second.err.find("plugin's own offsets"), std::string::npos) << second.err;
    const Tally t =
        tally(read_table(client_, "resume"), consume_all(broker_.bootstrap_servers(), "resume"));
    EXPECT_EQ(t.missing, 0u);
    EXPECT_EQ(t.duplicated, 0u);
    EXPECT_EQ(t.wrong_value, 0u);
    EXPECT_EQ(read_table(client_, "resume").size(), 600u);
}

}  // namespace
