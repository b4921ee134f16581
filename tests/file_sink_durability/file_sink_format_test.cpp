// file-sink's output, byte for byte: a fixed set of batches (a few hundred records: null, empty
// and binary keys and values, every base64 padding, headers with null and empty values and
// names that need JSON escaping or are not UTF-8, several topics and partitions, batches
// grouped by partition and interleaved, a replay that overlaps stored offsets, a range with
// no records) written through the C ABI, in the single-file and the per-partition layout, and
// compared with golden/ (written by the file-sink of 6d423ab, before the encoder was rewritten
// by hand for speed). The data file and its sidecar must match exactly.
//
// The batches come from a fixed-seed generator, so the golden files never change unless the
// format does. To write them again after a deliberate format change (never to make this test
// pass): SLUICE_FILE_SINK_WRITE_GOLDEN=1 ctest -R file_sink_format.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bundled_files.hpp"
#include "test_host.hpp"

namespace sluice::testing {
namespace {

std::filesystem::path file_sink_plugin() {
    if (const char *p = std::getenv("SLUICE_TEST_FILE_SINK"); p && *p) return p;
    return bundled_plugin("file-sink");
}

const std::filesystem::path kGolden =
    std::filesystem::path(SLUICE_SOURCE_DIR) / "tests/file_sink_durability/golden";

/// splitmix64: a fixed sequence on every platform (std::distributions are not).
class Rng {
  public:
    uint64_t next() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    uint64_t below(uint64_t n) { return next() % n; }
    std::string bytes(std::size_t n) {
        std::string s(n, '\0');
        for (char &c : s) c = static_cast<char>(next() & 0xff);
        return s;
    }
    std::string text(std::size_t n) {
        static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789 {}\":,\\";
        std::string s(n, '\0');
        for (char &c : s) c = kChars[below(sizeof kChars - 1)];
        return s;
    }

