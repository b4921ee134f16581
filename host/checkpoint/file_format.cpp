#include "checkpoint/file_format.hpp"

#include <fmt/format.h>
#include <charconv>

#include "checkpoint/checkpoint_store.hpp"
#include "common/crc32c.hpp"

namespace sluice::checkpoint {

namespace {

// A header longer than this is not ours (or lost its newline).
constexpr size_t kMaxHeader = 96;

template <typename T>
bool parse_number(std::string_view text, T &out, int base = 10) {
    if (text.empty()) return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
    return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

uint32_t crc32c(std::string_view data) {
    return sluice::crc32c(data);
}

std::string encode_frame(std::string_view payload) {
    std::string out = fmt::format("{} {} {:08x} {}\n", kFrameMagic, kFormatVersion, crc32c(payload),
                                  payload.size());
    out.append(payload);
    return out;
}

DecodedFrame decode_frame(std::string_view bytes) {
    using Status = DecodedFrame::Status;
    DecodedFrame f;
    auto newline = bytes.substr(0, kMaxHeader).find('\n');
    if (newline == std::string_view::npos) {
        // A prefix of a header is what a write cut short leaves behind.
        bool prefix = bytes.size() < kMaxHeader &&
                      (bytes.starts_with(kFrameMagic) || kFrameMagic.starts_with(bytes));
        f.status = prefix ? Status::kTorn : Status::kCorrupt;
        f.problem = prefix ? fmt::format("truncated inside its header ({} bytes)", bytes.size())
                           : "no sluice-checkpoint header line";
        return f;
    }
    std::string_view header = bytes.substr(0, newline);
    std::string_view fields[4];
    size_t n = 0;
    while (!header.empty() && n < 4) {
        auto space = header.find(' ');
        fields[n++] = header.substr(0, space);
        header = space == std::string_view::npos ? std::string_view{} : header.substr(space + 1);
    }
    if (n < 2 || fields[0] != kFrameMagic || !parse_number(fields[1], f.version)) {
        f.problem = "no sluice-checkpoint header line";
        return f;
    }
    if (f.version < kOldestReadableVersion || f.version > kFormatVersion) {
        f.status = Status::kUnknownVersion;
        f.problem = fmt::format("format version {}", f.version);
        return f;
    }
    uint32_t stored_crc = 0;
    uint64_t length = 0;
    if (n != 4 || !header.empty() || fields[2].size() != 8 ||
        !parse_number(fields[2], stored_crc, 16) || !parse_number(fields[3], length)) {
        f.problem = "malformed header line";
        return f;
    }
    std::string_view payload = bytes.substr(newline + 1);
    if (payload.size() < length) {
        f.status = Status::kTorn;
        f.problem = fmt::format("truncated: {} of {} payload bytes", payload.size(), length);
        return f;
    }
    if (payload.size() > length) {
        f.problem = fmt::format("{} unexpected bytes after the payload", payload.size() - length);
        return f;
    }
    uint32_t actual_crc = crc32c(payload);
    if (actual_crc != stored_crc) {
        f.problem =
            fmt::format("CRC32C mismatch (stored {:08x}, computed {:08x})", stored_crc, actual_crc);
        return f;
    }
    f.status = Status::kOk;
    f.payload = std::string(payload);
    return f;
}

}  // namespace sluice::checkpoint
