// End-to-end tests of `sluice run --mode direct`: the real binary, the bundled
// plugins, and a standalone `sluice mock-broker` as the Kafka cluster.

#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "mock_broker_suite.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

namespace {

class RunDirect : public MockBrokerSuite<RunDirect> {
  public:
    static std::vector<MockTopic> mock_topics() {
        return {{"earliest", 4}, {"latest", 2},  {"explicit", 2}, {"rate", 2},
                {"multi_a", 2},  {"multi_b", 1}, {"bytes", 1},    {"loss", 1},
                {"restart", 3},  {"grouped", 2}, {"signals", 1},  {"misc", 1}};
    }

  protected:
    void produce(const std::string &topic, int count, std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"produce", "--brokers", bootstrap(),           "--topic",
                                      topic,     "--count",   std::to_string(count), "--key-size",
                                      "8"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto r = run_sluice(args, 60s);
        ASSERT_EQ(r.status.code, 0) << r.err;
    }

    /// A config file with the file-sink writing to `sink` and print-offsets to `offsets`.
    std::string config(const std::string &sink, const std::string &offsets,
                       const std::string &extra_top = "") {
        const std::string path = dir_.file("run.ini");
        write_text(path, extra_top + "\nlog-level = info\n[plugin.file-sink]\npath = " + sink +
                             "\n[plugin.print-offsets]\noutput = " + offsets + "\n");
        return path;
    }

    std::vector<std::string> run_args(const std::string &topics, const std::string &cfg,
                                      std::vector<std::string> extra) {
        std::vector<std::string> args{"run",       "--config",  cfg,
                                      "--brokers", bootstrap(), "--topics",
                                      topics,      "--plugin",  "print-offsets",
                                      "--plugin",  "file-sink", "--batch-interval",
                                      "100ms",     "-X",        "fetch.wait.max.ms=10"};
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    }

    TempDir dir_ = temp_dir("sluice-e2e");
};

void expect_same_records(const std::vector<ConsumedRecord> &sink,
                         const std::vector<ConsumedRecord> &expected) {
    std::map<std::tuple<std::string, int32_t, int64_t>, int> seen;
    for (const auto &r : sink) ++seen[record_id(r)];
    for (const auto &[id, n] : seen)
        EXPECT_EQ(n, 1) << std::get<0>(id) << "/" << std::get<1>(id) << "@" << std::get<2>(id)
                        << " written " << n << " times";
    ASSERT_EQ(sink.size(), expected.size());
    std::map<std::tuple<std::string, int32_t, int64_t>, const ConsumedRecord *> by_id;
    for (const auto &r : sink) by_id[record_id(r)] = &r;
    for (const auto &e : expected) {
        auto it = by_id.find(record_id(e));
        ASSERT_NE(it, by_id.end())
            << "missing " << e.topic << "/" << e.partition << "@" << e.offset;
        EXPECT_EQ(it->second->value, e.value);
        EXPECT_EQ(it->second->key, e.key);
    }
}

}  // namespace

TEST_F(RunDirect, EarliestCoversEveryRecordExactlyOnceAcrossManyBatches) {
    produce("earliest", 2000);
    const auto sink = dir_.file("sink.jsonl"), offsets = dir_.file("offsets.txt");
    auto r = run_sluice(run_args("earliest", config(sink, offsets),
                                 {"--auto-offset-reset", "earliest", "--max-batch-records", "300",
                                  "--max-batches", "9"}),
                        60s);
    ASSERT_EQ(r.status.code, 0) << r.err;
    expect_same_records(read_sink(sink), consume_all(bootstrap(), "earliest"));

    // The ranges of consecutive batches are contiguous per partition, no batch
    // exceeds max-batch-records, and together they cover [0, high).
    auto marks = watermarks(bootstrap(), "earliest");
    std::map<int, int64_t> next;
    std::map<int64_t, int64_t> per_batch;
    for (const auto &line : read_ranges(offsets)) {
        EXPECT_EQ(line.topic, "earliest");
        EXPECT_EQ(line.from, next[line.partition]) << "gap or overlap in batch " << line.batch;
        next[line.partition] = line.until;
        per_batch[line.batch] += line.until - line.from;
    }
    for (const auto &[batch, n] : per_batch) EXPECT_LE(n, 300) << "batch " << batch;
    for (int p = 0; p < 4; ++p) EXPECT_EQ(next[p], marks[p].high) << "partition " << p;
    EXPECT_GE(per_batch.size(), 7u);
    EXPECT_NE(r.err.find("batch 0: 300 records"), std::string::npos) << r.err;
}

