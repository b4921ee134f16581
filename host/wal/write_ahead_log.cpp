#include "wal/write_ahead_log.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sys/stat.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <set>
#include <utility>

namespace sluice::wal {

namespace fs = std::filesystem;

namespace {

constexpr const char *kLockName = "lock";
constexpr const char *kSuffix = ".wal";

std::string errno_text() {
    return std::strerror(errno);
}

std::string segment_name(uint64_t seq) {
    char name[32];
    std::snprintf(name, sizeof name, "%020llu%s", static_cast<unsigned long long>(seq), kSuffix);
    return name;
}

/// Segment files of `dir`, by sequence number. Other files (the lock) are ignored.
std::map<uint64_t, fs::path> list_segments(const fs::path &dir) {
    std::map<uint64_t, fs::path> out;
    for (const auto &entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name.size() != 20 + std::strlen(kSuffix) || !name.ends_with(kSuffix)) continue;
        if (name.find_first_not_of("0123456789") != 20) continue;
        uint64_t seq = 0;  // 20 digits may not fit (std::stoull would throw out_of_range)
        if (std::from_chars(name.data(), name.data() + 20, seq).ec != std::errc()) continue;
        out[seq] = entry.path();
    }
    return out;
}

// The tail of every latched message: what the run did about it and what to do.
constexpr const char *kNothingMore =
    "; nothing after the last durable block was committed; restart to recover from what is on "
    "disk";

int open_dir(const fs::path &dir) {
    return ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/// fsync of a directory; false with errno set.
bool sync_dir(const fs::path &dir) {
    const int fd = open_dir(dir);
    if (fd < 0) return false;
    const bool ok = ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    errno = err;
    return ok;
}

/// Writes everything, across short writes and EINTR. false with errno set on an error.
bool write_fully(int fd, const struct iovec *parts, int count) {
    std::vector<struct iovec> iov(parts, parts + count);
    size_t at = 0;
    while (at < iov.size() && iov[at].iov_len == 0) ++at;
    while (at < iov.size()) {
        ssize_t n = ::writev(fd, &iov[at], static_cast<int>(iov.size() - at));
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        auto left = static_cast<size_t>(n);
        while (at < iov.size() && left >= iov[at].iov_len) left -= iov[at++].iov_len;
        if (at < iov.size()) {
            iov[at].iov_base = static_cast<char *>(iov[at].iov_base) + left;
            iov[at].iov_len -= left;
        }
    }
    return true;
}

/// Creates `dir` and any missing parents, fsyncing the parent of each one created so the new
/// entries survive a power loss.
void create_durably(const fs::path &dir) {
    std::vector<fs::path> missing;
    std::error_code ec;
    for (fs::path p = dir; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
        missing.push_back(p);
        if (p == p.parent_path()) break;
    }
    fs::create_directories(dir, ec);
    if (ec) throw WalError("wal-dir " + dir.string() + ": cannot create it: " + ec.message());
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        const fs::path parent = it->parent_path();
        if (!sync_dir(parent))
            throw WalError(fmt::format("wal-dir {}: cannot fsync {} after creating {}: {}",
                                       dir.string(), parent.empty() ? "." : parent.string(),
                                       it->filename().string(), errno_text()));
    }
}

}  // namespace

std::string read_segment_file(const fs::path &path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw WalError("wal: cannot open " + path.string() + ": " + errno_text());
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const std::string why = errno_text();
        ::close(fd);
        throw WalError("wal: cannot stat " + path.string() + ": " + why);
    }
    std::string data(static_cast<size_t>(st.st_size), '\0');
    size_t at = 0;
    while (at < data.size()) {
        const ssize_t n = ::read(fd, data.data() + at, data.size() - at);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const std::string why =
                n < 0 ? errno_text()
                      : fmt::format("the file ends at byte {} of the {} its size says", at,
                                    data.size());
            ::close(fd);
            throw WalError(
                fmt::format("wal: cannot read {}: {}; nothing was changed", path.string(), why));
        }
        at += static_cast<size_t>(n);
    }
    ::close(fd);
    return data;
}

