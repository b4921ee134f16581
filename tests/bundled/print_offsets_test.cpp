// print-offsets: the HasOffsetRanges lines, also for empty batches.

#include <gtest/gtest.h>

#include "bundled_files.hpp"
#include "test_host.hpp"

namespace sluice::testing {
namespace {

TEST(PrintOffsets, WantsEmptyBatches) {
    LoadedPlugin p(bundled_plugin("print-offsets"));
    EXPECT_STREQ(p.descriptor().name, "print-offsets");
    EXPECT_EQ(p.descriptor().flags & SLUICE_PLUGIN_WANTS_EMPTY_BATCHES,
              SLUICE_PLUGIN_WANTS_EMPTY_BATCHES);
}

TEST(PrintOffsets, AppendsBatchAndRangeLinesToOutputFile) {
    TempDir dir;
    const std::string out = dir.file("offsets.txt");
    write_file(out, "earlier line\n");  // appended to, not replaced
    LoadedPlugin p(bundled_plugin("print-offsets"));
    TestHost host;
    host.config["output"] = out;
    TestInstance inst(p, host);
    inst.create_ok();

    TestBatch b;
    b.id = 4;
    b.time_ms = 1700000000000;
    b.ranges = {{"events", 0, 100, 103}, {"events", 1, 7, 7}, {"other.topic", 12, 0, 1}};
    b.records = {TestRecord{.topic = "events", .offset = 100},
                 TestRecord{.topic = "events", .offset = 102},
                 TestRecord{.topic = "other.topic", .partition = 12, .offset = 0}};
    ASSERT_EQ(inst.process(b).status, SLUICE_OK);
    TestBatch empty;
    empty.id = 5;
    empty.time_ms = 1700000002000;
    empty.ranges = {{"events", 0, 103, 103}};
    ASSERT_EQ(inst.process(empty).status, SLUICE_OK);

    EXPECT_EQ(read_file(out),
              "earlier line\n"
              "batch 4 time 1700000000000 records 3\n"
              "events 0 100 103\n"
              "events 1 7 7\n"
              "other.topic 12 0 1\n"
              "batch 5 time 1700000002000 records 0\n"
              "events 0 103 103\n");
}

TEST(PrintOffsets, UnwritableOutputFailsCreate) {
    TempDir dir;
    LoadedPlugin p(bundled_plugin("print-offsets"));
    TestHost host;
    host.config["output"] = dir.file("no/such/dir/out.txt");
    TestInstance inst(p, host);
    CallResult r = inst.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_NE(r.message.find("cannot open output file"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace sluice::testing