TEST_F(RunDirect, LatestStartsAfterWhatIsAlreadyThere) {
    produce("latest", 100);
    const auto before = watermarks(bootstrap(), "latest");
    const auto sink = dir_.file("sink.jsonl"), offsets = dir_.file("offsets.txt");
    ChildProcess host(sluice_argv(run_args("latest", config(sink, offsets), {})),
                      {dir_.file("host.err"), true});
    ASSERT_TRUE(
        wait_until([&] { return read_file(offsets).find("batch 1 ") != std::string::npos; }, 30s))
        << read_file(dir_.file("host.err"));
    produce("latest", 50);
    EXPECT_TRUE(wait_until([&] { return read_sink(sink).size() >= 50; }, 30s))
        << read_file(dir_.file("host.err"));
    ASSERT_TRUE(stops_cleanly(host, dir_.file("host.err"), 20s));
    auto records = read_sink(sink);
    EXPECT_EQ(records.size(), 50u);
    for (const auto &rec : records) EXPECT_GE(rec.offset, before[rec.partition].high);
    EXPECT_NE(read_file(dir_.file("host.err")).find("auto-offset-reset=latest"), std::string::npos);
}

TEST_F(RunDirect, ExplicitFromOffsets) {
    produce("explicit", 200);
    const auto sink = dir_.file("sink.jsonl");
    auto r = run_sluice(
        run_args("explicit", config(sink, dir_.file("o.txt")),
                 {"--from-offsets", "explicit:0=10,explicit:1=20", "--max-batches", "2"}),
        60s);
    ASSERT_EQ(r.status.code, 0) << r.err;
    std::vector<ConsumedRecord> expected;
    for (auto &rec : consume_all(bootstrap(), "explicit"))
        if (rec.offset >= (rec.partition == 0 ? 10 : 20)) expected.push_back(rec);
    expect_same_records(read_sink(sink), expected);
}

TEST_F(RunDirect, RateLimitCapsEveryRange) {
    produce("rate", 600);
    const auto offsets = dir_.file("offsets.txt");
    auto r = run_sluice(run_args("rate", config(dir_.file("s.jsonl"), offsets),
                                 {"--auto-offset-reset", "earliest", "--max-rate-per-partition",
                                  "200", "--max-batches", "4"}),
                        60s);
    ASSERT_EQ(r.status.code, 0) << r.err;
    auto ranges = read_ranges(offsets);
    ASSERT_EQ(ranges.size(), 8u);  // 4 batches x 2 partitions
    int full = 0;
    for (const auto &line : ranges) {
        EXPECT_LE(line.until - line.from, 20);  // 200/s x 100 ms
        full += (line.until - line.from) == 20;
    }
    EXPECT_GE(full, 6) << "the backlog should fill most ranges to the cap";
}

TEST_F(RunDirect, SeveralTopicsAndPartitions) {
    produce("multi_a", 150);
    produce("multi_b", 70);
    const auto sink = dir_.file("sink.jsonl");
    auto r = run_sluice(run_args("multi_a,multi_b", config(sink, dir_.file("o.txt")),
                                 {"--auto-offset-reset", "smallest", "--max-batches", "2"}),
                        60s);
    ASSERT_EQ(r.status.code, 0) << r.err;
    auto expected = consume_all(bootstrap(), "multi_a");
    auto b = consume_all(bootstrap(), "multi_b");
    expected.insert(expected.end(), b.begin(), b.end());
    expect_same_records(read_sink(sink), expected);
}

