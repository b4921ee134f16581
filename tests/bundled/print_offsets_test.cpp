// print-offsets: the HasOffsetRanges lines, also for empty batches. Through the SDK's test kit.

#include <gtest/gtest.h>
#include <sluice/testing.hpp>

#include "bundled_files.hpp"
#include "bundled_plugin.hpp"

namespace sluice::testing {
namespace {

TEST(PrintOffsets, WantsEmptyBatches) {
    Plugin p(bundled_plugin_file("print-offsets"));
    EXPECT_EQ(p.name(), "print-offsets");
    EXPECT_TRUE(p.wants_empty_batches());
}

TEST(PrintOffsets, AppendsBatchAndRangeLinesToOutputFile) {
    TempDir dir;
    const std::string out = dir.file("offsets.txt");
    write_file(out, "earlier line\n");  // appended to, not replaced
    Plugin p(bundled_plugin_file("print-offsets"));
    Instance inst(p, {{"output", out}});
    inst.create_ok();

    Batch b(4, 1700000000000);
    b.range("events", 0, 100, 103).range("events", 1, 7, 7).range("other.topic", 12, 0, 1);
    b.records() = {Record{.topic = "events", .offset = 100},
                   Record{.topic = "events", .offset = 102},
                   Record{.topic = "other.topic", .partition = 12, .offset = 0}};
    ASSERT_EQ(inst.process(b).status, SLUICE_OK);
    Batch empty(5, 1700000002000);
    empty.range("events", 0, 103, 103);
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
    Plugin p(bundled_plugin_file("print-offsets"));
    Instance inst(p, {{"output", dir.file("no/such/dir/out.txt")}});
    Result r = inst.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_NE(r.message.find("cannot open output file"), std::string::npos) << r.message;
    EXPECT_FALSE(inst.created());
}

}  // namespace
}  // namespace sluice::testing
