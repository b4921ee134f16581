#include "wal/wal_format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "common/crc32c.hpp"

namespace sluice::wal {

namespace {

static_assert(sizeof(void *) == 8, "the WAL format assumes a 64-bit host");

template <typename T>
void put(std::string &out, T value) {
    // x86-64 and arm64 are little-endian, as the format is.
    char bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));
    out.append(bytes, sizeof(T));
}

template <typename T>
void put_at(std::string &out, size_t at, T value) {
    std::memcpy(out.data() + at, &value, sizeof(T));
}

template <typename T>
T load(const char *p) {
    T value;
    std::memcpy(&value, p, sizeof(T));
    return value;
}

/// Bounds-checked reading of a payload; every failure is a WalError.
class Cursor {
  public:
    explicit Cursor(std::string_view data) : data_(data) {}

    template <typename T>
    T get(const char *what) {
        need(sizeof(T), what);
        T value = load<T>(data_.data() + pos_);
        pos_ += sizeof(T);
        return value;
    }
    std::string_view bytes(size_t n, const char *what) {
        need(n, what);
        std::string_view out = data_.substr(pos_, n);
        pos_ += n;
        return out;
    }
    /// i32 length (-1 = null) then the bytes; returns {nullptr, 0} for null.
    std::pair<const char *, size_t> nullable(const char *what) {
        auto len = get<int32_t>(what);
        if (len == -1) return {nullptr, 0};
        if (len < 0) throw WalError(fmt::format("negative {} length {}", what, len));
        auto view = bytes(static_cast<size_t>(len), what);
        return {view.data(), view.size()};
    }
    size_t position() const { return pos_; }
    bool at_end() const { return pos_ == data_.size(); }

  private:
    void need(size_t n, const char *what) {
        if (data_.size() - pos_ < n)
            throw WalError(
                fmt::format("entry ends inside its {} (at payload byte {})", what, pos_));
    }
    std::string_view data_;
    size_t pos_ = 0;
};

void put_nullable(std::string &out, const void *data, size_t len) {
    if (!data) {
        put<int32_t>(out, -1);
        return;
    }
    if (len > static_cast<size_t>(INT32_MAX))
        throw WalError("a key, value or header is over 2 GiB");
    put<int32_t>(out, static_cast<int32_t>(len));
    out.append(static_cast<const char *>(data), len);
}

// Offsets of the block header's fields that are filled in when the block is sealed.
constexpr size_t kIdAt = 1;
size_t fields_at(const TopicPartition &tp) {
    return 1 + 8 + 2 + tp.topic.size();
}

constexpr size_t kSyncedPayload = 1 + 8;

// A synced mark at or after `bad` whose count of fsynced bytes reaches past `bad`: (where the
// mark is, the bytes it vouches for). The marks are found by their fixed frame (length 9, type
// 5, CRC), so they are found after garbage or zeros too. A mark never vouches for bytes after
// itself: one that claims to is not the writer's.
std::optional<std::pair<uint64_t, uint64_t>> synced_past(std::string_view bytes, uint64_t bad) {
    constexpr std::string_view kLength("\x09\x00\x00\x00", 4);
    constexpr size_t kFrame = kFrameHeaderBytes + kSyncedPayload;
    std::optional<std::pair<uint64_t, uint64_t>> best;
    for (size_t at = bytes.find(kLength, bad);
         at != std::string_view::npos && bytes.size() - at >= kFrame;
         at = bytes.find(kLength, at + 1)) {
        const char *p = bytes.data() + at;
        if (static_cast<uint8_t>(p[kFrameHeaderBytes]) != static_cast<uint8_t>(EntryType::synced))
            continue;
        if (crc32c({p + kFrameHeaderBytes, kSyncedPayload}) != load<uint32_t>(p + 4)) continue;
        const auto synced = load<uint64_t>(p + kFrameHeaderBytes + 1);
        if (synced > bad && synced <= at && (!best || synced > best->second))
            best.emplace(at, synced);
    }
    return best;
}

}  // namespace

// ---------------------------------------------------------------- blocks

