// Writes the seed corpus of checkpoint_fuzz: checkpoint directories written by the real
// CheckpointStore (format 2 with bases and deltas, full entries, a pending batch), the format-1
// fixture of tests/checkpoint, and a few damaged ones (torn, another version, a framed payload).
// Usage: checkpoint_fuzz_seeds OUTDIR

#include <string>
#include <vector>

#include "checkpoint/checkpoint_store.hpp"
#include "checkpoint/file_format.hpp"
#include "fuzz_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace sluice;

const std::string kSeparator = "\n~~next-file~~\n";

/// The files of a checkpoint directory (lock left out) as one input.
std::string as_input(const fs::path &dir) {
    std::vector<std::string> parts;
    for (const auto &entry : fs::recursive_directory_iterator(dir)) {
        if (!entry.is_regular_file() || entry.path().filename() == "lock") continue;
        parts.push_back(fs::relative(entry.path(), dir).string() + "\n" +
                        sluice::fuzz::read_file(entry.path()));
    }
    return sluice::fuzz::join_parts(parts, kSeparator);
}

BatchPlan plan(int64_t id, int partitions, int busy, int64_t base_offset) {
    BatchPlan p{id, 1'700'000'000'000 + id * 1000, {}};
    for (int i = 0; i < partitions; ++i) {
        const int64_t from = base_offset + id * 10;
        p.ranges.push_back({i % 2 ? "orders" : "audit", i, from, from + (i < busy ? 10 : 0)});
    }
    return p;
}

/// A directory written by the store: `batches` committed, then one more planned only.
std::string written(const fs::path &dir, int partitions, int busy, int batches) {
    fs::remove_all(dir);
    {
        checkpoint::CheckpointStore store(dir, 3);
        store.recover();
        for (int id = 0; id < batches; ++id) {
            store.write_offsets(plan(id, partitions, busy, 0));
            store.write_commit(plan(id, partitions, busy, 0));
        }
        store.write_offsets(plan(batches, partitions, busy, 0));
    }
    std::string input = as_input(dir);
    fs::remove_all(dir);
    return input;
}

}  // namespace

int main(int argc, char **argv) {
    const fs::path scratch = fs::temp_directory_path() / "sluice-checkpoint-fuzz-seeds";
    const std::string few = written(scratch, 3, 1, 4);
    const std::string many = written(scratch, 80, 2, 5);   // bases and deltas
    const std::string busy = written(scratch, 16, 12, 2);  // full entries (small: inputs stay fast)
    std::string v1;
    {
        std::vector<std::string> parts;
        const fs::path fixture = fs::path(SLUICE_SOURCE_DIR) / "tests/checkpoint/fixtures/v1";
        for (const auto &entry : fs::recursive_directory_iterator(fixture))
            if (entry.is_regular_file())
                parts.push_back(fs::relative(entry.path(), fixture).string() + "\n" +
                                sluice::fuzz::read_file(entry.path()));
        v1 = sluice::fuzz::join_parts(parts, kSeparator);
    }
    const std::string entry = checkpoint::encode_frame(
        R"({"batch_id":7,"batch_time_ms":1,"ranges":[{"topic":"t","partition":0,"from_offset":3,"until_offset":9}]})");
    const std::string meta = checkpoint::encode_frame(R"({"format_version":2,"created_ms":1})");
    return sluice::fuzz::write_seeds(
        argc, argv, "checkpoint_fuzz",
        {{"format2-few-partitions", few},
         {"format2-bases-and-deltas", many},
         {"format2-full-entries", busy},
         {"format1-fixture", v1},
         {"torn-offsets-entry",
          "metadata\n" + meta + kSeparator + "offsets/7\n" + entry.substr(0, entry.size() - 5)},
         {"committed-and-pending", "metadata\n" + meta + kSeparator + "commits/7\n" + entry +
                                       kSeparator + "=offsets/8\n" +
                                       R"({"batch_id":8,"batch_time_ms":2,"ranges":[]})"},
         {"framed-delta-on-base",
          "metadata\n" + meta + kSeparator +
              "=bases/3\n{\"base\":3,\"topics\":[\"t\"],\"positions\":[[0,0,5],[0,1,6]]}" +
              kSeparator +
              "=commits/4\n{\"batch_id\":4,\"batch_time_ms\":1,\"base\":3,\"moved\":[[1,6,9]]}"},
         {"newer-version", "metadata\nsluice-checkpoint 9 00000000 2\n{}"},
         {"not-a-checkpoint", "notes.txt\nhello"}});
}