TEST_F(RunDirect, NullEmptyBinaryAndHeadersArriveIntact) {
    const std::string binary("\x00\x01\xff\xfe\n\"\\", 7);
    produce_records(bootstrap(), "bytes",
                    {{0, std::nullopt, std::string(), {}},
                     {0, std::string(), std::nullopt, {}},
                     {0,
                      binary,
                      binary,
                      {{"h-null", std::nullopt},
                       {"h-empty", std::string()},
                       {"h-bin", binary},
                       {"h-null", std::string("dup")}}}});
    const auto sink = dir_.file("sink.jsonl");
    auto r = run_sluice(run_args("bytes", config(sink, dir_.file("o.txt")),
                                 {"--auto-offset-reset", "earliest", "--max-batches", "1"}),
                        60s);
    ASSERT_EQ(r.status.code, 0) << r.err;
    auto records = read_sink(sink);
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[0].key, std::nullopt);
    EXPECT_EQ(records[0].value, std::string());
    EXPECT_EQ(records[1].key, std::string());
    EXPECT_EQ(records[1].value, std::nullopt);
    EXPECT_EQ(records[2].key, binary);
    EXPECT_EQ(records[2].value, binary);
    ASSERT_EQ(records[2].headers.size(), 4u);
    EXPECT_EQ(records[2].headers[0].name, "h-null");
    EXPECT_EQ(records[2].headers[0].value, std::nullopt);
    EXPECT_EQ(records[2].headers[1].value, std::string());
    EXPECT_EQ(records[2].headers[2].value, binary);
    EXPECT_EQ(records[2].headers[3].value, std::string("dup"));
    EXPECT_GT(records[2].timestamp, 1600000000000);
}

TEST_F(RunDirect, RestartResumesFromCheckpointWithoutDuplicates) {
    produce("restart", 600);
    const auto sink = dir_.file("sink.jsonl");
    const auto cfg = config(sink, dir_.file("o.txt"));
    const auto ckpt = dir_.file("checkpoint");
    auto first = run_sluice(run_args("restart", cfg,
                                     {"--checkpoint", ckpt, "--auto-offset-reset", "earliest",
                                      "--max-batch-records", "100", "--max-batches", "2"}),
                            60s);
    ASSERT_EQ(first.status.code, 0) << first.err;
    EXPECT_EQ(read_sink(sink).size(), 200u);
    // auto-offset-reset=latest would skip the rest: the checkpoint must win.
    auto second = run_sluice(run_args("restart", cfg,
                                      {"--checkpoint", ckpt, "--auto-offset-reset", "latest",
                                       "--max-batch-records", "100", "--max-batches", "5"}),
                             60s);
    ASSERT_EQ(second.status.code, 0) << second.err;
    EXPECT_NE(second.err.find("(checkpoint)"), std::string::npos) << second.err;
    EXPECT_NE(second.err.find("batch 2:"), std::string::npos) << "batch ids continue";
    expect_same_records(read_sink(sink), consume_all(bootstrap(), "restart"));
}

TEST_F(RunDirect, CommitsOffsetsToTheKafkaGroup) {
    produce("grouped", 300);
    auto r = run_sluice(run_args("grouped", config(dir_.file("s.jsonl"), dir_.file("o.txt")),
                                 {"--group", "sluice-e2e", "--auto-offset-reset", "earliest",
                                  "--max-batches", "2"}),
                        60s);
    ASSERT_EQ(r.status.code, 0) << r.err;
    auto marks = watermarks(bootstrap(), "grouped");
    auto committed = committed_offsets(bootstrap(), "sluice-e2e", "grouped", 2);
    for (int p = 0; p < 2; ++p) EXPECT_EQ(committed[p], marks[p].high) << "partition " << p;

    // A second run without a checkpoint resumes from the group's offsets.
    produce("grouped", 40);
    const auto sink2 = dir_.file("s2.jsonl");
    auto again = run_sluice(run_args("grouped", config(sink2, dir_.file("o2.txt")),
                                     {"--group", "sluice-e2e", "--max-batches", "1"}),
                            60s);
    ASSERT_EQ(again.status.code, 0) << again.err;
    EXPECT_EQ(read_sink(sink2).size(), 40u);
    EXPECT_NE(again.err.find("committed offset"), std::string::npos) << again.err;
}