std::unique_ptr<Block> Block::parse(std::string payload) {
    auto block = std::make_unique<Block>();
    block->payload = std::move(payload);
    Cursor in(block->payload);
    if (in.get<uint8_t>("type") != static_cast<uint8_t>(EntryType::block))
        throw WalError("entry is not a block");
    block->id = in.get<uint64_t>("block id");
    auto topic_len = in.get<uint16_t>("topic length");
    block->tp.topic = std::string(in.bytes(topic_len, "topic"));
    block->tp.partition = in.get<int32_t>("partition");
    block->from_offset = in.get<int64_t>("from offset");
    block->until_offset = in.get<int64_t>("until offset");
    block->sealed_ms = in.get<int64_t>("sealed time");
    auto count = in.get<uint32_t>("record count");
    if (block->tp.topic.empty()) throw WalError("block has an empty topic name");
    if (block->from_offset < 0 || block->until_offset < block->from_offset)
        throw WalError(
            fmt::format("block has bad offsets {}..{}", block->from_offset, block->until_offset));
    // Every record takes at least 27 bytes (offset, timestamp, type, two null lengths, header
    // count): a count beyond that is garbage, not a huge block.
    if (count > block->payload.size() / 27)
        throw WalError(
            fmt::format("block claims {} records in {} bytes", count, block->payload.size()));

    block->records.reserve(count);
    std::vector<size_t> first_header;
    first_header.reserve(count);
    int64_t previous = -1;
    for (uint32_t i = 0; i < count; ++i) {
        sluice_record_t r{};
        r.struct_size = sizeof r;
        r.partition = block->tp.partition;
        r.offset = in.get<int64_t>("record offset");
        r.timestamp_ms = in.get<int64_t>("record timestamp");
        // One byte, as the writer stores it: sluice_timestamp_type_t is 0 to 2.
        r.timestamp_type = in.get<int8_t>("timestamp type");  // NOLINT(bugprone-signed-char-misuse)
        auto [key, key_len] = in.nullable("key");
        auto [value, value_len] = in.nullable("value");
        r.key = key;
        r.key_len = key_len;
        r.value = value;
        r.value_len = value_len;
        auto header_count = in.get<uint16_t>("header count");
        first_header.push_back(block->headers.size());
        for (uint16_t h = 0; h < header_count; ++h) {
            sluice_header_t header{};
            header.struct_size = sizeof header;
            // Names are stored with a trailing NUL so the view can be handed out as is.
            auto name_len = in.get<uint16_t>("header name length");
            auto name = in.bytes(name_len, "header name");
            if (name.empty() || name.back() != '\0')
                throw WalError("header name is not NUL-terminated");
            header.name = name.data();
            auto [hv, hv_len] = in.nullable("header value");
            header.value = hv;
            header.value_len = hv_len;
            block->headers.push_back(header);
        }
        r.header_count = header_count;
        r.header_stride = sizeof(sluice_header_t);
        if (r.offset < block->from_offset || r.offset >= block->until_offset ||
            r.offset <= previous)
            throw WalError(
                fmt::format("record offset {} is out of order or outside the block's "
                            "offsets {}..{}",
                            r.offset, block->from_offset, block->until_offset));
        previous = r.offset;
        block->records.push_back(r);
    }
    if (!in.at_end())
        throw WalError(fmt::format("{} stray bytes after the block's records",
                                   block->payload.size() - in.position()));
    for (size_t i = 0; i < block->records.size(); ++i) {
        auto &r = block->records[i];
        r.topic = block->tp.topic.c_str();
        r.headers = r.header_count ? &block->headers[first_header[i]] : nullptr;
    }
    return block;
}

BlockBuilder::BlockBuilder(TopicPartition tp) : tp_(std::move(tp)) {
    if (tp_.topic.size() > UINT16_MAX) throw WalError("topic name too long for the WAL");
    start();
}

void BlockBuilder::start() {
    buffer_.clear();
    count_ = 0;
    from_ = until_ = -1;
    put<uint8_t>(buffer_, static_cast<uint8_t>(EntryType::block));
    put<uint64_t>(buffer_, 0);  // id, at seal
    put<uint16_t>(buffer_, static_cast<uint16_t>(tp_.topic.size()));
    buffer_.append(tp_.topic);
    put<int32_t>(buffer_, tp_.partition);
    put<int64_t>(buffer_, 0);   // from, at seal
    put<int64_t>(buffer_, 0);   // until, at seal
    put<int64_t>(buffer_, 0);   // sealed time, at seal
    put<uint32_t>(buffer_, 0);  // count, at seal
}

void BlockBuilder::add_record(int64_t offset, int64_t timestamp_ms, int32_t timestamp_type,
                              const void *key, size_t key_len, const void *value, size_t value_len,
                              uint16_t header_count) {
    if (count_ == 0) from_ = offset;
    until_ = offset + 1;
    ++count_;
    put<int64_t>(buffer_, offset);
    put<int64_t>(buffer_, timestamp_ms);
    put<int8_t>(buffer_, static_cast<int8_t>(timestamp_type));
    put_nullable(buffer_, key, key_len);
    put_nullable(buffer_, value, value_len);
    put<uint16_t>(buffer_, header_count);
}

