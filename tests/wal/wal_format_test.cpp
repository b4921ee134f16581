// The WAL's on-disk format (host/wal/wal_format.hpp): blocks, marks, framing and the
// clean/torn/corrupt classification of a segment's bytes.
#include "wal/wal_format.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/crc32c.hpp"
#include "wal_test_helpers.hpp"

namespace sluice::wal {
namespace {

using test::framed;
using test::make_block;
using test::segment_of;
using ::testing::HasSubstr;
using Tail = SegmentScan::Tail;

std::string view_of(const void *data, size_t len) {
    return data ? std::string(static_cast<const char *>(data), len) : std::string("<null>");
}

// ---------------------------------------------------------------- blocks

TEST(WalBlock, BuilderRoundTripKeepsNullEmptyHeadersAndOffsets) {
    BlockBuilder builder({"events", 3});
    EXPECT_TRUE(builder.empty());
    const char empty[] = "";
    // offset 10: null key, value "v"; 11: empty key, null value; 13: key "k", empty value,
    // two headers (one with a null value). Offset 12 is missing (compacted away).
    builder.add_record(10, 1000, 0, nullptr, 0, "v", 1, 0);
    builder.add_record(11, 1001, 1, empty, 0, nullptr, 0, 0);
    builder.add_record(13, 1003, 1, "k", 1, empty, 0, 2);
    builder.add_header("h1", "x1", 2);
    builder.add_header("h2", nullptr, 0);
    EXPECT_EQ(builder.count(), 3u);
    EXPECT_EQ(builder.next_offset(), 14);

    auto block = builder.seal(42, 1'700'000'000'123);
    EXPECT_TRUE(builder.empty());
    EXPECT_EQ(block->id, 42u);
    EXPECT_EQ(block->tp, (TopicPartition{"events", 3}));
    EXPECT_EQ(block->from_offset, 10);
    EXPECT_EQ(block->until_offset, 14);
    EXPECT_EQ(block->sealed_ms, 1'700'000'000'123);
    EXPECT_EQ(block->range(), (OffsetRange{"events", 3, 10, 14}));
    EXPECT_EQ(block->bytes(), block->payload.size());
    ASSERT_EQ(block->records.size(), 3u);

    const auto &r0 = block->records[0];
    EXPECT_EQ(r0.struct_size, sizeof(sluice_record_t));
    EXPECT_EQ(r0.offset, 10);
    EXPECT_EQ(r0.timestamp_ms, 1000);
    EXPECT_EQ(r0.timestamp_type, 0);
    EXPECT_EQ(r0.partition, 3);
    EXPECT_EQ(r0.key, nullptr);
    EXPECT_EQ(r0.key_len, 0u);
    EXPECT_EQ(view_of(r0.value, r0.value_len), "v");
    EXPECT_EQ(r0.header_count, 0u);
    EXPECT_EQ(r0.headers, nullptr);

    const auto &r1 = block->records[1];
    EXPECT_EQ(r1.offset, 11);
    EXPECT_EQ(r1.timestamp_type, 1);
    ASSERT_NE(r1.key, nullptr) << "an empty key must stay distinct from a null key";
    EXPECT_EQ(r1.key_len, 0u);
    EXPECT_EQ(r1.value, nullptr);

    const auto &r2 = block->records[2];
    EXPECT_EQ(r2.offset, 13);
    EXPECT_EQ(view_of(r2.key, r2.key_len), "k");
    ASSERT_NE(r2.value, nullptr) << "an empty value must stay distinct from a null value";
    EXPECT_EQ(r2.value_len, 0u);
    ASSERT_EQ(r2.header_count, 2u);
    EXPECT_EQ(r2.header_stride, sizeof(sluice_header_t));
    ASSERT_NE(r2.headers, nullptr);
    EXPECT_STREQ(r2.headers[0].name, "h1");
    EXPECT_EQ(view_of(r2.headers[0].value, r2.headers[0].value_len), "x1");
    EXPECT_STREQ(r2.headers[1].name, "h2");
    EXPECT_EQ(r2.headers[1].value, nullptr);
    EXPECT_EQ(r2.headers[1].value_len, 0u);

    // Every view points into the block itself (its payload and topic), so it outlives the
    // builder and survives moving the unique_ptr around.
    for (const auto &r : block->records) {
        EXPECT_EQ(r.topic, block->tp.topic.c_str());
        EXPECT_STREQ(r.topic, "events");
    }
    const char *payload_begin = block->payload.data();
    const char *payload_end = payload_begin + block->payload.size();
    EXPECT_TRUE(r2.key >= payload_begin && r2.key < payload_end);
    EXPECT_TRUE(r2.headers[0].name >= payload_begin && r2.headers[0].name < payload_end);

    std::vector<std::unique_ptr<Block>> moved;
    for (int i = 0; i < 20; ++i) moved.push_back(make_block(i, {"x", 0}, 0, 1));
    moved.insert(moved.begin(), std::move(block));  // reallocations move the pointers only
    EXPECT_STREQ(moved[0]->records[2].topic, "events");
    EXPECT_STREQ(moved[0]->records[2].headers[0].name, "h1");

    // Parsing the payload again gives the same block.
    auto again = Block::parse(moved[0]->payload);
    EXPECT_EQ(again->id, 42u);
    EXPECT_EQ(again->range(), moved[0]->range());
    ASSERT_EQ(again->records.size(), 3u);
    EXPECT_EQ(again->records[1].key_len, 0u);
    EXPECT_NE(again->records[1].key, nullptr);
    EXPECT_EQ(again->records[0].key, nullptr);
    EXPECT_EQ(again->records[2].headers[1].value, nullptr);
}

TEST(WalBlock, BuilderStartsAnewAfterSeal) {
    BlockBuilder builder({"t", 0});
    builder.add_record(5, 0, 0, nullptr, 0, "a", 1, 0);
    auto first = builder.seal(1, 0);
    builder.add_record(6, 0, 0, nullptr, 0, "b", 1, 0);
    builder.add_record(7, 0, 0, nullptr, 0, "c", 1, 0);
    auto second = builder.seal(2, 0);
    EXPECT_EQ(first->range(), (OffsetRange{"t", 0, 5, 6}));
    EXPECT_EQ(second->range(), (OffsetRange{"t", 0, 6, 8}));
    EXPECT_EQ(second->records.size(), 2u);
}

// Records with null (or tiny) keys and values are 27 bytes each: a block of many of them is
// valid and must not trip the garbage-count guard of Block::parse.
TEST(WalBlock, ManySmallestRecordsRoundTrip) {
    for (const bool empty_values : {false, true}) {
        BlockBuilder builder({"tombstones", 0});
        const char empty[] = "";
        for (int64_t offset = 0; offset < 5000; ++offset)
            builder.add_record(offset, 0, 0, nullptr, 0, empty_values ? empty : nullptr, 0, 0);
        std::unique_ptr<Block> block;
        ASSERT_NO_THROW(block = builder.seal(1, 0)) << "empty values: " << empty_values;
        EXPECT_EQ(block->records.size(), 5000u);
        EXPECT_EQ(block->records.back().offset, 4999);
    }
}

TEST(WalBlock, ParseRejectsEveryTruncationWithWalError) {
    auto block = make_block(7, {"orders", 1}, 100, 3);
    for (size_t len = 0; len < block->payload.size(); ++len)
        EXPECT_THROW(Block::parse(block->payload.substr(0, len)), WalError) << "length " << len;
    EXPECT_THROW(Block::parse(block->payload + "x"), WalError);
}

TEST(WalBlock, ParseRejectsOtherTypesAndBadOffsets) {
    EXPECT_THROW(Block::parse(encode_done({1, {2}})), WalError);
    try {
        Block::parse(encode_start({1, 2}));
        FAIL() << "a start mark parsed as a block";
    } catch (const WalError &e) {
        EXPECT_THAT(e.what(), HasSubstr("not a block"));
    }
    // Records out of order are rejected when the block is sealed (parse runs then too).
    BlockBuilder builder({"t", 0});
    builder.add_record(5, 0, 0, nullptr, 0, nullptr, 0, 0);
    builder.add_record(5, 0, 0, nullptr, 0, nullptr, 0, 0);
    EXPECT_THROW(builder.seal(1, 0), WalError);
    // A block claiming a huge record count in a few bytes is garbage, not an allocation.
    auto good = make_block(1, {"t", 0}, 0, 1);
    std::string huge = good->payload;
    const size_t count_at = 1 + 8 + 2 + 1 + 4 + 8 + 8 + 8;
    const uint32_t count = 0xFFFFFFFFu;
    std::memcpy(huge.data() + count_at, &count, 4);
    EXPECT_THROW(Block::parse(huge), WalError);
}

// ---------------------------------------------------------------- marks

TEST(WalMarks, PlanAndSyncedRoundTripAndRejectTruncation) {
    const PlanMark plan{8, 1'700'000'000'000, {5, 3, 9}};
    const PlanMark back = decode_plan(encode_plan(plan));
    EXPECT_EQ(back.batch_id, 8);
    EXPECT_EQ(back.batch_time_ms, 1'700'000'000'000);
    EXPECT_EQ(back.block_ids, plan.block_ids) << "the planned order is kept";
    EXPECT_TRUE(decode_plan(encode_plan({9, 0, {}})).block_ids.empty());
    EXPECT_EQ(decode_synced(encode_synced({4242})).synced_bytes, 4242u);

    const std::string p = encode_plan(plan), y = encode_synced({7});
    for (size_t len = 0; len < p.size(); ++len)
        EXPECT_THROW(decode_plan(p.substr(0, len)), WalError) << "length " << len;
    for (size_t len = 0; len < y.size(); ++len)
        EXPECT_THROW(decode_synced(y.substr(0, len)), WalError) << "length " << len;
    EXPECT_THROW(decode_plan(p + "z"), WalError);
    EXPECT_THROW(decode_synced(y + "z"), WalError);
    EXPECT_THROW(decode_plan(y), WalError);
    EXPECT_THROW(decode_synced(p), WalError);
    EXPECT_THROW(decode_done(p), WalError);
}

TEST(WalMarks, DoneAndStartRoundTrip) {
    const DoneMark done{17, {1, 2, 0xFFFFFFFFFFFFull}};
    const DoneMark back = decode_done(encode_done(done));
    EXPECT_EQ(back.batch_id, 17);
    EXPECT_EQ(back.block_ids, done.block_ids);
    EXPECT_TRUE(decode_done(encode_done({3, {}})).block_ids.empty());

    const StartMark start = decode_start(encode_start({99, -1}));
    EXPECT_EQ(start.next_block_id, 99u);
    EXPECT_EQ(start.last_batch_id, -1);
}

TEST(WalMarks, DecodeRejectsTruncationStrayBytesAndOtherTypes) {
    const std::string done = encode_done({5, {1, 2, 3}});
    for (size_t len = 0; len < done.size(); ++len)
        EXPECT_THROW(decode_done(done.substr(0, len)), WalError) << "length " << len;
    EXPECT_THROW(decode_done(done + "z"), WalError);
    EXPECT_THROW(decode_done(encode_start({1, 1})), WalError);

    const std::string start = encode_start({4, 5});
    for (size_t len = 0; len < start.size(); ++len)
        EXPECT_THROW(decode_start(start.substr(0, len)), WalError) << "length " << len;
    EXPECT_THROW(decode_start(start + "z"), WalError);
    EXPECT_THROW(decode_start(done), WalError);

    // A done mark claiming 2^32-1 ids in 13 bytes is rejected before any allocation.
    std::string lying = encode_done({1, {}});
    const uint32_t count = 0xFFFFFFFFu;
    std::memcpy(lying.data() + 9, &count, 4);
    EXPECT_THROW(decode_done(lying), WalError);
}

// ---------------------------------------------------------------- framing

TEST(WalFrame, HeaderIsLengthAndCrc32cLittleEndian) {
    EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // the CRC-32C check value
    const std::string header = frame_header("123456789");
    ASSERT_EQ(header.size(), kFrameHeaderBytes);
    EXPECT_EQ(header, std::string("\x09\x00\x00\x00\x83\x92\x06\xE3", 8));
}

// Any single flipped bit of an entry is caught. In an older segment it is corruption at that
// entry. In the newest segment it is corruption only when a synced mark after it shows the
// entry had been fsynced; past the last fsync the log knows of, it is a torn write, cut there.
TEST(WalFrame, EveryFlippedBitIsDetected) {
    const std::string first = encode_done({1, {10, 11}});
    const std::string second = encode_done({2, {12}});
    const size_t first_at = kSegmentMagic.size();
    const size_t mark_at = first_at + kFrameHeaderBytes + first.size();
    // The writer's shape: after an fsync through `first`, the next entry carries the mark.
    const std::string mark = encode_synced({mark_at});
    const size_t second_at = mark_at + kFrameHeaderBytes + mark.size();
    const std::string good = segment_of({first, mark, second});
    ASSERT_EQ(scan_segment(good, true).tail, Tail::clean);
    EXPECT_EQ(scan_segment(good, true).known_synced, mark_at);

    for (size_t byte = first_at; byte < good.size(); ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
            std::string bad = good;
            bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
            const SegmentScan scan = scan_segment(bad, true);
            SCOPED_TRACE("byte " + std::to_string(byte) + " bit " + std::to_string(bit));
            ASSERT_NE(scan.tail, Tail::clean);
            const size_t entry_at = byte >= second_at ? second_at
                                    : byte >= mark_at ? mark_at
                                                      : first_at;
            EXPECT_EQ(scan.problem_offset, entry_at);
            EXPECT_EQ(scan.valid_bytes, entry_at);
            if (entry_at == first_at) {
                EXPECT_EQ(scan.tail, Tail::corrupt) << "the mark after it vouches for it";
                EXPECT_THAT(scan.problem, HasSubstr("fsynced"));
            } else {
                EXPECT_EQ(scan.tail, Tail::torn) << "nothing vouches for it";
            }
            EXPECT_EQ(scan_segment(bad, false).tail, Tail::corrupt) << "in an older segment";
        }
    }
}

// ---------------------------------------------------------------- scan_segment

TEST(WalScan, CleanSegmentListsEveryEntry) {
    auto block = make_block(3, {"t", 2}, 0, 4);
    const std::string start = encode_start({3, -1});
    const std::string done = encode_done({0, {3}});
    const std::string bytes = segment_of({start, block->payload, done});
    const SegmentScan scan = scan_segment(bytes, false);
    EXPECT_EQ(scan.tail, Tail::clean);
    EXPECT_EQ(scan.valid_bytes, bytes.size());
    ASSERT_EQ(scan.entries.size(), 3u);
    EXPECT_EQ(scan.entries[0].type, EntryType::start);
    EXPECT_EQ(scan.entries[0].offset, kSegmentMagic.size());
    EXPECT_EQ(scan.entries[0].payload, start);
    EXPECT_EQ(scan.entries[1].type, EntryType::block);
    EXPECT_EQ(scan.entries[1].offset, kSegmentMagic.size() + 8 + start.size());
    EXPECT_EQ(scan.entries[1].payload, block->payload);
    EXPECT_EQ(scan.entries[2].type, EntryType::done);

    const SegmentScan only_magic = scan_segment(kSegmentMagic, true);
    EXPECT_EQ(only_magic.tail, Tail::clean);
    EXPECT_TRUE(only_magic.entries.empty());
    EXPECT_EQ(only_magic.valid_bytes, kSegmentMagic.size());
}

struct TornCase {
    const char *name;
    std::string tail;  // appended to a valid segment
};

// The shapes a crash mid-write leaves at the end of the newest segment.
std::vector<TornCase> torn_tails() {
    const std::string next = framed(encode_done({9, {1, 2, 3}}));
    std::string bad_crc = next;
    bad_crc.back() = static_cast<char>(bad_crc.back() ^ 0x40);
    std::string zero_payload = next.substr(0, kFrameHeaderBytes);
    zero_payload.append(next.size() - kFrameHeaderBytes, '\0');
    return {
        {"partial frame header", next.substr(0, 5)},
        {"length past the end of the file", next.substr(0, next.size() - 1)},
        {"frame header only", next.substr(0, kFrameHeaderBytes)},
        {"CRC mismatch on the last entry", bad_crc},
        {"payload never written (zeros)", zero_payload},
        {"zero-filled tail", std::string(4096, '\0')},
        {"a few zeros", std::string(3, '\0')},
    };
}

TEST(WalScan, TornTailsOfTheNewestSegment) {
    const std::string good = segment_of({encode_start({0, -1}), encode_done({1, {0}})});
    for (const auto &c : torn_tails()) {
        SCOPED_TRACE(c.name);
        const SegmentScan scan = scan_segment(good + c.tail, true);
        EXPECT_EQ(scan.tail, Tail::torn);
        EXPECT_EQ(scan.valid_bytes, good.size());
        EXPECT_EQ(scan.problem_offset, good.size());
        EXPECT_FALSE(scan.problem.empty());
        EXPECT_EQ(scan.entries.size(), 2u);
        // The same bytes in an older segment cannot be a torn write: corruption.
        const SegmentScan older = scan_segment(good + c.tail, false);
        EXPECT_EQ(older.tail, Tail::corrupt);
        EXPECT_EQ(older.problem_offset, good.size());
    }
}

TEST(WalScan, IncompleteMagicIsTornOnlyInTheNewestSegment) {
    for (size_t len : {size_t{0}, size_t{1}, size_t{8}, kSegmentMagic.size() - 1}) {
        SCOPED_TRACE("magic length " + std::to_string(len));
        const std::string bytes(kSegmentMagic.substr(0, len));
        const SegmentScan scan = scan_segment(bytes, true);
        EXPECT_EQ(scan.tail, Tail::torn);
        EXPECT_EQ(scan.valid_bytes, 0u);
        EXPECT_EQ(scan_segment(bytes, false).tail, Tail::corrupt);
    }
}

// After a power loss, pages of the newest segment reach the disk in any order: a bad entry
// with valid ones after it, or zeros with data after them, is a torn tail unless a synced mark
// proves those bytes were fsynced.
TEST(WalScan, BadEntryFollowedByValidDataIsTornUnlessAMarkVouchesForIt) {
    const std::string first = encode_done({1, {1}});
    const std::string second = encode_done({2, {2}});
    const size_t first_at = kSegmentMagic.size();
    const size_t after_first = first_at + kFrameHeaderBytes + first.size();
    {
        std::string bytes = segment_of({first, second});
        bytes[first_at + kFrameHeaderBytes + 3] ^= 0x01;
        const SegmentScan scan = scan_segment(bytes, true);
        EXPECT_EQ(scan.tail, Tail::torn);
        EXPECT_EQ(scan.problem_offset, first_at);
        EXPECT_EQ(scan.valid_bytes, first_at);
        EXPECT_THAT(scan.problem, HasSubstr("CRC"));
        EXPECT_EQ(scan_segment(bytes, false).tail, Tail::corrupt);
    }
    {
        std::string bytes = segment_of({first, encode_synced({after_first}), second});
        bytes[first_at + kFrameHeaderBytes + 3] ^= 0x01;
        const SegmentScan scan = scan_segment(bytes, true);
        EXPECT_EQ(scan.tail, Tail::corrupt);
        EXPECT_EQ(scan.problem_offset, first_at);
        EXPECT_THAT(scan.problem, HasSubstr("CRC"));
        EXPECT_THAT(scan.problem, HasSubstr("synced mark at byte " + std::to_string(after_first)));
    }
    {
        // A mark that vouches only for bytes before the bad entry proves nothing about it.
        std::string bytes = segment_of({first, encode_synced({after_first}), second, first});
        const size_t last_at = bytes.size() - kFrameHeaderBytes - first.size();
        bytes[last_at + kFrameHeaderBytes + 2] ^= 0x01;
        const SegmentScan scan = scan_segment(bytes, true);
        EXPECT_EQ(scan.tail, Tail::torn);
        EXPECT_EQ(scan.problem_offset, last_at);
        EXPECT_EQ(scan.known_synced, after_first);
    }
}

TEST(WalScan, ZerosThenDataInTheNewestSegmentAreATornTail) {
    const std::string good = segment_of({encode_done({1, {1}})});
    const std::string later = framed(encode_done({2, {2}}));
    const std::string bytes = good + std::string(4096, '\0') + later + later;
    const SegmentScan scan = scan_segment(bytes, true);
    EXPECT_EQ(scan.tail, Tail::torn);
    EXPECT_EQ(scan.valid_bytes, good.size());
    EXPECT_THAT(scan.problem, HasSubstr("impossible entry length 0"));
    EXPECT_EQ(scan_segment(bytes, false).tail, Tail::corrupt);
    // The same with a synced mark after the zeros that vouches for them: corruption.
    const std::string vouched =
        good + std::string(4096, '\0') + framed(encode_synced({good.size() + 4096})) + later;
    EXPECT_EQ(scan_segment(vouched, true).tail, Tail::corrupt);
}

TEST(WalScan, GarbageLengthWithDataAfterItIsTornInTheNewestSegmentOnly) {
    std::string bytes = segment_of({encode_done({1, {1}})});
    bytes += std::string("\xff\xff\xff\x7f", 4) + "not zeros at all";
    const SegmentScan scan = scan_segment(bytes, true);
    EXPECT_EQ(scan.tail, Tail::torn);
    EXPECT_THAT(scan.problem, HasSubstr("impossible entry length"));
    EXPECT_EQ(scan_segment(bytes, false).tail, Tail::corrupt);
}

TEST(WalScan, ANewestSegmentOfZerosHoldsNothing) {
    const SegmentScan scan = scan_segment(std::string(64, '\0'), true);
    EXPECT_EQ(scan.tail, Tail::torn);
    EXPECT_EQ(scan.valid_bytes, 0u);
    EXPECT_EQ(scan_segment(std::string(64, '\0'), false).tail, Tail::corrupt);
}

TEST(WalScan, UnknownEntryTypeIsCorruptEvenAtTheEnd) {
    const std::string unknown = "\x09some future entry";
    const std::string bytes = segment_of({encode_done({1, {1}}), unknown});
    const SegmentScan scan = scan_segment(bytes, true);
    EXPECT_EQ(scan.tail, Tail::corrupt);
    EXPECT_EQ(scan.entries.size(), 1u);
    EXPECT_THAT(scan.problem, HasSubstr("unknown entry type 9"));
    EXPECT_EQ(scan_segment(segment_of({std::string(1, '\0')}), true).tail, Tail::corrupt);
}

TEST(WalScan, OtherFormatVersionsAndForeignFilesAreCorrupt) {
    std::string other_version = segment_of({encode_done({1, {1}})});
    other_version[11] = '2';  // "sluice-wal 2\n"
    for (const bool last : {true, false}) {
        const SegmentScan scan = scan_segment(other_version, last);
        EXPECT_EQ(scan.tail, Tail::corrupt);
        EXPECT_EQ(scan.problem_offset, 0u);
        EXPECT_THAT(scan.problem, HasSubstr("another WAL format version"));

        const SegmentScan foreign = scan_segment("PK\x03\x04 certainly not a WAL segment", last);
        EXPECT_EQ(foreign.tail, Tail::corrupt);
        EXPECT_THAT(foreign.problem, HasSubstr("not a sluice WAL segment"));
        EXPECT_EQ(scan_segment("xyz", last).tail, Tail::corrupt) << "short and not the magic";
    }
}

}  // namespace
}  // namespace sluice::wal
