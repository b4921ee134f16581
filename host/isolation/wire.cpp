#include "isolation/wire.hpp"

#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace sluice::isolation {

namespace {

constexpr uint64_t kMagic = 0x534c554943450002ULL;  // "SLUICE" + layout version 2
constexpr uint64_t kNull = UINT64_MAX;

struct Layout {
    uint64_t magic;
    int64_t batch_id;
    int64_t batch_time_ms;
    uint32_t flags;
    uint64_t range_count, record_count, header_count;
    uint64_t ranges_off, records_off, headers_off;
};
struct RangeSlot {
    uint64_t topic_off;
    int32_t partition;
    int64_t from, until;
};
struct RecordSlot {
    uint64_t topic_off;
    int32_t partition;
    int64_t offset, timestamp_ms;
    int32_t timestamp_type;
    uint64_t key_off, key_len, value_off, value_len, header_begin, header_count;
};
struct HeaderSlot {
    uint64_t name_off, value_off, value_len;
};

const sluice_record_t &record_at(const sluice_batch_t &b, size_t i) {
    const auto *base = static_cast<const char *>(static_cast<const void *>(b.records));
    return *reinterpret_cast<const sluice_record_t *>(base + i * b.record_stride);
}
const sluice_header_t &header_at(const sluice_record_t &r, size_t i) {
    const auto *base = static_cast<const char *>(static_cast<const void *>(r.headers));
    return *reinterpret_cast<const sluice_header_t *>(base + i * r.header_stride);
}
const sluice_offset_range_t &range_at(const sluice_batch_t &b, size_t i) {
    const auto *base = static_cast<const char *>(static_cast<const void *>(b.ranges));
    return *reinterpret_cast<const sluice_offset_range_t *>(base + i * b.range_stride);
}

// Appends to the region in one pass, growing it as needed (the memfd keeps what was written;
// base() may move, so everything is addressed by offset).
class Bytes {
  public:
    Bytes(SharedRegion &region, size_t start) : region_(region), pos_(start) {}
    bool ok() const { return ok_; }
    uint64_t put(const void *p, size_t n) {
        if (p == nullptr) return kNull;
        if (!room(n)) return kNull;
        const uint64_t off = pos_;
        if (n > 0) std::memcpy(region_.base() + pos_, p, n);
        pos_ += n;
        return off;
    }
    uint64_t cstr(const char *s) {
        if (s == nullptr) s = "";
        return put(s, std::strlen(s) + 1);
    }
    // Records of one batch nearly always share a topic: stored once per run of equal topics.
    uint64_t topic(const char *s) {
        if (s == nullptr) s = "";
        if (last_ != kNull && (s == last_ptr_ || std::strcmp(s, last_ptr_) == 0)) return last_;
        last_ptr_ = s;
        return last_ = cstr(s);
    }
    // Room for `count` header slots, 8-byte aligned; their offset.
    uint64_t header_slots(size_t count) {
        pos_ = (pos_ + 7) & ~size_t{7};
        if (!room(count * sizeof(HeaderSlot))) return kNull;
        const uint64_t off = pos_;
        pos_ += count * sizeof(HeaderSlot);
        return off;
    }
    char *at(uint64_t off) const { return region_.base() + off; }
    size_t end() const { return pos_; }

