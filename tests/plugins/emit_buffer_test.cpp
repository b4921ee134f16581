// EmitBuffer: how emitted records are read and copied.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "plugins/emit_buffer.hpp"

namespace sluice::plugins {
namespace {

using ::testing::HasSubstr;

sluice_record_t record(const char *topic, const char *key, const char *value) {
    sluice_record_t r{};
    r.struct_size = sizeof r;
    r.topic = topic;
    r.key = key;
    r.key_len = key ? std::strlen(key) : 0;
    r.value = value;
    r.value_len = value ? std::strlen(value) : 0;
    return r;
}

std::string str(const void *p, size_t len) {
    return std::string(static_cast<const char *>(p), len);
}

TEST(EmitBufferTest, NullAndEmptyStayDistinct) {
    EmitBuffer buf;
    std::string why;
    sluice_record_t a = record("t", nullptr, "");
    sluice_record_t b = record("t", "", nullptr);
    ASSERT_TRUE(buf.add(&a, &why));
    ASSERT_TRUE(buf.add(&b, &why));
    buf.seal();
    ASSERT_EQ(buf.size(), 2u);
    EXPECT_EQ(buf.records()[0].key, nullptr);
    EXPECT_NE(buf.records()[0].value, nullptr);
    EXPECT_EQ(buf.records()[0].value_len, 0u);
    EXPECT_NE(buf.records()[1].key, nullptr);
    EXPECT_EQ(buf.records()[1].value, nullptr);
}

TEST(EmitBufferTest, CopiesSurviveTheSourceAndArenaGrowth) {
    EmitBuffer buf;
    std::string why;
    std::vector<std::string> topics{"alpha", "beta", "beta", "alpha"};
    for (int i = 0; i < 1000; ++i) {
        std::string topic = topics[i % 4];
        std::string value(100, static_cast<char>('a' + i % 26));
        sluice_record_t r = record(topic.c_str(), nullptr, value.c_str());
        r.offset = i;
        ASSERT_TRUE(buf.add(&r, &why));
        value.assign(100, '#');  // the plugin reuses its memory
    }
    buf.seal();
    ASSERT_EQ(buf.size(), 1000u);
    for (int i = 0; i < 1000; ++i) {
        const sluice_record_t &r = buf.records()[i];
        EXPECT_STREQ(r.topic, topics[i % 4].c_str());
        EXPECT_EQ(r.offset, i);
        EXPECT_EQ(str(r.value, r.value_len), std::string(100, static_cast<char>('a' + i % 26)));
    }
    buf.clear();
    buf.seal();
    EXPECT_EQ(buf.size(), 0u);
    EXPECT_EQ(buf.records(), nullptr);
}

TEST(EmitBufferTest, OlderSmallerRecordHasNoHeaders) {
    // A writer whose record ends before `headers`: whatever lies beyond must be ignored.
    sluice_header_t h{sizeof h, "x", "y", 1};
    sluice_record_t r = record("t", "k", "v");
    r.headers = &h;
    r.header_count = 1;
    r.header_stride = sizeof h;
    r.struct_size = offsetof(sluice_record_t, headers);
    EmitBuffer buf;
    std::string why;
    ASSERT_TRUE(buf.add(&r, &why)) << why;
    buf.seal();
    EXPECT_EQ(buf.records()[0].header_count, 0u);
    EXPECT_EQ(buf.records()[0].headers, nullptr);
    EXPECT_EQ(str(buf.records()[0].value, 1), "v");
}

TEST(EmitBufferTest, UnreadableRecordsAreRejectedWithAReason) {
    EmitBuffer buf;
    std::string why;
    EXPECT_FALSE(buf.add(nullptr, &why));
    EXPECT_THAT(why, HasSubstr("NULL record"));

    sluice_record_t tiny = record("t", "k", "v");
    tiny.struct_size = 8;
    EXPECT_FALSE(buf.add(&tiny, &why));
    EXPECT_THAT(why, HasSubstr("struct_size 8"));

    sluice_header_t h{sizeof h, "x", "y", 1};
    sluice_record_t bad_stride = record("t", "k", "v");
    bad_stride.headers = &h;
    bad_stride.header_count = 1;
    bad_stride.header_stride = 0;
    EXPECT_FALSE(buf.add(&bad_stride, &why));
    EXPECT_THAT(why, HasSubstr("header_stride"));
    buf.seal();
    EXPECT_EQ(buf.size(), 0u);
}

}  // namespace
}  // namespace sluice::plugins
