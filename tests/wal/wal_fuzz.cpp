// libFuzzer target for the WAL reader (host/wal): scan_segment, Block::parse, the mark
// decoders, and WriteAheadLog's recovery on a directory made of the input.
//
// Input: one or more segment files joined by fuzz::kSegmentSeparator (wal_fuzz_input.hpp).
// WalError is the expected, clean answer to garbage; anything else (a crash, a sanitizer
// report, another exception, a broken invariant below) is a finding. Besides "no crash", it
// checks what the format promises:
//   - a scan's entries lie inside valid_bytes, in order, and `clean` means every byte is valid;
//   - a block, done or start mark that parses re-encodes to the same bytes;
//   - a WAL that fails to open left the directory exactly as it was;
//   - a WAL that opened once opens again with the same pending blocks; once they are marked
//     done, it opens with nothing pending and the counters kept.
//
// Built with clang (tests/wal/CMakeLists.txt, scripts/fuzz-wal.sh); also linked into the g++
// seed generator, which runs every seed through it once.

#include <unistd.h>

#include <spdlog/spdlog.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "wal/wal_format.hpp"
#include "wal/write_ahead_log.hpp"
#include "wal_fuzz_input.hpp"

namespace {

namespace fs = std::filesystem;
using namespace sluice::wal;

[[noreturn]] void broken(const char *what) {
    std::fprintf(stderr, "wal_fuzz: invariant broken: %s\n", what);
    std::abort();
}

void check(bool ok, const char *what) {
    if (!ok) broken(what);
}

// The block rebuilt from its parsed records must be the same bytes (when the header's offsets
// are the ones the builder derives; parse accepts gaps at either end).
void check_block_round_trip(const Block &block) {
    check(block.from_offset <= block.until_offset, "block offsets out of order");
    if (block.records.empty() || block.records.front().offset != block.from_offset ||
        block.records.back().offset + 1 != block.until_offset)
        return;
    BlockBuilder builder(block.tp);
    for (const auto &r : block.records) {
        check(r.topic == block.tp.topic.c_str(), "record topic is not the block's");
        builder.add_record(r.offset, r.timestamp_ms, r.timestamp_type, r.key, r.key_len, r.value,
                           r.value_len, static_cast<uint16_t>(r.header_count));
        for (size_t h = 0; h < r.header_count; ++h) {
            const auto &header = r.headers[h];
            builder.add_header(header.name, header.value, header.value_len);
        }
    }
    auto again = builder.seal(block.id, block.sealed_ms);
    check(again->payload == block.payload, "block does not re-encode to the same bytes");
}

void check_entries(std::string_view bytes, bool last_segment) {
    const SegmentScan scan = scan_segment(bytes, last_segment);
    check(scan.valid_bytes <= bytes.size(), "valid_bytes past the end");
    if (scan.tail == SegmentScan::Tail::clean) {
        check(scan.valid_bytes == bytes.size(), "clean segment with invalid bytes");
    } else {
        check(!scan.problem.empty(), "torn or corrupt without a reason");
        check(scan.problem_offset <= bytes.size(), "problem offset past the end");
    }
    if (scan.tail == SegmentScan::Tail::torn) {
        check(last_segment, "torn tail in an older segment");
        check(scan.known_synced <= scan.problem_offset,
              "torn inside bytes a synced mark vouches for");
    }
    uint64_t previous_end = kSegmentMagic.size();
    for (const auto &entry : scan.entries) {
        check(entry.offset == previous_end, "entries are not contiguous");
        previous_end = entry.offset + kFrameHeaderBytes + entry.payload.size();
        check(previous_end <= scan.valid_bytes, "entry beyond valid_bytes");
        try {
            switch (entry.type) {
                case EntryType::block:
                    check_block_round_trip(*Block::parse(std::string(entry.payload)));
                    break;
                case EntryType::done:
                    check(encode_done(decode_done(entry.payload)) == entry.payload,
                          "done mark does not re-encode to the same bytes");
                    break;
                case EntryType::start:
                    check(encode_start(decode_start(entry.payload)) == entry.payload,
                          "start mark does not re-encode to the same bytes");
                    break;
                case EntryType::plan:
                    check(encode_plan(decode_plan(entry.payload)) == entry.payload,
                          "batch plan does not re-encode to the same bytes");
                    break;
                case EntryType::synced:
                    check(encode_synced(decode_synced(entry.payload)) == entry.payload,
                          "synced mark does not re-encode to the same bytes");
                    break;
            }
        } catch (const WalError &) {
            // The expected answer to a payload that passed its CRC but is not well-formed.
        }
    }
    if (!scan.entries.empty()) check(previous_end == scan.valid_bytes, "valid_bytes mismatch");
}

// Whether the log could have come from the writer as far as replay goes: block ids unique, and
// every done mark or batch plan after the blocks it names. A crafted log that is not (a mark before
// its block) may replay such a block again once the segment holding the mark is deleted.
bool writer_plausible(const std::vector<std::string_view> &segments) {
    std::set<uint64_t> blocks;
    for (size_t i = 0; i < segments.size(); ++i) {
        for (const auto &entry : scan_segment(segments[i], i + 1 == segments.size()).entries) {
            try {
                if (entry.type == EntryType::block) {
                    if (!blocks.insert(Block::parse(std::string(entry.payload))->id).second)
                        return false;
                } else if (entry.type == EntryType::done) {
                    for (auto id : decode_done(entry.payload).block_ids)
                        if (!blocks.count(id)) return false;
                } else if (entry.type == EntryType::plan) {
                    for (auto id : decode_plan(entry.payload).block_ids)
                        if (!blocks.count(id)) return false;
                }
            } catch (const WalError &) {
                return false;
            }
        }
    }
    return true;
}

fs::path scratch_root() {
    // tmpfs when there is one: the WAL fsyncs its files and directory on every open.
    std::error_code ec;
    const fs::path base = fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0
                              ? fs::path("/dev/shm")
                              : fs::temp_directory_path();
    return base / ("sluice-wal-fuzz-" + std::to_string(::getpid()));
}

const fs::path &scratch_dir() {
    static const fs::path dir = [] {
        fs::path d = scratch_root();
        fs::remove_all(d);
        std::atexit([] {
            std::error_code ec;
            fs::remove_all(scratch_root(), ec);
        });
        return d;
    }();
    return dir;
}

std::map<std::string, std::string> listing(const fs::path &dir) {
    std::map<std::string, std::string> files;
    for (const auto &entry : fs::directory_iterator(dir)) {
        std::ifstream in(entry.path(), std::ios::binary);
        files[entry.path().filename().string()].assign(std::istreambuf_iterator<char>(in), {});
    }
    return files;
}

void check_recovery(std::string_view input) {
    const fs::path dir = scratch_dir();
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir);
    const auto segments = sluice::wal::fuzz::split_segments(input);
    for (size_t i = 0; i < segments.size(); ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "%020zu.wal", i);
        std::ofstream(dir / name, std::ios::binary)
            .write(segments[i].data(), static_cast<std::streamsize>(segments[i].size()));
    }
    std::ofstream(dir / "lock").flush();
    const auto before = listing(dir);

    WalOptions options;
    options.dir = dir;
    options.segment_bytes = 4096;
    // Ids in replay order: the planned batches' blocks, then the rest in log order.
    auto replay_order = [](const Recovery &recovery) {
        std::vector<uint64_t> ids;
        for (const auto &b : recovery.planned)
            for (const auto &block : b.blocks) ids.push_back(block->id);
        for (const auto &block : recovery.pending) ids.push_back(block->id);
        return ids;
    };
    std::vector<uint64_t> pending;
    std::vector<int64_t> planned;  // batch ids
    int64_t last_batch = -1;
    try {
        WriteAheadLog wal(options);
        Recovery recovery = wal.take_recovery();
        pending = replay_order(recovery);
        for (const auto &b : recovery.planned) {
            check(b.batch_id <= recovery.last_batch_id, "a planned batch after the last id");
            planned.push_back(b.batch_id);
        }
        // (A crafted log may hold one id twice; the writer never does.)
        const std::set<uint64_t> unique_ids(pending.begin(), pending.end());
        check(wal.pending_blocks() == unique_ids.size(), "pending_blocks disagrees with recovery");
        last_batch = recovery.last_batch_id;
    } catch (const WalError &) {
        check(listing(dir) == before, "a WAL that failed to open changed its directory");
        return;
    }
    const int64_t batch = last_batch < INT64_MAX ? last_batch + 1 : INT64_MAX;
    uint64_t next_id = 0;
    try {
        // What one start recovered (and cut), the next start finds again.
        {
            WriteAheadLog wal(options);
            Recovery recovery = wal.take_recovery();
            const std::vector<uint64_t> again = replay_order(recovery);
            std::vector<int64_t> planned_again;
            for (const auto &b : recovery.planned) planned_again.push_back(b.batch_id);
            if (writer_plausible(segments)) {
                check(again == pending, "a second start recovers other blocks");
                check(planned_again == planned, "a second start recovers other planned batches");
            }
            check(recovery.last_batch_id == last_batch, "a second start has another last batch");
            check(recovery.torn_bytes == 0, "a torn tail after a clean close");
            const std::set<uint64_t> unique_ids(pending.begin(), pending.end());
            wal.mark_done(batch, std::vector<uint64_t>(unique_ids.begin(), unique_ids.end()));
            check(wal.pending_blocks() == 0, "blocks pending after marking all done");
            next_id = wal.allocate_block_id();
        }
        // Everything processed: nothing to replay, counters kept.
        WriteAheadLog wal(options);
        Recovery recovery = wal.take_recovery();
        check(recovery.pending.empty(), "blocks pending again after all were marked done");
        check(recovery.last_batch_id == batch, "last batch id lost on reopen");
        // Ids from the previous run are never handed out again (next_id itself was allocated
        // but never written, so it may come back; 0 after a crafted id of 2^64-1).
        check(wal.allocate_block_id() >= next_id || next_id == 0, "block ids went backwards");
    } catch (const WalError &e) {
        std::fprintf(stderr, "wal_fuzz: reopen failed: %s\n", e.what());
        broken("a WAL that opened once does not open again");
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    spdlog::set_level(spdlog::level::off);  // a torn tail is logged at every start
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string_view input(reinterpret_cast<const char *>(data), size);
    check_entries(input, false);
    check_entries(input, true);
    for (const auto segment : sluice::wal::fuzz::split_segments(input)) {
        check_entries(segment, false);
        check_entries(segment, true);
    }
    check_recovery(input);
    return 0;
}
