// The per-partition layout under `sluice run` (direct mode, --checkpoint) killed with kill -9
// at random moments while `sluice produce` writes: in the end each partition's file holds
// exactly that partition's records, every produced record exactly once, compared with an
// independent consumer of the topic, and each sidecar's next offset is the high watermark.

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "mock_broker_process.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

namespace {

constexpr int kPartitions = 4;

/// Every line of every partition file in `dir`; checks that a file holds only its partition.
std::vector<ConsumedRecord> read_partition_files(const std::string &dir) {
    std::vector<ConsumedRecord> all;
    for (int p = 0; p < kPartitions; ++p) {
        const std::string file = dir + "/crash-" + std::to_string(p) + ".jsonl";
        for (auto &r : read_sink(file)) {
            if (r.partition != p)
                throw std::runtime_error(file + " holds a record of partition " +
                                         std::to_string(r.partition));
            all.push_back(std::move(r));
        }
    }
    return all;
}

}  // namespace

TEST(FileSinkPerPartition, Kill9LeavesEveryRecordExactlyOnceInItsPartitionsFile) {
    constexpr int kCycles = 8;
    constexpr int kRecords = 24000;
    MockBrokerProcess broker({{"crash", kPartitions}});
    auto dir = temp_dir("sluice-pp-kill9");
    const auto sink = dir.file("sink");
    const auto cfg = dir.file("run.ini");
    write_text(cfg, "[plugin.file-sink]\npath = " + sink + "\nper-partition = true\n");
    const std::vector<std::string> run_args = kill9_direct_args(
        broker.bootstrap_servers(), "crash", cfg, "file-sink", dir.file("checkpoint"));
    ChildProcess producer = start_producer(broker.bootstrap_servers(), "crash", kRecords, 3000,
                                           dir.file("producer.err"));

    const unsigned seed = test_seed();
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> life_ms(300, 1300);
    std::printf("per-partition kill9: seed %u\n", seed);
    int killed_mid_run = 0, replays = 0;
    for (int cycle = 0; cycle < kCycles; ++cycle) {
        const KilledRun r = run_then_kill9(sluice_argv(run_args), dir.file("host.err"),
                                           std::chrono::milliseconds(life_ms(rng)));
        if (r.was_running) ++killed_mid_run;
        if (r.log.find("replaying batch") != std::string::npos) ++replays;
        if (!r.killed())
            FAIL() << "host exited by itself in cycle " << cycle << ": " << r.describe();
    }
    ASSERT_TRUE(exits_cleanly(producer, dir.file("producer.err"), 60s));
    EXPECT_GT(read_partition_files(sink).size(), 0u);

    const auto expected = consume_all(broker.bootstrap_servers(), "crash");
    ASSERT_EQ(expected.size(), static_cast<size_t>(kRecords));
    ASSERT_TRUE(run_until(
        sluice_argv(run_args), dir.file("final.err"),
        [&] { return read_partition_files(sink).size() >= expected.size(); }, 40s));

    const auto written = read_partition_files(sink);
    const Tally t = tally(written, expected);
    std::printf(
        "per-partition kill9: cycles %d (killed mid-run %d, %d replayed a batch), produced %zu, "
        "written %zu, missing %zu, duplicated %zu, wrong values %zu\n",
        kCycles, killed_mid_run, replays, expected.size(), written.size(), t.missing, t.duplicated,
        t.wrong_value);
    EXPECT_GE(killed_mid_run, 6);
    EXPECT_EQ(t.missing, 0u);
    EXPECT_EQ(t.duplicated, 0u);
    EXPECT_EQ(t.wrong_value, 0u);
    const auto marks = watermarks(broker.bootstrap_servers(), "crash");
    for (int p = 0; p < kPartitions; ++p) {
        const auto side = nlohmann::json::parse(
            read_file(sink + "/crash-" + std::to_string(p) + ".jsonl.offsets"));
        ASSERT_EQ(side.at("offsets").size(), 1u) << "partition " << p;
        EXPECT_EQ(side.at("offsets")[0].at("next").get<int64_t>(), marks[p].high);
    }
}
