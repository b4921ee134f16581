#include "checkpoint/checkpoint_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "checkpoint/entries.hpp"
#include "checkpoint/file_format.hpp"
#include "checkpoint/files.hpp"

namespace sluice::checkpoint {

namespace fs = std::filesystem;
using Status = DecodedFrame::Status;
using namespace detail;

namespace {

constexpr const char *kMetadataName = "metadata";
constexpr const char *kLockName = "lock";
constexpr const char *kOffsetsDir = "offsets";
constexpr const char *kCommitsDir = "commits";
constexpr const char *kBasesDir = "bases";
// An entry lists up to this many ranges against its base; past it a new base is written (the
// positions after the batch) once the entries written against the current one add up to its size,
// so an idle batch's entries stay under ~2 KB however many partitions the job reads, and a few
// busy partitions per batch cost their ranges plus a base now and then (encode_entry).
constexpr size_t kMaxMovedPerEntry = 64;

[[noreturn]] void throw_unknown_version(const fs::path &file, int version) {
    throw CheckpointError(
        "checkpoint file " + quoted(file) + " has format version " + std::to_string(version) +
        ", this sluice reads versions " + std::to_string(kOldestReadableVersion) + " to " +
        std::to_string(kFormatVersion) + ": use a newer sluice or a fresh --checkpoint directory");
}

// One log directory (offsets/ or commits/) as found on disk.
struct LogScan {
    std::map<int64_t, BatchPlan, std::greater<>> valid;  // newest first
    std::map<int64_t, int64_t> bases;                    // entry id -> its base (-1: none)
    std::vector<std::string> warnings;                   // bad entries and stray files
    std::vector<fs::path> temps;                         // leftovers of interrupted writes
};

/// Records that entry `id` (of either log) refers to base `base` (-1: none); keeps the oldest.
void note_entry_base(std::map<int64_t, int64_t> &bases, int64_t id, int64_t base) {
    auto [it, fresh] = bases.try_emplace(id, base);
    if (!fresh && base >= 0 && (it->second < 0 || base < it->second)) it->second = base;
}

// Throws CheckpointError on an unknown format version or an unreadable log.
LogScan scan_log(const fs::path &log_dir, const char *kind, BaseReader &bases) {
    LogScan scan;
    std::error_code ec;
    if (!fs::exists(log_dir, ec)) return scan;
    for (const auto &entry : list_dir(log_dir, log_dir.parent_path())) {
        std::string name = entry.path().filename().string();
        if (is_temp_name(name)) {
            scan.temps.push_back(entry.path());
            continue;
        }
        auto id = parse_batch_id(name);
        if (!id || !entry.is_regular_file(ec)) {
            scan.warnings.push_back(
                fmt::format("checkpoint: ignoring unexpected entry {} in the {} log",
                            quoted(entry.path()), kind));
            continue;
        }
        auto bytes = read_file(entry.path());
        if (!bytes) continue;
        auto frame = decode_frame(*bytes);
        if (frame.status == Status::kUnknownVersion)
            throw_unknown_version(entry.path(), frame.version);
        if (frame.status != Status::kOk) {
            scan.warnings.push_back(
                fmt::format("checkpoint: skipping {} entry of batch {} ({}): {}", kind, *id,
                            quoted(entry.path()), frame.problem));
            continue;
        }
        try {
            int64_t base_id = -1;
            BatchPlan plan = plan_from_json(frame.payload, bases, base_id);
            if (plan.batch_id != *id)
                throw std::invalid_argument("it holds batch " + std::to_string(plan.batch_id));
            scan.valid.emplace(*id, std::move(plan));
            scan.bases[*id] = base_id;
        } catch (const CheckpointError &) {
            throw;
        } catch (const std::exception &e) {
            scan.warnings.push_back(fmt::format(
                "checkpoint: skipping {} entry of batch {} ({}): unreadable payload: {}", kind, *id,
                quoted(entry.path()), e.what()));
        }
    }
    return scan;
}

}  // namespace

CheckpointStore::CheckpointStore(fs::path dir, int retain) : dir_(std::move(dir)), retain_(retain) {
    if (retain_ < 1)
        throw CheckpointError("checkpoint retention must keep at least 1 batch, got " +
                              std::to_string(retain_) + ": raise it");

    // Everything up to the lock only reads (or creates a missing directory):
    // a directory we refuse is left exactly as it was.
    std::error_code ec;
    auto st = fs::status(dir_, ec);
    if (ec && ec != std::errc::no_such_file_or_directory)
        throw CheckpointError("cannot access checkpoint directory " + quoted(dir_) + ": " +
                              ec.message() + "; " + out_of_dir_hint(dir_));
    if (!fs::exists(st)) {
        if (!fs::create_directories(dir_, ec) && ec)
            throw CheckpointError("cannot create checkpoint directory " + quoted(dir_) + ": " +
                                  ec.message() + "; create it yourself or choose another path");
        auto parent = fs::absolute(dir_, ec).parent_path();
        try {
            fsync_dir(parent);
        } catch (const CheckpointError &e) {
            spdlog::warn("{}", e.what());  // the directory exists; only its durability is in doubt
        }
    } else if (!fs::is_directory(st)) {
        throw CheckpointError("checkpoint path " + quoted(dir_) +
                              " exists and is not a directory: remove it or choose another path");
    }
    for (const char *sub : {kOffsetsDir, kCommitsDir, kBasesDir}) {
        auto sub_st = fs::status(dir_ / sub, ec);
        if (fs::exists(sub_st) && !fs::is_directory(sub_st))
            throw CheckpointError("checkpoint directory " + quoted(dir_) + " holds " +
                                  quoted(dir_ / sub) +
                                  " which is not a directory: " + out_of_dir_hint(dir_));
    }

    // Metadata: its version, or, when absent, proof that this is not someone
    // else's directory.
    bool write_metadata = false;
    fs::path metadata = dir_ / kMetadataName;
    if (auto bytes = read_file(metadata)) {
        auto frame = decode_frame(*bytes);
        if (frame.status == Status::kUnknownVersion) throw_unknown_version(metadata, frame.version);
        int version = -1;
        if (frame.status == Status::kOk) {
            try {
                version = nlohmann::json::parse(frame.payload).at("format_version").get<int>();
            } catch (const std::exception &) {
            }
        }
        if (version >= 0 && (version < kOldestReadableVersion || version > kFormatVersion))
            throw_unknown_version(metadata, version);
        if (version >= 0 && version < kFormatVersion) {
            // Entries of the older format stay readable; the metadata says from now on that an
            // older sluice must not write here (it would refuse the new entries anyway).
            open_warnings_.push_back(fmt::format(
                "checkpoint: {} is in format {}; upgrading it to format {} (older sluice "
                "versions cannot open it afterwards)",
                quoted(dir_), version, kFormatVersion));
            write_metadata = true;
        }
        if (version < 0) {
            open_warnings_.push_back(fmt::format(
                "checkpoint: metadata file {} is damaged ({}); rewriting it", quoted(metadata),
                frame.problem.empty() ? "bad payload" : frame.problem));
            write_metadata = true;
        }
    } else {
        for (const auto &entry : list_dir(dir_, dir_)) {
            auto name = entry.path().filename().string();
            if (name != kLockName && name != kOffsetsDir && name != kCommitsDir &&
                name != kBasesDir && name != std::string(kMetadataName) + std::string(kTempSuffix))
                throw CheckpointError("directory " + quoted(dir_) +
                                      " is not empty and is not a sluice checkpoint (no " +
                                      kMetadataName + " file, found " + quoted(entry.path()) +
                                      "): point --checkpoint at an empty or new directory");
        }
        write_metadata = true;
    }

    // Unknown versions must stop us before we write anything.
    {
        BaseReader bases(dir_ / kBasesDir);
        for (auto &[sub, kind] : {std::pair{kOffsetsDir, "offset"}, {kCommitsDir, "commit"}})
            for (const auto &[id, base] : scan_log(dir_ / sub, kind, bases).bases)
                note_entry_base(entry_bases_, id, base);
    }

    fs::path lock_path = dir_ / kLockName;
    UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (lock.get() < 0)
        throw CheckpointError("cannot open lock file " + quoted(lock_path) + ": " +
                              errno_text(errno) + "; " + out_of_dir_hint(dir_));
    // flock is released by the kernel when the holder dies, so a crashed
    // sluice never leaves a stale lock behind.
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err != EWOULDBLOCK)
            throw CheckpointError("cannot lock " + quoted(lock_path) + ": " + errno_text(err) +
                                  "; " + out_of_dir_hint(dir_));
        std::string holder;
        if (auto text = read_file(lock_path)) {
            holder = text->substr(0, text->find('\n'));
            if (!holder.empty()) holder = " (pid " + holder + ")";
        }
        throw CheckpointError("checkpoint directory " + quoted(dir_) +
                              " is in use by another sluice process" + holder +
                              ": stop it, or point --checkpoint at another directory");
    }
    // The pid only serves the message above; failing to write it is harmless.
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(lock.get(), 0) == 0 && ::pwrite(lock.get(), pid.data(), pid.size(), 0) < 0)
        spdlog::debug("checkpoint: cannot write pid into {}", lock_path.string());

    if (write_metadata) {
        nlohmann::json meta = {
            {"format_version", kFormatVersion},
            {"created_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count()},
            {"layout", "offsets/<batch_id>, commits/<batch_id>, bases/<batch_id>"}};
        write_atomically(dir_, kMetadataName, encode_frame(meta.dump()));
    }
    bool created = false;
    for (const char *sub : {kOffsetsDir, kCommitsDir, kBasesDir}) {
        if (fs::create_directory(dir_ / sub, ec)) created = true;
        if (ec)
            throw CheckpointError("cannot create " + quoted(dir_ / sub) + ": " + ec.message() +
                                  "; " + out_of_dir_hint(dir_));
    }
    if (created) fsync_dir(dir_);
    lock_fd_ = lock.release();
}

