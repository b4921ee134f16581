// file-sink's line encoder (see json_lines.hpp).

#include "json_lines.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

namespace file_sink {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The two base64 characters of every 12-bit value: two look-ups per 3 input bytes.
struct PairTable {
    std::array<std::array<char, 2>, 4096> pairs{};
    constexpr PairTable() {
        for (unsigned v = 0; v < 4096; ++v) pairs[v] = {kAlphabet[v >> 6], kAlphabet[v & 63]};
    }
};
constexpr PairTable kPairs;

constexpr std::size_t base64_size(std::size_t n) {
    return (n + 2) / 3 * 4;
}

/// Standard base64 with '=' padding (what boost::beast::detail::base64 wrote).
char *base64(char *out, std::string_view bytes) {
    const auto *in = reinterpret_cast<const unsigned char *>(bytes.data());
    const std::size_t n = bytes.size();
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        const uint32_t t = uint32_t{in[i]} << 16 | uint32_t{in[i + 1]} << 8 | in[i + 2];
        std::memcpy(out, kPairs.pairs[t >> 12].data(), 2);
        std::memcpy(out + 2, kPairs.pairs[t & 0xfff].data(), 2);
        out += 4;
    }
    if (n - i == 1) {
        const uint32_t t = uint32_t{in[i]} << 16;
        std::memcpy(out, kPairs.pairs[t >> 12].data(), 2);
        out[2] = '=';
        out[3] = '=';
        out += 4;
    } else if (n - i == 2) {
        const uint32_t t = uint32_t{in[i]} << 16 | uint32_t{in[i + 1]} << 8;
        std::memcpy(out, kPairs.pairs[t >> 12].data(), 2);
        out[2] = kAlphabet[(t >> 6) & 63];
        out[3] = '=';
        out += 4;
    }
    return out;
}

/// Room for `bytes` as a JSON value: a quoted base64 string, or null.
std::size_t bytes_room(const std::optional<std::string_view> &bytes) {
    return bytes ? base64_size(bytes->size()) + 2 : 4;
}

char *bytes_value(char *out, const std::optional<std::string_view> &bytes) {
    if (!bytes) {
        std::memcpy(out, "null", 4);
        return out + 4;
    }
    *out++ = '"';
    out = base64(out, *bytes);
    *out++ = '"';
    return out;
}

/// True when nlohmann would copy `s` unchanged between the quotes: printable ASCII, no quote
/// and no backslash. Anything else (escapes, UTF-8, invalid bytes) goes through nlohmann.
bool plain(std::string_view s) {
    for (unsigned char c : s) {
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
    }
    return true;
}

/// `s` as nlohmann writes a JSON string (with its quotes), bad UTF-8 replaced.
std::string escaped(std::string_view s) {
    return nlohmann::ordered_json(std::string(s))
        .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

template <std::size_t N>
char *literal(char *out, const char (&text)[N]) {
    std::memcpy(out, text, N - 1);
    return out + N - 1;
}

char *integer(char *out, int64_t v) {
    return std::to_chars(out, out + 20, v).ptr;
}

}  // namespace

void LineBuffer::grow(std::size_t need) {
    std::size_t capacity = capacity_ ? capacity_ : 64 * 1024;
    while (capacity < need) capacity *= 2;
    std::unique_ptr<char[]> bigger(new char[capacity]);
    if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = capacity;
}

void append_line(LineBuffer &out, const sluice::Record &record, TopicCache &topic_cache) {
    const std::string_view topic = record.topic();
    if (topic_cache.json.empty() || topic != topic_cache.topic) {
        topic_cache.topic.assign(topic);
        topic_cache.json = plain(topic) ? "\"" + std::string(topic) + "\"" : escaped(topic);
    }
    const std::optional<std::string_view> key = record.key(), value = record.value();

    // The fixed text, three numbers of at most 20 characters, the topic, key and value.
    out.reserve_more(96 + 60 + topic_cache.json.size() + bytes_room(key) + bytes_room(value));
    char *p = out.end();
    p = literal(p, "{\"topic\":");
    std::memcpy(p, topic_cache.json.data(), topic_cache.json.size());
    p += topic_cache.json.size();
    p = literal(p, ",\"partition\":");
    p = integer(p, record.partition());
    p = literal(p, ",\"offset\":");
    p = integer(p, record.offset());
    p = literal(p, ",\"timestamp\":");
    p = integer(p, record.timestamp());
    p = literal(p, ",\"key\":");
    p = bytes_value(p, key);
    p = literal(p, ",\"value\":");
    p = bytes_value(p, value);
    p = literal(p, ",\"headers\":[");
    out.set_end(p);

    bool first = true;
    for (const sluice::Header &h : record.headers()) {
        std::string slow;
        const bool fast = plain(h.name);
        if (!fast) slow = escaped(h.name);
        const std::size_t name_room = fast ? h.name.size() + 2 : slow.size();
        out.reserve_more(name_room + bytes_room(h.value) + 4);
        p = out.end();
        if (!first) *p++ = ',';
        first = false;
        *p++ = '[';
        if (fast) {
            *p++ = '"';
            std::memcpy(p, h.name.data(), h.name.size());
            p += h.name.size();
            *p++ = '"';
        } else {
            std::memcpy(p, slow.data(), slow.size());
            p += slow.size();
        }
        *p++ = ',';
        p = bytes_value(p, h.value);
        *p++ = ']';
        out.set_end(p);
    }
    out.reserve_more(3);
    p = literal(out.end(), "]}\n");
    out.set_end(p);
}

}  // namespace file_sink
