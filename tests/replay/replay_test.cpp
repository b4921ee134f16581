// `sluice replay` end to end: a real `sluice run` writes a checkpoint (and commits to its group)
// against a standalone `sluice mock-broker`; `sluice replay` then reads a batch of it from Kafka
// again and runs it through the probe transform (plugins/probe.c). Receiver WALs are written
// here with WriteAheadLog. Every replay leaves the checkpoint or WAL byte-identical and the
// host's committed offsets where they were.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "directory_snapshot.hpp"
#include "e2e_helpers.hpp"
#include "mock_broker_suite.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"
#include "wal/write_ahead_log.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

namespace fs = std::filesystem;

class Replay : public MockBrokerSuite<Replay> {
  public:
    static std::vector<MockTopic> mock_topics() { return {{"orders", 2}, {"gone", 1}}; }

  protected:
    /// `sluice run` until it committed one batch of `topic`, with a checkpoint in `checkpoint`
    /// and group `group`; returns that batch's id (the only commit entry).
    int64_t run_one_batch(const std::string &topic, const fs::path &checkpoint,
                          const std::string &group) {
        auto r = run_sluice({"run",
                             "--brokers",
                             bootstrap(),
                             "--topics",
                             topic,
                             "--group",
                             group,
                             "--checkpoint",
                             checkpoint.string(),
                             "--plugin-dir",
                             REPLAY_PLUGIN_DIR,
                             "--plugin",
                             "probe",
                             "--auto-offset-reset",
                             "earliest",
                             "--batch-interval",
                             "100ms",
                             "--max-batches",
                             "1",
                             "--hot-reload",
                             "false",
                             "-X",
                             "fetch.wait.max.ms=10"},
                            60s);
        EXPECT_EQ(r.status.code, 0) << r.err;
        std::vector<int64_t> ids;
        for (const auto &e : fs::directory_iterator(checkpoint / "commits"))
            ids.push_back(std::stoll(e.path().filename().string()));
        EXPECT_EQ(ids.size(), 1u) << r.err;
        return ids.empty() ? -1 : ids.front();
    }

    std::vector<std::string> replay_args(const fs::path &checkpoint, int64_t batch,
                                         std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"replay",
                                      "--checkpoint",
                                      checkpoint.string(),
                                      "--batch",
                                      std::to_string(batch),
                                      "--brokers",
                                      bootstrap(),
                                      "--plugin-dir",
                                      REPLAY_PLUGIN_DIR,
                                      "--plugin",
                                      "probe"};
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    }

    /// Once per suite: 10 records on orders:0 (values r0..r9, r4 with a key and a header) and
    /// 5 on orders:1, one host batch over them, checkpoint in ckpt_.
    void SetUp() override {
        if (batch_ >= 0) return;
        std::vector<RecordToProduce> records;
        for (int i = 0; i < 10; ++i)
            records.push_back(
                {0, i == 4 ? std::optional<std::string>("key4") : std::nullopt,
                 "r" + std::to_string(i),
                 i == 4 ? std::vector<ConsumedHeader>{{"h", "x"}} : std::vector<ConsumedHeader>{}});
        for (int i = 0; i < 5; ++i)
            records.push_back({1, std::nullopt, "q" + std::to_string(i), {}});
        produce_records(bootstrap(), "orders", records);
        batch_ = run_one_batch("orders", ckpt_.path() / "ckpt", "replay-group");
        committed_ = committed_offsets(bootstrap(), "replay-group", "orders", 2);
        ASSERT_EQ(committed_, (std::vector<int64_t>{10, 5}));
    }

    static inline TempDir ckpt_ = temp_dir("sluice-replay-ckpt");
    static inline int64_t batch_ = -1;
    static inline std::vector<int64_t> committed_;
    TempDir dir_ = temp_dir("sluice-replay");
};

