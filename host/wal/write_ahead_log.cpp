#include "wal/write_ahead_log.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fstream>
#include <optional>
#include <set>
#include <sstream>

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

std::string read_whole(const fs::path &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw WalError("wal: cannot read " + path.string() + ": " + errno_text());
    std::ostringstream data;
    data << in.rdbuf();
    return data.str();
}

void fsync_dir(const fs::path &dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

void write_fully(int fd, const struct iovec *parts, int count, const fs::path &path) {
    std::vector<struct iovec> iov(parts, parts + count);
    size_t at = 0;
    while (at < iov.size()) {
        ssize_t n = ::writev(fd, &iov[at], static_cast<int>(iov.size() - at));
        if (n < 0) {
            if (errno == EINTR) continue;
            throw WalError("wal: cannot write " + path.string() + ": " + errno_text() +
                           " (is the disk full?)");
        }
        auto left = static_cast<size_t>(n);
        while (at < iov.size() && left >= iov[at].iov_len) left -= iov[at++].iov_len;
        if (at < iov.size()) {
            iov[at].iov_base = static_cast<char *>(iov[at].iov_base) + left;
            iov[at].iov_len -= left;
        }
    }
}

}  // namespace

WriteAheadLog::WriteAheadLog(WalOptions options) : options_(std::move(options)) {
    std::error_code ec;
    fs::create_directories(options_.dir, ec);
    if (ec)
        throw WalError("wal-dir " + options_.dir.string() + ": cannot create it: " + ec.message());
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
    if (fd_ >= 0) {
        ::fdatasync(fd_);
        ::close(fd_);
    }
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

void WriteAheadLog::recover() {
    const auto files = list_segments(options_.dir);
    recovery_.segments = files.size();
    std::set<uint64_t> done;
    std::vector<std::pair<uint64_t, std::unique_ptr<Block>>> blocks;  // (segment seq, block)
    std::map<uint64_t, uint64_t> bytes_of;

    // Check everything before changing anything: a corrupt segment stops the start with
    // nothing truncated or deleted.
    std::optional<std::pair<fs::path, SegmentScan>> torn;
    for (auto it = files.begin(); it != files.end(); ++it) {
        const auto &[seq, path] = *it;
        const bool last = std::next(it) == files.end();
        const std::string bytes = read_whole(path);
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
                }
            } catch (const WalError &e) {
                throw WalError(fmt::format(
                    "wal: {} is corrupt at byte {}: {}; nothing was deleted. Inspect it with "
                    "`sluice wal inspect {}`",
                    path.string(), entry.offset, e.what(), options_.dir.string()));
            }
        }
        bytes_of[seq] = scan.tail == SegmentScan::Tail::torn ? scan.valid_bytes : bytes.size();
        if (scan.tail == SegmentScan::Tail::torn) torn.emplace(path, std::move(scan));
    }

    std::optional<uint64_t> dropped_seq;
    if (torn) {
        const auto &[path, scan] = *torn;
        const uint64_t size = fs::file_size(path);
        recovery_.torn_bytes = size - scan.valid_bytes;
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
        } else if (::truncate(path.c_str(), static_cast<off_t>(scan.valid_bytes)) != 0) {
            throw WalError("wal: cannot truncate the torn tail of " + path.string() + ": " +
                           errno_text());
        }
        spdlog::warn(
            "wal: {} ended in a partial entry at byte {} ({}): cut {} bytes (1 entry), the "
            "trace of a crash mid-write; that block's offsets were never committed, so Kafka "
            "delivers its records again",
            path.string(), scan.problem_offset, scan.problem, recovery_.torn_bytes);
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
    for (auto &[seq, block] : blocks) {
        if (done.count(block->id)) {
            ++recovery_.blocks_done;
            continue;
        }
        for (auto &segment : segments_)
            if (segment.seq == seq) ++segment.pending;
        block_segment_[block->id] = seq;
        recovery_.pending.push_back(std::move(block));
    }
    recovery_.last_batch_id = last_batch_id_;
}

uint64_t WriteAheadLog::allocate_block_id() {
    std::lock_guard lock(mutex_);
    return next_block_id_++;
}

void WriteAheadLog::open_segment_locked() {
    if (fd_ >= 0) {
        if (::fdatasync(fd_) != 0)
            throw WalError("wal: cannot fsync " + segments_.back().path.string() + ": " +
                           errno_text());
        durable_ = position_;
        ::close(fd_);
        fd_ = -1;
    }
    Segment segment;
    segment.seq = segments_.empty() ? 0 : segments_.back().seq + 1;
    segment.path = options_.dir / segment_name(segment.seq);
    fd_ = ::open(segment.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0)
        throw WalError("wal: cannot create " + segment.path.string() + ": " + errno_text());
    segments_.push_back(segment);
    std::string head(kSegmentMagic);
    const std::string start = encode_start({next_block_id_, last_batch_id_});
    head += frame_header(start);
    head += start;
    struct iovec part {
        head.data(), head.size()
    };
    write_fully(fd_, &part, 1, segment.path);
    segments_.back().bytes += head.size();
    total_bytes_ += head.size();
    position_ += head.size();
    sync_locked();
    fsync_dir(options_.dir);
}

void WriteAheadLog::write_entry_locked(const std::string &payload) {
    if (segments_.back().bytes >= options_.segment_bytes) open_segment_locked();
    const std::string header = frame_header(payload);
    struct iovec parts[2] = {{const_cast<char *>(header.data()), header.size()},
                             {const_cast<char *>(payload.data()), payload.size()}};
    write_fully(fd_, parts, 2, segments_.back().path);
    const uint64_t n = header.size() + payload.size();
    segments_.back().bytes += n;
    total_bytes_ += n;
    position_ += n;
}

void WriteAheadLog::sync_locked() {
    if (durable_ == position_) return;
    if (::fdatasync(fd_) != 0)
        throw WalError("wal: cannot fsync " + segments_.back().path.string() + ": " + errno_text());
    durable_ = position_;
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
    return durable_;
}

void WriteAheadLog::mark_done(int64_t batch_id, const std::vector<uint64_t> &block_ids) {
    std::lock_guard lock(mutex_);
    last_batch_id_ = std::max(last_batch_id_, batch_id);
    write_entry_locked(encode_done({batch_id, block_ids}));
    sync_locked();
    for (auto id : block_ids) {
        auto it = block_segment_.find(id);
        if (it == block_segment_.end()) continue;
        for (auto &segment : segments_)
            if (segment.seq == it->second && segment.pending > 0) --segment.pending;
        block_segment_.erase(it);
    }
    delete_done_segments_locked();
}

void WriteAheadLog::delete_done_segments_locked() {
    // Oldest first only: a done mark lives in a later segment than its blocks, so deleting in
    // order never loses a mark whose blocks are still on disk.
    bool deleted = false;
    while (segments_.size() > 1 && segments_.front().pending == 0) {
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
    // Everything done and the active segment large: start a fresh one so it can go too.
    if (segments_.size() == 1 && segments_.back().pending == 0 &&
        segments_.back().bytes >= options_.segment_bytes) {
        open_segment_locked();
        delete_done_segments_locked();
        return;
    }
    if (deleted) fsync_dir(options_.dir);
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
