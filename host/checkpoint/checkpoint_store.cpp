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

#include "checkpoint/file_format.hpp"

namespace sluice::checkpoint {

namespace fs = std::filesystem;
using Status = DecodedFrame::Status;

namespace {

constexpr const char *kMetadataName = "metadata";
constexpr const char *kLockName = "lock";
constexpr const char *kOffsetsDir = "offsets";
constexpr const char *kCommitsDir = "commits";
constexpr const char *kBasesDir = "bases";
// An entry lists at most this many ranges against its base; past it a new base is written (the
// positions after the batch), so an idle batch's entries stay under ~2 KB however many
// partitions the job reads, and a busy batch costs one base plus its own ranges.
constexpr size_t kMaxMovedPerEntry = 64;
constexpr std::string_view kTempSuffix = ".tmp";

class UniqueFd {
  public:
    explicit UniqueFd(int fd) : fd_(fd) {}
    ~UniqueFd() {
        if (fd_ >= 0) ::close(fd_);
    }
    UniqueFd(const UniqueFd &) = delete;
    UniqueFd &operator=(const UniqueFd &) = delete;
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

  private:
    int fd_;
};

std::string errno_text(int err) {
    return std::error_code(err, std::generic_category()).message();
}

std::string quoted(const fs::path &p) {
    return "'" + p.string() + "'";
}

std::string out_of_dir_hint(const fs::path &dir) {
    return "fix it or point --checkpoint at another directory than " + quoted(dir);
}

// The entries of a directory; a listing error is a CheckpointError.
std::vector<fs::directory_entry> list_dir(const fs::path &dir, const fs::path &checkpoint_dir) {
    std::vector<fs::directory_entry> entries;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        entries.push_back(*it);
    if (ec)
        throw CheckpointError("cannot read checkpoint directory " + quoted(dir) + ": " +
                              ec.message() + "; " + out_of_dir_hint(checkpoint_dir));
    return entries;
}

bool is_temp_name(const std::string &name) {
    return name.ends_with(kTempSuffix);
}

// Entry files are named by their batch id in canonical decimal.
std::optional<int64_t> parse_batch_id(const std::string &name) {
    int64_t id = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
    if (ec != std::errc() || end != name.data() + name.size() || id < 0 ||
        std::to_string(id) != name)
        return std::nullopt;
    return id;
}

// nullopt if the file vanished (pruned by the writer while we scan unlocked).
std::optional<std::string> read_file(const fs::path &path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) return std::nullopt;
        throw CheckpointError("cannot open checkpoint file " + quoted(path) + ": " +
                              errno_text(errno) + "; check its permissions");
    }
    std::string data;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            throw CheckpointError("cannot read checkpoint file " + quoted(path) + ": " +
                                  errno_text(errno) + "; check the disk");
        if (n == 0) break;
        data.append(buf, static_cast<size_t>(n));
    }
    return data;
}

void fsync_dir(const fs::path &dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0 || ::fsync(fd.get()) != 0)
        throw CheckpointError("cannot fsync checkpoint directory " + quoted(dir) + ": " +
                              errno_text(errno) + "; check the disk");
}

// Crash-safe replace: a reader sees the old file or the new one, never a mix,
// and the new one survives power loss once this returns.
void write_atomically(const fs::path &dir, const std::string &name, std::string_view bytes) {
    fs::path target = dir / name;
    fs::path temp = dir / (name + std::string(kTempSuffix));
    auto fail = [&](const char *what) {
        int err = errno;
        ::unlink(temp.c_str());
        const bool io = std::string_view(what) == "fsync" || std::string_view(what) == "close";
        throw CheckpointError(std::string("cannot ") + what + " checkpoint file " + quoted(target) +
                              ": " + errno_text(err) +
                              (io ? "; check the disk (the kernel log says more)"
                                  : "; check free space and permissions of the checkpoint "
                                    "directory"));
    };
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) fail("create");
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("write");
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) != 0) fail("fsync");
    if (::close(fd.release()) != 0) fail("close");
    if (::rename(temp.c_str(), target.c_str()) != 0) fail("rename");
    fsync_dir(dir);  // makes the rename itself durable
}

nlohmann::json range_json(const OffsetRange &r) {
    return {{"topic", r.topic},
            {"partition", r.partition},
            {"from_offset", r.from_offset},
            {"until_offset", r.until_offset}};
}

