// file-sink: the exactly-once sample. Appends every record as one JSON line to
// `[plugin.file-sink] path` and stores the offsets with the data, atomically,
// in a sidecar `<path>.offsets`. With `per-partition = true`, path is a directory
// and each topic-partition has its own `<topic>-<partition>.jsonl`, sidecar and
// lock. See README.md for the protocol, the process lock `<path>.lock` and what
// the sink does on each I/O error.

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/plugin.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "batch_encoder.hpp"

namespace {

constexpr int kSidecarFormat = 1;

/// "EIO (Input/output error)".
std::string errno_text(int err = errno) {
    const char *name = ::strerrorname_np(err);
    return (name ? std::string(name) : "errno " + std::to_string(err)) + " (" + std::strerror(err) +
           ")";
}

/// Write errors after which the same write may succeed later (space was freed): the batch
/// is retried once its partial write is cut back. Every other I/O error is final.
bool out_of_space(int err) {
    return err == ENOSPC || err == EDQUOT;
}

/// A topic-partition as map key; the transparent comparator lets a record's
/// string_view topic look it up without allocating.
struct PartitionKey {
    std::string topic;
    int32_t partition;
    bool operator==(const PartitionKey &o) const {
        return partition == o.partition && topic == o.topic;
    }
};
struct PartitionKeyLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A &a, const B &b) const {
        int c = std::string_view(a.topic).compare(std::string_view(b.topic));
        return c != 0 ? c < 0 : a.partition < b.partition;
    }
};
using NextOffsets = std::map<PartitionKey, int64_t, PartitionKeyLess>;
struct PartitionKeyView {
    std::string_view topic;
    int32_t partition;
};

/// What the sidecar holds: the complete length of the data file and the next
/// offset to write per partition.
struct SinkState {
    uint64_t length = 0;
    NextOffsets next;
};

/// Identity of a sidecar version: each write is a new file renamed into
/// place, so a replacement by another instance changes the inode or mtime.
struct FileIdentity {
    dev_t dev = 0;
    ino_t ino = 0;
    int64_t mtime_sec = 0;
    int64_t mtime_nsec = 0;
    off_t size = -1;
    bool operator==(const FileIdentity &o) const {
        return dev == o.dev && ino == o.ino && mtime_sec == o.mtime_sec &&
               mtime_nsec == o.mtime_nsec && size == o.size;
    }
};

class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd &&o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd &operator=(Fd &&o) noexcept {
        std::swap(fd_, o.fd_);
        return *this;
    }
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    /// A checked close (a file system may report a failed write only here). Not retried on
    /// EINTR: on Linux the fd is gone either way.
    int close() { return ::close(std::exchange(fd_, -1)); }

  private:
    int fd_ = -1;
};

/// Writes all of `data` at `at`, continuing after short writes. Returns 0, or the errno of
/// the call that failed (the bytes before it may have reached the file).
int write_all(int fd, std::string_view data, off_t at) {
    while (!data.empty()) {
        ssize_t n = ::pwrite(fd, data.data(), data.size(), at);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
        at += n;
    }
    return 0;
}

/// The whole of a small file through `fd` (from offset 0); what was read before an error.
std::string read_small(int fd) {
    std::string text;
    char buf[4096];
    for (off_t at = 0; text.size() < 65536;) {
        ssize_t n = ::pread(fd, buf, sizeof buf, at);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        at += n;
    }
    return text;
}

std::string first_line(const std::string &text) {
    return text.substr(0, text.find('\n'));
}