CheckpointStore::~CheckpointStore() {
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

RecoveredState CheckpointStore::recover() {
    BaseReader bases(dir_ / kBasesDir);
    auto commits = scan_log(dir_ / kCommitsDir, "commit", bases);
    auto offsets = scan_log(dir_ / kOffsetsDir, "offset", bases);

    RecoveredState state;
    state.warnings = std::move(open_warnings_);
    open_warnings_.clear();
    for (auto *scan : {&commits, &offsets}) {
        state.warnings.insert(state.warnings.end(), scan->warnings.begin(), scan->warnings.end());
        // We hold the lock, so a temp file is a write that never finished.
        for (const auto &temp : scan->temps) {
            std::error_code ec;
            fs::remove(temp, ec);
        }
    }
    if (!commits.valid.empty()) state.last_committed = commits.valid.begin()->second;
    if (!offsets.valid.empty()) {
        const auto &[id, plan] = *offsets.valid.begin();
        if (!state.last_committed || id > state.last_committed->batch_id) state.pending = plan;
    }
    for (const auto &w : state.warnings) spdlog::warn("{}", w);
    return state;
}

void CheckpointStore::write_entry(const char *sub, const BatchPlan &plan, const char *what) {
    // After a failed write or fsync nothing more is written: Linux may have dropped the pages it
    // could not write and report that only once, so a later fsync "succeeding" proves nothing
    // (PostgreSQL's fsyncgate). The run stops; the next start trusts only what is on disk.
    if (!failed_.empty())
        throw CheckpointError(failed_ +
                              " (an earlier checkpoint write failed; nothing more is "
                              "written until a restart)");
    try {
        int64_t base_id = -1;
        const std::string payload = encode_entry(plan, base_id);
        write_atomically(dir_ / sub, std::to_string(plan.batch_id), encode_frame(payload));
        note_entry_base(entry_bases_, plan.batch_id, base_id);
    } catch (const CheckpointError &e) {
        failed_ = std::string(e.what()) + "; batch " + std::to_string(plan.batch_id) + " is not " +
                  what +
                  " and nothing is committed to Kafka or ZooKeeper after it; fix the disk and "
                  "restart, which resumes from what the checkpoint holds";
        throw CheckpointError(failed_);
    }
}

std::string CheckpointStore::encode_entry(const BatchPlan &plan, int64_t &base_id) {
    base_id = -1;
    const size_t limit = kMaxMovedPerEntry;
    auto moved_against = [&](const std::vector<OffsetRange> &positions) -> std::optional<size_t> {
        if (positions.size() != plan.ranges.size()) return std::nullopt;
        size_t moved = 0;
        for (size_t i = 0; i < positions.size(); ++i) {
            const auto &r = plan.ranges[i];
            const auto &p = positions[i];
            if (r.partition != p.partition || r.topic != p.topic) return std::nullopt;
            moved += r.from_offset != p.from_offset || r.until_offset != p.from_offset;
        }
        return moved;
    };
    size_t busy = 0;
    for (const auto &r : plan.ranges) busy += r.count() > 0;
    if (base_) {
        if (auto moved = moved_against(base_->positions); moved) {
            // Past `limit` ranges an entry still refers to its base when it is the commit of
            // the batch that wrote the base, or while the entries written against the base add
            // up to less than the base itself: a few partitions busy in every batch (drifting
            // from the base) cost amortised at most twice the cheapest choice instead of a base
            // per entry (issue 17). An idle batch rebases, so that the idle ones after it list
            // nothing.
            std::string delta;
            bool keep = *moved <= limit || base_->id == plan.batch_id;
            if (!keep && busy > 0) {
                delta = delta_to_json(plan, base_->positions, base_->id).dump();
                keep = base_->written + delta.size() <= base_->bytes;
            }
            if (keep) {
                base_id = base_->id;
                if (delta.empty()) delta = delta_to_json(plan, base_->positions, base_->id).dump();
                base_->written += delta.size();
                return delta;
            }
        }
    }
    // Most partitions moved: a base would be as large as the entry, so list every range.
    if (busy > kMaxMovedPerEntry && busy > plan.ranges.size() / 2) return plan_to_json(plan).dump();
    // A new base: every partition's position after this batch. It is durable before the entry
    // that refers to it.
    Base base{plan.batch_id, {}};
    base.positions.reserve(plan.ranges.size());
    for (const auto &r : plan.ranges)
        base.positions.push_back({r.topic, r.partition, r.until_offset, r.until_offset});
    const std::string frame = encode_frame(base_to_json(base.id, base.positions).dump());
    write_atomically(dir_ / kBasesDir, std::to_string(base.id), frame);
    base.bytes = frame.size();
    base_ = std::move(base);
    base_id = base_->id;
    std::string delta = delta_to_json(plan, base_->positions, base_->id).dump();
    base_->written = delta.size();
    return delta;
}

void CheckpointStore::prune_bases() {
    // A base stays while a retained entry refers to it, and the newest one always.
    int64_t oldest_needed = base_ ? base_->id : INT64_MAX;
    for (const auto &[id, base] : entry_bases_)
        if (base >= 0) oldest_needed = std::min(oldest_needed, base);
    remove_entries_below(dir_ / kBasesDir, dir_, oldest_needed);
}

void CheckpointStore::write_offsets(const BatchPlan &plan) {
    write_entry(kOffsetsDir, plan, "planned");
}

void CheckpointStore::write_commit(const BatchPlan &plan) {
    write_entry(kCommitsDir, plan, "committed");

    // Keep batches (batch_id - retain, batch_id]. The commit is already
    // durable, so a failed removal costs disk space, not correctness.
    int64_t oldest_kept = plan.batch_id - retain_ + 1;
    if (oldest_kept <= 0) return;
    for (const char *sub : {kOffsetsDir, kCommitsDir})
        remove_entries_below(dir_ / sub, dir_, oldest_kept);
    entry_bases_.erase(entry_bases_.begin(), entry_bases_.lower_bound(oldest_kept));
    prune_bases();
}

}  // namespace sluice::checkpoint
