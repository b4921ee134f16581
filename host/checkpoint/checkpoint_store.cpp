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

nlohmann::json plan_to_json(const BatchPlan &plan) {
    nlohmann::json ranges = nlohmann::json::array();
    for (const auto &r : plan.ranges)
        ranges.push_back({{"topic", r.topic},
                          {"partition", r.partition},
                          {"from_offset", r.from_offset},
                          {"until_offset", r.until_offset}});
    return {{"batch_id", plan.batch_id}, {"batch_time_ms", plan.batch_time_ms}, {"ranges", ranges}};
}

// Throws nlohmann::json::exception or std::invalid_argument on a bad payload.
BatchPlan plan_from_json(const std::string &payload) {
    auto j = nlohmann::json::parse(payload);
    BatchPlan plan;
    plan.batch_id = j.at("batch_id").get<int64_t>();
    plan.batch_time_ms = j.at("batch_time_ms").get<int64_t>();
    for (const auto &r : j.at("ranges")) {
        OffsetRange range{r.at("topic").get<std::string>(), r.at("partition").get<int32_t>(),
                          r.at("from_offset").get<int64_t>(), r.at("until_offset").get<int64_t>()};
        if (range.partition < 0 || range.from_offset < 0 || range.until_offset < range.from_offset)
            throw std::invalid_argument("impossible range " + range.topic_partition().to_string() +
                                        " [" + std::to_string(range.from_offset) + ", " +
                                        std::to_string(range.until_offset) + ")");
        plan.ranges.push_back(std::move(range));
    }
    return plan;
}

[[noreturn]] void throw_unknown_version(const fs::path &file, int version) {
    throw CheckpointError("checkpoint file " + quoted(file) + " has format version " +
                          std::to_string(version) + ", this sluice reads version " +
                          std::to_string(kFormatVersion) +
                          ": use a newer sluice or a fresh --checkpoint directory");
}

// One log directory (offsets/ or commits/) as found on disk.
struct LogScan {
    std::map<int64_t, BatchPlan, std::greater<>> valid;  // newest first
    std::vector<std::string> warnings;                   // bad entries and stray files
    std::vector<fs::path> temps;                         // leftovers of interrupted writes
};

// Throws CheckpointError on an unknown format version or an unreadable log.
LogScan scan_log(const fs::path &log_dir, const char *kind) {
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
            BatchPlan plan = plan_from_json(frame.payload);
            if (plan.batch_id != *id)
                throw std::invalid_argument("it holds batch " + std::to_string(plan.batch_id));
            scan.valid.emplace(*id, std::move(plan));
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
    for (const char *sub : {kOffsetsDir, kCommitsDir}) {
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
        if (version >= 0 && version != kFormatVersion) throw_unknown_version(metadata, version);
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
                name != std::string(kMetadataName) + std::string(kTempSuffix))
                throw CheckpointError("directory " + quoted(dir_) +
                                      " is not empty and is not a sluice checkpoint (no " +
                                      kMetadataName + " file, found " + quoted(entry.path()) +
                                      "): point --checkpoint at an empty or new directory");
        }
        write_metadata = true;
    }

    // Unknown versions must stop us before we write anything.
    scan_log(dir_ / kOffsetsDir, "offset");
    scan_log(dir_ / kCommitsDir, "commit");

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
            {"layout", "offsets/<batch_id>, commits/<batch_id>"}};
        write_atomically(dir_, kMetadataName, encode_frame(meta.dump()));
    }
    bool created = false;
    for (const char *sub : {kOffsetsDir, kCommitsDir}) {
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
    auto commits = scan_log(dir_ / kCommitsDir, "commit");
    auto offsets = scan_log(dir_ / kOffsetsDir, "offset");

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
        write_atomically(dir_ / sub, std::to_string(plan.batch_id),
                         encode_frame(plan_to_json(plan).dump()));
    } catch (const CheckpointError &e) {
        failed_ = std::string(e.what()) + "; batch " + std::to_string(plan.batch_id) + " is not " +
                  what +
                  " and nothing is committed to Kafka or ZooKeeper after it; fix the disk and "
                  "restart, which resumes from what the checkpoint holds";
        throw CheckpointError(failed_);
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
}

}  // namespace sluice::checkpoint