TEST_F(RunDirect, DataLossStopsByDefaultAndIsSkippedWhenAllowed) {
    // The mock keeps about 5 MiB per partition: 8 MB pushes the low watermark up.
    produce("loss", 8000, {"--value-size", "1000"});
    auto marks = watermarks(bootstrap(), "loss");
    ASSERT_GT(marks[0].low, 0) << "the mock did not drop old data";
    const auto cfg = config(dir_.file("s.jsonl"), dir_.file("o.txt"));
    auto strict = run_sluice(
        run_args("loss", cfg, {"--from-offsets", "loss:0=0", "--max-batches", "1"}), 60s);
    EXPECT_EQ(strict.status.code, 3) << strict.err;
    EXPECT_NE(strict.err.find("data loss on loss partition 0"), std::string::npos) << strict.err;
    EXPECT_NE(strict.err.find("fail-on-data-loss=false"), std::string::npos);

    auto lenient = run_sluice(run_args("loss", cfg,
                                       {"--from-offsets", "loss:0=0", "--fail-on-data-loss",
                                        "false", "--max-batches", "1"}),
                              60s);
    EXPECT_EQ(lenient.status.code, 0) << lenient.err;
    EXPECT_NE(lenient.err.find("skipped " + std::to_string(marks[0].low) + " records"),
              std::string::npos)
        << lenient.err;
}

TEST_F(RunDirect, TimestampStartIsAClearErrorOnTheMock) {
    auto r = run_sluice(run_args("misc", config(dir_.file("s.jsonl"), dir_.file("o.txt")),
                                 {"--from-timestamp", "1700000000000", "--max-batches", "1"}),
                        60s);
    EXPECT_NE(r.status.code, 0);
    EXPECT_NE(r.err.find("timestamp"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--auto-offset-reset"), std::string::npos) << r.err;
}

TEST_F(RunDirect, SigtermFinishesTheBatchAndExitsZero) {
    produce("signals", 100);
    ChildProcess host(
        sluice_argv(run_args("signals", config(dir_.file("s.jsonl"), dir_.file("o.txt")),
                             {"--auto-offset-reset", "earliest"})),
        {dir_.file("host.err"), true});
    ASSERT_TRUE(wait_until(
        [&] { return read_file(dir_.file("host.err")).find("batch 2:") != std::string::npos; },
        30s));
    auto status = stop_gracefully(host, 15s);
    ASSERT_TRUE(status);
    EXPECT_EQ(status->code, 0);
    const auto err = read_file(dir_.file("host.err"));
    EXPECT_NE(err.find("SIGTERM received"), std::string::npos) << err;
    EXPECT_NE(err.find("stopped after"), std::string::npos) << err;
    EXPECT_EQ(read_sink(dir_.file("s.jsonl")).size(), 100u);
}

TEST_F(RunDirect, EmbeddedBrokerRunsWithoutAnyCluster) {
    auto r = run_sluice({"run", "--brokers", "embedded", "--topics", "demo", "--plugin",
                         "print-offsets", "--batch-interval", "100ms", "--max-batches", "2"},
                        60s);
    ASSERT_EQ(r.status.code, 0) << r.err;
    EXPECT_NE(r.err.find("embedded Kafka"), std::string::npos);
    EXPECT_NE(r.out.find("demo 3 0 0"), std::string::npos) << r.out;  // 4 partitions, empty
}

TEST_F(RunDirect, MissingPluginIsOneClearLine) {
    auto r = run_sluice({"run", "--brokers", bootstrap(), "--topics", "misc", "--plugin",
                         "no-such-plugin", "--max-batches", "1"},
                        60s);
    EXPECT_EQ(r.status.code, 1);
    EXPECT_NE(r.err.find("no-such-plugin"), std::string::npos) << r.err;
}

TEST_F(RunDirect, UnknownFlagIsAUsageError) {
    auto r = run_sluice({"run", "--brokers", bootstrap(), "--topics", "misc", "--plugin",
                         "print-offsets", "--batch-intervall", "1s"},
                        30s);
    EXPECT_EQ(r.status.code, 2);
    EXPECT_NE(r.err.find("batch-intervall"), std::string::npos) << r.err;
}
