// libFuzzer target for direct mode's checkpoint reader (host/checkpoint): the frame of every
// file (decode_frame), the JSON of entries and bases (plan_from_json), and what a start reads
// from a checkpoint directory made of the input (CheckpointStore's open and recover()).
//
// Input: up to kMaxFiles files joined by kFileSeparator, each "NAME\nBYTES" where NAME is
// metadata, offsets/ID, commits/ID, bases/ID or any other name; "=NAME\nPAYLOAD" writes
// encode_frame(PAYLOAD), so the fuzzer reaches the JSON past the CRC.
// CheckpointError is the expected, clean answer to a directory sluice must not start from;
// anything else (a crash, a sanitizer report, another exception, a broken invariant) is a
// finding. Invariants:
//   - a frame that decodes re-encodes to a frame that decodes to the same payload; any payload
//     framed by encode_frame decodes to itself;
//   - a directory the store refuses is left exactly as it was;
//   - after an open, recover() does not throw; what it recovers is well-formed (ranges with
//     0 <= from <= until, partitions >= 0) and the pending batch is newer than the committed;
//   - a second open recovers the same batches;
//   - committing the next batch on top (or the pending one, as a replay would), the next open
//     recovers exactly that batch as the last committed and nothing pending.

#include <spdlog/spdlog.h>

#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "checkpoint/checkpoint_store.hpp"
#include "checkpoint/entries.hpp"
#include "checkpoint/file_format.hpp"
#include "fuzz_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace sluice;
using namespace sluice::checkpoint;

constexpr std::string_view kFileSeparator = "\n~~next-file~~\n";
constexpr size_t kMaxFiles = 8;

/// `what` is a message, or a callable that makes one: the messages print whole plans, and
/// building them for every input that passes cost about 6% of the target's time.
template <typename What>
void check(bool ok, What &&what) {
    if (ok) return;
    if constexpr (std::is_invocable_v<What>)
        sluice::fuzz::broken("checkpoint_fuzz", what());
    else
        sluice::fuzz::broken("checkpoint_fuzz", what);
}

std::string plan_text(const std::optional<BatchPlan> &plan) {
    if (!plan) return "none";
    std::string out = "batch " + std::to_string(plan->batch_id) + " [";
    for (const auto &r : plan->ranges)
        out += " " + r.topic + ":" + std::to_string(r.partition) + "=" +
               std::to_string(r.from_offset) + ".." + std::to_string(r.until_offset);
    return out + " ]";
}

void check_plan(const std::optional<BatchPlan> &plan) {
    if (!plan) return;
    check(plan->batch_id >= 0,
          [&] { return "a recovered batch with a negative id: " + plan_text(plan); });
    for (const auto &r : plan->ranges)
        check(r.partition >= 0 && r.from_offset >= 0 && r.until_offset >= r.from_offset,
              [&] { return "a recovered impossible range: " + plan_text(plan); });
}

void check_frame(std::string_view bytes) {
    const DecodedFrame frame = decode_frame(bytes);
    if (frame.status == DecodedFrame::Status::kOk) {
        const DecodedFrame again = decode_frame(encode_frame(frame.payload));
        check(again.status == DecodedFrame::Status::kOk && again.payload == frame.payload,
              "a decoded frame does not re-encode to the same payload");
    } else {
        check(!frame.problem.empty(), "a frame refused without a reason");
    }
    const DecodedFrame framed = decode_frame(encode_frame(bytes));
    check(framed.status == DecodedFrame::Status::kOk && framed.payload == bytes,
          "encode_frame's output does not decode to its payload");
}

/// The file an input part stands for, or nullopt (a name that would leave the directory).
std::optional<fs::path> file_name(std::string_view name) {
    if (name.empty() || name.size() > 40) return std::nullopt;
    const size_t slash = name.find('/');
    std::string_view dir, file = name;
    if (slash != std::string_view::npos) {
        dir = name.substr(0, slash);
        file = name.substr(slash + 1);
        if (dir != "offsets" && dir != "commits" && dir != "bases") return std::nullopt;
    }
    if (file.empty() || file == "." || file == ".." ||
        file.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos)
        return std::nullopt;
    return dir.empty() ? fs::path(file) : fs::path(dir) / fs::path(file);
}

std::map<std::string, std::string> listing(const fs::path &dir) {
    std::map<std::string, std::string> files;
    for (const auto &entry : fs::recursive_directory_iterator(dir)) {
        const std::string rel = fs::relative(entry.path(), dir).string();
        files[rel] = entry.is_regular_file() ? sluice::fuzz::read_file(entry.path()) : "<dir>";
    }
    return files;
}

