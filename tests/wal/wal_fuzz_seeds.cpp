// Writes the seed corpus of the WAL fuzz target into a directory, then runs every seed through
// the target once (so the harness's invariants are exercised by the g++ build too).
// Usage: wal_fuzz_seeds OUTDIR   (OUTDIR is emptied first)

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "wal/wal_format.hpp"
#include "wal/write_ahead_log.hpp"
#include "wal_fuzz_input.hpp"
#include "wal_test_helpers.hpp"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace {

using namespace sluice::wal;
using sluice::wal::fuzz::join_segments;
using sluice::wal::test::framed;
using sluice::wal::test::make_block;
using sluice::wal::test::segment_of;

/// Segments written by the real WriteAheadLog: blocks on three partitions, some done.
std::vector<std::string> real_segments(const fs::path &scratch) {
    fs::remove_all(scratch);
    {
        WalOptions options;
        options.dir = scratch;
        options.segment_bytes = 700;
        WriteAheadLog wal(options);
        std::vector<uint64_t> ids;
        for (int i = 0; i < 5; ++i) {
            const uint64_t id = wal.allocate_block_id();
            wal.append(*make_block(id, {i == 3 ? "audit" : "orders", i % 2}, i * 3, 3, 40));
            ids.push_back(id);
        }
        wal.plan_batch(4, 1'700'000'000'000, {ids[0], ids[2]});
        wal.mark_done(4, {ids[0], ids[2]});
        wal.plan_batch(5, 1'700'000'000'200, {ids[1], ids[3]});  // never done: replayed
    }
    std::vector<std::string> segments;
    for (const auto &path : sluice::wal::test::segment_files(scratch))
        segments.push_back(sluice::wal::test::read_bytes(path));
    fs::remove_all(scratch);
    return segments;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: wal_fuzz_seeds OUTDIR\n");
        return 2;
    }
    const fs::path out = argv[1];
    fs::remove_all(out);
    fs::create_directories(out);

    std::vector<std::pair<std::string, std::string>> seeds;
    const std::vector<std::string> real = real_segments(out / "scratch");
    seeds.emplace_back("real-log", join_segments(real));
    seeds.emplace_back("real-newest-segment", real.back());

    auto block = make_block(7, {"t", 0}, 10, 3, 8);
    BlockBuilder odd({"headers", 2});
    const char empty[] = "";
    odd.add_record(0, -1, 1, empty, 0, nullptr, 0, 2);
    odd.add_header("a", nullptr, 0);
    odd.add_header("b", "x", 1);
    odd.add_record(5, 0, 0, nullptr, 0, empty, 0, 0);
    auto odd_block = odd.seal(8, 0);
    const std::string start = encode_start({7, 3});
    const std::string done = encode_done({4, {7}});
    const std::string clean = segment_of({start, block->payload, odd_block->payload, done});
    seeds.emplace_back("clean", clean);
    seeds.emplace_back("torn-partial-entry", clean + framed(done).substr(0, 11));
    seeds.emplace_back("torn-zero-tail", clean + std::string(64, '\0'));
    std::string bad_crc = clean;
    bad_crc[kSegmentMagic.size() + kFrameHeaderBytes + start.size() + 20] ^= 0x08;
    seeds.emplace_back("corrupt-middle", bad_crc);
    std::string other_version = clean;
    other_version[11] = '9';
    seeds.emplace_back("other-version", other_version);
    seeds.emplace_back("magic-only", std::string(kSegmentMagic));
    seeds.emplace_back("magic-partial", std::string(kSegmentMagic.substr(0, 6)));
    seeds.emplace_back("unknown-type", segment_of({start, "\x07?"}));
    seeds.emplace_back("two-segments-older-torn",
                       join_segments({clean + framed(done).substr(0, 5), segment_of({start})}));
    seeds.emplace_back("two-segments-empty-newest", join_segments({clean, ""}));
    const std::string plan = encode_plan({5, 1'700'000'000'000, {7, 8}});
    seeds.emplace_back("open-plan", segment_of({start, block->payload, odd_block->payload, plan}));
    seeds.emplace_back("empty-plan", segment_of({start, encode_plan({4, 0, {}})}));
    const std::string vouched =
        segment_of({start, block->payload, encode_synced({clean.size()}), done});
    std::string vouched_bad = vouched;
    vouched_bad[kSegmentMagic.size() + kFrameHeaderBytes + start.size() + 20] ^= 0x08;
    seeds.emplace_back("corrupt-inside-synced", vouched_bad);
    seeds.emplace_back("torn-zeros-then-data", clean + std::string(64, '\0') + framed(done));

    for (const auto &[name, bytes] : seeds)
        std::ofstream(out / name, std::ios::binary)
            .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

    LLVMFuzzerInitialize(&argc, &argv);
    for (const auto &[name, bytes] : seeds)
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size());
    std::printf("wal_fuzz_seeds: %zu seeds in %s, each run through the fuzz target once\n",
                seeds.size(), out.string().c_str());
    return 0;
}
