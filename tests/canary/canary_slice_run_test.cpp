// A sink's canary on a slice of the partitions, on a running host: the real `sluice run`
// (ledger -> file-sink, 4 partitions) against a `sluice mock-broker`, canaries of the test sink
// ledger (plugins/ledger.c) deployed by POST /control/canary?plugin=ledger (the watcher's own
// debounce is an hour here, so only the requests deploy). One canary fails on a record of its
// slice and is rolled back, the next serves its slice for canary-batches batches and is
// promoted. Every generation writes one ledger file, each line marked with its instance: every
// record reaches exactly one generation once, only while that generation holds the partition
// (its open/close hooks ran on each hand-over), and file-sink after it stores every record once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "control_http.hpp"
#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "metrics_http.hpp"
#include "mock_broker_suite.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

constexpr const char *kToken = "canary-slice-test-token-0123";

/// One line of the ledger (plugins/ledger.c).
struct Line {
    std::string what;  // open, close, rec
    std::string id;    // the instance
    std::string version;
    std::string partition;  // TOPIC-PARTITION
    int64_t offset = -1;
};

std::vector<Line> read_ledger(const std::string &path) {
    std::vector<Line> out;
    std::istringstream in(read_file(path));
    std::string text;
    while (std::getline(in, text)) {
        std::istringstream words(text);
        Line l;
        words >> l.what >> l.id >> l.version >> l.partition;
        if (l.what == "rec") words >> l.offset;
        out.push_back(l);
    }
    return out;
}

class CanarySliceRun : public MockBrokerSuite<CanarySliceRun> {
  public:
    static std::vector<MockTopic> mock_topics() { return {{"slices", 4}}; }

  protected:
    void deploy(const std::string &build, const std::string &name) {
        const fs::path tmp = deploy_ / ("." + name + ".tmp");
        fs::copy_file(fs::path(CANARY_TEST_PLUGIN_DIR) / ("canary_ledger_" + build + ".so"), tmp,
                      fs::copy_options::overwrite_existing);
        fs::permissions(tmp, fs::perms(0755));
        fs::rename(tmp, deploy_ / name);
    }
    void produce(int count, int32_t only_partition = -1, const std::string &value = "") {
        std::vector<RecordToProduce> records;
        for (int i = produced_; i < produced_ + count; ++i)
            records.push_back({only_partition >= 0 ? only_partition : i % 4,
                               std::nullopt,
                               value.empty() ? "r" + std::to_string(i) : value,
                               {}});
        produce_records(bootstrap(), "slices", records);
        produced_ += count;
    }
    size_t count_in_log(const std::string &text) {
        const std::string log = read_file(log_);
        size_t n = 0;
        for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
        return n;
    }
    /// Produces a record to every partition until the log has `text` `times` times.
    bool produce_until_logged(const std::string &text, size_t times = 1) {
        return wait_until(
            [&] {
                if (count_in_log(text) >= times) return true;
                produce(4);
                return false;
            },
            30s);
    }
    nlohmann::json plugin_status(int port) {
        const auto r = http_get("127.0.0.1", port, "/status");
        return r ? nlohmann::json::parse(r->body)["plugins"][0] : nlohmann::json();
    }

    TempDir dir_ = temp_dir("sluice-canary-slice");
    fs::path deploy_ = dir_.path() / "deploy";
    std::string sink_ = dir_.file("sink.jsonl");
    std::string ledger_ = dir_.file("ledger.txt");
    std::string log_ = dir_.file("host.err");
    int produced_ = 0;
};