  private:
    uint64_t state_ = 20261202;
};

/// Header names that take every path of the JSON string encoder: plain, quotes and
/// backslashes, the short and the \u00XX control escapes, DEL, valid multi-byte UTF-8, and
/// bytes that are not UTF-8 (a lone continuation byte, a cut sequence, an overlong form, an
/// encoded surrogate, 0xff), which are replaced, never thrown on.
const std::vector<std::string> &header_names() {
    static const std::vector<std::string> names = {
        "h",
        "",
        "content-type",
        "q\"uote",
        "back\\slash",
        "ctl\b\f\n\r\t",
        "ctl\x01\x02\x1f",
        "del\x7f",
        "caf\xc3\xa9",
        "emoji\xf0\x9f\x98\x80",
        "euro\xe2\x82\xac",
        "bad\xff",
        "lone\x80",
        "cut\xe2\x82",
        "overlong\xc0\xaf",
        "surrogate\xed\xa0\x80",
        "mixed\xc3(\xe2\x28\xa1",
    };
    return names;
}

std::optional<std::string> random_bytes(Rng &rng, std::size_t max) {
    switch (rng.below(6)) {
        case 0:
            return std::nullopt;
        case 1:
            return std::string();
        case 2:
            return rng.text(1 + rng.below(max));
        default:
            return rng.bytes(1 + rng.below(max));
    }
}

TestRecord random_record(Rng &rng, const std::string &topic, int32_t partition, int64_t offset) {
    TestRecord r{.topic = topic, .partition = partition, .offset = offset};
    switch (rng.below(4)) {
        case 0:
            r.timestamp = -1;
            break;
        case 1:
            r.timestamp = 0;
            break;
        default:
            r.timestamp = 1700000000000 + static_cast<int64_t>(rng.below(1000000000));
    }
    r.key = random_bytes(rng, 40);
    r.value = random_bytes(rng, 300);
    const auto &names = header_names();
    for (uint64_t h = rng.below(4); h > 0; --h) {
        r.headers.emplace_back(names[rng.below(names.size())], random_bytes(rng, 20));
    }
    return r;
}

/// The records written by hand: each base64 padding, every byte value, long values.
std::vector<TestRecord> edge_records(const std::string &topic, int32_t partition, int64_t from) {
    std::string all(256, '\0');
    for (int i = 0; i < 256; ++i) all[i] = static_cast<char>(i);
    std::vector<std::optional<std::string>> values = {
        std::nullopt,
        std::string(),
        std::string("a"),
        std::string("ab"),
        std::string("abc"),
        std::string("abcd"),
        std::string(1, '\0'),
        std::string("\xff\xfe\xfd", 3),
        all,
        std::string(5000, 'x'),
        std::string("{\"json\":\"inside\"}\n"),
    };
    std::vector<TestRecord> out;
    int64_t o = from;
    for (const auto &k : values) {
        out.push_back(TestRecord{
            .topic = topic, .partition = partition, .offset = o++, .key = k, .value = k});
    }
    for (const auto &name : header_names()) {
        out.push_back(TestRecord{
            .topic = topic,
            .partition = partition,
            .offset = o++,
            .timestamp = 1,
            .key = std::string("k"),
            .value = std::nullopt,
            .headers = {{name, std::string("v")}, {name, std::nullopt}, {name, std::string()}}});
    }
    return out;
}

/// The batches, in the order they are processed. Ranges cover every record, plus a
/// partition with a range and no records.
std::vector<TestBatch> golden_batches() {
    Rng rng;
    std::vector<TestBatch> batches;
    auto add_range = [](TestBatch &b, const std::string &topic, int32_t p, int64_t from,
                        int64_t until) {
        b.ranges.push_back({topic, p, from, until});
    };

    // 1: grouped by partition, as direct mode hands them over.
    TestBatch b1;
    b1.id = 1;
    for (int32_t p = 0; p < 3; ++p) {
        for (int64_t o = 0; o < 40; ++o) b1.records.push_back(random_record(rng, "events", p, o));
        add_range(b1, "events", p, 0, 40);
    }
    batches.push_back(std::move(b1));

    // 2: the hand-written cases, and partitions interleaved (receiver mode's blocks).
    TestBatch b2;
    b2.id = 2;
    auto edges = edge_records("edge-cases", 7, 100);
    b2.records = edges;
    add_range(b2, "edge-cases", 7, 100, 100 + static_cast<int64_t>(edges.size()));
    for (int64_t o = 40; o < 100; ++o) {
        b2.records.push_back(random_record(rng, "events", static_cast<int32_t>(o % 3), o));
    }
    for (int32_t p = 0; p < 3; ++p) add_range(b2, "events", p, 40, 100);
    batches.push_back(std::move(b2));

    // 3: a replay that overlaps what batch 2 stored: only offsets >= 100 are new.
    TestBatch b3;
    b3.id = 3;
    for (int32_t p = 0; p < 3; ++p) {
        for (int64_t o = 90; o < 130; ++o) b3.records.push_back(random_record(rng, "events", p, o));
        add_range(b3, "events", p, 90, 130);
    }
    batches.push_back(std::move(b3));

    // 4: no records, only a range of a new partition (compacted away): the sidecar moves.
    TestBatch b4;
    b4.id = 4;
    add_range(b4, "events", 5, 0, 1000);
    batches.push_back(std::move(b4));

    // 5: large numbers, other topics (one that needs escaping), more records.
    TestBatch b5;
    b5.id = 5;
    const int64_t big = int64_t{1} << 40;
    for (int64_t o = big; o < big + 60; ++o) {
        b5.records.push_back(random_record(rng, "a.b-c_D", 2147483647, o));
    }
    add_range(b5, "a.b-c_D", 2147483647, big, big + 60);
    for (int64_t o = 0; o < 30; ++o) {
        TestRecord r = random_record(rng, "odd \"topic\" \xc3\xa9", 1, o);
        r.timestamp = -1234;
        b5.records.push_back(std::move(r));
    }
    add_range(b5, "odd \"topic\" \xc3\xa9", 1, 0, 30);
    batches.push_back(std::move(b5));
    return batches;
}

/// Many more records than the golden files hold, so that file-sink encodes each batch in
/// several chunks on several threads: 3 batches of 12,000 records on 4 partitions (grouped,
/// interleaved, and a replay overlapping the stored offsets).
std::vector<TestBatch> large_batches() {
    Rng rng;
    std::vector<TestBatch> batches(3);
    for (int32_t p = 0; p < 4; ++p) {
        for (int64_t o = 0; o < 3000; ++o) {
            batches[0].records.push_back(random_record(rng, "large", p, o));
        }
        batches[0].ranges.push_back({"large", p, 0, 3000});
    }
    for (int64_t o = 3000; o < 6000; ++o) {
        for (int32_t p = 0; p < 4; ++p) {
            batches[1].records.push_back(random_record(rng, "large", p, o));
        }
    }
    for (int32_t p = 0; p < 4; ++p) {
        batches[1].ranges.push_back({"large", p, 3000, 6000});
        for (int64_t o = 5000; o < 8000; ++o) {
            batches[2].records.push_back(random_record(rng, "large", p, o));
        }
        batches[2].ranges.push_back({"large", p, 5000, 8000});
    }
    for (std::size_t i = 0; i < batches.size(); ++i) batches[i].id = static_cast<int64_t>(i) + 1;
    return batches;
}

/// "<size> <FNV-1a 64 in hex>": a digest of output too large to keep as golden bytes.
std::string digest(const std::string &bytes) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return std::to_string(bytes.size()) + " " + hex + "\n";
}

/// Every file of `dir` except the lock files (they hold a pid), in name order, each as a
/// header line with its name and size, then its bytes.
std::string manifest(const std::filesystem::path &dir) {
    std::vector<std::filesystem::path> files;
    for (const auto &e : std::filesystem::directory_iterator(dir)) {
        if (e.path().extension() != ".lock") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    std::string out;
    for (const auto &f : files) {
        const std::string text = read_file(f.string());
        out += "== " + f.filename().string() + " " + std::to_string(text.size()) + "\n" + text;
    }
    return out;
}

void write_all_batches(const LoadedPlugin &plugin, const std::map<std::string, std::string> &cfg,
                       std::vector<TestBatch> batches = golden_batches()) {
    TestHost host;
    host.config = cfg;
    TestInstance inst(plugin, host);
    inst.create_ok();
    for (TestBatch &b : batches) {
        CallResult r = inst.process(b, 2048);
        ASSERT_EQ(r.status, SLUICE_OK) << "batch " << b.id << ": " << r.message;
    }
}

/// Compares `actual` with golden/NAME, or writes it there with SLUICE_FILE_SINK_WRITE_GOLDEN.
void expect_golden(const std::string &name, const std::string &actual) {
    const std::filesystem::path path = kGolden / name;
    if (const char *w = std::getenv("SLUICE_FILE_SINK_WRITE_GOLDEN"); w && *w) {
        std::filesystem::create_directories(kGolden);
        std::ofstream(path, std::ios::binary) << actual;
        GTEST_SKIP() << "wrote " << path;
    }
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    const std::string want = read_file(path.string());
    ASSERT_EQ(actual.size(), want.size()) << name;
    // The first differing line, rather than two 100 KB strings.
    std::size_t at = 0;
    while (at < want.size() && want[at] == actual[at]) ++at;
    if (at == want.size()) return;
    const std::size_t line =
        want.rfind('\n', at) == std::string::npos ? 0 : want.rfind('\n', at) + 1;
    ADD_FAILURE() << name << " differs at byte " << at
                  << ":\nwant: " << want.substr(line, want.find('\n', at) - line)
                  << "\ngot:  " << actual.substr(line, actual.find('\n', at) - line);
}

class FileSinkFormatTest : public ::testing::Test {
  protected:
    TempDir dir_;
    LoadedPlugin plugin_{file_sink_plugin()};
};

TEST_F(FileSinkFormatTest, GoldenBatchesCoverTheCases) {
    // The generator itself: a few hundred records, each kind of key present.
    std::size_t records = 0, null_keys = 0, empty_keys = 0, headers = 0;
    for (const TestBatch &b : golden_batches()) {
        for (const TestRecord &r : b.records) {
            ++records;
            null_keys += !r.key;
            empty_keys += r.key && r.key->empty();
            headers += r.headers.size();
        }
    }
    EXPECT_GT(records, 400u);
    EXPECT_GT(null_keys, 20u);
    EXPECT_GT(empty_keys, 20u);
    EXPECT_GT(headers, 300u);
}

TEST_F(FileSinkFormatTest, SingleFileIsByteForByteTheGolden) {
    const std::string data = dir_.file("out.jsonl");
    write_all_batches(plugin_, {{"path", data}});
    expect_golden("out.jsonl", read_file(data));
    expect_golden("out.jsonl.offsets", read_file(data + ".offsets"));
}

TEST_F(FileSinkFormatTest, PerPartitionFilesAreByteForByteTheGolden) {
    const std::string dir = dir_.file("parts");
    write_all_batches(plugin_, {{"path", dir}, {"per-partition", "true"}});
    expect_golden("per-partition.manifest", manifest(dir));
}

TEST_F(FileSinkFormatTest, LargeBatchesOnSeveralThreadsMatchTheGoldenDigest) {
    // encode-threads = 3: several chunks per batch whatever the machine's cores (the plugin
    // of the golden run ignored the key).
    const std::string data = dir_.file("large.jsonl");
    write_all_batches(plugin_, {{"path", data}, {"encode-threads", "3"}}, large_batches());
    const std::string text = read_file(data);
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4 * 8000);
    expect_golden("large.digest", digest(text) + digest(read_file(data + ".offsets")));

    const std::string dir = dir_.file("large-parts");
    write_all_batches(plugin_, {{"path", dir}, {"per-partition", "true"}, {"encode-threads", "3"}},
                      large_batches());
    expect_golden("large-per-partition.digest", digest(manifest(dir)));
}

}  // namespace
}  // namespace sluice::testing
