// host/isolation's pieces without a worker: the batch layout in shared memory (null kept
// distinct from empty, headers, ranges, topics), the message fields, and the isolation keys.

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "isolation/isolation_options.hpp"
#include "isolation/wire.hpp"

using namespace sluice::isolation;

namespace {

std::string bytes(const void *p, size_t n) {
    return p == nullptr ? "<null>" : std::string(static_cast<const char *>(p), n);
}

TEST(IsolationWire, BatchRoundTripsThroughSharedMemory) {
    sluice_header_t h[2] = {{sizeof(sluice_header_t), "trace", "abc", 3},
                            {sizeof(sluice_header_t), "nullh", nullptr, 0}};
    static const char empty[1] = {0};
    std::vector<sluice_record_t> records = {
        {sizeof(sluice_record_t), "t1", 0, 5, 1000, 1, "k0", 2, "v0", 2, h, 2, sizeof h[0]},
        {sizeof(sluice_record_t), "t1", 0, 6, -1, 0, nullptr, 0, empty, 0, nullptr, 0, 0},
        {sizeof(sluice_record_t), "t2", 3, 7, 2000, 2, empty, 0, nullptr, 0, h, 1, sizeof h[0]},
    };
    sluice_offset_range_t ranges[2] = {{sizeof(sluice_offset_range_t), "t1", 0, 5, 7},
                                       {sizeof(sluice_offset_range_t), "t2", 3, 7, 8}};
    sluice_batch_t b{sizeof(sluice_batch_t),
                     42,
                     123456,
                     SLUICE_BATCH_REPLAY,
                     ranges,
                     2,
                     sizeof ranges[0],
                     records.data(),
                     records.size(),
                     sizeof(sluice_record_t)};

    SharedRegion writer(SharedRegion::create_fd("test"));
    const size_t used = encode_batch(b, writer);
    ASSERT_GT(used, 0u);
    // The reader maps the same memfd at its own address, as the worker does.
    SharedRegion reader(::dup(writer.fd()));
    ASSERT_TRUE(reader.map(used));
    ASSERT_NE(reader.base(), writer.base());
    DecodedBatch d;
    ASSERT_TRUE(decode_batch(reader.base(), used, &d));
    EXPECT_EQ(d.batch.batch_id, 42);
    EXPECT_EQ(d.batch.batch_time_ms, 123456);
    EXPECT_EQ(d.batch.flags, SLUICE_BATCH_REPLAY);
    ASSERT_EQ(d.batch.range_count, 2u);
    EXPECT_STREQ(d.ranges[1].topic, "t2");
    EXPECT_EQ(d.ranges[1].partition, 3);
    EXPECT_EQ(d.ranges[1].until_offset, 8);
    ASSERT_EQ(d.batch.record_count, 3u);
    EXPECT_STREQ(d.records[0].topic, "t1");
    EXPECT_EQ(d.records[0].offset, 5);
    EXPECT_EQ(d.records[0].timestamp_ms, 1000);
    EXPECT_EQ(bytes(d.records[0].key, d.records[0].key_len), "k0");
    ASSERT_EQ(d.records[0].header_count, 2u);
    EXPECT_STREQ(d.records[0].headers[0].name, "trace");
    EXPECT_EQ(bytes(d.records[0].headers[0].value, d.records[0].headers[0].value_len), "abc");
    EXPECT_EQ(d.records[0].headers[1].value, nullptr);
    EXPECT_EQ(d.records[1].key, nullptr);    // null stays null
    EXPECT_NE(d.records[1].value, nullptr);  // empty stays empty
    EXPECT_EQ(d.records[1].value_len, 0u);
    EXPECT_EQ(d.records[1].timestamp_ms, -1);
    EXPECT_NE(d.records[2].key, nullptr);
    EXPECT_EQ(d.records[2].value, nullptr);
    EXPECT_STREQ(d.records[2].topic, "t2");
    ASSERT_EQ(d.records[2].header_count, 1u);  // each record's own run of headers
    EXPECT_STREQ(d.records[2].headers[0].name, "trace");
    EXPECT_EQ(d.records[2].partition, 3);

    // A part of the batch keeps its id, time and ranges.
    DecodedBatch part;
    select_records(d.batch, {0, 2}, &part);
    ASSERT_EQ(part.batch.record_count, 2u);
    EXPECT_EQ(part.records[1].offset, 7);
    EXPECT_EQ(part.batch.batch_id, 42);
    EXPECT_EQ(part.batch.range_count, 2u);

    // A layout cut short or overwritten is refused, not read past its end.
    EXPECT_FALSE(decode_batch(reader.base(), 16, &d));
    std::memset(writer.base(), 0, 8);
    EXPECT_FALSE(decode_batch(reader.base(), used, &d));
}

TEST(IsolationWire, RegionGrowsForALargeBatch) {
    std::string value(3 << 20, 'x');  // more than the first 1 MiB
    sluice_record_t r{sizeof(sluice_record_t),
                      "t",
                      0,
                      0,
                      0,
                      0,
                      nullptr,
                      0,
                      value.data(),
                      value.size(),
                      nullptr,
                      0,
                      0};
    sluice_batch_t b{sizeof(sluice_batch_t), 1, 0, 0, nullptr, 0, 0, &r, 1, sizeof r};
    SharedRegion writer(SharedRegion::create_fd("test"));
    const size_t used = encode_batch(b, writer);
    ASSERT_GT(used, value.size());
    SharedRegion reader(::dup(writer.fd()));
    DecodedBatch d;
    ASSERT_TRUE(reader.map(used));
    ASSERT_TRUE(decode_batch(reader.base(), used, &d));
    EXPECT_EQ(bytes(d.records[0].value, d.records[0].value_len), value);
}

TEST(IsolationWire, ReaderOfAShortMessageIsNotOk) {
    Writer w;
    w.i32(-3);
    w.str("hello");
    w.f64(2.5);
    Reader r(w.data());
    EXPECT_EQ(r.i32(), -3);
    EXPECT_EQ(r.str(), "hello");
    EXPECT_EQ(r.f64(), 2.5);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.u64(), 0u);
    EXPECT_FALSE(r.ok());
    const std::string huge_length("\xff\xff\xff\xff\xff\xff\xff\x7f", 8);
    Reader lying(huge_length);
    EXPECT_EQ(lying.str(), "");
    EXPECT_FALSE(lying.ok());
}