TEST_F(CanarySliceRun, RolledBackAndPromotedSinkCanariesGetEachRecordOfTheirSliceOnce) {
    fs::create_directories(deploy_);
    fs::permissions(deploy_, fs::perms(0755));
    deploy("v1", "ledger.so");
    write_text(dir_.file("run.ini"), "[plugin.file-sink]\npath = " + sink_ +
                                         "\n[plugin.ledger]\npath = " + ledger_ + "\n");
    ChildProcess host(sluice_argv({"run",
                                   "--config",
                                   dir_.file("run.ini"),
                                   "--brokers",
                                   bootstrap(),
                                   "--topics",
                                   "slices",
                                   "--plugin-dir",
                                   deploy_.string(),
                                   "--plugin-dir",
                                   SLUICE_PLUGIN_OUTPUT_DIR,
                                   "--plugin",
                                   "ledger",
                                   "--plugin",
                                   "file-sink",
                                   "--batch-interval",
                                   "100ms",
                                   "--canary-batches",
                                   "3",
                                   "--canary-partitions",
                                   "2",
                                   "--hot-reload-poll",
                                   "1h",
                                   "--auto-offset-reset",
                                   "earliest",
                                   "--metrics-address",
                                   "127.0.0.1:0",
                                   "--control-token",
                                   kToken,
                                   "-X",
                                   "fetch.wait.max.ms=10"}),
                      {log_, true});
    produce(20);
    ASSERT_TRUE(wait_until([&] { return read_sink(sink_).size() >= 20; }, 30s)) << read_file(log_);
    const int port = logged_metrics_port(log_);
    ASSERT_GT(port, 0) << read_file(log_);

    // Requests that deploy nothing: one line naming the problem.
    auto r = control_post(port, "canary", kToken);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_THAT(r->body, HasSubstr("needs ?plugin=NAME"));
    r = control_post(port, "canary?plugin=nope", kToken);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_THAT(r->body, HasSubstr("no plugin 'nope' in the chain (ledger, file-sink)"));
    r = control_post(port, "canary?plugin=ledger", "canary-slice-test-token-XXXX");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);

    // A canary that fails at "boom": it serves slices-0 and slices-1, then fails there; the
    // slice returns to generation 1, which stores that batch's part of it.
    deploy("boom", "ledger.canary.so");
    r = control_post(port, "canary?plugin=ledger", kToken);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_THAT(r->body, HasSubstr("deploying ledger.canary.so"));
    ASSERT_TRUE(produce_until_logged("it serves slices-0, slices-1 (2 of 4 partitions)"))
        << read_file(log_);
    produce(8);
    produce(1, 0, "boom");
    ASSERT_TRUE(produce_until_logged("slices-0, slices-1 returned to generation 1"))
        << read_file(log_);
    EXPECT_EQ(count_in_log("it returned FATAL (cannot store offset"), 1u) << read_file(log_);
    nlohmann::json st;
    EXPECT_TRUE(wait_until(
        [&] {
            st = plugin_status(port);
            return st["canary"]["state"] == "rejected";
        },
        10s))
        << st.dump(2);
    EXPECT_EQ(st["version"], "1");

    // A canary that works: promoted after 3 batches of its slice, it takes every partition.
    deploy("v2", "ledger.canary.so");
    r = control_post(port, "canary?plugin=ledger", kToken);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    ASSERT_TRUE(produce_until_logged("it serves slices-0, slices-1 (2 of 4 partitions)", 2))
        << read_file(log_);
    ASSERT_TRUE(produce_until_logged("serves every partition")) << read_file(log_);
    EXPECT_TRUE(wait_until(
        [&] {
            st = plugin_status(port);
            return st["version"] == "2";
        },
        10s))
        << st.dump(2);
    EXPECT_EQ(st["canary"]["state"], "promoted");
    EXPECT_EQ(st["canary"]["promoted"], 1);
    EXPECT_EQ(st["canary"]["rejected"], 1);
    produce(12);
    ASSERT_TRUE(
        wait_until([&] { return read_sink(sink_).size() >= static_cast<size_t>(produced_); }, 30s))
        << read_file(log_);
    ASSERT_TRUE(stops_cleanly(host, log_));

    // file-sink, after the ledger, stored every record once.
    const auto consumed = consume_all(bootstrap(), "slices");
    ASSERT_EQ(consumed.size(), static_cast<size_t>(produced_));
    EXPECT_TRUE(exactly_once(read_sink(sink_), consumed));

    // The ledger: every record once, by a generation that held its partition at the time.
    std::map<std::string, std::set<std::string>> holds;    // instance -> partitions open
    std::map<std::string, std::string> version_of;         // instance -> build
    std::map<std::pair<std::string, int64_t>, int> seen;   // (partition, offset) -> times
    std::map<std::string, std::set<std::string>> records;  // instance -> partitions written
    std::map<std::pair<std::string, int64_t>, std::string> written_by;  // -> build
    for (const Line &l : read_ledger(ledger_)) {
        version_of[l.id] = l.version;
        if (l.what == "open") {
            EXPECT_TRUE(holds[l.id].insert(l.partition).second) << "opened twice: " << l.partition;
        } else if (l.what == "close") {
            EXPECT_EQ(holds[l.id].erase(l.partition), 1u) << "closed unopened: " << l.partition;
        } else {
            EXPECT_EQ(holds[l.id].count(l.partition), 1u)
                << "instance " << l.id << " (v" << l.version << ") got " << l.partition << "@"
                << l.offset << " without holding it";
            ++seen[{l.partition, l.offset}];
            written_by[{l.partition, l.offset}] = l.version;
            records[l.id].insert(l.partition);
        }
    }
    for (const auto &c : consumed) {
        const std::pair<std::string, int64_t> key{"slices-" + std::to_string(c.partition),
                                                  c.offset};
        EXPECT_EQ(seen[key], 1) << key.first << "@" << key.second;
        if (c.value == std::optional<std::string>("boom")) {
            EXPECT_EQ(written_by[key], "1") << "generation 1 took over the failed canary's part";
        }
    }
    EXPECT_EQ(seen.size(), consumed.size());
    ASSERT_EQ(version_of.size(), 3u) << "generation 1, the rolled-back canary, the promoted one";
    for (const auto &[id, version] : version_of) {
        if (version == "3") {  // the rolled-back canary wrote only its slice
            EXPECT_EQ(records[id], (std::set<std::string>{"slices-0", "slices-1"}));
        } else {
            EXPECT_EQ(records[id].size(), 4u) << "v" << version;
        }
        EXPECT_TRUE(holds[id].empty()) << "v" << version << " still holds partitions at exit";
    }
}

}  // namespace
