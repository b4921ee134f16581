// PluginChain: transforms feeding sinks, status codes, empty batches, hooks, resume offsets.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "loader_test_support.hpp"
#include "plugins/plugin_chain.hpp"

namespace sluice::plugins {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::PluginDir;
using testing::read_lines;
using testing::TempDir;
namespace fs = std::filesystem;

// A source batch as the host would build it, owning its memory.
struct TestBatch {
    std::vector<sluice_offset_range_t> ranges;
    std::vector<sluice_header_t> headers;
    std::vector<sluice_record_t> records;

    TestBatch() {
        ranges = {{sizeof(sluice_offset_range_t), "t", 0, 10, 15},
                  {sizeof(sluice_offset_range_t), "t", 1, 3, 3}};
        headers = {{sizeof(sluice_header_t), "h1", "v1", 2},
                   {sizeof(sluice_header_t), "h2", nullptr, 0},
                   {sizeof(sluice_header_t), "h3", "", 0}};
    }
    void add(const char *key, const char *value, bool with_headers = false) {
        sluice_record_t r{};
        r.struct_size = sizeof r;
        r.topic = "t";
        r.partition = 0;
        r.offset = 10 + static_cast<int64_t>(records.size());
        r.timestamp_ms = 1000 + r.offset;
        r.timestamp_type = SLUICE_TIMESTAMP_CREATE_TIME;
        r.key = key;
        r.key_len = key ? std::strlen(key) : 0;
        r.value = value;
        r.value_len = value ? std::strlen(value) : 0;
        if (with_headers) {
            r.headers = headers.data();
            r.header_count = headers.size();
            r.header_stride = sizeof(sluice_header_t);
        }
        records.push_back(r);
    }
    sluice_batch_t batch(int64_t id = 7) const {
        sluice_batch_t b{};
        b.struct_size = sizeof b;
        b.batch_id = id;
        b.batch_time_ms = 1700000000000;
        b.flags = SLUICE_BATCH_REPLAY;
        b.ranges = ranges.data();
        b.range_count = ranges.size();
        b.range_stride = sizeof(sluice_offset_range_t);
        b.records = records.empty() ? nullptr : records.data();
        b.record_count = records.size();
        b.record_stride = sizeof(sluice_record_t);
        return b;
    }
};

class ChainTest : public ::testing::Test {
  protected:
    PluginDir dir_;
    TempDir out_;
    PluginLoader loader_{{dir_.path()}};
    PluginChain chain_;