OffsetRange checked_range(std::string topic, int32_t partition, int64_t from, int64_t until) {
    OffsetRange range{std::move(topic), partition, from, until};
    if (range.partition < 0 || range.from_offset < 0 || range.until_offset < range.from_offset)
        throw std::invalid_argument("impossible range " + range.topic_partition().to_string() +
                                    " [" + std::to_string(range.from_offset) + ", " +
                                    std::to_string(range.until_offset) + ")");
    return range;
}

/// A full entry: every range of the plan (format 1, and format 2 when most partitions moved).
nlohmann::json plan_to_json(const BatchPlan &plan) {
    nlohmann::json ranges = nlohmann::json::array();
    for (const auto &r : plan.ranges) ranges.push_back(range_json(r));
    return {{"batch_id", plan.batch_id}, {"batch_time_ms", plan.batch_time_ms}, {"ranges", ranges}};
}

/// The positions of a base, as a file: topics once, then [topic index, partition, offset].
nlohmann::json base_to_json(int64_t id, const std::vector<OffsetRange> &positions) {
    std::vector<std::string> topics;
    std::map<std::string, size_t> index;
    nlohmann::json parts = nlohmann::json::array();
    for (const auto &p : positions) {
        auto [it, fresh] = index.try_emplace(p.topic, topics.size());
        if (fresh) topics.push_back(p.topic);
        parts.push_back({it->second, p.partition, p.until_offset});
    }
    return {{"base", id}, {"topics", topics}, {"positions", parts}};
}

std::vector<OffsetRange> base_from_json(const std::string &payload, int64_t id) {
    auto j = nlohmann::json::parse(payload);
    if (j.at("base").get<int64_t>() != id)
        throw std::invalid_argument("it holds base " + std::to_string(j.at("base").get<int64_t>()));
    const auto topics = j.at("topics").get<std::vector<std::string>>();
    std::vector<OffsetRange> positions;
    for (const auto &p : j.at("positions")) {
        const auto t = p.at(0).get<size_t>();
        if (t >= topics.size()) throw std::invalid_argument("topic index out of range");
        const auto offset = p.at(2).get<int64_t>();
        positions.push_back(checked_range(topics[t], p.at(1).get<int32_t>(), offset, offset));
    }
    return positions;
}

/// Reads bases on demand (nullptr: missing or damaged, with the reason), each once.
class BaseReader {
  public:
    explicit BaseReader(fs::path dir) : dir_(std::move(dir)) {}
    const std::vector<OffsetRange> *get(int64_t id, std::string &problem);

  private:
    fs::path dir_;
    std::map<int64_t, std::optional<std::vector<OffsetRange>>> cache_;
    std::map<int64_t, std::string> problems_;
};

const std::vector<OffsetRange> *BaseReader::get(int64_t id, std::string &problem) {
    auto it = cache_.find(id);
    if (it == cache_.end()) {
        std::optional<std::vector<OffsetRange>> positions;
        const fs::path file = dir_ / std::to_string(id);
        try {
            if (auto bytes = read_file(file)) {
                auto frame = decode_frame(*bytes);
                if (frame.status == Status::kOk)
                    positions = base_from_json(frame.payload, id);
                else
                    problems_[id] = quoted(file) + ": " + frame.problem;
            } else {
                problems_[id] = quoted(file) + " is missing";
            }
        } catch (const CheckpointError &) {
            throw;  // a read error is an error, not a damaged file
        } catch (const std::exception &e) {
            problems_[id] = quoted(file) + ": unreadable payload: " + e.what();
        }
        it = cache_.emplace(id, std::move(positions)).first;
    }
    if (!it->second) problem = problems_[id];
    return it->second ? &*it->second : nullptr;
}

/// A format-2 entry: the ranges that differ from [position, position) of its base.
nlohmann::json delta_to_json(const BatchPlan &plan, const std::vector<OffsetRange> &base,
                             int64_t base_id) {
    nlohmann::json moved = nlohmann::json::array();
    for (size_t i = 0; i < plan.ranges.size(); ++i) {
        const auto &r = plan.ranges[i];
        if (r.from_offset != base[i].from_offset || r.until_offset != base[i].from_offset)
            moved.push_back({i, r.from_offset, r.until_offset});
    }
    return {{"batch_id", plan.batch_id},
            {"batch_time_ms", plan.batch_time_ms},
            {"base", base_id},
            {"moved", moved}};
}