TEST(IsolationOptionsTest, ReadsTheKeysAndRefusesBadOnesWithTheWayOut) {
    auto o = parse_isolation_options("p", {{"isolation", "process"},
                                           {"batch-timeout", "2s"},
                                           {"memory-limit", "256MiB"},
                                           {"max-crashes", "5"},
                                           {"forbid-exec", "true"}});
    EXPECT_TRUE(o.process);
    EXPECT_EQ(o.batch_timeout.count(), 2000);
    EXPECT_EQ(o.memory_limit, 256ULL << 20);
    EXPECT_EQ(o.max_crashes, 5);
    EXPECT_TRUE(o.forbid_exec);
    EXPECT_FALSE(parse_isolation_options("p", {{"isolation", "process"}}).forbid_exec);
    EXPECT_FALSE(parse_isolation_options("p", {}).process);
    EXPECT_FALSE(parse_isolation_options("p", {{"isolation", "in-process"}}).process);
    const auto error = [](std::map<std::string, std::string> s) {
        try {
            parse_isolation_options("p", s, "f.ini: ");
        } catch (const sluice::config::ConfigError &e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(error({{"isolation", "proces"}}),
              "f.ini: [plugin.p] isolation: 'proces' is not a mode: write in-process (the "
              "default) or process (e.g. isolation = process)");
    EXPECT_EQ(error({{"max-crashes", "2"}}),
              "f.ini: [plugin.p] max-crashes: given, but the plugin runs in-process: add "
              "isolation = process, or remove max-crashes");
    EXPECT_NE(error({{"isolation", "process"}, {"max-crashes", "0"}})
                  .find("'0' is not a whole number from 1 to 100"),
              std::string::npos);
    EXPECT_NE(error({{"isolation", "process"}, {"memory-limit", "1MiB"}}).find("at least 64MiB"),
              std::string::npos);
    EXPECT_NE(error({{"isolation", "process"}, {"batch-timeout", "soon"}}).find("not a duration"),
              std::string::npos);
    EXPECT_EQ(
        error({{"isolation", "process"}, {"forbid-exec", "yes"}}),
        "f.ini: [plugin.p] forbid-exec: 'yes' is not true or false (e.g. forbid-exec = true)");
    EXPECT_EQ(error({{"forbid-exec", "true"}}),
              "f.ini: [plugin.p] forbid-exec: given, but the plugin runs in-process: add "
              "isolation = process, or remove forbid-exec");
}

}  // namespace
