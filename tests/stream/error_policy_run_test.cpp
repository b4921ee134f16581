// Each error policy end to end: the real `sluice run` against a standalone `sluice mock-broker`,
// the chain [flaky, file-sink] (flaky fails on purpose, see flaky_plugin.cpp), a checkpoint and
// a consumer group. What was committed is read back from the group, what was dead-lettered with
// an independent librdkafka consumer. No timing is asserted: waits are bounded, not measured.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "e2e_helpers.hpp"
#include "mock_broker_suite.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

namespace {

constexpr int kRecords = 5;

class ErrorPolicyRun : public MockBrokerSuite<ErrorPolicyRun> {
  public:
    static std::vector<MockTopic> mock_topics() {
        return {{"retry_ok", 1}, {"exhausted", 1}, {"skip_code", 1}, {"dlq_in", 1}, {"dlq_out", 2},
                {"dlq_fail", 1}, {"stopped", 1},   {"fatal", 1},     {"unknown", 1}};
    }

  protected:
    /// kRecords records "v0".."v4" with keys "k0".. on partition 0.
    void produce_plain(const std::string &topic) {
        std::vector<RecordToProduce> records;
        for (int i = 0; i < kRecords; ++i)
            records.push_back({0, "k" + std::to_string(i), "v" + std::to_string(i), {}});
        produce_records(bootstrap(), topic, records);
    }

    /// `sluice run` on `topic` with [plugin.flaky] = `flaky`; one group and one checkpoint per
    /// topic, so a second call is a restart of the first.
    CommandResult run(const std::string &topic, const std::string &flaky, int max_batches,
                      std::vector<std::string> extra = {}) {
        const std::string cfg = dir_.file(topic + ".ini");
        write_text(cfg, "log-level = info\n[plugin.file-sink]\npath = " + sink(topic) +
                            "\n[plugin.flaky]\n" + flaky + "\n");
        std::vector<std::string> args{"run",
                                      "--config",
                                      cfg,
                                      "--brokers",
                                      bootstrap(),
                                      "--topics",
                                      topic,
                                      "--group",
                                      group(topic),
                                      "--checkpoint",
                                      dir_.file(topic + ".ckpt"),
                                      "--auto-offset-reset",
                                      "earliest",
                                      "--plugin-dir",
                                      POLICY_PLUGIN_DIR,
                                      "--plugin-dir",
                                      SLUICE_PLUGIN_OUTPUT_DIR,
                                      "--plugin",
                                      "flaky",
                                      "--plugin",
                                      "file-sink",
                                      "--hot-reload",
                                      "false",
                                      "--batch-interval",
                                      "100ms",
                                      "--max-batches",
                                      std::to_string(max_batches),
                                      "-X",
                                      "fetch.wait.max.ms=10"};
        args.insert(args.end(), extra.begin(), extra.end());
        return run_sluice(args, 60s);
    }

    std::string sink(const std::string &topic) const { return dir_.file(topic + ".jsonl"); }
    static std::string group(const std::string &topic) { return "policy-" + topic; }
    int64_t committed(const std::string &topic) const {
        return committed_offsets(bootstrap(), group(topic), topic, 1).at(0);
    }
    /// Whether the group has any offset for the topic (librdkafka: -1001 = none).
    bool has_commit(const std::string &topic) const { return committed(topic) >= 0; }
    std::vector<std::string> sink_values(const std::string &topic) const {
        std::vector<std::string> out;
        for (const auto &r : read_sink(sink(topic))) out.push_back(r.value.value_or("<null>"));
        return out;
    }
    static std::vector<std::string> all_values() {
        std::vector<std::string> out;
        for (int i = 0; i < kRecords; ++i) out.push_back("v" + std::to_string(i));
        return out;
    }
    static size_t count(const std::string &text, const std::string &what) {
        size_t n = 0;
        for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
            ++n;
        return n;
    }

    TempDir dir_ = temp_dir("sluice-policy");
};

std::optional<std::string> header(const ConsumedRecord &r, const std::string &name) {
    for (const auto &h : r.headers)
        if (h.name == name) return h.value;
    return std::nullopt;
}

}  // namespace