// Throws nlohmann::json::exception or std::invalid_argument on a bad payload. `base_id` is set
// to the entry's base (-1 for a full entry).
BatchPlan plan_from_json(const std::string &payload, BaseReader &bases, int64_t &base_id) {
    auto j = nlohmann::json::parse(payload);
    BatchPlan plan;
    plan.batch_id = j.at("batch_id").get<int64_t>();
    plan.batch_time_ms = j.at("batch_time_ms").get<int64_t>();
    base_id = -1;
    if (j.contains("ranges")) {
        for (const auto &r : j.at("ranges"))
            plan.ranges.push_back(checked_range(
                r.at("topic").get<std::string>(), r.at("partition").get<int32_t>(),
                r.at("from_offset").get<int64_t>(), r.at("until_offset").get<int64_t>()));
        return plan;
    }
    base_id = j.at("base").get<int64_t>();
    std::string problem;
    const std::vector<OffsetRange> *base = bases.get(base_id, problem);
    // A base is durable before any entry refers to it, so a bad one is damage, not a write cut
    // short: refuse the start (skipping every entry on it would lose the job's position).
    if (!base)
        throw CheckpointError("checkpoint batch " + std::to_string(plan.batch_id) +
                              " refers to base " + std::to_string(base_id) + ", which is " +
                              problem +
                              "; nothing was changed: restore the file, or move the checkpoint "
                              "directory aside (the job then starts from auto-offset-reset)");
    plan.ranges = *base;
    for (const auto &m : j.at("moved")) {
        const auto i = m.at(0).get<size_t>();
        if (i >= plan.ranges.size()) throw std::invalid_argument("moved range out of its base");
        auto &r = plan.ranges[i];
        r = checked_range(r.topic, r.partition, m.at(1).get<int64_t>(), m.at(2).get<int64_t>());
    }
    return plan;
}

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
    if (base_) {
        if (auto moved = moved_against(base_->positions); moved && *moved <= limit) {
            base_id = base_->id;
            return delta_to_json(plan, base_->positions, base_->id).dump();
        }
    }
    size_t busy = 0;
    for (const auto &r : plan.ranges) busy += r.count() > 0;
    // Most partitions moved: a base would be as large as the entry, so list every range.
    if (busy > kMaxMovedPerEntry && busy > plan.ranges.size() / 2) return plan_to_json(plan).dump();
    // A new base: every partition's position after this batch. It is durable before the entry
    // that refers to it.
    Base base{plan.batch_id, {}};
    base.positions.reserve(plan.ranges.size());
    for (const auto &r : plan.ranges)
        base.positions.push_back({r.topic, r.partition, r.until_offset, r.until_offset});
    write_atomically(dir_ / kBasesDir, std::to_string(base.id),
                     encode_frame(base_to_json(base.id, base.positions).dump()));
    base_ = std::move(base);
    base_id = base_->id;
    return delta_to_json(plan, base_->positions, base_->id).dump();
}

void CheckpointStore::prune_bases() {
    // A base stays while a retained entry refers to it, and the newest one always.
    int64_t oldest_needed = base_ ? base_->id : INT64_MAX;
    for (const auto &[id, base] : entry_bases_)
        if (base >= 0) oldest_needed = std::min(oldest_needed, base);
    std::vector<fs::directory_entry> entries;
    try {
        entries = list_dir(dir_ / kBasesDir, dir_);
    } catch (const CheckpointError &e) {
        spdlog::warn("checkpoint: cannot prune: {}", e.what());
    }
    for (const auto &entry : entries) {
        auto id = parse_batch_id(entry.path().filename().string());
        if (!id || *id >= oldest_needed) continue;
        std::error_code ec;
        if (!fs::remove(entry.path(), ec) && ec)
            spdlog::warn("checkpoint: cannot prune {}: {}", entry.path().string(), ec.message());
    }
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
    for (const char *sub : {kOffsetsDir, kCommitsDir}) {
        std::vector<fs::directory_entry> entries;
        try {
            entries = list_dir(dir_ / sub, dir_);
        } catch (const CheckpointError &e) {
            spdlog::warn("checkpoint: cannot prune: {}", e.what());
        }
        for (const auto &entry : entries) {
            auto id = parse_batch_id(entry.path().filename().string());
            if (!id || *id >= oldest_kept) continue;
            std::error_code ec;
            if (!fs::remove(entry.path(), ec) && ec)
                spdlog::warn("checkpoint: cannot prune {}: {}", entry.path().string(),
                             ec.message());
        }
    }
    entry_bases_.erase(entry_bases_.begin(), entry_bases_.lower_bound(oldest_kept));
    prune_bases();
}

}  // namespace sluice::checkpoint
