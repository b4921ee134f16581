#pragma once
// How the WAL fuzz target reads its input, shared with the seed generator: the bytes are one
// or more segment files, joined by kSegmentSeparator (at most kMaxSegments of them).

#include <string>
#include <string_view>
#include <vector>

namespace sluice::wal::fuzz {

inline constexpr std::string_view kSegmentSeparator = "\n~~next-segment~~\n";
inline constexpr size_t kMaxSegments = 4;

/// The segment files an input stands for, oldest first (the last part keeps any extra
/// separators).
inline std::vector<std::string_view> split_segments(std::string_view input) {
    std::vector<std::string_view> parts;
    while (parts.size() + 1 < kMaxSegments) {
        const size_t at = input.find(kSegmentSeparator);
        if (at == std::string_view::npos) break;
        parts.push_back(input.substr(0, at));
        input.remove_prefix(at + kSegmentSeparator.size());
    }
    parts.push_back(input);
    return parts;
}

inline std::string join_segments(const std::vector<std::string> &segments) {
    std::string out;
    for (size_t i = 0; i < segments.size(); ++i) {
        if (i > 0) out += kSegmentSeparator;
        out += segments[i];
    }
    return out;
}

}  // namespace sluice::wal::fuzz