WriteAheadLog::WriteAheadLog(WalOptions options) : options_(std::move(options)) {
    create_durably(options_.dir);
    const fs::path lock_path = options_.dir / kLockName;
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0)
        throw WalError("wal-dir " + options_.dir.string() + ": cannot open " + lock_path.string() +
                       ": " + errno_text());
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        ::close(lock_fd_);
        throw WalError("wal-dir " + options_.dir.string() +
                       " is in use by another running sluice process; give each process its own "
                       "wal-dir");
    }
    try {
        recover();
        std::lock_guard lock(mutex_);
        open_segment_locked();
        delete_done_segments_locked();
    } catch (...) {
        if (fd_ >= 0) ::close(fd_);
        ::close(lock_fd_);
        throw;
    }
}

WriteAheadLog::~WriteAheadLog() {
    // No fsync here: everything whose offsets were committed was synced by sync() or
    // mark_done, and after a failed fsync another one could "succeed" on pages already lost.
    if (fd_ >= 0) ::close(fd_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string WriteAheadLog::failure() const {
    return failed() ? failure_ : std::string();
}

void WriteAheadLog::check_usable_locked() const {
    if (failed()) throw WalError(failure_);
}

void WriteAheadLog::fail_locked(const std::string &message) {
    if (!failed()) {
        failure_ = message + kNothingMore;
        failed_.store(true, std::memory_order_release);
    }
    throw WalError(failure_);
}

void WriteAheadLog::recover() {
    const auto files = list_segments(options_.dir);
    recovery_.segments = files.size();
    std::set<uint64_t> done;
    std::set<int64_t> done_batches;
    std::vector<std::pair<uint64_t, std::unique_ptr<Block>>> blocks;  // (segment seq, block)
    std::vector<std::pair<uint64_t, PlanMark>> plans;                 // (segment seq, plan)
    std::map<uint64_t, uint64_t> bytes_of;

    // Read and check everything before changing anything: a read error or a corrupt segment
    // stops the start with nothing truncated or deleted.
    std::optional<std::pair<fs::path, SegmentScan>> torn;
    uint64_t torn_size = 0;
    for (auto it = files.begin(); it != files.end(); ++it) {
        const auto &[seq, path] = *it;
        const bool last = std::next(it) == files.end();
        const std::string bytes = read_segment_file(path);
        SegmentScan scan = scan_segment(bytes, last);
        if (scan.tail == SegmentScan::Tail::corrupt)
            throw WalError(fmt::format(
                "wal: {} is corrupt at byte {}: {}; nothing was deleted. Inspect it with `sluice "
                "wal inspect {}`, then move the directory aside (its pending blocks are lost to "
                "this run) or restore the file",
                path.string(), scan.problem_offset, scan.problem, options_.dir.string()));
        for (const auto &entry : scan.entries) {
            try {
                switch (entry.type) {
                    case EntryType::block: {
                        auto block = Block::parse(std::string(entry.payload));
                        next_block_id_ = std::max(next_block_id_, block->id + 1);
                        blocks.emplace_back(seq, std::move(block));
                        break;
                    }
                    case EntryType::done: {
                        DoneMark mark = decode_done(entry.payload);
                        last_batch_id_ = std::max(last_batch_id_, mark.batch_id);
                        done_batches.insert(mark.batch_id);
                        for (auto id : mark.block_ids) {
                            done.insert(id);
                            next_block_id_ = std::max(next_block_id_, id + 1);
                        }
                        break;
                    }
                    case EntryType::start: {
                        StartMark mark = decode_start(entry.payload);
                        next_block_id_ = std::max(next_block_id_, mark.next_block_id);
                        last_batch_id_ = std::max(last_batch_id_, mark.last_batch_id);
                        break;
                    }
                    case EntryType::plan: {
                        PlanMark mark = decode_plan(entry.payload);
                        last_batch_id_ = std::max(last_batch_id_, mark.batch_id);
                        for (auto id : mark.block_ids)
                            next_block_id_ = std::max(next_block_id_, id + 1);
                        plans.emplace_back(seq, std::move(mark));
                        break;
                    }
                    case EntryType::synced:
                        decode_synced(entry.payload);  // only scan_segment needs it
                        break;
                }
            } catch (const WalError &e) {
                throw WalError(fmt::format(
                    "wal: {} is corrupt at byte {}: {}; nothing was deleted. Inspect it with "
                    "`sluice wal inspect {}`",
                    path.string(), entry.offset, e.what(), options_.dir.string()));
            }
        }
        bytes_of[seq] = scan.tail == SegmentScan::Tail::torn ? scan.valid_bytes : bytes.size();
        if (scan.tail == SegmentScan::Tail::torn) {
            torn_size = bytes.size();
            torn.emplace(path, std::move(scan));
        }
    }

    std::optional<uint64_t> dropped_seq;
    if (torn) {
        const auto &[path, scan] = *torn;
        recovery_.torn_bytes = torn_size - scan.valid_bytes;
        recovery_.torn_entries = 1;
        recovery_.torn_segment = path.filename().string();
        recovery_.torn_reason = scan.problem;
        if (scan.valid_bytes < kSegmentMagic.size()) {
            // Not even the magic line (a crash right after creating the file): it holds
            // nothing, and cut to 0 bytes it would read as a corrupt older segment once a newer
            // one exists, so it goes.
            std::error_code ec;
            fs::remove(path, ec);
            if (ec)
                throw WalError("wal: cannot delete the empty torn segment " + path.string() + ": " +
                               ec.message());
            dropped_seq = files.rbegin()->first;
        } else {
            // Fsynced, or after a power loss the cut bytes could come back inside what is by
            // then an older segment, and the start would be refused as corrupt.
            const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
            const bool ok = fd >= 0 && ::ftruncate(fd, static_cast<off_t>(scan.valid_bytes)) == 0 &&
                            ::fsync(fd) == 0;
            const std::string why = errno_text();
            if (fd >= 0) ::close(fd);
            if (!ok)
                throw WalError("wal: cannot cut the torn tail of " + path.string() + ": " + why);
        }
        if (!sync_dir(options_.dir))
            throw WalError("wal: cannot fsync the directory " + options_.dir.string() +
                           " after cutting a torn tail: " + errno_text());
        spdlog::warn(
            "wal: {} has a torn tail at byte {} ({}), past the last byte known to be fsynced "
            "({}): cut {} bytes, the trace of a crash mid-write; nothing in them was committed, "
            "so Kafka delivers those records again",
            path.string(), scan.problem_offset, scan.problem, scan.known_synced,
            recovery_.torn_bytes);
    }

    for (const auto &[seq, path] : files) {
        if (seq == dropped_seq) continue;
        Segment segment;
        segment.seq = seq;
        segment.path = path;
        segment.bytes = bytes_of[seq];
        total_bytes_ += segment.bytes;
        segments_.push_back(segment);
    }
    auto segment_of = [&](uint64_t seq) -> Segment * {
        for (auto &segment : segments_)
            if (segment.seq == seq) return &segment;
        return nullptr;
    };
    // An open plan: no done mark with its batch id, and (unless it planned an empty batch)
    // some of its blocks not done.
    std::map<uint64_t, std::unique_ptr<Block>> pending_by_id;
    std::vector<uint64_t> log_order;
    for (auto &[seq, block] : blocks) {
        auto &until = recovery_.until[block->tp];
        until = std::max(until, block->until_offset);
        if (done.count(block->id)) {
            ++recovery_.blocks_done;
            continue;
        }
        if (auto *segment = segment_of(seq)) ++segment->pending;
        block_segment_[block->id] = seq;
        log_order.push_back(block->id);
        pending_by_id[block->id] = std::move(block);
    }
    std::map<int64_t, std::pair<uint64_t, PlanMark *>> open_plans;
    for (auto &[seq, plan] : plans) {
        if (done_batches.count(plan.batch_id)) continue;
        const bool any_pending =
            std::any_of(plan.block_ids.begin(), plan.block_ids.end(),
                        [&](uint64_t id) { return pending_by_id.count(id) > 0; });
        if (!plan.block_ids.empty() && !any_pending) continue;
        open_plans[plan.batch_id] = {seq, &plan};  // a later plan of the same id wins
    }
    for (auto &[batch_id, where] : open_plans) {
        auto &[seq, plan] = where;
        PlannedBatch batch;
        batch.batch_id = batch_id;
        batch.batch_time_ms = plan->batch_time_ms;
        for (auto id : plan->block_ids) {
            auto it = pending_by_id.find(id);
            if (it == pending_by_id.end() || !it->second) continue;  // done, or planned twice
            batch.blocks.push_back(std::move(it->second));
        }
        if (auto *segment = segment_of(seq)) ++segment->open_plans;
        plan_segment_[batch_id] = seq;
        recovery_.planned.push_back(std::move(batch));
    }
    for (auto id : log_order) {
        auto it = pending_by_id.find(id);
        if (it != pending_by_id.end() && it->second)
            recovery_.pending.push_back(std::move(it->second));
    }
    recovery_.last_batch_id = last_batch_id_;
}

uint64_t WriteAheadLog::allocate_block_id() {
    std::lock_guard lock(mutex_);
    return next_block_id_++;
}

void WriteAheadLog::open_segment_locked() {
    if (fd_ >= 0) {
        // The whole segment is durable before the next one exists: recovery relies on it
        // (any bad byte in an older segment is corruption).
        if (::fdatasync(fd_) != 0)
            fail_locked("wal: cannot fsync " + segments_.back().path.string() + ": " +
                        errno_text());
        durable_ = position_;
        const int fd = std::exchange(fd_, -1);
        if (::close(fd) != 0)
            fail_locked("wal: cannot close " + segments_.back().path.string() + ": " +
                        errno_text());
    }
    Segment segment;
    segment.seq = segments_.empty() ? 0 : segments_.back().seq + 1;
    segment.path = options_.dir / segment_name(segment.seq);
    fd_ = ::open(segment.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) fail_locked("wal: cannot create " + segment.path.string() + ": " + errno_text());
    segments_.push_back(segment);
    synced_bytes_ = noted_bytes_ = 0;
    std::string head(kSegmentMagic);
    const std::string start = encode_start({next_block_id_, last_batch_id_});
    head += frame_header(start);
    head += start;
    struct iovec part {
        head.data(), head.size()
    };
    write_locked(&part, 1);
    segments_.back().bytes += head.size();
    total_bytes_ += head.size();
    position_ += head.size();
    sync_locked();
    fsync_dir_locked();
}

void WriteAheadLog::write_locked(struct iovec *parts, int count) {
    Segment &segment = segments_.back();
    if (write_fully(fd_, parts, count)) return;
    const int err = errno;
    // Cut back to the last whole entry before anyone appends after the half frame (O_APPEND
    // would put the next entry behind it, and recovery would cut that one too).
    std::string message =
        fmt::format("wal: cannot write {}: {}{}", segment.path.string(), std::strerror(err),
                    err == ENOSPC || err == EDQUOT ? " (is the disk full?)" : "");
    if (::ftruncate(fd_, static_cast<off_t>(segment.bytes)) != 0)
        message +=
            fmt::format(" and cannot cut it back to byte {}: {}", segment.bytes, errno_text());
    else if (::fsync(fd_) != 0)
        message += fmt::format(" and cannot fsync it after cutting it back to byte {}: {}",
                               segment.bytes, errno_text());
    fail_locked(message);
}

void WriteAheadLog::write_entry_locked(const std::string &payload) {
    check_usable_locked();
    if (segments_.back().bytes >= options_.segment_bytes) open_segment_locked();
    // The last fsync travels with this entry as a synced mark (one write call, no extra
    // fsync): recovery tells fsynced bytes from a torn tail by it.
    std::string note;
    if (synced_bytes_ > noted_bytes_) {
        const std::string mark = encode_synced({synced_bytes_});
        note = frame_header(mark) + mark;
    }
    const std::string header = frame_header(payload);
    struct iovec parts[3] = {{note.data(), note.size()},
                             {const_cast<char *>(header.data()), header.size()},
                             {const_cast<char *>(payload.data()), payload.size()}};
    write_locked(parts, 3);
    noted_bytes_ = synced_bytes_;
    const uint64_t n = note.size() + header.size() + payload.size();
    segments_.back().bytes += n;
    total_bytes_ += n;
    position_ += n;
}

void WriteAheadLog::sync_locked() {
    check_usable_locked();
    if (durable_ == position_) return;
    if (::fdatasync(fd_) != 0)
        fail_locked("wal: cannot fsync " + segments_.back().path.string() + ": " + errno_text());
    durable_ = position_;
    synced_bytes_ = segments_.back().bytes;
}

void WriteAheadLog::fsync_dir_locked() {
    if (!sync_dir(options_.dir))
        fail_locked("wal: cannot fsync the directory " + options_.dir.string() + ": " +
                    errno_text());
}

uint64_t WriteAheadLog::append(const Block &block) {
    std::lock_guard lock(mutex_);
    write_entry_locked(block.payload);
    ++segments_.back().pending;
    block_segment_[block.id] = segments_.back().seq;
    if (options_.fsync_interval.count() == 0) sync_locked();
    return position_;
}

uint64_t WriteAheadLog::sync() {
    std::lock_guard lock(mutex_);
    sync_locked();
    return durable_;
}

uint64_t WriteAheadLog::durable_position() const {
    std::lock_guard lock(mutex_);
    check_usable_locked();
    return durable_;
}

void WriteAheadLog::plan_batch(int64_t batch_id, int64_t batch_time_ms,
                               const std::vector<uint64_t> &block_ids) {
    std::lock_guard lock(mutex_);
    write_entry_locked(encode_plan({batch_id, batch_time_ms, block_ids}));
    sync_locked();
    last_batch_id_ = std::max(last_batch_id_, batch_id);
    if (!plan_segment_.count(batch_id)) {
        plan_segment_[batch_id] = segments_.back().seq;
        ++segments_.back().open_plans;
    }
}

void WriteAheadLog::mark_done(int64_t batch_id, const std::vector<uint64_t> &block_ids) {
    std::lock_guard lock(mutex_);
    write_entry_locked(encode_done({batch_id, block_ids}));
    sync_locked();
    last_batch_id_ = std::max(last_batch_id_, batch_id);
    for (auto id : block_ids) {
        auto it = block_segment_.find(id);
        if (it == block_segment_.end()) continue;
        for (auto &segment : segments_)
            if (segment.seq == it->second && segment.pending > 0) --segment.pending;
        block_segment_.erase(it);
    }
    if (auto it = plan_segment_.find(batch_id); it != plan_segment_.end()) {
        for (auto &segment : segments_)
            if (segment.seq == it->second && segment.open_plans > 0) --segment.open_plans;
        plan_segment_.erase(it);
    }
    delete_done_segments_locked();
}

void WriteAheadLog::delete_done_segments_locked() {
    // Oldest first only: a done mark lives in a later segment than its blocks and its plan, so
    // deleting in order never loses a mark whose blocks are still on disk.
    bool deleted = false;
    while (segments_.size() > 1 && !segments_.front().live()) {
        const Segment &old = segments_.front();
        std::error_code ec;
        fs::remove(old.path, ec);
        if (ec) {
            spdlog::warn("wal: cannot delete processed segment {}: {}", old.path.string(),
                         ec.message());
            break;
        }
        spdlog::debug("wal: deleted processed segment {}", old.path.filename().string());
        total_bytes_ -= old.bytes;
        segments_.pop_front();
        deleted = true;
    }
    // A deletion undone by a power loss would bring back blocks whose done marks may be gone.
    if (deleted) fsync_dir_locked();
    // Everything done and the active segment large: start a fresh one so it can go too.
    if (segments_.size() == 1 && !segments_.back().live() &&
        segments_.back().bytes >= options_.segment_bytes) {
        open_segment_locked();
        delete_done_segments_locked();
    }
}

uint64_t WriteAheadLog::disk_bytes() const {
    std::lock_guard lock(mutex_);
    return total_bytes_;
}

size_t WriteAheadLog::pending_blocks() const {
    std::lock_guard lock(mutex_);
    return block_segment_.size();
}

}  // namespace sluice::wal
