// file-sink: the exactly-once sample. Appends every record as one JSON line to
// `[plugin.file-sink] path` and stores the offsets with the data, atomically,
// in a sidecar `<path>.offsets` (see README.md for the protocol).

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/plugin.hpp>

#include <boost/beast/core/detail/base64.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>

namespace {

constexpr int kSidecarFormat = 1;

std::string errno_text() {
    return std::strerror(errno);
}

std::string base64(std::string_view bytes) {
    namespace b64 = boost::beast::detail::base64;
    std::string out(b64::encoded_size(bytes.size()), '\0');
    out.resize(b64::encode(out.data(), bytes.data(), bytes.size()));
    return out;
}

nlohmann::ordered_json base64_or_null(const std::optional<std::string_view> &bytes) {
    if (!bytes) return nullptr;
    return base64(*bytes);
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

  private:
    int fd_ = -1;
};

void write_all(int fd, std::string_view data, off_t at, const std::string &path) {
    while (!data.empty()) {
        ssize_t n = ::pwrite(fd, data.data(), data.size(), at);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw sluice::Retry("file-sink: cannot write '" + path + "': " + errno_text() +
                                ": free disk space or fix the file system; the batch is retried");
        }
        data.remove_prefix(static_cast<std::size_t>(n));
        at += n;
    }
}

std::string parent_dir(const std::string &path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

/// Lifecycle: one per instance. Constructed (create) and destroyed on the
/// control thread, possibly a loader thread during hot reload; process runs on
/// the batch thread; resume_offsets on the control thread before the first
/// batch. Never two calls at once (the host's rule).
class FileSink {
  public:
    explicit FileSink(sluice::Host &host) : host_(host) {
        auto path = host.config("path");
        if (!path || path->empty()) {
            throw sluice::Fatal(
                "file-sink: [plugin.file-sink] path is not set: set it to the file to append "
                "JSON lines to, e.g. path=/var/lib/sluice/events.jsonl");
        }
        path_ = std::string(*path);
        sidecar_path_ = path_ + ".offsets";
        temp_path_ = sidecar_path_ + ".tmp";
        dir_path_ = parent_dir(path_);

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
        // Shared from now on, so a later generation sees that we are here.
        ::flock(fd_.get(), LOCK_SH);
    }

    // Thread: batch thread.
    sluice::Status process(const sluice::Batch &batch) {
        refresh_if_replaced();

        SinkState next_state{state_.length, state_.next};
        std::string lines;
        uint64_t written = 0, skipped = 0;
        for (const sluice::Record &record : batch.records()) {
            std::string_view topic = record.topic();
            auto found = find(state_.next, topic, record.partition());
            if (found && record.offset() < *found) {
                ++skipped;  // written by an earlier run of this batch
                continue;
            }
            append_line(lines, record);
            ++written;
            raise(next_state.next, topic, record.partition(), record.offset() + 1);
        }
        // Everything the batch covers is done once it is stored, even offsets
        // that held no record for us (compaction, a filter upstream).
        for (const sluice::OffsetRange &r : batch.ranges()) {
            raise(next_state.next, r.topic, r.partition, r.until_offset);
        }

        if (lines.empty() && next_state.next == state_.next && data_size() == state_.length) {
            host_.counter("records_skipped", static_cast<double>(skipped));
            return sluice::Status::ok;  // a replay of a stored batch: nothing to do
        }
        // Cut anything past the recorded end (a crash leftover, or a write
        // that failed half-way and is being retried) before appending.
        if (data_size() != state_.length) cut_tail();
        write_all(fd_.get(), lines, static_cast<off_t>(state_.length), path_);
        // Data first, then the offsets that claim it: a crash in between leaves
        // a tail that the next start cuts.
        if (::fdatasync(fd_.get()) != 0) {
            throw sluice::Retry("file-sink: cannot fsync '" + path_ + "': " + errno_text() +
                                ": the batch is retried");
        }
        next_state.length = state_.length + lines.size();
        write_sidecar(next_state);
        host_.counter("records_written", static_cast<double>(written));
        host_.counter("records_skipped", static_cast<double>(skipped));
        return sluice::Status::ok;
    }

    // Thread: control thread, before the first batch.
    sluice::Status resume_offsets(sluice::Span<const sluice::TopicPartition> partitions,
                                  sluice::Span<int64_t> offsets) {
        refresh_if_replaced();
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

    static void append_line(std::string &out, const sluice::Record &record) {
        nlohmann::ordered_json headers = nlohmann::ordered_json::array();
        for (const sluice::Header &h : record.headers()) {
            headers.push_back({std::string(h.name), base64_or_null(h.value)});
        }
        nlohmann::ordered_json line;
        line["topic"] = std::string(record.topic());
        line["partition"] = record.partition();
        line["offset"] = record.offset();
        line["timestamp"] = record.timestamp();
        line["key"] = base64_or_null(record.key());
        line["value"] = base64_or_null(record.value());
        line["headers"] = std::move(headers);
        // Header names are not guaranteed UTF-8: replace bad bytes, never throw.
        out += line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
        out += '\n';
    }

    uint64_t data_size() const {
        struct stat st {};
        if (::fstat(fd_.get(), &st) != 0) {
            throw sluice::Retry("file-sink: cannot stat '" + path_ + "': " + errno_text());
        }
        return static_cast<uint64_t>(st.st_size);
    }

    void cut_tail() {
        const uint64_t size = data_size();
        if (::ftruncate(fd_.get(), static_cast<off_t>(state_.length)) != 0 ||
            ::fdatasync(fd_.get()) != 0) {
            throw sluice::Retry("file-sink: cannot truncate '" + path_ + "' to " +
                                std::to_string(state_.length) + " bytes: " + errno_text());
        }
        if (size > state_.length) {
            host_.log(sluice::LogLevel::warn,
                      "file-sink: cut " + std::to_string(size - state_.length) +
                          " bytes past the recorded end of '" + path_ +
                          "' (a batch cut by a crash; it is written again on replay)");
        }
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

    // Atomic replace: temp file, fsync, rename, fsync the directory (so the
    // rename itself survives a crash).
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
            if (tmp.get() < 0) {
                throw sluice::Retry("file-sink: cannot create '" + temp_path_ +
                                    "': " + errno_text());
            }
            write_all(tmp.get(), text, 0, temp_path_);
            if (::fsync(tmp.get()) != 0) {
                throw sluice::Retry("file-sink: cannot fsync '" + temp_path_ +
                                    "': " + errno_text());
            }
        }
        if (::rename(temp_path_.c_str(), sidecar_path_.c_str()) != 0) {
            throw sluice::Retry("file-sink: cannot rename '" + temp_path_ + "' to '" +
                                sidecar_path_ + "': " + errno_text());
        }
        Fd dir(::open(dir_path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dir.get() < 0 || ::fsync(dir.get()) != 0) {
            throw sluice::Retry("file-sink: cannot fsync directory '" + dir_path_ +
                                "': " + errno_text());
        }
        state_ = state;
        sidecar_id_ = sidecar_identity();
    }

    sluice::Host &host_;
    std::string path_, sidecar_path_, temp_path_, dir_path_;
    Fd fd_;
    SinkState state_;
    FileIdentity sidecar_id_;
};

}  // namespace

SLUICE_PLUGIN(FileSink, "file-sink", "1.0.0",
              "Appends records as JSON lines; offsets stored with the data (exactly once)", 0);