std::string parent_dir(const std::string &path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

/// Makes this process the only writer of a path: an flock on `<path>.lock`. The file holds
/// the holder's pid (for the error a second process gets) and, after this process had a
/// final I/O error on the path, a line `failed: <message>` that every generation reads.
///
/// One lock per path per process, shared by the generations of the plugin that hot reload
/// keeps side by side. Each generation is its own copy of the library (RTLD_LOCAL), so no
/// static variable is shared between them; fds are. A generation first looks in
/// /proc/self/fd for an fd of this process that holds the lock, and uses it; only when there
/// is none does it open and lock the file itself. That fd is deliberately never closed, one
/// per path for the life of the process: a destroyed generation must not drop the lock its
/// successor relies on. (flock belongs to the open file description: closing other fds of
/// the file does not release it, unlike an fcntl lock.) The kernel drops it when the process
/// ends, kill -9 included.
///
/// Per partition (`per-partition = true`) the lock is not kept for the life of the process:
/// each instance holds its own duplicate of the fd (one open file description, one lock) and
/// closes it when it gives the partition up, so the lock is released once no generation in
/// this process holds it, and a host that takes the partition over can lock it. Held by
/// another process, it is then Retry (the other host may be finishing its last batch).
///
/// Thread: create (control or reloader thread) and the batch thread; the host never runs
/// two creates of one plugin at once, which the look-up-then-lock step relies on.
class ProcessLock {
  public:
    enum class Scope { process, instance };

    /// Throws sluice::Fatal (Scope::instance: sluice::Retry) when another process holds the
    /// lock.
    explicit ProcessLock(const std::string &data_path, Scope scope = Scope::process)
        : lock_path_(data_path + ".lock"), pid_(std::to_string(::getpid())), scope_(scope) {
        fd_ = find_held();
        if (fd_ >= 0 && scope_ == Scope::instance) fd_ = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
        if (fd_ >= 0) return;
        Fd fd(::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        if (fd.get() < 0) {
            throw sluice::Fatal("file-sink: cannot open '" + lock_path_ + "': " + errno_text() +
                                ": check [plugin.file-sink] path and its directory");
        }
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            if (err != EWOULDBLOCK) {
                throw sluice::Fatal("file-sink: cannot lock '" + lock_path_ +
                                    "': " + errno_text(err));
            }
            const std::string holder = first_line(read_small(fd.get()));
            if (holder == pid_ && !proc_readable_) {
                throw sluice::Fatal("file-sink: '" + lock_path_ +
                                    "' is locked, maybe by this process (pid " + pid_ +
                                    "), but /proc/self/fd cannot be read to tell: mount /proc");
            }
            // Our own pid here is a process of that number in another pid namespace (another
            // container on the same volume).
            if (scope_ == Scope::instance) {
                throw sluice::Retry("file-sink: '" + data_path + "' is in use by another process" +
                                    (holder.empty() ? "" : " (pid " + holder + ")") + " holding '" +
                                    lock_path_ + "': retried until it gives the partition up");
            }
            throw sluice::Fatal("file-sink: '" + data_path + "' is in use by another process" +
                                (holder.empty() ? "" : " (pid " + holder + ")") + " holding '" +
                                lock_path_ +
                                "': stop it, or set [plugin.file-sink] path to another file");
        }
        // Per instance, the lock may have been released since a generation of this process
        // recorded a final error on the file: that record stays (the constructor refuses).
        if (scope_ == Scope::instance &&
            read_small(fd.get()).compare(0, pid_.size() + 9, pid_ + "\nfailed: ") == 0) {
            fd_ = fd.release();
            return;
        }
        // Ours now: our pid replaces the last holder's, and with it any failure it recorded.
        const std::string line = pid_ + "\n";
        const int err = ::ftruncate(fd.get(), 0) != 0 ? errno : write_all(fd.get(), line, 0);
        if (err != 0) {
            throw sluice::Fatal("file-sink: cannot write '" + lock_path_ + "': " + errno_text(err) +
                                ": check the file system");
        }
        fd_ = fd.release();
    }
    ~ProcessLock() {
        if (scope_ == Scope::instance && fd_ >= 0) ::close(fd_);
    }
    ProcessLock(const ProcessLock &) = delete;
    ProcessLock &operator=(const ProcessLock &) = delete;

    /// The final I/O error some generation in this process recorded on the path, or empty.
    std::string recorded_failure() const {
        const std::string text = read_small(fd_);
        const std::string mark = pid_ + "\nfailed: ";
        if (text.compare(0, mark.size(), mark) != 0) return {};
        return first_line(text.substr(mark.size()));
    }

    /// Records `message` for every generation in this process; keeps the first one. Best
    /// effort: the instance that calls it refuses its batches either way.
    void record_failure(const std::string &message) const {
        if (!recorded_failure().empty()) return;
        std::string line = "failed: " + message;
        std::replace(line.begin(), line.end(), '\n', ' ');
        line += '\n';
        (void)write_all(fd_, line, static_cast<off_t>(pid_.size() + 1));
    }

  private:
    /// An fd of this process that holds the lock, or -1. The pid check skips an fd that a
    /// child inherited over fork(): it shares its parent's lock, but is another process.
    int find_held() {
        struct stat want {};
        if (::stat(lock_path_.c_str(), &want) != 0) return -1;
        DIR *dir = ::opendir("/proc/self/fd");
        proc_readable_ = dir != nullptr;
        if (dir == nullptr) return -1;
        int found = -1;
        while (const dirent *entry = ::readdir(dir)) {
            char *end = nullptr;
            const long n = std::strtol(entry->d_name, &end, 10);
            if (end == entry->d_name || *end != '\0' || n == ::dirfd(dir)) continue;
            const int fd = static_cast<int>(n);
            struct stat st {};
            if (::fstat(fd, &st) != 0 || st.st_dev != want.st_dev || st.st_ino != want.st_ino)
                continue;
            if (first_line(read_small(fd)) != pid_) continue;
            // Succeeds on the open file description that holds the lock (a no-op), fails on
            // any other while it is held.
            if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
                found = fd;
                break;
            }
        }
        ::closedir(dir);
        return found;
    }

    std::string lock_path_;
    std::string pid_;
    Scope scope_;
    bool proc_readable_ = true;
    int fd_ = -1;  // Scope::process: never closed (see the class comment)
};

