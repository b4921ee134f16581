#pragma once
// What the host and a plugin worker exchange: framed control messages over a socketpair and
// batches laid out in a shared memfd region (offsets, not pointers: each side maps it at its
// own address and builds sluice_record_t views over its mapping).

#include <sluice/sluice.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::isolation {

/// Control messages. Host -> worker: init .. restore; worker -> host: log, reply, oom.
enum class Msg : uint32_t {
    init = 1,      // name, path, config, snapshot, assignment: load, create, restore, assign
    process = 2,   // the batch in the input region (u64 bytes used)
    flush = 3,     // the same batch's flush
    assigned = 4,  // partitions (topic, partition)*
    revoked = 5,
    resume = 6,    // partitions; the reply carries one i64 per partition
    snapshot = 7,  // reply carries the state
    restore = 8,   // the state
    log = 100,     // i32 level, text (from any of the worker's threads)
    reply = 101,   // i32 status, message, custom metrics, then the call's own data
    oom = 102,     // the worker is dying with its address space at the memory-limit
};

/// Appends little-endian fields to a buffer.
class Writer {
  public:
    void u32(uint32_t v) { raw(&v, sizeof v); }
    void i32(int32_t v) { raw(&v, sizeof v); }
    void u64(uint64_t v) { raw(&v, sizeof v); }
    void i64(int64_t v) { raw(&v, sizeof v); }
    void f64(double v) { raw(&v, sizeof v); }
    void str(std::string_view s) {
        u64(s.size());
        raw(s.data(), s.size());
    }
    void raw(const void *p, size_t n) { out_.append(static_cast<const char *>(p), n); }
    const std::string &data() const { return out_; }

  private:
    std::string out_;
};

/// Reads what Writer wrote; a short message reads as zeros / empty (`ok()` turns false).
class Reader {
  public:
    explicit Reader(std::string_view in) : in_(in) {}
    uint32_t u32() { return get<uint32_t>(); }
    int32_t i32() { return get<int32_t>(); }
    uint64_t u64() { return get<uint64_t>(); }
    int64_t i64() { return get<int64_t>(); }
    double f64() { return get<double>(); }
    std::string str() {
        const uint64_t n = u64();
        if (n > in_.size() - pos_) {
            ok_ = false;
            pos_ = in_.size();
            return {};
        }
        std::string s(in_.substr(pos_, n));
        pos_ += n;
        return s;
    }
    bool ok() const { return ok_; }

  private:
    template <typename T>
    T get() {
        T v{};
        if (in_.size() - pos_ < sizeof v) {
            ok_ = false;
            pos_ = in_.size();
            return v;
        }
        std::memcpy(&v, in_.data() + pos_, sizeof v);
        pos_ += sizeof v;
        return v;
    }
    std::string_view in_;
    size_t pos_ = 0;
    bool ok_ = true;
};

/// Sends one framed message (u32 type, u64 length, payload). MSG_NOSIGNAL: a dead peer is an
/// error, not SIGPIPE. Returns false when the peer is gone.
bool send_message(int fd, Msg type, std::string_view payload);

enum class RecvResult { message, closed, timed_out };
/// Receives one framed message, waiting until `deadline` (time_point::max(): no limit).
RecvResult recv_message(int fd, Msg *type, std::string *payload,
                        std::chrono::steady_clock::time_point deadline);

/// A memfd mapped read-write, grown on demand (both sides may grow it: ftruncate, then each
/// side remaps when it sees a size beyond its mapping). Not copyable.
class SharedRegion {
  public:
    SharedRegion() = default;
    explicit SharedRegion(int fd) : fd_(fd) {}
    ~SharedRegion();
    SharedRegion(const SharedRegion &) = delete;
    SharedRegion &operator=(const SharedRegion &) = delete;

    /// memfd_create (close-on-exec). Throws std::runtime_error.
    static int create_fd(const char *name);
    int fd() const { return fd_; }
    /// Makes at least `size` bytes usable, growing the file when it is smaller (writer side).
    /// Returns false when the memory cannot be had.
    bool reserve(size_t size);
    /// Maps at least `size` bytes of what the peer wrote (reader side).
    bool map(size_t size);
    char *base() const { return base_; }
    size_t capacity() const { return mapped_; }
    /// What the last encode_batch used (its next reservation starts there).
    size_t last_used() const { return last_used_; }
    void set_last_used(size_t n) { last_used_ = n; }

  private:
    bool remap(size_t size);
    int fd_ = -1;
    char *base_ = nullptr;
    size_t mapped_ = 0;
    size_t last_used_ = 0;
};

/// Lays `batch` out in `region` (its records, headers and ranges). Returns the bytes used, or 0
/// when the region cannot hold it.
size_t encode_batch(const sluice_batch_t &batch, SharedRegion &region);

/// Views over a batch laid out by encode_batch, valid while the mapping is.
struct DecodedBatch {
    sluice_batch_t batch{};
    std::vector<sluice_record_t> records;
    std::vector<sluice_header_t> headers;
    std::vector<sluice_offset_range_t> ranges;
};
/// Builds the views over `used` bytes at `base`. False for a malformed layout.
bool decode_batch(const char *base, size_t used, DecodedBatch *out);

/// A batch of the records of `source` at `indexes` (same id, time, flags, ranges); views into
/// `source`'s memory.
void select_records(const sluice_batch_t &source, const std::vector<size_t> &indexes,
                    DecodedBatch *out);

}  // namespace sluice::isolation