  private:
    bool room(size_t n) {
        if (pos_ + n <= region_.capacity()) return ok_;
        if (!region_.reserve(std::max(pos_ + n, region_.capacity() * 2))) ok_ = false;
        return ok_;
    }
    SharedRegion &region_;
    size_t pos_;
    bool ok_ = true;
    uint64_t last_ = kNull;
    const char *last_ptr_ = nullptr;
};

// Layout | RangeSlot * range_count | RecordSlot * record_count | bytes (strings, keys, values,
// and each record's run of HeaderSlots, aligned). One pass over the records.
size_t lay_out(const sluice_batch_t &b, SharedRegion &region) {
    Layout l{};
    l.magic = kMagic;
    l.batch_id = b.batch_id;
    l.batch_time_ms = b.batch_time_ms;
    l.flags = b.flags;
    l.range_count = b.range_count;
    l.record_count = b.record_count;
    l.ranges_off = sizeof(Layout);
    l.records_off = l.ranges_off + b.range_count * sizeof(RangeSlot);
    const size_t fixed = l.records_off + b.record_count * sizeof(RecordSlot);
    // The bytes of a batch are usually like the last one's: one reservation, rarely a second.
    if (!region.reserve(std::max(fixed + (fixed - sizeof(Layout)) / 2, region.last_used())))
        return 0;
    Bytes bytes(region, fixed);
    for (size_t i = 0; i < b.range_count; ++i) {
        const auto &r = range_at(b, i);
        RangeSlot s{bytes.topic(r.topic), r.partition, r.from_offset, r.until_offset};
        std::memcpy(bytes.at(l.ranges_off + i * sizeof s), &s, sizeof s);
    }
    uint64_t header_count = 0;
    for (size_t i = 0; i < b.record_count; ++i) {
        const auto &r = record_at(b, i);
        RecordSlot s;
        s.topic_off = bytes.topic(r.topic);
        s.partition = r.partition;
        s.offset = r.offset;
        s.timestamp_ms = r.timestamp_ms;
        s.timestamp_type = r.timestamp_type;
        s.key_off = bytes.put(r.key, r.key_len);
        s.key_len = r.key ? r.key_len : 0;
        s.value_off = bytes.put(r.value, r.value_len);
        s.value_len = r.value ? r.value_len : 0;
        s.header_count = r.header_count;
        s.header_begin = 0;
        if (r.header_count > 0) {
            std::vector<HeaderSlot> hs(r.header_count);
            for (size_t j = 0; j < r.header_count; ++j) {
                const auto &hd = header_at(r, j);
                hs[j] = {bytes.cstr(hd.name), bytes.put(hd.value, hd.value_len),
                         hd.value ? hd.value_len : 0};
            }
            s.header_begin = bytes.header_slots(hs.size());
            if (bytes.ok())
                std::memcpy(bytes.at(s.header_begin), hs.data(), hs.size() * sizeof(HeaderSlot));
            header_count += r.header_count;
        }
        if (!bytes.ok()) return 0;
        std::memcpy(bytes.at(l.records_off + i * sizeof s), &s, sizeof s);
    }
    if (!bytes.ok()) return 0;
    l.header_count = header_count;
    l.headers_off = 0;  // unused: each record names its own run
    std::memcpy(bytes.at(0), &l, sizeof l);
    region.set_last_used(bytes.end());
    return bytes.end();
}

}  // namespace

bool send_message(int fd, Msg type, std::string_view payload) {
    char head[12];
    const auto t = static_cast<uint32_t>(type);
    const uint64_t n = payload.size();
    std::memcpy(head, &t, 4);
    std::memcpy(head + 4, &n, 8);
    const auto write_all = [fd](const char *p, size_t len) {
        while (len > 0) {
            const ssize_t w = ::send(fd, p, len, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return false;
            p += w;
            len -= static_cast<size_t>(w);
        }
        return true;
    };
    return write_all(head, sizeof head) && write_all(payload.data(), payload.size());
}

RecvResult recv_message(int fd, Msg *type, std::string *payload,
                        std::chrono::steady_clock::time_point deadline) {
    const auto read_all = [&](char *p, size_t len) -> RecvResult {
        while (len > 0) {
            int timeout = -1;
            if (deadline != std::chrono::steady_clock::time_point::max()) {
                const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now());
                if (left.count() <= 0) return RecvResult::timed_out;
                timeout = static_cast<int>(std::min<int64_t>(left.count() + 1, 60000));
            }
            pollfd pfd{fd, POLLIN, 0};
            const int ready = ::poll(&pfd, 1, timeout);
            if (ready < 0 && errno == EINTR) continue;
            if (ready < 0) return RecvResult::closed;
            if (ready == 0) continue;  // the loop checks the deadline
            const ssize_t got = ::recv(fd, p, len, 0);
            if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (got <= 0) return RecvResult::closed;
            p += got;
            len -= static_cast<size_t>(got);
        }
        return RecvResult::message;
    };
    char head[12];
    RecvResult r = read_all(head, sizeof head);
    if (r != RecvResult::message) return r;
    uint32_t t = 0;
    uint64_t n = 0;
    std::memcpy(&t, head, 4);
    std::memcpy(&n, head + 4, 8);
    if (n > (uint64_t{1} << 34)) return RecvResult::closed;  // a corrupt frame: treat as gone
    payload->resize(n);
    r = read_all(payload->data(), n);
    *type = static_cast<Msg>(t);
    return r;
}

SharedRegion::~SharedRegion() {
    if (base_ != nullptr) ::munmap(base_, mapped_);
    if (fd_ >= 0) ::close(fd_);
}

int SharedRegion::create_fd(const char *name) {
    const int fd = ::memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) throw std::runtime_error(std::string("memfd_create: ") + std::strerror(errno));
    return fd;
}

bool SharedRegion::remap(size_t size) {
    void *p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) return false;
    if (base_ != nullptr) ::munmap(base_, mapped_);
    base_ = static_cast<char *>(p);
    mapped_ = size;
    return true;
}