/// Lifecycle: one per instance. Constructed (create) and destroyed on the
/// control thread, possibly a loader thread during hot reload; process runs on
/// the batch thread; resume_offsets on the control thread before the first
/// batch. Never two calls at once (the host's rule).
///
/// Errors: a failed fsync (data file, sidecar, directory), a failed cut-back and any write
/// error other than "out of space" are final. The instance refuses every later batch, and
/// the process lock records the error, so every other generation in this process refuses
/// too: after a failed fsync Linux may have dropped the pages and a later fsync may report
/// success for data that is gone. Out of space is Retry, once the partial write is cut
/// back and that cut is fsynced. process returns OK only when the data, the sidecar and
/// the directory that claim the batch were fsynced by this instance (durable_id_).
class FileSink {
  public:
    FileSink(sluice::Host &host, file_sink::BatchEncoder &encoder, std::string path,
             ProcessLock::Scope scope = ProcessLock::Scope::process)
        : host_(host),
          encoder_(encoder),
          path_(std::move(path)),
          sidecar_path_(path_ + ".offsets"),
          temp_path_(sidecar_path_ + ".tmp"),
          dir_path_(parent_dir(path_)),
          lock_(path_, scope) {
        if (std::string earlier = lock_.recorded_failure(); !earlier.empty()) {
            throw sluice::Fatal("file-sink: not writing to '" + path_ +
                                "' again in this process after a final I/O error (" + earlier +
                                ")");
        }
        fd_ = Fd(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        if (fd_.get() < 0) {
            throw sluice::Fatal("file-sink: cannot open '" + path_ + "': " + errno_text() +
                                ": check [plugin.file-sink] path and its directory");
        }
        // An exclusive lock tells us no other instance (an older generation
        // during hot reload) has the file open: only then is the tail past the
        // recorded length surely a crash leftover and safe to cut now.
        const bool alone = ::flock(fd_.get(), LOCK_EX | LOCK_NB) == 0;

        struct stat st {};
        if (::stat(sidecar_path_.c_str(), &st) == 0) {
            load_sidecar();
        } else if (errno == ENOENT) {
            if (data_size() != 0) {
                throw sluice::Fatal("file-sink: '" + path_ + "' is not empty but has no '" +
                                    sidecar_path_ +
                                    "': it was not written by file-sink (or its sidecar was "
                                    "deleted); move it away or choose another path");
            }
            write_sidecar(SinkState{});  // from now on the file is ours
        } else {
            throw sluice::Fatal("file-sink: cannot stat '" + sidecar_path_ + "': " + errno_text());
        }

        const uint64_t size = data_size();
        if (size < state_.length) {
            throw sluice::Fatal("file-sink: '" + path_ + "' has " + std::to_string(size) +
                                " bytes but '" + sidecar_path_ + "' records " +
                                std::to_string(state_.length) +
                                ": the data file was truncated or replaced; restore it, or move "
                                "both files away to start over");
        }
        if (size > state_.length) {
            if (alone) {
                cut_tail();
            } else {
                host_.log(sluice::LogLevel::info,
                          "file-sink: '" + path_ +
                              "' is open in another instance (hot reload?): its unrecorded tail "
                              "is left alone until this instance's first batch");
            }
        }
        // What an earlier process stored is trusted (resume_offsets, replays) only once it is
        // fsynced here: that process may have stopped on a failed fsync.
        if (!(sidecar_id_ == durable_id_)) make_durable();
        // Shared from now on, so a later generation sees that we are here.
        ::flock(fd_.get(), LOCK_SH);
    }

    // Thread: batch thread. `records` and `ranges`: the batch's, or (per partition) the
    // part of them that belongs to this file.
    template <class Records, class Ranges>
    sluice::Status process(int64_t batch_id, const Records &records, const Ranges &ranges) {
        refuse_after_failure(batch_id);
        try {
            return store(records, ranges);
        } catch (const sluice::Fatal &e) {
            if (failed_.empty()) failed_ = e.what();
            throw;
        }
    }

    // Thread: control thread, before the first batch.
    sluice::Status resume_offsets(sluice::Span<const sluice::TopicPartition> partitions,
                                  sluice::Span<int64_t> offsets) {
        refuse_after_failure(-1);
        refresh_if_replaced();
        if (!(sidecar_id_ == durable_id_)) make_durable();
        for (std::size_t i = 0; i < partitions.size(); ++i) {
            auto found = find(state_.next, partitions[i].topic, partitions[i].partition);
            offsets[i] = found ? *found : -1;
        }
        return sluice::Status::ok;
    }

  private:
    struct Key {
        std::string_view topic;
        int32_t partition;
    };

    /// Once this instance (or another generation in this process) had a final error, every
    /// call fails with it. `batch_id` < 0: not a batch.
    void refuse_after_failure(int64_t batch_id) {
        if (failed_.empty()) failed_ = lock_.recorded_failure();
        if (failed_.empty()) return;
        throw sluice::Fatal(
            "file-sink: refusing " +
            (batch_id < 0 ? std::string("to resume") : "batch " + std::to_string(batch_id)) +
            " after a final error: " + failed_);
    }

    /// A final I/O error: latched here and in the process lock, then thrown as Fatal.
    [[noreturn]] void fail(const std::string &what, const std::string &file, int err) {
        std::string message = "file-sink: cannot " + what + " '" + file + "': " + errno_text(err) +
                              ": the batch is not committed and this process stores nothing "
                              "more" +
                              (file == path_ ? std::string(" in it") : " in '" + path_ + "'") +
                              "; check the disk (dmesg), then restart sluice: it resumes from "
                              "what is really stored";
        failed_ = message;
        lock_.record_failure(message);
        throw sluice::Fatal(message);
    }

    /// A write-side error: Retry when the disk is full (space may come back), else final.
    [[noreturn]] void fail_or_retry(const std::string &what, const std::string &file, int err) {
        if (out_of_space(err)) {
            throw sluice::Retry("file-sink: cannot " + what + " '" + file +
                                "': " + errno_text(err) +
                                ": nothing of the batch is stored; free disk space: the batch "
                                "is retried");
        }
        fail(what, file, err);
    }

    template <class Records, class Ranges>
    sluice::Status store(const Records &records, const Ranges &ranges) {
        refresh_if_replaced();

        SinkState next_state{state_.length, state_.next};
        uint64_t written = 0, skipped = 0, bytes = 0;
        bool cut_checked = false;
        // The lines of the records not written by an earlier run of this batch, in record
        // order, in chunks encoded in parallel (state_ is only read meanwhile), each written
        // as soon as it is done and its writeback started, so that encoding, copying into
        // the page cache and writing to the disk overlap.
        encoder_.encode(
            records,
            [this](std::string_view topic, int32_t partition) {
                return find(state_.next, topic, partition);
            },
            [&](const file_sink::Chunk &c) {
                written += c.written;
                skipped += c.skipped;
                for (const file_sink::Run &run : c.runs)
                    raise(next_state.next, run.topic, run.partition, run.next);
                if (c.lines.size() == 0) return;
                if (!cut_checked) {
                    // Cut anything past the recorded end (a crash leftover, or what another
                    // generation left) before appending.
                    if (data_size() != state_.length) cut_tail();
                    cut_checked = true;
                }
                const off_t at = static_cast<off_t>(state_.length + bytes);
                if (int err = write_all(fd_.get(), std::string_view(c.lines.data(), c.lines.size()),
                                        at)) {
                    undo_failed_write(err);
                }
                bytes += c.lines.size();
                start_writeback(at, c.lines.size());
            });
        // Everything the batch covers is done once it is stored, even offsets
        // that held no record for us (compaction, a filter upstream).
        for (const sluice::OffsetRange &r : ranges) {
            raise(next_state.next, r.topic, r.partition, r.until_offset);
        }

        if (bytes == 0 && next_state.next == state_.next && data_size() == state_.length) {
            // A replay of a stored batch: nothing to write, but OK promises it is durable, and
            // another generation may have stored it since our last fsyncs.
            if (!(sidecar_id_ == durable_id_)) make_durable();
            host_.counter("records_skipped", static_cast<double>(skipped));
            return sluice::Status::ok;
        }
        if (!cut_checked && data_size() != state_.length) cut_tail();
        // Data first, then the offsets that claim it: a crash in between leaves
        // a tail that the next start cuts.
        if (::fdatasync(fd_.get()) != 0) fail("fsync", path_, errno);
        // file-sink never reads its lines back: once on disk they need no page cache (advice;
        // its result does not matter).
        if (bytes > 0) {
            ::posix_fadvise(fd_.get(), static_cast<off_t>(state_.length), static_cast<off_t>(bytes),
                            POSIX_FADV_DONTNEED);
        }
        next_state.length = state_.length + bytes;
        try {
            write_sidecar(next_state);
        } catch (const sluice::Retry &) {
            truncate_to_recorded();  // the disk is full: give the unclaimed lines back too
            throw;
        }
        host_.counter("records_written", static_cast<double>(written));
        host_.counter("records_skipped", static_cast<double>(skipped));
        return sluice::Status::ok;
    }

    /// Starts writing [at, at + len) to the disk without waiting, so that the batch's
    /// fdatasync finds less to write. An error there is an error of writeback, final as a
    /// failed fsync; a file system without it (EINVAL, ENOSYS, ESPIPE) just waits for the
    /// fdatasync.
    void start_writeback(off_t at, std::size_t len) {
        if (::sync_file_range(fd_.get(), at, static_cast<off_t>(len), SYNC_FILE_RANGE_WRITE) == 0)
            return;
        const int err = errno;
        if (err == EINTR || err == EINVAL || err == ENOSYS || err == ESPIPE) return;
        fail("start writing back", path_, err);
    }

    // A failed write may have left part of the batch past the recorded end: cut it back,
    // and fsync the cut, before anything else, so no later append lands after half a line.
    [[noreturn]] void undo_failed_write(int err) {
        truncate_to_recorded();
        if (out_of_space(err)) {
            throw sluice::Retry("file-sink: cannot write '" + path_ + "': " + errno_text(err) +
                                ": cut back to the last stored batch (" +
                                std::to_string(state_.length) +
                                " bytes); free disk space: the batch is retried");
        }
        fail("write", path_, err);
    }

    static std::optional<int64_t> find(const NextOffsets &m, std::string_view topic,
                                       int32_t partition) {
        auto it = m.find(Key{topic, partition});
        if (it == m.end()) return std::nullopt;
        return it->second;
    }
    static void raise(NextOffsets &m, std::string_view topic, int32_t partition, int64_t next) {
        auto it = m.find(Key{topic, partition});
        if (it == m.end()) {
            m.emplace(PartitionKey{std::string(topic), partition}, next);
        } else if (it->second < next) {
            it->second = next;
        }
    }

    uint64_t data_size() const {
        struct stat st {};
        if (::fstat(fd_.get(), &st) != 0) {
            throw sluice::Retry("file-sink: cannot stat '" + path_ + "': " + errno_text());
        }
        return static_cast<uint64_t>(st.st_size);
    }

    void truncate_to_recorded() {
        if (::ftruncate(fd_.get(), static_cast<off_t>(state_.length)) != 0) {
            fail("truncate (to " + std::to_string(state_.length) + " bytes)", path_, errno);
        }
        if (::fdatasync(fd_.get()) != 0) fail("fsync", path_, errno);
    }

    void cut_tail() {
        const uint64_t size = data_size();
        truncate_to_recorded();
        if (size > state_.length) {
            host_.log(sluice::LogLevel::warn,
                      "file-sink: cut " + std::to_string(size - state_.length) +
                          " bytes past the recorded end of '" + path_ +
                          "' (a batch cut by a crash; it is written again on replay)");
        }
    }

    /// fsyncs the data file, the sidecar and the directory, so that what the sidecar claims
    /// is durable as far as this instance can know.
    void make_durable() {
        if (::fdatasync(fd_.get()) != 0) fail("fsync", path_, errno);
        Fd side(::open(sidecar_path_.c_str(), O_RDONLY | O_CLOEXEC));
        if (side.get() < 0) fail("open", sidecar_path_, errno);
        if (::fsync(side.get()) != 0) fail("fsync", sidecar_path_, errno);
        sync_dir();
        durable_id_ = sidecar_id_;
    }

    void sync_dir() {
        Fd dir(::open(dir_path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dir.get() < 0) fail("open directory", dir_path_, errno);
        if (::fsync(dir.get()) != 0) fail("fsync directory", dir_path_, errno);
    }

    FileIdentity sidecar_identity() const {
        struct stat st {};
        if (::stat(sidecar_path_.c_str(), &st) != 0) {
            throw sluice::Fatal("file-sink: cannot stat '" + sidecar_path_ + "': " + errno_text() +
                                ": the offsets sidecar must not be removed");
        }
        return FileIdentity{st.st_dev, st.st_ino, st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                            st.st_size};
    }

    // Another generation of this plugin (hot reload) may have stored batches
    // since we last looked: follow it instead of overwriting its data.
    void refresh_if_replaced() {
        if (!(sidecar_identity() == sidecar_id_)) load_sidecar();
    }

    void load_sidecar() {
        FileIdentity id = sidecar_identity();
        Fd fd(::open(sidecar_path_.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.get() < 0) {
            throw sluice::Fatal("file-sink: cannot open '" + sidecar_path_ + "': " + errno_text());
        }
        std::string text;
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(fd.get(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                throw sluice::Fatal("file-sink: cannot read '" + sidecar_path_ +
                                    "': " + errno_text());
            }
            if (n == 0) break;
            text.append(buf, static_cast<std::size_t>(n));
        }
        const std::string corrupt = "file-sink: '" + sidecar_path_ +
                                    "' is not a valid offsets sidecar: restore it from a backup, "
                                    "or move it and '" +
                                    path_ + "' away to start over";
        SinkState state;
        try {
            auto j = nlohmann::json::parse(text);
            int format = j.at("format").get<int>();
            if (format != kSidecarFormat) {
                throw sluice::Fatal("file-sink: '" + sidecar_path_ + "' has format version " +
                                    std::to_string(format) + ", this file-sink reads version " +
                                    std::to_string(kSidecarFormat) +
                                    ": use a matching file-sink or another path");
            }
            state.length = j.at("length").get<uint64_t>();
            for (const auto &e : j.at("offsets")) {
                state.next[PartitionKey{e.at("topic").get<std::string>(),
                                        e.at("partition").get<int32_t>()}] =
                    e.at("next").get<int64_t>();
            }
        } catch (const nlohmann::json::exception &) {
            throw sluice::Fatal(corrupt);
        }
        state_ = std::move(state);
        sidecar_id_ = id;
    }

    // Atomic replace: temp file, fsync, checked close, rename, fsync the directory (so the
    // rename itself survives a crash). A full disk before the rename is Retry (the old
    // sidecar still stands); any failed fsync, or an error after the rename, is final.
    void write_sidecar(const SinkState &state) {
        nlohmann::json j;
        j["format"] = kSidecarFormat;
        j["length"] = state.length;
        j["offsets"] = nlohmann::json::array();
        for (const auto &[key, next] : state.next) {
            j["offsets"].push_back(
                {{"topic", key.topic}, {"partition", key.partition}, {"next", next}});
        }
        const std::string text = j.dump() + "\n";
        {
            Fd tmp(::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
            if (tmp.get() < 0) fail_or_retry("create", temp_path_, errno);
            if (int err = write_all(tmp.get(), text, 0)) {
                ::unlink(temp_path_.c_str());  // give back what it took of a full disk
                fail_or_retry("write", temp_path_, err);
            }
            if (::fsync(tmp.get()) != 0) fail("fsync", temp_path_, errno);
            if (tmp.close() != 0) fail("close", temp_path_, errno);
        }
        if (::rename(temp_path_.c_str(), sidecar_path_.c_str()) != 0) {
            const int err = errno;
            ::unlink(temp_path_.c_str());
            fail_or_retry("rename '" + temp_path_ + "' to", sidecar_path_, err);
        }
        sync_dir();
        state_ = state;
        sidecar_id_ = sidecar_identity();
        durable_id_ = sidecar_id_;
    }

    sluice::Host &host_;
    file_sink::BatchEncoder &encoder_;  // the plugin's, shared by its files
    std::string path_, sidecar_path_, temp_path_, dir_path_;
    ProcessLock lock_;  // before anything touches the files
    Fd fd_;
    SinkState state_;
    FileIdentity sidecar_id_;
    FileIdentity durable_id_;  // the sidecar version this instance fsynced, with data and dir
    std::string failed_;       // the final error; every later call is refused with it
};

/// The plugin: one FileSink on `path`, or (per-partition = true) one per topic-partition in
/// the directory `path`, each opened when a batch or resume_offsets first needs it and
/// closed, with its lock, when the partition is revoked.
///
/// Lifecycle and threads: as FileSink's (create and destroy on the control or reloader
/// thread, process and the assignment hooks on the batch thread, resume_offsets on the
/// control thread before the first batch; never two calls at once).
class FileSinkPlugin {
  public:
    // The keys of [plugin.file-sink]: any other key there is refused by the host.
    static std::vector<sluice::ConfigKey> config_keys() {
        return {{"path", sluice::ConfigType::path, std::nullopt,
                 "required: the JSON-lines file to append to (offsets are stored beside it in "
                 "<path>.offsets, the process lock in <path>.lock); with per-partition, the "
                 "directory of the files"},
                {"per-partition", sluice::ConfigType::boolean, "false",
                 "one file per topic-partition, <path>/<topic>-<partition>.jsonl, each with its "
                 "own .offsets and .lock, so hosts that share the directory stay exactly-once"},
                {"encode-threads", sluice::ConfigType::integer, "0",
                 "threads that encode a batch's lines, the batch thread included (1 to 64); 0: "
                 "one per core, at most 4"}};
    }

    explicit FileSinkPlugin(sluice::Host &host)
        : host_(host),
          path_(configured_path(host)),
          per_partition_(host.config_bool("per-partition", false)),
          encoder_(encode_threads(host)) {
        if (per_partition_) {
            make_directory();
        } else {
            single_.emplace(host_, encoder_, path_);
        }
    }

    // Thread: batch thread.
    sluice::Status process(const sluice::Batch &batch) {
        if (!per_partition_) return single_->process(batch.id(), batch.records(), batch.ranges());
        refuse_after_failure(batch.id());
        // Each file stores its part of the batch on its own: a crash between two leaves
        // some partitions stored, and the replay skips those.
        std::map<PartitionKey, Part, PartitionKeyLess> parts;
        for (const sluice::OffsetRange &r : batch.ranges())
            part(parts, r.topic, r.partition).ranges.push_back(r);
        for (const sluice::Record &rec : batch.records())
            part(parts, rec.topic(), rec.partition()).records.push_back(rec);
        for (auto &[key, p] : parts) {
            try {
                file(key.topic, key.partition).process(batch.id(), p.records, p.ranges);
            } catch (const sluice::Fatal &e) {
                if (failed_.empty()) failed_ = e.what();
                throw;
            }
        }
        return sluice::Status::ok;
    }

    // Thread: control thread, before the first batch. A partition without a file has no
    // offsets (-1) and gets no file yet.
    sluice::Status resume_offsets(sluice::Span<const sluice::TopicPartition> partitions,
                                  sluice::Span<int64_t> offsets) {
        if (!per_partition_) return single_->resume_offsets(partitions, offsets);
        refuse_after_failure(-1);
        for (std::size_t i = 0; i < partitions.size(); ++i) {
            const sluice::TopicPartition &tp = partitions[i];
            struct stat st {};
            if (!files_.count(PartitionKey{std::string(tp.topic), tp.partition}) &&
                ::stat(file_path(tp.topic, tp.partition).c_str(), &st) != 0) {
                offsets[i] = -1;
                continue;
            }
            file(tp.topic, tp.partition)
                .resume_offsets(sluice::Span<const sluice::TopicPartition>(&tp, 1),
                                sluice::Span<int64_t>(&offsets[i], 1));
        }
        return sluice::Status::ok;
    }

    // Thread: batch thread, between batches. Per partition, the files of revoked partitions
    // are closed and their locks released, so the partition's next owner can lock them.
    sluice::Status partitions_revoked(sluice::Span<const sluice::TopicPartition> partitions) {
        for (const sluice::TopicPartition &tp : partitions)
            files_.erase(PartitionKey{std::string(tp.topic), tp.partition});
        return sluice::Status::ok;
    }

  private:
    struct Part {
        std::vector<sluice::Record> records;
        std::vector<sluice::OffsetRange> ranges;
    };
    static Part &part(std::map<PartitionKey, Part, PartitionKeyLess> &parts, std::string_view topic,
                      int32_t partition) {
        auto it = parts.find(PartitionKeyView{topic, partition});
        if (it != parts.end()) return it->second;
        return parts[PartitionKey{std::string(topic), partition}];
    }

    static std::string configured_path(sluice::Host &host) {
        auto path = host.config("path");
        if (!path || path->empty()) {
            throw sluice::Fatal(
                "file-sink: [plugin.file-sink] path is not set: set it to the file to append "
                "JSON lines to, e.g. path=/var/lib/sluice/events.jsonl");
        }
        return std::string(*path);
    }

    static unsigned encode_threads(sluice::Host &host) {
        const int64_t n = host.config_int("encode-threads", 0);
        if (n < 0 || n > 64) {
            throw sluice::Fatal(
                "file-sink: [plugin.file-sink] encode-threads = " + std::to_string(n) +
                " is out of range: set 1 to 64, or 0 for one per core");
        }
        if (n > 0) return static_cast<unsigned>(n);
        return std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
    }

    std::string file_path(std::string_view topic, int32_t partition) const {
        return path_ + "/" + std::string(topic) + "-" + std::to_string(partition) + ".jsonl";
    }

    FileSink &file(std::string_view topic, int32_t partition) {
        auto it = files_.find(PartitionKeyView{topic, partition});
        if (it != files_.end()) return *it->second;
        if (topic.empty() || topic.find('/') != std::string_view::npos || topic == "." ||
            topic == "..") {
            throw sluice::Fatal("file-sink: topic '" + std::string(topic) +
                                "' cannot name a file in '" + path_ + "'");
        }
        auto sink = std::make_unique<FileSink>(host_, encoder_, file_path(topic, partition),
                                               ProcessLock::Scope::instance);
        return *files_.emplace(PartitionKey{std::string(topic), partition}, std::move(sink))
                    .first->second;
    }

    /// The directory of the files: created if missing (and its parent fsynced, so it
    /// survives a crash); a path that is not a directory is refused.
    void make_directory() {
        struct stat st {};
        if (::stat(path_.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                throw sluice::Fatal("file-sink: '" + path_ +
                                    "' is not a directory: with per-partition = true, "
                                    "[plugin.file-sink] path names the directory of the files");
            }
            return;
        }
        if (::mkdir(path_.c_str(), 0755) != 0 && errno != EEXIST) {
            throw sluice::Fatal("file-sink: cannot create directory '" + path_ +
                                "': " + errno_text() + ": check [plugin.file-sink] path");
        }
        const std::string parent = parent_dir(path_);
        Fd dir(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dir.get() < 0 || ::fsync(dir.get()) != 0) {
            throw sluice::Fatal("file-sink: cannot fsync directory '" + parent +
                                "': " + errno_text() + ": check the file system");
        }
    }

    /// After a final error in one partition's file this instance stores nothing more.
    void refuse_after_failure(int64_t batch_id) const {
        if (failed_.empty()) return;
        throw sluice::Fatal(
            "file-sink: refusing " +
            (batch_id < 0 ? std::string("to resume") : "batch " + std::to_string(batch_id)) +
            " after a final error: " + failed_);
    }

    sluice::Host &host_;
    std::string path_;
    bool per_partition_;
    file_sink::BatchEncoder encoder_;  // before the files, which use it: destroyed after them
    std::optional<FileSink> single_;   // the default layout
    std::map<PartitionKey, std::unique_ptr<FileSink>, PartitionKeyLess> files_;
    std::string failed_;
};

}  // namespace

SLUICE_PLUGIN(FileSinkPlugin, "file-sink", "1.0.0",
              "Appends records as JSON lines; offsets stored with the data (exactly once)", 0);