TEST_F(ErrorPolicyRun, RetryThenSucceedWritesEverythingOnce) {
    produce_plain("retry_ok");
    auto r =
        run("retry_ok", "fail = retry\nfail-times = 2\nmax-retries = 3\nretry-backoff = 10ms", 1);
    ASSERT_EQ(r.status.code, 0) << r.err;
    EXPECT_EQ(sink_values("retry_ok"), all_values());
    EXPECT_EQ(count(r.err, "asked to retry"), 2u) << r.err;
    EXPECT_NE(r.err.find("plugin flaky batch 0: asked to retry (flaky call 1 fails with retry); "
                         "retry 1 of 3 in 10 ms"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("retry 2 of 3 in 20 ms"), std::string::npos) << r.err;
    EXPECT_EQ(committed("retry_ok"), kRecords);
}

TEST_F(ErrorPolicyRun, RetriesExhaustedThenSkipCommitsAndIsNotReplayed) {
    produce_plain("exhausted");
    auto r =
        run("exhausted", "fail = retry\nmax-retries = 2\nretry-backoff = 1ms\non-error = skip", 1);
    ASSERT_EQ(r.status.code, 0) << r.err;
    EXPECT_EQ(count(r.err, "asked to retry"), 2u) << r.err;
    EXPECT_NE(r.err.find("still asking to retry after 2 retries"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("skipped: committing the batch without the work of this and the later "
                         "plugins"),
              std::string::npos)
        << r.err;
    EXPECT_TRUE(sink_values("exhausted").empty());  // the sink comes after flaky
    EXPECT_EQ(committed("exhausted"), kRecords);

    // The restart starts after the skipped batch: nothing replayed, nothing written.
    auto again = run("exhausted", "fail = ok", 1);
    ASSERT_EQ(again.status.code, 0) << again.err;
    EXPECT_EQ(again.err.find("(replay)"), std::string::npos) << again.err;
    EXPECT_TRUE(sink_values("exhausted").empty());
    EXPECT_EQ(committed("exhausted"), kRecords);
}

TEST_F(ErrorPolicyRun, SkipCodeIsNeverRetriedAndNeverStops) {
    produce_plain("skip_code");
    // on-error stays at its default (stop): SLUICE_SKIP is the plugin's own decision to move on.
    auto r = run("skip_code", "fail = skip\nfail-times = 1", 1);
    ASSERT_EQ(r.status.code, 0) << r.err;
    EXPECT_EQ(count(r.err, "asked to retry"), 0u) << r.err;
    EXPECT_NE(r.err.find("plugin flaky batch 0 (skip): flaky call 1 fails with skip; skipped"),
              std::string::npos)
        << r.err;
    EXPECT_TRUE(sink_values("skip_code").empty());
    EXPECT_EQ(committed("skip_code"), kRecords);
}

TEST_F(ErrorPolicyRun, DeadLetterProducesTheInputWithHeadersBeforeCommitting) {
    std::vector<RecordToProduce> records = {
        {0, "k0", "v0", {{"trace", "abc"}, {"nullh", std::nullopt}}},
        {0, std::nullopt, "v1", {}},
        {0, "", std::nullopt, {}},
        {0, "k3", "", {{"trace", "def"}}},
    };
    produce_records(bootstrap(), "dlq_in", records);
    auto r = run("dlq_in",
                 "fail = retry\nmax-retries = 1\nretry-backoff = 1ms\non-error = dead-letter\n"
                 "dead-letter-topic = dlq_out",
                 1);
    ASSERT_EQ(r.status.code, 0) << r.err;
    EXPECT_NE(r.err.find("dead-lettered its 4 records to 'dlq_out'"), std::string::npos) << r.err;
    EXPECT_EQ(committed("dlq_in"), 4);
    EXPECT_TRUE(sink_values("dlq_in").empty());

    auto dead = consume_all(bootstrap(), "dlq_out");
    ASSERT_EQ(dead.size(), records.size());
    std::sort(dead.begin(), dead.end(), [](const auto &a, const auto &b) {
        return header(a, "sluice.offset") < header(b, "sluice.offset");
    });
    for (size_t i = 0; i < records.size(); ++i) {
        SCOPED_TRACE("record " + std::to_string(i));
        const ConsumedRecord &d = dead[i];
        EXPECT_EQ(d.key, records[i].key);
        EXPECT_EQ(d.value, records[i].value);
        EXPECT_EQ(header(d, "sluice.plugin"), "flaky");
        EXPECT_EQ(header(d, "sluice.error"), "flaky call 2 fails with retry");
        EXPECT_EQ(header(d, "sluice.topic"), "dlq_in");
        EXPECT_EQ(header(d, "sluice.partition"), "0");
        EXPECT_EQ(header(d, "sluice.offset"), std::to_string(i));
        EXPECT_EQ(header(d, "sluice.batch"), "0");
        // The original headers come first, unchanged (null kept distinct from empty).
        ASSERT_GE(d.headers.size(), records[i].headers.size());
        for (size_t h = 0; h < records[i].headers.size(); ++h) {
            EXPECT_EQ(d.headers[h].name, records[i].headers[h].name);
            EXPECT_EQ(d.headers[h].value, records[i].headers[h].value);
        }
        EXPECT_EQ(d.headers.size(), records[i].headers.size() + 6);
    }
}

TEST_F(ErrorPolicyRun, FailedDeadLetterStopsWithoutCommitting) {
    produce_plain("dlq_fail");
    // The consumer accepts this setting; the idempotent dead-letter producer refuses it.
    auto r = run("dlq_fail", "fail = skip\non-error = dead-letter", 1,
                 {"-X", "max.in.flight.requests.per.connection=10"});
    EXPECT_EQ(r.status.code, 1) << r.err;
    EXPECT_NE(r.err.find("dead-lettering to 'flaky.dead-letter' failed"), std::string::npos)
        << r.err;
    EXPECT_FALSE(has_commit("dlq_fail"));
}

TEST_F(ErrorPolicyRun, StopExitsOneAndTheRestartReplaysTheBatch) {
    produce_plain("stopped");
    auto r =
        run("stopped", "fail = retry\nmax-retries = 1\nretry-backoff = 1ms\non-error = stop", 3);
    EXPECT_EQ(r.status.code, 1) << r.err;
    EXPECT_NE(r.err.find("plugin flaky batch 0 (retry): flaky call 2 fails with retry; stopping "
                         "without committing the batch"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(has_commit("stopped"));
    EXPECT_TRUE(sink_values("stopped").empty());

    auto again = run("stopped", "fail = ok", 1);
    ASSERT_EQ(again.status.code, 0) << again.err;
    EXPECT_NE(again.err.find("batch 0 (replay)"), std::string::npos) << again.err;
    EXPECT_EQ(sink_values("stopped"), all_values());
    EXPECT_EQ(committed("stopped"), kRecords);
}

TEST_F(ErrorPolicyRun, FatalAlwaysStopsEvenWithOnErrorSkip) {
    produce_plain("fatal");
    auto r = run("fatal", "fail = fatal\non-error = skip", 3);
    EXPECT_EQ(r.status.code, 1) << r.err;
    EXPECT_EQ(count(r.err, "asked to retry"), 0u) << r.err;
    EXPECT_NE(r.err.find("plugin flaky batch 0 (fatal): flaky call 1 fails with fatal; stopping"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(has_commit("fatal"));
}

TEST_F(ErrorPolicyRun, UnknownCodeAlwaysStopsEvenWithOnErrorDeadLetter) {
    produce_plain("unknown");
    auto r = run("unknown", "fail = unknown\non-error = dead-letter", 3);
    EXPECT_EQ(r.status.code, 1) << r.err;
    EXPECT_NE(r.err.find("unknown status 77"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("dead-lettered"), std::string::npos) << r.err;
    EXPECT_FALSE(has_commit("unknown"));
}

TEST_F(ErrorPolicyRun, ValidateRejectsABadPolicyInOneLine) {
    const std::string cfg = dir_.file("bad.ini");
    write_text(cfg, "[plugin.flaky]\non-error = ignore\n");
    auto r = run_sluice({"run", "--config", cfg, "--brokers", "embedded", "--topics", "t",
                         "--plugin", "flaky", "--validate"},
                        30s);
    EXPECT_EQ(r.status.code, 2) << r.err;
    EXPECT_NE(r.err.find("[plugin.flaky] on-error: 'ignore' is not a policy"), std::string::npos)
        << r.err;
}