bool SharedRegion::reserve(size_t size) {
    if (size <= mapped_) return true;
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return false;
    size_t want = std::max<size_t>(size, 1 << 20);
    if (static_cast<size_t>(st.st_size) < want) {
        want = std::max(want, static_cast<size_t>(st.st_size) * 2);
        if (::ftruncate(fd_, static_cast<off_t>(want)) != 0) return false;
    } else {
        want = static_cast<size_t>(st.st_size);
    }
    return remap(want);
}

bool SharedRegion::map(size_t size) {
    if (size <= mapped_) return true;
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || static_cast<size_t>(st.st_size) < size) return false;
    return remap(static_cast<size_t>(st.st_size));
}

size_t encode_batch(const sluice_batch_t &batch, SharedRegion &region) {
    return lay_out(batch, region);
}

bool decode_batch(const char *base, size_t used, DecodedBatch *out) {
    if (used < sizeof(Layout)) return false;
    Layout l{};
    std::memcpy(&l, base, sizeof l);
    if (l.magic != kMagic) return false;
    const auto fits = [used](uint64_t off, uint64_t count, uint64_t size) {
        return off <= used && count <= (used - off) / size;
    };
    if (!fits(l.ranges_off, l.range_count, sizeof(RangeSlot)) ||
        !fits(l.records_off, l.record_count, sizeof(RecordSlot)) || l.header_count > used)
        return false;
    const auto at = [base](uint64_t off) -> const char * {
        return off == kNull ? nullptr : base + off;
    };
    const auto *ranges = reinterpret_cast<const RangeSlot *>(base + l.ranges_off);
    const auto *records = reinterpret_cast<const RecordSlot *>(base + l.records_off);
    out->ranges.resize(l.range_count);
    for (size_t i = 0; i < l.range_count; ++i)
        out->ranges[i] = {sizeof(sluice_offset_range_t), at(ranges[i].topic_off),
                          ranges[i].partition, ranges[i].from, ranges[i].until};
    out->headers.clear();
    out->headers.reserve(l.header_count);
    out->records.resize(l.record_count);
    for (size_t i = 0; i < l.record_count; ++i) {
        const RecordSlot &s = records[i];
        const size_t first = out->headers.size();
        if (s.header_count > 0) {
            if (!fits(s.header_begin, s.header_count, sizeof(HeaderSlot)) ||
                s.header_count > l.header_count - first)
                return false;
            const auto *hs = reinterpret_cast<const HeaderSlot *>(base + s.header_begin);
            for (size_t j = 0; j < s.header_count; ++j)
                out->headers.push_back({sizeof(sluice_header_t), at(hs[j].name_off),
                                        at(hs[j].value_off), hs[j].value_len});
        }
        // headers was reserved for all of them: the pointer stays valid.
        out->records[i] = {sizeof(sluice_record_t),
                           at(s.topic_off),
                           s.partition,
                           s.offset,
                           s.timestamp_ms,
                           s.timestamp_type,
                           at(s.key_off),
                           s.key_len,
                           at(s.value_off),
                           s.value_len,
                           s.header_count ? out->headers.data() + first : nullptr,
                           s.header_count,
                           sizeof(sluice_header_t)};
    }
    sluice_batch_t &b = out->batch;
    b = {};
    b.struct_size = sizeof(sluice_batch_t);
    b.batch_id = l.batch_id;
    b.batch_time_ms = l.batch_time_ms;
    b.flags = l.flags;
    b.ranges = out->ranges.empty() ? nullptr : out->ranges.data();
    b.range_count = l.range_count;
    b.range_stride = sizeof(sluice_offset_range_t);
    b.records = out->records.empty() ? nullptr : out->records.data();
    b.record_count = l.record_count;
    b.record_stride = sizeof(sluice_record_t);
    return true;
}

void select_records(const sluice_batch_t &source, const std::vector<size_t> &indexes,
                    DecodedBatch *out) {
    out->records.clear();
    out->headers.clear();
    out->ranges.clear();
    for (size_t i : indexes) {
        sluice_record_t r{};
        const sluice_record_t &src = record_at(source, i);
        std::memcpy(&r, &src, std::min<size_t>(src.struct_size, sizeof r));
        r.struct_size = sizeof r;
        out->records.push_back(r);
    }
    out->batch = source;
    out->batch.records = out->records.empty() ? nullptr : out->records.data();
    out->batch.record_count = out->records.size();
    out->batch.record_stride = sizeof(sluice_record_t);
}

}  // namespace sluice::isolation