TEST_F(Replay, ACheckpointBatchIsReadAgainAndRunThroughThePlugin) {
    const fs::path ckpt = ckpt_.path() / "ckpt";
    const auto before = directory_snapshot(ckpt);
    // A live host holds the checkpoint's lock: replay takes none, so it runs beside one.
    const int lock = ::open((ckpt / "lock").c_str(), O_RDWR);
    ASSERT_GE(lock, 0);
    ASSERT_EQ(::flock(lock, LOCK_EX | LOCK_NB), 0);

    const auto r = run_sluice(replay_args(ckpt, batch_, {"--keep-scratch", "--show", "0"}), 60s);
    ::close(lock);
    ASSERT_EQ(r.status.code, 0) << r.err << r.out;
    EXPECT_THAT(r.out, HasSubstr("batch " + std::to_string(batch_) + " from checkpoint "));
    EXPECT_THAT(r.out, HasSubstr("(committed)"));
    EXPECT_THAT(r.out, HasSubstr("range orders:0 [0, 10)"));
    EXPECT_THAT(r.out, HasSubstr("range orders:1 [0, 5)"));
    EXPECT_THAT(r.out, HasSubstr("15 records read from Kafka (" + bootstrap() + ")"));
    EXPECT_THAT(r.out, HasSubstr("process_batch: 15 records in, returned OK"));
    // What it logged, at every level, with the replay flag set and the host's batch id.
    EXPECT_THAT(r.out, HasSubstr("info  batch " + std::to_string(batch_) +
                                 " replay=1 records=15 ranges=2"));
    EXPECT_THAT(r.out, HasSubstr("debug a debug line"));
    EXPECT_THAT(r.out, HasSubstr("info  probe destroyed"));
    EXPECT_THAT(r.out, HasSubstr("probe_records = 15"));
    EXPECT_THAT(r.out, HasSubstr("emitted 15 records:"));
    EXPECT_THAT(r.out, HasSubstr("orders:0@3 key=null value=\"seen:r3\""));
    EXPECT_THAT(r.out, HasSubstr("orders:0@4 key=\"key4\" value=\"seen:r4\""));
    EXPECT_THAT(r.out, HasSubstr("orders:1@4 key=null value=\"seen:q4\""));
    EXPECT_THAT(r.out, Not(HasSubstr("orders:0@10"))) << "read past the batch's range";
    EXPECT_THAT(r.out, HasSubstr("result: OK"));

    // The plugin ran in a scratch directory, kept on request.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex("scratch directory kept: (\\S+)")));
    EXPECT_TRUE(fs::exists(fs::path(m[1].str()) / "probe-was-here"));
    fs::remove_all(m[1].str());

    EXPECT_EQ(directory_snapshot(ckpt), before) << "replay changed the checkpoint";
    EXPECT_EQ(committed_offsets(bootstrap(), "replay-group", "orders", 2), committed_);
}

TEST_F(Replay, JsonCarriesEveryRecordLogAndStatus) {
    const auto r = run_sluice(replay_args(ckpt_.path() / "ckpt", batch_, {"--json", "--input"}));
    ASSERT_EQ(r.status.code, 0) << r.err;
    const auto doc = nlohmann::json::parse(r.out);
    EXPECT_EQ(doc["batch_id"], batch_);
    EXPECT_EQ(doc["status"], "OK");
    EXPECT_EQ(doc["record_count"], 15);
    ASSERT_EQ(doc["records"].size(), 15u);
    EXPECT_EQ(doc["records"][4]["key"], "key4");
    EXPECT_EQ(doc["records"][4]["headers"][0]["name"], "h");
    EXPECT_EQ(doc["records"][4]["headers"][0]["value"], "x");
    ASSERT_EQ(doc["plugins"].size(), 1u);
    const auto &probe = doc["plugins"][0];
    EXPECT_EQ(probe["name"], "probe");
    EXPECT_EQ(probe["status"], "OK");
    EXPECT_EQ(probe["metrics"]["probe_records"], 15.0);
    ASSERT_EQ(probe["emitted"].size(), 15u);
    EXPECT_EQ(probe["emitted"][0]["value"], "seen:r0");
    EXPECT_EQ(probe["emitted"][0]["headers"][0]["name"], "probe");
    EXPECT_TRUE(probe["emitted"][14]["key"].is_null());
    bool saw_debug = false;
    for (const auto &line : probe["logs"]) saw_debug |= line["level"] == "debug";
    EXPECT_TRUE(saw_debug) << probe["logs"].dump();
}