void BlockBuilder::add_header(std::string_view name, const void *value, size_t value_len) {
    if (name.size() >= UINT16_MAX) throw WalError("header name too long for the WAL");
    put<uint16_t>(buffer_, static_cast<uint16_t>(name.size() + 1));
    buffer_.append(name);
    buffer_.push_back('\0');
    put_nullable(buffer_, value, value_len);
}

std::unique_ptr<Block> BlockBuilder::seal(uint64_t id, int64_t sealed_ms) {
    const size_t at = fields_at(tp_);
    put_at<uint64_t>(buffer_, kIdAt, id);
    put_at<int32_t>(buffer_, at, tp_.partition);
    put_at<int64_t>(buffer_, at + 4, from_);
    put_at<int64_t>(buffer_, at + 12, until_);
    put_at<int64_t>(buffer_, at + 20, sealed_ms);
    put_at<uint32_t>(buffer_, at + 28, count_);
    std::string payload;
    payload.swap(buffer_);
    start();
    return Block::parse(std::move(payload));
}

// ---------------------------------------------------------------- marks

std::string encode_done(const DoneMark &mark) {
    std::string out;
    out.reserve(13 + 8 * mark.block_ids.size());
    put<uint8_t>(out, static_cast<uint8_t>(EntryType::done));
    put<int64_t>(out, mark.batch_id);
    put<uint32_t>(out, static_cast<uint32_t>(mark.block_ids.size()));
    for (auto id : mark.block_ids) put<uint64_t>(out, id);
    return out;
}

std::string encode_start(const StartMark &mark) {
    std::string out;
    put<uint8_t>(out, static_cast<uint8_t>(EntryType::start));
    put<uint64_t>(out, mark.next_block_id);
    put<int64_t>(out, mark.last_batch_id);
    return out;
}

DoneMark decode_done(std::string_view payload) {
    Cursor in(payload);
    if (in.get<uint8_t>("type") != static_cast<uint8_t>(EntryType::done))
        throw WalError("entry is not a done mark");
    DoneMark mark;
    mark.batch_id = in.get<int64_t>("batch id");
    auto count = in.get<uint32_t>("block count");
    if (count > payload.size() / 8) throw WalError("done mark claims more blocks than it holds");
    mark.block_ids.reserve(count);
    for (uint32_t i = 0; i < count; ++i) mark.block_ids.push_back(in.get<uint64_t>("block id"));
    if (!in.at_end()) throw WalError("stray bytes after a done mark");
    return mark;
}

std::string encode_plan(const PlanMark &mark) {
    std::string out;
    out.reserve(21 + 8 * mark.block_ids.size());
    put<uint8_t>(out, static_cast<uint8_t>(EntryType::plan));
    put<int64_t>(out, mark.batch_id);
    put<int64_t>(out, mark.batch_time_ms);
    put<uint32_t>(out, static_cast<uint32_t>(mark.block_ids.size()));
    for (auto id : mark.block_ids) put<uint64_t>(out, id);
    return out;
}

std::string encode_synced(const SyncedMark &mark) {
    std::string out;
    put<uint8_t>(out, static_cast<uint8_t>(EntryType::synced));
    put<uint64_t>(out, mark.synced_bytes);
    return out;
}

PlanMark decode_plan(std::string_view payload) {
    Cursor in(payload);
    if (in.get<uint8_t>("type") != static_cast<uint8_t>(EntryType::plan))
        throw WalError("entry is not a batch plan");
    PlanMark mark;
    mark.batch_id = in.get<int64_t>("batch id");
    mark.batch_time_ms = in.get<int64_t>("batch time");
    auto count = in.get<uint32_t>("block count");
    if (count > payload.size() / 8) throw WalError("batch plan claims more blocks than it holds");
    mark.block_ids.reserve(count);
    for (uint32_t i = 0; i < count; ++i) mark.block_ids.push_back(in.get<uint64_t>("block id"));
    if (!in.at_end()) throw WalError("stray bytes after a batch plan");
    return mark;
}

SyncedMark decode_synced(std::string_view payload) {
    Cursor in(payload);
    if (in.get<uint8_t>("type") != static_cast<uint8_t>(EntryType::synced))
        throw WalError("entry is not a synced mark");
    SyncedMark mark;
    mark.synced_bytes = in.get<uint64_t>("synced bytes");
    if (!in.at_end()) throw WalError("stray bytes after a synced mark");
    return mark;
}

