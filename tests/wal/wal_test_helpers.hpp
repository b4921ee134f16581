#pragma once
// Helpers shared by the WAL tests: blocks, framed entries, segment files and directory
// snapshots. Built on the public format functions of host/wal/wal_format.hpp.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "wal/wal_format.hpp"
#include "wal/write_ahead_log.hpp"

namespace sluice::wal::test {

namespace fs = std::filesystem;

/// A sealed block of `count` records at offsets from, from+1, ... with value "v<offset>" padded
/// to `value_bytes` (at least the digits), no key, one header on every other record.
inline std::unique_ptr<Block> make_block(uint64_t id, const TopicPartition &tp, int64_t from,
                                         int count, size_t value_bytes = 0) {
    BlockBuilder builder(tp);
    for (int i = 0; i < count; ++i) {
        const int64_t offset = from + i;
        std::string value = "v" + std::to_string(offset);
        if (value.size() < value_bytes) value.resize(value_bytes, '.');
        const uint16_t headers = i % 2 == 0 ? 1 : 0;
        builder.add_record(offset, 1'700'000'000'000 + offset, 0, nullptr, 0, value.data(),
                           value.size(), headers);
        if (headers) builder.add_header("trace", "t", 1);
    }
    return builder.seal(id, 1'700'000'000'000);
}

/// The frame header and payload of one entry, as the writer puts them in a segment.
inline std::string framed(std::string_view payload) {
    return frame_header(payload) + std::string(payload);
}

/// The magic line followed by the given entries (payloads, framed here).
inline std::string segment_of(const std::vector<std::string> &payloads) {
    std::string out(kSegmentMagic);
    for (const auto &p : payloads) out += framed(p);
    return out;
}

inline std::string read_bytes(const fs::path &path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const fs::path &path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline void append_bytes(const fs::path &path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// File name -> content of every regular file in `dir` (to show nothing changed).
inline std::map<std::string, std::string> snapshot(const fs::path &dir) {
    std::map<std::string, std::string> files;
    for (const auto &entry : fs::directory_iterator(dir))
        if (entry.is_regular_file())
            files[entry.path().filename().string()] = read_bytes(entry.path());
    return files;
}

/// Segment files of `dir`, oldest first.
inline std::vector<fs::path> segment_files(const fs::path &dir) {
    std::map<std::string, fs::path> sorted;
    for (const auto &entry : fs::directory_iterator(dir))
        if (entry.path().extension() == ".wal") sorted[entry.path().filename().string()] = entry;
    std::vector<fs::path> out;
    for (auto &[name, path] : sorted) out.push_back(path);
    return out;
}

/// Ids of the blocks stored in a segment file (whatever their done state).
inline std::vector<uint64_t> block_ids_in(const fs::path &segment) {
    const std::string bytes = read_bytes(segment);
    std::vector<uint64_t> ids;
    for (const auto &entry : scan_segment(bytes, true).entries)
        if (entry.type == EntryType::block)
            ids.push_back(Block::parse(std::string(entry.payload))->id);
    return ids;
}

}  // namespace sluice::wal::test