    // Adds plugin NAME with config; a recorder's dump goes to out_/DUMP.
    PluginInstance &add(const std::string &name, std::map<std::string, std::string> config = {},
                        const std::string &dump = {}) {
        if (!dump.empty()) config["dump_path"] = (out_.path() / dump).string();
        chain_.add(std::make_unique<PluginInstance>(loader_.load(name), std::move(config)));
        return *chain_.instances().back();
    }
    std::vector<std::string> dump(const std::string &name) {
        return read_lines(out_.path() / name);
    }
};

const char *kBatchLine = "batch id=7 time=1700000000000 flags=1 ranges=t:0:10-15,t:1:3-3 records=";

TEST_F(ChainTest, TransformFeedsSinkWithCopiedRecords) {
    add("loader_upper");
    auto &sink = add("loader_recorder", {}, "sink");
    TestBatch in;
    in.add(nullptr, "hello", true);  // null key, headers (null and empty values)
    in.add("k2", "");                // empty value
    in.add("", nullptr);             // empty key, null value
    in.add("k4", "drop");            // dropped by the transform
    in.add("k5", "World");
    ChainResult r = chain_.process(in.batch());
    ASSERT_TRUE(r.ok()) << r.plugin << ": " << r.message;
    EXPECT_THAT(dump("sink"),
                ElementsAre("create", std::string(kBatchLine) + "4",
                            "  t:0@10 ts=1010/1 key=null value='HELLO' "
                            "headers=h1='v1',h2=null,h3='',seen-by='upper'",
                            "  t:0@11 ts=1011/1 key='k2' value='' headers=seen-by='upper'",
                            "  t:0@12 ts=1012/1 key='' value=null headers=seen-by='upper'",
                            "  t:0@14 ts=1014/1 key='k5' value='WORLD' headers=seen-by='upper'"));
    EXPECT_EQ(sink.metrics().batches, 1u);
    EXPECT_EQ(sink.metrics().records, 4u);
    EXPECT_EQ(chain_.instances()[0]->metrics().records, 5u);
}

TEST_F(ChainTest, NonTransformPassesItsInputOnUnchanged) {
    add("loader_upper_plain");  // same code, no TRANSFORM flag: its emits are dropped
    add("loader_recorder", {}, "sink");
    TestBatch in;
    in.add("k", "lower");
    in.add("k", "drop");
    ASSERT_TRUE(chain_.process(in.batch()).ok());
    EXPECT_THAT(dump("sink"), ElementsAre("create", std::string(kBatchLine) + "2",
                                          "  t:0@10 ts=1010/1 key='k' value='lower' headers=",
                                          "  t:0@11 ts=1011/1 key='k' value='drop' headers="));
}

TEST_F(ChainTest, EmittedRecordsOfOneBatchDoNotLeakIntoTheNext) {
    add("loader_upper");
    add("loader_recorder", {}, "sink");
    TestBatch first, second;
    first.add("a", "one");
    first.add("b", "two");
    second.add("c", "three");
    ASSERT_TRUE(chain_.process(first.batch(1)).ok());
    ASSERT_TRUE(chain_.process(second.batch(2)).ok());
    auto lines = dump("sink");
    ASSERT_EQ(lines.size(), 6u);
    EXPECT_THAT(lines[4], HasSubstr("id=2 "));
    EXPECT_THAT(lines[4], HasSubstr("records=1"));
    EXPECT_EQ(lines[5], "  t:0@10 ts=1010/1 key='c' value='THREE' headers=seen-by='upper'");
}

TEST_F(ChainTest, StatusCodesAreReportedWithPluginAndMessage) {
    struct Case {
        int code;
        sluice_status_t expected;
    };
    for (Case c : {Case{SLUICE_RETRY, SLUICE_RETRY}, Case{SLUICE_SKIP, SLUICE_SKIP},
                   Case{SLUICE_FATAL, SLUICE_FATAL}, Case{42, SLUICE_FATAL}}) {
        PluginChain chain;
        chain.add(std::make_unique<PluginInstance>(
            loader_.load("loader_recorder"),
            std::map<std::string, std::string>{{"status", std::to_string(c.code)},
                                               {"message", "disk full on /data"}}));
        TestBatch in;
        in.add("k", "v");
        ChainResult r = chain.process(in.batch());
        EXPECT_EQ(r.status, c.expected) << c.code;
        EXPECT_FALSE(r.ok());
        EXPECT_EQ(r.plugin, "loader_recorder");
        EXPECT_THAT(r.message, HasSubstr("disk full on /data"));
        if (c.code == 42) {
            EXPECT_THAT(r.message, HasSubstr("unknown status 42, treated as fatal"));
        }
        const PluginMetrics &m = chain.instances()[0]->metrics();
        EXPECT_EQ(m.retries, c.code == SLUICE_RETRY ? 1u : 0u);
        EXPECT_EQ(m.errors, c.code == SLUICE_RETRY ? 0u : 1u);
    }
}

TEST_F(ChainTest, FailureWithoutMessageStillSaysWhat) {
    add("loader_recorder", {{"status", "3"}});
    TestBatch in;
    in.add("k", "v");
    ChainResult r = chain_.process(in.batch());
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_EQ(r.message, "process_batch returned SLUICE_FATAL without a message");
}

TEST_F(ChainTest, StopsAtTheFirstFailure) {
    add("loader_recorder", {{"status", "1"}, {"message", "later"}}, "first");
    add("loader_recorder", {}, "second");
    TestBatch in;
    in.add("k", "v");
    EXPECT_EQ(chain_.process(in.batch()).status, SLUICE_RETRY);
    EXPECT_EQ(dump("first").size(), 3u);  // create, batch, record
    EXPECT_THAT(dump("second"), ElementsAre("create"));
}

TEST_F(ChainTest, EmptyBatchesReachOnlyPluginsThatAskForThem) {
    add("loader_recorder", {}, "plain");
    add("loader_recorder_empty", {}, "wants_empty");
    TestBatch empty;
    ASSERT_TRUE(chain_.process(empty.batch()).ok());
    EXPECT_THAT(dump("plain"), ElementsAre("create"));
    EXPECT_THAT(dump("wants_empty"), ElementsAre("create", std::string(kBatchLine) + "0"));
}

TEST_F(ChainTest, TransformThatDropsEverythingLeavesAnEmptyBatch) {
    add("loader_upper");
    add("loader_recorder", {}, "plain");
    add("loader_recorder_empty", {}, "wants_empty");
    TestBatch in;
    in.add("k", "drop");
    ASSERT_TRUE(chain_.process(in.batch()).ok());
    EXPECT_THAT(dump("plain"), ElementsAre("create"));
    // Same id, time, flags and ranges as the source, no records.
    EXPECT_THAT(dump("wants_empty"), ElementsAre("create", std::string(kBatchLine) + "0"));
}

TEST_F(ChainTest, MetricsFromHostAndPlugin) {
    auto &sink = add("loader_recorder");
    for (int64_t id = 1; id <= 3; ++id) {
        TestBatch in;
        for (int i = 0; i < id; ++i) in.add("k", "v");
        ASSERT_TRUE(chain_.process(in.batch(id)).ok());
    }
    const PluginMetrics &m = sink.metrics();
    EXPECT_EQ(m.batches, 3u);
    EXPECT_EQ(m.records, 6u);
    EXPECT_EQ(m.errors, 0u);
    EXPECT_GE(m.seconds, 0.0);
    EXPECT_DOUBLE_EQ(m.custom.at("seen"), 6.0);        // counter: summed
    EXPECT_DOUBLE_EQ(m.custom.at("last_batch"), 3.0);  // gauge: last value
}

// The documented semantics of a plugin's gauge: the last value it set, kept through the empty
// batches for which the plugin is not called (as a Prometheus gauge keeps its value between
// scrapes); counters do not move while it is not called.
TEST_F(ChainTest, CustomGaugesKeepTheirLastValueThroughEmptyBatches) {
    auto &sink = add("loader_recorder");
    TestBatch busy;
    busy.add("k", "v");
    busy.add("k", "v");
    ASSERT_TRUE(chain_.process(busy.batch(7)).ok());  // the gauge is the batch id
    ASSERT_DOUBLE_EQ(sink.metrics().custom.at("last_batch"), 7.0);
    for (int64_t id = 8; id <= 10; ++id) {
        TestBatch empty;
        ASSERT_TRUE(chain_.process(empty.batch(id)).ok());
    }
    const PluginMetrics &m = sink.metrics();
    EXPECT_EQ(m.batches, 1u);  // not called for the empty ones
    EXPECT_DOUBLE_EQ(m.custom.at("last_batch"), 7.0);
    EXPECT_DOUBLE_EQ(m.custom.at("seen"), 2.0);
}

TEST_F(ChainTest, FlushAndPartitionHooksInOrder) {
    add("loader_bad_minimal");  // has none of the hooks
    add("loader_recorder", {}, "a");
    add("loader_recorder", {{"flush_status", "2"}, {"message", "flush refused"}}, "b");
    TestBatch in;
    std::vector<TopicPartition> tps{{"t", 0}, {"u", 3}};
    EXPECT_TRUE(chain_.partitions_assigned(tps).ok());
    ChainResult r = chain_.flush(in.batch(9));
    EXPECT_EQ(r.status, SLUICE_SKIP);
    EXPECT_EQ(r.plugin, "loader_recorder");
    EXPECT_EQ(r.message, "flush refused");
    EXPECT_TRUE(chain_.partitions_revoked({{"u", 3}}).ok());
    EXPECT_THAT(dump("a"), ElementsAre("create", "assigned t:0 u:3", "flush id=9", "revoked u:3"));
    EXPECT_THAT(dump("b"), ElementsAre("create", "assigned t:0 u:3", "flush id=9", "revoked u:3"));
}

TEST_F(ChainTest, PartitionsAssignedFailureStopsTheChain) {
    add("loader_recorder", {{"assign_status", "3"}, {"message", "no table for t"}}, "a");
    add("loader_recorder", {}, "b");
    ChainResult r = chain_.partitions_assigned({{"t", 0}});
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_EQ(r.message, "no table for t");
    EXPECT_THAT(dump("b"), ElementsAre("create"));
}

TEST_F(ChainTest, ResumeOffsetsTakesTheMinimumOfThoseReported) {
    add("loader_bad_minimal");  // no hook: ignored
    add("loader_recorder", {{"resume.t.0", "5"}});
    add("loader_recorder", {{"resume.t.0", "3"}, {"resume.t.1", "9"}});
    auto offsets = chain_.resume_offsets({{"t", 0}, {"t", 1}, {"t", 2}});
    EXPECT_EQ(offsets, (std::map<TopicPartition, int64_t>{{{"t", 0}, 3}, {{"t", 1}, 9}}));
}

TEST_F(ChainTest, ResumeOffsetsFailureThrows) {
    add("loader_recorder", {{"resume_status", "3"}, {"message", "offset table unreadable"}});
    try {
        chain_.resume_offsets({{"t", 0}});
        FAIL() << "no PluginError";
    } catch (const PluginError &e) {
        EXPECT_THAT(e.what(), HasSubstr("plugin 'loader_recorder' ("));
        EXPECT_THAT(e.what(), HasSubstr("resume_offsets failed: offset table unreadable"));
    }
}

TEST_F(ChainTest, InstancesAreDestroyedWithTheChain) {
    {
        PluginChain chain;
        chain.add(std::make_unique<PluginInstance>(
            loader_.load("loader_recorder"),
            std::map<std::string, std::string>{{"dump_path", (out_.path() / "d").string()}}));
        EXPECT_EQ(chain.size(), 1u);
    }
    EXPECT_THAT(dump("d"), ElementsAre("create", "destroy"));
}

}  // namespace
}  // namespace sluice::plugins