StartMark decode_start(std::string_view payload) {
    Cursor in(payload);
    if (in.get<uint8_t>("type") != static_cast<uint8_t>(EntryType::start))
        throw WalError("entry is not a start mark");
    StartMark mark;
    mark.next_block_id = in.get<uint64_t>("next block id");
    mark.last_batch_id = in.get<int64_t>("last batch id");
    if (!in.at_end()) throw WalError("stray bytes after a start mark");
    return mark;
}

std::string frame_header(std::string_view payload) {
    std::string out;
    put<uint32_t>(out, static_cast<uint32_t>(payload.size()));
    put<uint32_t>(out, crc32c(payload));
    return out;
}

// ---------------------------------------------------------------- scanning

SegmentScan scan_segment(std::string_view bytes, bool last_segment) {
    SegmentScan scan;
    auto corrupt = [&](uint64_t at, std::string why) {
        scan.tail = SegmentScan::Tail::corrupt;
        scan.problem_offset = at;
        scan.problem = std::move(why);
        return scan;
    };
    // A bad entry at `at`: torn in the newest segment unless a synced mark after it proves
    // that the bytes at `at` had been fsynced (see the header).
    auto bad_entry = [&](uint64_t at, std::string why) {
        if (!last_segment) return corrupt(at, std::move(why));
        if (auto proof = synced_past(bytes, at))
            return corrupt(at, fmt::format("{}, inside bytes fsynced before (the synced mark at "
                                           "byte {} vouches for the first {} bytes)",
                                           why, proof->first, proof->second));
        scan.tail = SegmentScan::Tail::torn;
        scan.problem_offset = at;
        scan.problem = std::move(why);
        return scan;
    };

    // A newest segment that is a prefix of the magic line, or zeros (the file system extended
    // the file but the header never reached the disk), holds nothing: torn.
    const bool all_zeros = bytes.find_first_not_of('\0') == std::string_view::npos;
    if (last_segment && all_zeros && !bytes.empty()) {
        scan.tail = SegmentScan::Tail::torn;
        scan.problem = "the segment header never reached the disk (only zeros)";
        return scan;
    }
    if (bytes.size() < kSegmentMagic.size()) {
        if (last_segment && kSegmentMagic.substr(0, bytes.size()) == bytes) {
            scan.tail = SegmentScan::Tail::torn;
            scan.problem = "the segment header is incomplete";
            return scan;
        }
        return corrupt(0, "not a sluice WAL segment");
    }
    if (bytes.substr(0, kSegmentMagic.size()) != kSegmentMagic) {
        if (bytes.substr(0, 11) == kSegmentMagic.substr(0, 11))
            return corrupt(0, "written by another WAL format version");
        return corrupt(0, "not a sluice WAL segment");
    }
    uint64_t pos = kSegmentMagic.size();
    scan.valid_bytes = pos;
    while (pos < bytes.size()) {
        const uint64_t remaining = bytes.size() - pos;
        if (remaining < kFrameHeaderBytes)
            return bad_entry(pos, fmt::format("{} bytes where an entry's frame starts", remaining));
        const auto len = load<uint32_t>(bytes.data() + pos);
        const auto crc = load<uint32_t>(bytes.data() + pos + 4);
        if (len == 0 || len > kMaxEntryBytes) {
            const bool zeros = bytes.find_first_not_of('\0', pos) == std::string_view::npos;
            return bad_entry(pos, fmt::format("impossible entry length {}{}", len,
                                              zeros ? " (zeros to the end)" : ""));
        }
        if (remaining - kFrameHeaderBytes < len)
            return bad_entry(
                pos, fmt::format("entry of {} bytes runs past the end of the file ({} left)", len,
                                 remaining - kFrameHeaderBytes));
        std::string_view payload = bytes.substr(pos + kFrameHeaderBytes, len);
        const uint64_t next = pos + kFrameHeaderBytes + len;
        if (crc32c(payload) != crc) return bad_entry(pos, "CRC-32C mismatch");
        // A valid CRC means the writer meant these bytes: an unknown type is a newer format,
        // never a torn write.
        const auto type = static_cast<uint8_t>(payload[0]);
        if (type < 1 || type > kLastEntryType)
            return corrupt(pos, fmt::format("unknown entry type {}", type));
        if (type == static_cast<uint8_t>(EntryType::synced) && payload.size() == kSyncedPayload) {
            const auto synced = load<uint64_t>(payload.data() + 1);
            if (synced <= pos) scan.known_synced = std::max(scan.known_synced, synced);
        }
        scan.entries.push_back({pos, static_cast<EntryType>(type), payload});
        pos = next;
        scan.valid_bytes = pos;
    }
    return scan;
}

}  // namespace sluice::wal