TEST_F(Replay, APluginThatDoesNotReturnOkIsReportedWithExitThree) {
    const auto r =
        run_sluice(replay_args(ckpt_.path() / "ckpt", batch_, {"--set", "probe.fail-on=r3"}));
    EXPECT_EQ(r.status.code, 3) << r.err << r.out;
    EXPECT_THAT(r.out, HasSubstr("returned SKIP: record orders:0@3 has value 'r3'"));
    EXPECT_THAT(r.out, HasSubstr("result: SKIP from probe"));
    EXPECT_THAT(r.out, HasSubstr("emitted 3 records:")) << "what it emitted before it failed";
    EXPECT_EQ(committed_offsets(bootstrap(), "replay-group", "orders", 2), committed_);
}

TEST_F(Replay, ABatchNotInTheCheckpointIsOneClearError) {
    const fs::path ckpt = ckpt_.path() / "ckpt";
    const auto before = directory_snapshot(ckpt);
    const auto r = run_sluice(replay_args(ckpt, batch_ + 1000));
    EXPECT_EQ(r.status.code, 1);
    EXPECT_THAT(r.err,
                HasSubstr("batch " + std::to_string(batch_ + 1000) + " is not in the checkpoint"));
    EXPECT_THAT(r.err, HasSubstr("it holds batches " + std::to_string(batch_)));
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(directory_snapshot(ckpt), before);

    const auto not_ckpt = run_sluice(replay_args(dir_.path(), 0));
    EXPECT_EQ(not_ckpt.status.code, 1);
    EXPECT_THAT(not_ckpt.err, HasSubstr("is not a sluice checkpoint"));
}

TEST_F(Replay, ABatchKafkaNoLongerRetainsIsOneClearError) {
    produce("gone", {20}, "g");
    const fs::path ckpt = dir_.path() / "ckpt";
    const int64_t batch = run_one_batch("gone", ckpt, "gone-group");
    // The mock keeps about 5 MiB per partition: 8 MB more pushes the batch's records out.
    auto p = run_sluice({"produce", "--brokers", bootstrap(), "--topic", "gone", "--count", "8000",
                         "--value-size", "1000"},
                        60s);
    ASSERT_EQ(p.status.code, 0) << p.err;
    ASSERT_GT(watermarks(bootstrap(), "gone")[0].low, 20) << "the mock did not drop old data";
    const auto before = directory_snapshot(ckpt);
    const auto r = run_sluice(replay_args(ckpt, batch));
    EXPECT_EQ(r.status.code, 1) << r.out;
    EXPECT_THAT(r.err, HasSubstr("range gone:0 [0, 20) is no longer retained by Kafka"));
    EXPECT_THAT(r.err, HasSubstr("replay a newer batch"));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(directory_snapshot(ckpt), before);
}

TEST_F(Replay, CommandLineMistakesAreUsageErrors) {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"replay", "--checkpoint", "x", "--plugin", "probe"}, "name the batch"},
        {{"replay", "--checkpoint", "x", "--block", "3", "--plugin", "probe"}, "--wal-dir"},
        {{"replay", "--batch", "3", "--plugin", "probe"}, "--checkpoint DIR"},
        {{"replay", "--checkpoint", "x", "--batch", "3", "--plugin", "probe"}, "--brokers"},
        {{"replay", "--wal-dir", "x", "--block", "3"}, "--plugin NAME"},
        {{"replay", "--wal-dir", "x", "--block", "3", "--plugin", "p", "--set", "nodot"},
         "NAME.KEY=VALUE"},
    };
    for (const auto &[args, expected] : cases) {
        const auto r = run_sluice(args);
        EXPECT_EQ(r.status.code, 2) << args[1] << " " << r.err;
        EXPECT_THAT(r.err, HasSubstr(expected));
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
    const auto help = run_sluice({"replay", "--help"});
    EXPECT_EQ(help.status.code, 0);
    EXPECT_THAT(help.out, HasSubstr("--wal-dir DIR --block N"));
    EXPECT_THAT(help.out, HasSubstr("never touches"));
}

// ---------------------------------------------------------------- receiver WAL

