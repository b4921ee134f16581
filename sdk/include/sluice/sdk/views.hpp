#pragma once
// Part of the C++ SDK (sluice/plugin.hpp includes every part; include that one).
// Views of what the host passes in: batches, records, headers, ranges, partitions; the state
// writer.

#include "types.hpp"

namespace sluice {
// The inline namespace keeps these names apart (in mangling) from the host's own
// sluice::TopicPartition etc.; plugin code just writes sluice::Batch.
inline namespace sdk {

namespace detail {

/// Copies min(struct_size, sizeof(T)) bytes of a peer's struct and zero-fills the rest,
/// so fields the peer does not know read as 0/NULL ("absent").
template <class T>
inline T read_struct(const void *p) noexcept {
    T out;
    if (p == nullptr) {
        std::memset(&out, 0, sizeof out);
        return out;
    }
    uint32_t size = 0;
    std::memcpy(&size, p, sizeof size);
    if (size >= sizeof(T)) {
        std::memcpy(&out, p, sizeof(T));  // fixed size: the common, fast case
    } else {
        std::memset(&out, 0, sizeof out);
        std::memcpy(&out, p, size);
    }
    return out;
}

inline std::optional<std::string_view> bytes(const void *data, std::size_t len) noexcept {
    if (data == nullptr) return std::nullopt;
    return std::string_view(static_cast<const char *>(data), len);
}

/// A pointer for a byte view that must not be NULL (NULL means "null" in the ABI, so an
/// empty view whose data() is NULL must still become a non-NULL pointer).
inline const void *non_null(std::string_view v) noexcept {
    return v.data() ? v.data() : "";
}

/// Writes `message` into the host's buffer, truncated and always NUL-terminated.
inline void write_error(char *err, std::size_t err_size, std::string_view message) noexcept {
    if (err == nullptr || err_size == 0) return;
    std::size_t n = message.size() < err_size - 1 ? message.size() : err_size - 1;
    std::memcpy(err, message.data(), n);
    err[n] = '\0';
}

/// An iterable view over a strided array of C structs, yielding `View` values.
template <class CStruct, class View>
class StridedRange {
  public:
    class iterator {
      public:
        using iterator_category = std::input_iterator_tag;
#if SLUICE_SDK_CONCEPTS
        using iterator_concept = std::forward_iterator_tag;
#endif
        using value_type = View;
        using difference_type = std::ptrdiff_t;
        using reference = View;
        using pointer = void;

        iterator() = default;
        iterator(const unsigned char *p, std::size_t stride) : p_(p), stride_(stride) {}
        View operator*() const {
            return View(reinterpret_cast<const CStruct *>(p_));
        }
        iterator &operator++() {
            p_ += stride_;
            return *this;
        }
        iterator operator++(int) {
            iterator old = *this;
            p_ += stride_;
            return old;
        }
        bool operator==(const iterator &o) const {
            return p_ == o.p_;
        }
        bool operator!=(const iterator &o) const {
            return p_ != o.p_;
        }

      private:
        const unsigned char *p_ = nullptr;
        std::size_t stride_ = 0;
    };

    StridedRange() = default;
    StridedRange(const CStruct *base, std::size_t count, std::size_t stride)
        : base_(reinterpret_cast<const unsigned char *>(base)),
          count_(base ? count : 0),
          stride_(stride ? stride : sizeof(CStruct)) {}

    iterator begin() const {
        return iterator(base_, stride_);
    }
    iterator end() const {
        return iterator(base_ + count_ * stride_, stride_);
    }
    std::size_t size() const {
        return count_;
    }
    bool empty() const {
        return count_ == 0;
    }
    View operator[](std::size_t i) const {
        return View(reinterpret_cast<const CStruct *>(base_ + i * stride_));
    }

  private:
    const unsigned char *base_ = nullptr;
    std::size_t count_ = 0;
    std::size_t stride_ = sizeof(CStruct);
};

}  // namespace detail

/// A topic-partition (assignment hooks, resume_offsets). `topic` is a view valid during
/// the call; it is NUL-terminated when it came from the host.
struct TopicPartition {
    std::string_view topic;
    int32_t partition = 0;

    TopicPartition() = default;
    TopicPartition(std::string_view t, int32_t p) : topic(t), partition(p) {}
    explicit TopicPartition(const sluice_topic_partition_t *c) {
        auto tp = detail::read_struct<sluice_topic_partition_t>(c);
        topic = tp.topic ? std::string_view(tp.topic) : std::string_view();
        partition = tp.partition;
    }
    bool operator==(const TopicPartition &o) const {
        return partition == o.partition && topic == o.topic;
    }
    bool operator!=(const TopicPartition &o) const { return !(*this == o); }
};

/// What a batch covers for one partition: [from_offset, until_offset); until_offset is
/// the next offset to read (Spark's HasOffsetRanges).
struct OffsetRange {
    std::string_view topic;
    int32_t partition = 0;
    int64_t from_offset = 0;   ///< inclusive
    int64_t until_offset = 0;  ///< exclusive

    OffsetRange() = default;
    explicit OffsetRange(const sluice_offset_range_t *c) {
        auto r = detail::read_struct<sluice_offset_range_t>(c);
        topic = r.topic ? std::string_view(r.topic) : std::string_view();
        partition = r.partition;
        from_offset = r.from_offset;
        until_offset = r.until_offset;
    }
    int64_t count() const { return until_offset - from_offset; }
};

/// One record header: `value` nullopt = null value, an empty view = empty value.
struct Header {
    std::string_view name;
    std::optional<std::string_view> value;

    Header() = default;
    Header(std::string_view n, std::optional<std::string_view> v) : name(n), value(v) {}
    explicit Header(const sluice_header_t *c) {
        auto h = detail::read_struct<sluice_header_t>(c);
        name = h.name ? std::string_view(h.name) : std::string_view();
        value = detail::bytes(h.value, h.value_len);
    }
};

using HeaderRange = detail::StridedRange<sluice_header_t, Header>;

/// A record to emit downstream (Host::emit), made of views the plugin chooses. The host
/// copies it, so the views may point into the plugin's temporary memory.
/// Thread: the batch thread, inside process.
struct RecordData {
    std::string_view topic;
    int32_t partition = 0;
    int64_t offset = -1;
    int64_t timestamp = -1;
    TimestampType timestamp_type = TimestampType::not_available;
    std::optional<std::string_view> key;
    std::optional<std::string_view> value;
    std::vector<Header> headers;
};

/// A view of one Kafka record, valid only during the call that received it.
/// Thread: the thread of that call (the batch thread for process and flush).
class Record {
  public:
    explicit Record(const sluice_record_t *c) noexcept
        : r_(detail::read_struct<sluice_record_t>(c)) {}

    std::string_view topic() const { return r_.topic ? std::string_view(r_.topic) : ""; }
    int32_t partition() const { return r_.partition; }
    int64_t offset() const { return r_.offset; }
    /// Unix ms, -1 when not available.
    int64_t timestamp() const { return r_.timestamp_ms; }
    TimestampType timestamp_type() const { return static_cast<TimestampType>(r_.timestamp_type); }
    /// nullopt = null key; an empty view = empty key.
    std::optional<std::string_view> key() const { return detail::bytes(r_.key, r_.key_len); }
    /// nullopt = null value; an empty view = empty value.
    std::optional<std::string_view> value() const { return detail::bytes(r_.value, r_.value_len); }
    HeaderRange headers() const {
        return HeaderRange(r_.headers, r_.header_count, r_.header_stride);
    }
    /// The same record as RecordData, to change a field and emit it.
    RecordData data() const {
        RecordData d;
        d.topic = topic();
        d.partition = partition();
        d.offset = offset();
        d.timestamp = timestamp();
        d.timestamp_type = timestamp_type();
        d.key = key();
        d.value = value();
        for (Header h : headers()) d.headers.push_back(h);
        return d;
    }
    /// The normalised C struct (struct_size is this header's sizeof).
    const sluice_record_t &raw() const { return r_; }

  private:
    sluice_record_t r_;
};

using OffsetRangeRange = detail::StridedRange<sluice_offset_range_t, OffsetRange>;
using RecordRange = detail::StridedRange<sluice_record_t, Record>;

/// A view of one micro-batch, valid only during the call that received it.
/// Thread: the batch thread (process, flush).
class Batch {
  public:
    explicit Batch(const sluice_batch_t *c) noexcept : b_(detail::read_struct<sluice_batch_t>(c)) {}

    /// Increases by one per batch; stable across replay.
    int64_t id() const { return b_.batch_id; }
    /// The batch's scheduled time (Unix ms); stable across replay.
    int64_t time_ms() const { return b_.batch_time_ms; }
    uint32_t flags() const { return b_.flags; }
    /// True when this batch was seen before a crash or failure.
    bool is_replay() const { return (b_.flags & SLUICE_BATCH_REPLAY) != 0; }
    /// The offset ranges of the source batch (also in a chain).
    OffsetRangeRange ranges() const {
        return OffsetRangeRange(b_.ranges, b_.range_count, b_.range_stride);
    }
    /// The records: what the previous plugin of the chain passed on.
    RecordRange records() const {
        return RecordRange(b_.records, b_.record_count, b_.record_stride);
    }
    std::size_t size() const { return b_.records ? b_.record_count : 0; }
    bool empty() const { return size() == 0; }
    const sluice_batch_t &raw() const { return b_; }

  private:
    sluice_batch_t b_;
};

/// Sink for snapshot_state: each write() hands bytes to the host, which concatenates them.
/// Thread: batch thread, only during snapshot_state.
class StateWriter {
  public:
    StateWriter(sluice_state_writer_fn fn, void *sink) : fn_(fn), sink_(sink) {}
    void write(const void *data, std::size_t len) {
        if (fn_ == nullptr) throw Fatal("the host passed no state writer to snapshot_state");
        if (len > 0) fn_(sink_, data, len);
    }
    void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }

  private:
    sluice_state_writer_fn fn_;
    void *sink_;
};

}  // namespace sdk
}  // namespace sluice