struct Recovered {
    std::optional<BatchPlan> committed, pending;
};

Recovered open_and_recover(const fs::path &dir) {
    CheckpointStore store(dir, 3);
    RecoveredState state;
    try {
        state = store.recover();
    } catch (const CheckpointError &e) {
        sluice::fuzz::broken("checkpoint_fuzz",
                             std::string("recover() threw after an open: ") + e.what());
    }
    return {std::move(state.last_committed), std::move(state.pending)};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    spdlog::set_level(spdlog::level::off);  // every skipped entry is a warning
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string_view input(reinterpret_cast<const char *>(data), size);
    const fs::path dir = sluice::fuzz::scratch_dir("checkpoint_fuzz") / "cp";
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir);

    std::vector<std::string> payloads;  // of the "=NAME" parts
    for (const std::string_view part :
         sluice::fuzz::split_parts(input, kFileSeparator, kMaxFiles)) {
        const size_t newline = part.find('\n');
        std::string_view name = part.substr(0, newline);
        const std::string_view bytes =
            newline == std::string_view::npos ? std::string_view() : part.substr(newline + 1);
        const bool frame_it = name.starts_with('=');
        if (frame_it) name.remove_prefix(1);
        check_frame(bytes);
        const auto file = file_name(name);
        if (!file) continue;
        fs::create_directories((dir / *file).parent_path(), ec);
        if (fs::is_directory(dir / *file, ec)) continue;
        sluice::fuzz::write_file(dir / *file, frame_it ? encode_frame(bytes) : std::string(bytes));
        if (frame_it) payloads.emplace_back(bytes);
    }

    // The JSON readers on their own (bases read from the directory as a start would).
    for (const std::string &payload : payloads) {
        detail::BaseReader bases(dir / "bases");
        try {
            int64_t base_id = -1;
            const BatchPlan plan = detail::plan_from_json(payload, bases, base_id);
            if (base_id < 0) {
                // A full entry re-encodes to an entry that reads back the same.
                int64_t again_base = 0;
                check(detail::plan_from_json(detail::plan_to_json(plan).dump(), bases,
                                             again_base) == plan,
                      "a full entry does not read back the same after re-encoding");
            }
        } catch (const std::exception &) {
            // nlohmann::json::exception, std::invalid_argument or CheckpointError: refused.
        }
    }

    const auto before = listing(dir);
    Recovered first;
    try {
        first = open_and_recover(dir);
    } catch (const CheckpointError &) {
        check(listing(dir) == before, "a checkpoint directory refused at open was changed");
        return 0;
    }
    check_plan(first.committed);
    check_plan(first.pending);
    if (first.pending && first.committed)
        check(first.pending->batch_id > first.committed->batch_id, [&] {
            return "pending " + plan_text(first.pending) + " is not newer than committed " +
                   plan_text(first.committed);
        });

    try {
        const Recovered second = open_and_recover(dir);
        check(second.committed == first.committed && second.pending == first.pending, [&] {
            return "a second open recovers other batches: committed " +
                   plan_text(second.committed) + " (was " + plan_text(first.committed) +
                   "), pending " + plan_text(second.pending) + " (was " + plan_text(first.pending) +
                   ")";
        });

        // What a run does next: replay the pending batch, or plan the next one, and commit it.
        BatchPlan next;
        if (first.pending) {
            next = *first.pending;
        } else {
            if (first.committed) {
                if (first.committed->batch_id == INT64_MAX) return 0;
                next = *first.committed;
                next.batch_id += 1;
                for (auto &r : next.ranges) r.from_offset = r.until_offset;
                if (!next.ranges.empty() && next.ranges[0].until_offset < INT64_MAX)
                    next.ranges[0].until_offset += 1;
            } else {
                next = {0, 1'700'000'000'000, {{"t", 0, 0, 5}}};
            }
            CheckpointStore store(dir, 3);
            store.recover();
            store.write_offsets(next);
        }
        {
            CheckpointStore store(dir, 3);
            store.recover();
            store.write_commit(next);
        }
        const Recovered after = open_and_recover(dir);
        check(after.committed == next, [&] {
            return "after committing " + plan_text(next) + " the last committed is " +
                   plan_text(after.committed);
        });
        check(!after.pending, [&] {
            return "after committing " + plan_text(next) + " there is a pending " +
                   plan_text(after.pending);
        });
    } catch (const CheckpointError &e) {
        sluice::fuzz::broken("checkpoint_fuzz",
                             std::string("a checkpoint that opened once fails later: ") + e.what());
    }
    return 0;
}
