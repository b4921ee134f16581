// `sluice wal inspect DIR`'s work: a read-only look at a receiver's write-ahead log.

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/human_bytes.hpp"
#include "wal/wal_inspect.hpp"
#include "wal/write_ahead_log.hpp"

namespace sluice::wal {

namespace fs = std::filesystem;

namespace {

struct BlockInfo {
    uint64_t id;
    std::string segment;
    OffsetRange range;
    size_t records;
    size_t bytes;
};

}  // namespace

int inspect_wal(const std::string &dir, bool list_blocks) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        std::cerr << "sluice wal inspect: " << dir
                  << " is not a directory (give the wal-dir of a receiver-mode run)\n";
        return 1;
    }

    std::map<uint64_t, fs::path> files;
    for (const auto &entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        uint64_t seq = 0;
        if (name.size() == 24 && name.ends_with(".wal") &&
            name.find_first_not_of("0123456789") == 20 &&
            std::from_chars(name.data(), name.data() + 20, seq).ec == std::errc())
            files[seq] = entry.path();
    }

    std::vector<BlockInfo> blocks;
    std::set<uint64_t> done;
    std::set<int64_t> done_batches;
    std::map<int64_t, PlanMark> plans;  // by batch id
    int64_t last_batch = -1;
    uint64_t total = 0;
    int status = 0;
    std::ostringstream segment_lines;
    for (auto it = files.begin(); it != files.end(); ++it) {
        const fs::path &path = it->second;
        const bool last = std::next(it) == files.end();
        std::string bytes;
        try {
            bytes = read_segment_file(path);
        } catch (const WalError &e) {
            std::cerr << "sluice wal inspect: " << e.what() << "\n";
            return 1;
        }
        total += bytes.size();
        SegmentScan scan = scan_segment(bytes, last);
        size_t n_blocks = 0, n_marks = 0, n_plans = 0;
        for (const auto &entry : scan.entries) {
            try {
                if (entry.type == EntryType::block) {
                    auto block = Block::parse(std::string(entry.payload));
                    blocks.push_back({block->id, path.filename().string(), block->range(),
                                      block->records.size(), block->bytes()});
                    ++n_blocks;
                } else if (entry.type == EntryType::done) {
                    DoneMark mark = decode_done(entry.payload);
                    done.insert(mark.block_ids.begin(), mark.block_ids.end());
                    done_batches.insert(mark.batch_id);
                    last_batch = std::max(last_batch, mark.batch_id);
                    ++n_marks;
                } else if (entry.type == EntryType::plan) {
                    PlanMark mark = decode_plan(entry.payload);
                    plans[mark.batch_id] = mark;
                    ++n_plans;
                } else if (entry.type == EntryType::synced) {
                    decode_synced(entry.payload);
                } else {
                    last_batch = std::max(last_batch, decode_start(entry.payload).last_batch_id);
                }
            } catch (const WalError &e) {
                scan.tail = SegmentScan::Tail::corrupt;
                scan.problem_offset = entry.offset;
                scan.problem = e.what();
                break;
            }
        }
        segment_lines << fmt::format("  {}  {:>10}  {} blocks, {} done marks",
                                     path.filename().string(), human_bytes(bytes.size()), n_blocks,
                                     n_marks);
        if (n_plans) segment_lines << fmt::format(", {} batch plans", n_plans);
        if (scan.tail == SegmentScan::Tail::torn) {
            segment_lines << fmt::format(
                "  [torn tail at byte {}: {}; {} bytes are cut at the next start]",
                scan.problem_offset, scan.problem, bytes.size() - scan.valid_bytes);
        } else if (scan.tail == SegmentScan::Tail::corrupt) {
            segment_lines << fmt::format("  [CORRUPT at byte {}: {}]", scan.problem_offset,
                                         scan.problem);
            std::cerr << fmt::format(
                "sluice wal inspect: {} is corrupt at byte {}: {}; `sluice run` refuses to start "
                "on this directory until the file is restored or the directory moved aside\n",
                path.string(), scan.problem_offset, scan.problem);
            status = 1;
        }
        segment_lines << "\n";
    }

    size_t pending = 0, pending_records = 0;
    std::map<TopicPartition, OffsetRange> pending_span;
    std::map<TopicPartition, size_t> pending_blocks;
    for (const auto &b : blocks) {
        if (done.count(b.id)) continue;
        ++pending;
        pending_records += b.records;
        auto tp = b.range.topic_partition();
        auto [it, fresh] = pending_span.try_emplace(tp, b.range);
        if (!fresh) {
            it->second.from_offset = std::min(it->second.from_offset, b.range.from_offset);
            it->second.until_offset = std::max(it->second.until_offset, b.range.until_offset);
        }
        ++pending_blocks[tp];
    }

    // A plan not closed by its done mark is replayed as it was (the same id, time and blocks).
    std::vector<const PlanMark *> open_plans;
    for (const auto &[id, plan] : plans) {
        if (done_batches.count(id)) continue;
        const bool any_pending = std::any_of(plan.block_ids.begin(), plan.block_ids.end(),
                                             [&](uint64_t b) { return !done.count(b); });
        if (plan.block_ids.empty() || any_pending) open_plans.push_back(&plan);
    }

    std::cout << fmt::format(
        "WAL {}: {} segments, {}, {} blocks ({} pending replay, {} records), last processed "
        "batch {}\n",
        dir, files.size(), human_bytes(total), blocks.size(), pending, pending_records,
        last_batch < 0 ? std::string("none") : std::to_string(last_batch));
    std::cout << "segments:\n" << segment_lines.str();
    if (list_blocks) {
        std::cout << "blocks:\n";
        for (const auto &b : blocks)
            // [from, until): until is the next offset to read, as everywhere in Sluice.
            std::cout << fmt::format(
                "  block {:>8}  {:<24} offsets [{}, {})  {} records  {}  {}\n", b.id,
                b.range.topic_partition().to_string(), b.range.from_offset, b.range.until_offset,
                b.records, human_bytes(b.bytes), done.count(b.id) ? "processed" : "PENDING");
    }
    for (const auto *plan : open_plans)
        std::cout << fmt::format(
            "planned batch {} (time {}, {} blocks) never finished: replayed first, as it was\n",
            plan->batch_id, plan->batch_time_ms, plan->block_ids.size());
    if (pending_span.empty()) {
        std::cout << "pending replay: nothing\n";
    } else {
        std::cout << "pending replay (replayed first at the next start):\n";
        for (const auto &[tp, r] : pending_span)
            std::cout << fmt::format("  {:<24} offsets [{}, {}) in {} blocks\n", tp.to_string(),
                                     r.from_offset, r.until_offset, pending_blocks[tp]);
    }
    return status;
}

}  // namespace sluice::wal