std::unique_ptr<sluice::wal::Block> block(uint64_t id, int32_t partition, int64_t from, int count) {
    sluice::wal::BlockBuilder builder({"events", partition});
    for (int i = 0; i < count; ++i) {
        const std::string value = "w" + std::to_string(from + i);
        builder.add_record(from + i, 1'700'000'000'000 + i, 0, nullptr, 0, value.data(),
                           value.size(), 0);
    }
    return builder.seal(id, 1'700'000'000'000);
}

class ReplayWal : public ::testing::Test {
  protected:
    /// Blocks 0 (events:0 0..4), 1 (events:1 0..2) in batch 7 (done), block 2 (events:0 5..7)
    /// pending in planned batch 8.
    void SetUp() override {
        sluice::wal::WalOptions o;
        o.dir = wal_;
        sluice::wal::WriteAheadLog wal(o);
        wal.append(*block(wal.allocate_block_id(), 0, 0, 5));
        wal.append(*block(wal.allocate_block_id(), 1, 0, 3));
        wal.plan_batch(7, 1'700'000'001'000, {0, 1});
        wal.append(*block(wal.allocate_block_id(), 0, 5, 3));
        wal.mark_done(7, {0, 1});
        wal.plan_batch(8, 1'700'000'002'000, {2});
    }

    TempDir tmp_ = temp_dir("sluice-replay-wal");
    fs::path wal_ = tmp_.path() / "wal";
};

TEST_F(ReplayWal, ABlockIsReplayedFromTheWalWithoutABroker) {
    const auto before = directory_snapshot(wal_);
    const auto r = run_sluice({"replay", "--wal-dir", wal_.string(), "--block", "1", "--plugin-dir",
                               REPLAY_PLUGIN_DIR, "--plugin", "probe"});
    ASSERT_EQ(r.status.code, 0) << r.err << r.out;
    EXPECT_THAT(r.out, HasSubstr("batch 7 from WAL "));
    EXPECT_THAT(r.out, HasSubstr("processed by batch 7"));
    EXPECT_THAT(r.out, HasSubstr("range events:1 [0, 3)"));
    EXPECT_THAT(r.out, HasSubstr("3 records read from the WAL"));
    EXPECT_THAT(r.out, HasSubstr("batch 7 replay=1 records=3 ranges=1"));
    EXPECT_THAT(r.out, HasSubstr("events:1@2 key=null value=\"seen:w2\""));
    EXPECT_EQ(directory_snapshot(wal_), before) << "replay changed the WAL";
}

TEST_F(ReplayWal, APlannedBatchIsReplayedWithItsBlocksInOrder) {
    const auto before = directory_snapshot(wal_);
    const auto r = run_sluice({"replay", "--wal-dir", wal_.string(), "--batch", "7", "--plugin-dir",
                               REPLAY_PLUGIN_DIR, "--plugin", "probe", "--json"});
    ASSERT_EQ(r.status.code, 0) << r.err << r.out;
    const auto doc = nlohmann::json::parse(r.out);
    EXPECT_EQ(doc["batch_id"], 7);
    EXPECT_EQ(doc["batch_time_ms"], 1'700'000'001'000);
    ASSERT_EQ(doc["ranges"].size(), 2u);
    EXPECT_EQ(doc["ranges"][0]["partition"], 0);
    EXPECT_EQ(doc["ranges"][0]["until_offset"], 5);
    EXPECT_EQ(doc["plugins"][0]["emitted"].size(), 8u);
    EXPECT_EQ(doc["plugins"][0]["emitted"][5]["value"], "seen:w0");
    EXPECT_EQ(directory_snapshot(wal_), before);
}

TEST_F(ReplayWal, ABlockNotInTheWalIsOneClearError) {
    const auto r = run_sluice({"replay", "--wal-dir", wal_.string(), "--block", "42",
                               "--plugin-dir", REPLAY_PLUGIN_DIR, "--plugin", "probe"});
    EXPECT_EQ(r.status.code, 1);
    EXPECT_THAT(r.err, HasSubstr("block 42 is not in the WAL"));
    EXPECT_THAT(r.err, HasSubstr("it holds blocks 0..2"));
    EXPECT_THAT(r.err, HasSubstr("sluice wal inspect"));
}

}  // namespace
