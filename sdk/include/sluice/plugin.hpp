#pragma once
// Header-only C++ wrapper over the Sluice plugin C ABI (sluice.h).
//
// A plugin is one class plus one export macro:
//
//     class Upper {
//       public:
//         explicit Upper(sluice::Host &host);              // or a default constructor
//         sluice::Status process(const sluice::Batch &batch);  // may also return void
//     };
//     SLUICE_PLUGIN(Upper, "upper", "1.0.0", "Uppercases values", SLUICE_PLUGIN_TRANSFORM)
//
// (with or without a `;` after the macro).
//
// Optional members are found at compile time; only the ones the class has get a
// pointer in the descriptor, the others stay NULL (the host treats them as absent):
//
//     Status partitions_assigned(sluice::Span<const sluice::TopicPartition> partitions);
//     Status partitions_revoked(sluice::Span<const sluice::TopicPartition> partitions);
//     Status flush(const sluice::Batch &batch);
//     Status snapshot_state(sluice::StateWriter &out);
//     Status restore_state(std::string_view state);
//     Status resume_offsets(sluice::Span<const sluice::TopicPartition> partitions,
//                           sluice::Span<int64_t> offsets);  // pre-filled with -1
//     static std::vector<sluice::ConfigKey> config_keys();   // ABI 1.1: declares the keys
//
// config_keys() declares the keys of the plugin's [plugin.NAME] section (name, type,
// default, one line): the host then refuses any other key there, with "did you mean", and
// `sluice plugins DIR` lists them. It is called once, when the library is loaded.
//
// Each may return sluice::Status or void (= ok). To fail, return a status or throw:
// sluice::Retry, sluice::Skip and sluice::Fatal carry their status; any other exception
// is SLUICE_FATAL with its what(). No exception ever crosses the C ABI: every
// trampoline catches everything and writes the message into the host's error buffer.
//
// Every view (Batch, Record, Header, OffsetRange, TopicPartition, the string_views they
// return) points into host memory and is valid only during the call that received it.
//
// Host structs are read by their struct_size (copy min(struct_size, sizeof), zero-fill
// the rest), so a plugin built with this header works with older and newer hosts of
// the same ABI major.
//
// Requires C++17; with C++20, Span is std::span and the hooks are detected with
// requires-expressions.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice.h"

#if __has_include(<version>)
#include <version>
#endif
#if defined(__cpp_lib_span) && __cpp_lib_span >= 202002L
#include <span>
#define SLUICE_SDK_STD_SPAN 1
#else
#define SLUICE_SDK_STD_SPAN 0
#endif
#if defined(__cpp_concepts) && __cpp_concepts >= 201907L
#define SLUICE_SDK_CONCEPTS 1
#else
#define SLUICE_SDK_CONCEPTS 0
#endif

#if __cplusplus < 201703L
#error "sluice/plugin.hpp needs C++17 or later"
#endif

namespace sluice {
// The inline namespace keeps these names apart (in mangling) from the host's own
// sluice::TopicPartition etc.; plugin code just writes sluice::Batch.
inline namespace sdk {

/// What a plugin function returns (values are sluice_status_t).
enum class Status : int32_t {
    ok = SLUICE_OK,
    retry = SLUICE_RETRY,  ///< transient: the host may call again with the same batch
    skip = SLUICE_SKIP,    ///< give up on this batch but keep running
    fatal = SLUICE_FATAL,  ///< the host stops without committing the batch
};

enum class LogLevel : int32_t {
    trace = SLUICE_LOG_TRACE,
    debug = SLUICE_LOG_DEBUG,
    info = SLUICE_LOG_INFO,
    warn = SLUICE_LOG_WARN,
    error = SLUICE_LOG_ERROR,
};

/// The type of a declared config key (shown to users; the plugin still parses the value).
enum class ConfigType : int32_t {
    string = SLUICE_CONFIG_STRING,
    integer = SLUICE_CONFIG_INT,
    number = SLUICE_CONFIG_NUMBER,
    boolean = SLUICE_CONFIG_BOOL,
    path = SLUICE_CONFIG_PATH,
};

/// One key of the plugin's [plugin.NAME] section, as returned by a plugin class's static
/// config_keys(): {"output", sluice::ConfigType::path, std::nullopt, "append here"}.
struct ConfigKey {
    std::string name;
    ConfigType type = ConfigType::string;
    std::optional<std::string> default_value;  ///< as the user would write it; nullopt = none
    std::string description;                   ///< one line
};

enum class TimestampType : int32_t {
    not_available = SLUICE_TIMESTAMP_NOT_AVAILABLE,
    create_time = SLUICE_TIMESTAMP_CREATE_TIME,
    log_append_time = SLUICE_TIMESTAMP_LOG_APPEND_TIME,
};

inline const char *to_string(Status status) noexcept {
    switch (status) {
        case Status::ok:
            return "ok";
        case Status::retry:
            return "retry";
        case Status::skip:
            return "skip";
        case Status::fatal:
            return "fatal";
    }
    return "fatal";
}

/// An exception that carries the status the host gets. Thrown by plugin code (any
/// thread that runs plugin code), caught by the trampolines.
class Error : public std::runtime_error {
  public:
    Error(Status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    Status status() const noexcept { return status_; }

  private:
    Status status_;
};

/// Transient failure: the host may call again with the same batch.
class Retry : public Error {
  public:
    explicit Retry(const std::string &message) : Error(Status::retry, message) {}
};

/// Give up on this batch, keep running (the host's policy decides).
class Skip : public Error {
  public:
    explicit Skip(const std::string &message) : Error(Status::skip, message) {}
};

/// Unrecoverable: the host stops without committing the batch.
class Fatal : public Error {
  public:
    explicit Fatal(const std::string &message) : Error(Status::fatal, message) {}
};

#if SLUICE_SDK_STD_SPAN
template <class T>
using Span = std::span<T>;
#else
/// Minimal std::span stand-in for C++17 builds (contiguous, non-owning).
template <class T>
class Span {
  public:
    constexpr Span() noexcept = default;
    constexpr Span(T *data, std::size_t size) noexcept : data_(data), size_(size) {}
    template <class C, class = decltype(std::declval<C &>().data())>
    constexpr Span(C &c) noexcept : data_(c.data()), size_(c.size()) {}
    constexpr T *data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr T &operator[](std::size_t i) const noexcept { return data_[i]; }
    constexpr T *begin() const noexcept { return data_; }
    constexpr T *end() const noexcept { return data_ + size_; }

  private:
    T *data_ = nullptr;
    std::size_t size_ = 0;
};
#endif

namespace detail {

/// ASCII lower case (config values).
inline std::string lower(std::string_view text) {
    std::string out(text);
    for (char &c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

/// "<whole number><unit>" with one of `units` (longest first; "" = no unit) -> number * factor,
/// or nullopt. No sign, no spaces, no overflow.
template <std::size_t N>
std::optional<int64_t> number_with_unit(std::string_view text,
                                        const std::pair<const char *, int64_t> (&units)[N]) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0 || digits > 18) return std::nullopt;
    const std::string_view unit = text.substr(digits);
    for (const auto &[name, factor] : units) {
        if (unit != name) continue;
        int64_t n = 0;
        for (std::size_t i = 0; i < digits; ++i) n = n * 10 + (text[i] - '0');
        if (n > INT64_MAX / factor) return std::nullopt;
        return n * factor;
    }
    return std::nullopt;
}

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

/// The host's services for one plugin instance: logging, config, metrics, emit.
/// Lifecycle: made by the create trampoline before the plugin's constructor, destroyed
/// after its destructor. Thread: log and config from any thread while the instance
/// lives; metrics and emit on the batch thread (emit only inside process).
class Host {
  public:
    Host(const sluice_host_api_t *api, sluice_host_ctx_t *ctx) noexcept
        : api_(detail::read_struct<sluice_host_api_t>(api)), ctx_(ctx) {}
    Host(const Host &) = delete;
    Host &operator=(const Host &) = delete;

    /// The host's ABI version.
    uint32_t abi_major() const { return api_.abi_major; }
    uint32_t abi_minor() const { return api_.abi_minor; }

    /// One log line through the host's logger (tagged with the plugin name).
    void log(LogLevel level, std::string_view message) const {
        if (api_.log == nullptr) return;
        std::string line(message);  // the ABI wants NUL-terminated text
        api_.log(ctx_, static_cast<int32_t>(level), line.c_str());
    }

    /// A key of this plugin's [plugin.NAME] config section; nullopt when absent. The view
    /// stays valid until the instance is destroyed.
    std::optional<std::string_view> config(std::string_view key) const {
        if (api_.config_get == nullptr) return std::nullopt;
        std::string k(key);
        const char *v = api_.config_get(ctx_, k.c_str());
        if (v == nullptr) return std::nullopt;
        return std::string_view(v);
    }
    /// config(key), or `fallback` when absent.
    std::string config_or(std::string_view key, std::string_view fallback) const {
        auto v = config(key);
        return std::string(v ? *v : fallback);
    }
    /// An integer config value; `fallback` when absent; throws Fatal when not an integer.
    int64_t config_int(std::string_view key, int64_t fallback) const {
        auto v = config(key);
        if (!v) return fallback;
        std::string s(*v);
        std::size_t used = 0;
        int64_t n = 0;
        try {
            n = std::stoll(s, &used, 10);
        } catch (const std::exception &) {
            used = 0;
        }
        if (s.empty() || used != s.size()) {
            throw Fatal("config key '" + std::string(key) + "' is '" + s +
                        "', not an integer: set it to a whole number");
        }
        return n;
    }

    /// A boolean config value: true/yes/on/1 or false/no/off/0 (any case); `fallback` when
    /// absent; throws Fatal naming the key otherwise.
    bool config_bool(std::string_view key, bool fallback) const {
        auto v = config(key);
        if (!v) return fallback;
        const std::string s = detail::lower(*v);
        if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
        if (s == "false" || s == "no" || s == "off" || s == "0") return false;
        throw Fatal("config key '" + std::string(key) + "' is '" + std::string(*v) +
                    "', not a boolean: write true or false");
    }
    /// A duration in milliseconds: a number with a unit (500ms, 2s, 5m, 1h; a bare number is
    /// milliseconds); `fallback` when absent; throws Fatal naming the key otherwise.
    int64_t config_duration_ms(std::string_view key, int64_t fallback) const {
        auto v = config(key);
        if (!v) return fallback;
        static const std::pair<const char *, int64_t> units[] = {
            {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"", 1}};
        if (auto n = detail::number_with_unit(*v, units)) return *n;
        throw Fatal("config key '" + std::string(key) + "' is '" + std::string(*v) +
                    "', not a duration: write a whole number with ms, s, m or h, e.g. 500ms");
    }
    /// A size in bytes: a number with an optional unit (B, KiB, MiB, GiB, or k/M/G for the
    /// same powers of 1024); `fallback` when absent; throws Fatal naming the key otherwise.
    int64_t config_size_bytes(std::string_view key, int64_t fallback) const {
        auto v = config(key);
        if (!v) return fallback;
        static const std::pair<const char *, int64_t> units[] = {
            {"kib", 1ll << 10}, {"mib", 1ll << 20}, {"gib", 1ll << 30}, {"k", 1ll << 10},
            {"m", 1ll << 20},   {"g", 1ll << 30},   {"b", 1},           {"", 1}};
        if (auto n = detail::number_with_unit(detail::lower(*v), units)) return *n;
        throw Fatal("config key '" + std::string(key) + "' is '" + std::string(*v) +
                    "', not a size: write a whole number with B, KiB, MiB or GiB, e.g. 64MiB");
    }
    /// A comma-separated list (items trimmed, empty items dropped); `fallback` when absent.
    std::vector<std::string> config_list(std::string_view key,
                                         std::vector<std::string> fallback = {}) const {
        auto v = config(key);
        if (!v) return fallback;
        std::vector<std::string> out;
        std::string_view rest = *v;
        while (!rest.empty()) {
            const std::size_t comma = rest.find(',');
            std::string_view item = rest.substr(0, comma);
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
            while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
                item.remove_prefix(1);
            while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
                item.remove_suffix(1);
            if (!item.empty()) out.emplace_back(item);
        }
        return out;
    }

    /// Adds `value` to the counter `name`.
    void counter(std::string_view name, double value) const {
        metric(name, SLUICE_METRIC_COUNTER, value);
    }
    /// Sets the gauge `name` to `value`.
    void gauge(std::string_view name, double value) const {
        metric(name, SLUICE_METRIC_GAUGE, value);
    }

    /// Passes a record downstream unchanged. Only inside process, batch thread.
    void emit(const Record &record) {
        sluice_record_t r = record.raw();
        r.struct_size = sizeof r;
        call_emit(r);
    }
    /// Passes a new or changed record downstream; the host copies it. Only inside
    /// process, batch thread.
    void emit(const RecordData &record) {
        topic_scratch_.assign(record.topic);
        sluice_record_t r;
        std::memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        r.topic = topic_scratch_.c_str();
        r.partition = record.partition;
        r.offset = record.offset;
        r.timestamp_ms = record.timestamp;
        r.timestamp_type = static_cast<int32_t>(record.timestamp_type);
        if (record.key) {
            r.key = detail::non_null(*record.key);
            r.key_len = record.key->size();
        }
        if (record.value) {
            r.value = detail::non_null(*record.value);
            r.value_len = record.value->size();
        }
        // Header names must be NUL-terminated: copy them into reused scratch strings.
        header_scratch_.clear();
        if (name_scratch_.size() < record.headers.size()) {
            name_scratch_.resize(record.headers.size());
        }
        for (std::size_t i = 0; i < record.headers.size(); ++i) {
            const Header &h = record.headers[i];
            name_scratch_[i].assign(h.name);
            sluice_header_t ch;
            std::memset(&ch, 0, sizeof ch);
            ch.struct_size = sizeof ch;
            ch.name = name_scratch_[i].c_str();
            if (h.value) {
                ch.value = detail::non_null(*h.value);
                ch.value_len = h.value->size();
            }
            header_scratch_.push_back(ch);
        }
        r.headers = header_scratch_.empty() ? nullptr : header_scratch_.data();
        r.header_count = header_scratch_.size();
        r.header_stride = sizeof(sluice_header_t);
        call_emit(r);
    }

    /// The raw table and context, for calling a host function added after this header.
    const sluice_host_api_t &api() const { return api_; }
    sluice_host_ctx_t *ctx() const { return ctx_; }

  private:
    void metric(std::string_view name, sluice_metric_kind_t kind, double value) const {
        if (api_.metric == nullptr) return;
        std::string n(name);
        api_.metric(ctx_, n.c_str(), static_cast<int32_t>(kind), value);
    }
    void call_emit(const sluice_record_t &r) {
        if (api_.emit == nullptr) throw Fatal("this host offers no emit function");
        int32_t rc = api_.emit(ctx_, &r);
        if (rc != SLUICE_OK) {
            throw Error(
                rc == SLUICE_RETRY || rc == SLUICE_SKIP ? static_cast<Status>(rc) : Status::fatal,
                "the host refused an emitted record (emit called outside process?)");
        }
    }

    sluice_host_api_t api_;
    sluice_host_ctx_t *ctx_;
    std::string topic_scratch_;
    std::vector<std::string> name_scratch_;
    std::vector<sluice_header_t> header_scratch_;
};

namespace detail {

// Hook detection. The expressions are the same for C++20 (requires-expression) and
// C++17 (void_t); only declval appears, so one macro serves both.
#if SLUICE_SDK_CONCEPTS
#define SLUICE_SDK_DETECT(trait, ...)        \
    template <class T>                       \
    inline constexpr bool trait = requires { \
        __VA_ARGS__;                         \
    };
#else
#define SLUICE_SDK_DETECT(trait, ...)                                               \
    template <class T, class = void>                                                \
    struct trait##_impl : std::false_type {};                                       \
    template <class T>                                                              \
    struct trait##_impl<T, std::void_t<decltype(__VA_ARGS__)>> : std::true_type {}; \
    template <class T>                                                              \
    inline constexpr bool trait = trait##_impl<T>::value;
#endif

SLUICE_SDK_DETECT(has_process, std::declval<T &>().process(std::declval<const Batch &>()))
SLUICE_SDK_DETECT(has_partitions_assigned, std::declval<T &>().partitions_assigned(
                                               std::declval<Span<const TopicPartition>>()))
SLUICE_SDK_DETECT(has_partitions_revoked, std::declval<T &>().partitions_revoked(
                                              std::declval<Span<const TopicPartition>>()))
SLUICE_SDK_DETECT(has_flush, std::declval<T &>().flush(std::declval<const Batch &>()))
SLUICE_SDK_DETECT(has_snapshot_state,
                  std::declval<T &>().snapshot_state(std::declval<StateWriter &>()))
SLUICE_SDK_DETECT(has_restore_state,
                  std::declval<T &>().restore_state(std::declval<std::string_view>()))
SLUICE_SDK_DETECT(has_config_keys, T::config_keys())
SLUICE_SDK_DETECT(has_resume_offsets,
                  std::declval<T &>().resume_offsets(std::declval<Span<const TopicPartition>>(),
                                                     std::declval<Span<int64_t>>()))
#undef SLUICE_SDK_DETECT

/// Calls f(); a void result means ok.
template <class F>
Status as_status(F &&f) {
    using R = decltype(f());
    if constexpr (std::is_void_v<R>) {
        f();
        return Status::ok;
    } else {
        static_assert(std::is_same_v<R, Status>, "plugin hooks return sluice::Status or void");
        return f();
    }
}

/// Runs one plugin call; turns every exception into a status plus a message in the host's
/// buffer, and a bare non-ok status into a generic message.
template <class F>
int32_t guarded(const char *what, char *err, std::size_t err_size, F &&f) noexcept {
    if (err != nullptr && err_size > 0) err[0] = '\0';
    try {
        Status s = as_status(f);
        if (s != Status::ok && err != nullptr && err_size > 0 && err[0] == '\0') {
            write_error(err, err_size,
                        std::string(what) + " returned " + to_string(s) + " without a message");
        }
        return static_cast<int32_t>(s);
    } catch (const Error &e) {
        write_error(err, err_size, e.what());
        return e.status() == Status::ok ? SLUICE_FATAL : static_cast<int32_t>(e.status());
    } catch (const std::exception &e) {
        write_error(err, err_size, e.what());
        return SLUICE_FATAL;
    } catch (...) {
        write_error(err, err_size, std::string(what) + " threw an exception of unknown type");
        return SLUICE_FATAL;
    }
}

template <class T>
T construct(Host &host) {
    if constexpr (std::is_constructible_v<T, Host &>) {
        return T(host);
    } else {
        static_assert(std::is_default_constructible_v<T>,
                      "a plugin class needs a constructor taking sluice::Host& or a default one");
        return T();
    }
}

/// What the host's void* instance points to: the Host first, so it outlives the plugin.
template <class T>
struct Instance {
    Host host;
    T plugin;
    Instance(const sluice_host_api_t *api, sluice_host_ctx_t *ctx)
        : host(api, ctx), plugin(construct<T>(host)) {}
};

inline std::vector<TopicPartition> topic_partitions(const sluice_topic_partition_t *base,
                                                    std::size_t count, std::size_t stride) {
    std::vector<TopicPartition> out;
    if (base == nullptr) return out;
    out.reserve(count);
    for (TopicPartition tp :
         detail::StridedRange<sluice_topic_partition_t, TopicPartition>(base, count, stride)) {
        out.push_back(tp);
    }
    return out;
}

/// The C functions of the descriptor, one set per plugin class.
template <class T>
struct Trampolines {
    static T &plugin(void *instance) { return static_cast<Instance<T> *>(instance)->plugin; }

    /// Thread: control thread (a loader thread during hot reload).
    static int32_t create(const sluice_host_api_t *api, sluice_host_ctx_t *ctx, void **instance,
                          char *err, std::size_t err_size) noexcept {
        if (instance == nullptr) {
            write_error(err, err_size, "create: the host passed no instance pointer");
            return SLUICE_FATAL;
        }
        *instance = nullptr;
        return guarded("create", err, err_size, [&] { *instance = new Instance<T>(api, ctx); });
    }

    /// Thread: control thread, after the last call of any other function.
    static void destroy(void *instance) noexcept { delete static_cast<Instance<T> *>(instance); }

    /// Thread: batch thread.
    static int32_t process_batch(void *instance, const sluice_batch_t *batch, char *err,
                                 std::size_t err_size) noexcept {
        return guarded("process", err, err_size, [&] {
            const Batch b(batch);
            return plugin(instance).process(b);
        });
    }

    /// Thread: batch thread, between batches.
    static int32_t partitions_assigned(void *instance, const sluice_topic_partition_t *parts,
                                       std::size_t count, std::size_t stride, char *err,
                                       std::size_t err_size) noexcept {
        return guarded("partitions_assigned", err, err_size, [&] {
            auto tps = topic_partitions(parts, count, stride);
            return plugin(instance).partitions_assigned(
                Span<const TopicPartition>(tps.data(), tps.size()));
        });
    }

    /// Thread: batch thread, between batches.
    static int32_t partitions_revoked(void *instance, const sluice_topic_partition_t *parts,
                                      std::size_t count, std::size_t stride, char *err,
                                      std::size_t err_size) noexcept {
        return guarded("partitions_revoked", err, err_size, [&] {
            auto tps = topic_partitions(parts, count, stride);
            return plugin(instance).partitions_revoked(
                Span<const TopicPartition>(tps.data(), tps.size()));
        });
    }

    /// Thread: batch thread, before the host commits `batch`.
    static int32_t flush(void *instance, const sluice_batch_t *batch, char *err,
                         std::size_t err_size) noexcept {
        return guarded("flush", err, err_size, [&] {
            const Batch b(batch);
            return plugin(instance).flush(b);
        });
    }

    /// Thread: batch thread (hot reload hand-over).
    static int32_t snapshot_state(void *instance, sluice_state_writer_fn write, void *sink,
                                  char *err, std::size_t err_size) noexcept {
        return guarded("snapshot_state", err, err_size, [&] {
            StateWriter w(write, sink);
            return plugin(instance).snapshot_state(w);
        });
    }

    /// Thread: batch thread, at the swap of a hot reload.
    static int32_t restore_state(void *instance, const void *data, std::size_t len, char *err,
                                 std::size_t err_size) noexcept {
        return guarded("restore_state", err, err_size, [&] {
            std::string_view state =
                data ? std::string_view(static_cast<const char *>(data), len) : std::string_view();
            return plugin(instance).restore_state(state);
        });
    }

    /// Thread: control thread, before the first batch.
    static int32_t resume_offsets(void *instance, const sluice_topic_partition_t *parts,
                                  std::size_t count, std::size_t stride, int64_t *offsets,
                                  char *err, std::size_t err_size) noexcept {
        return guarded("resume_offsets", err, err_size, [&] {
            if (offsets == nullptr && count > 0) {
                throw Fatal("resume_offsets: the host passed no offsets array");
            }
            for (std::size_t i = 0; i < count; ++i) offsets[i] = -1;
            auto tps = topic_partitions(parts, count, stride);
            return plugin(instance).resume_offsets(
                Span<const TopicPartition>(tps.data(), tps.size()), Span<int64_t>(offsets, count));
        });
    }
};

/// The C array of T::config_keys(), built once and kept for the life of the library (the
/// descriptor points into it). Thread: the entry function's, once.
template <class T>
struct ConfigKeyTable {
    std::vector<ConfigKey> keys;
    std::vector<sluice_config_key_t> c;

    ConfigKeyTable() {
        for (const ConfigKey &k : T::config_keys()) keys.push_back(k);
        c.reserve(keys.size());
        for (const ConfigKey &k : keys) {
            sluice_config_key_t ck;
            std::memset(&ck, 0, sizeof ck);
            ck.struct_size = sizeof ck;
            ck.name = k.name.c_str();
            ck.type = static_cast<int32_t>(k.type);
            ck.default_value = k.default_value ? k.default_value->c_str() : nullptr;
            ck.description = k.description.c_str();
            c.push_back(ck);
        }
    }
};

/// Builds the static descriptor of plugin class T: optional pointers only for the hooks
/// T has. Thread: the entry function's (control or loader thread), once.
template <class T>
sluice_plugin_t make_descriptor(const char *name, const char *version, const char *description,
                                uint32_t flags) noexcept {
    static_assert(has_process<T>,
                  "a Sluice plugin class needs `sluice::Status process(const sluice::Batch &)`");
    sluice_plugin_t d;
    std::memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.abi_major = SLUICE_ABI_MAJOR;
    d.abi_minor = SLUICE_ABI_MINOR;
    d.name = name;
    d.version = version;
    d.description = description;
    d.flags = flags;
    d.create = &Trampolines<T>::create;
    d.destroy = &Trampolines<T>::destroy;
    d.process_batch = &Trampolines<T>::process_batch;
    if constexpr (has_partitions_assigned<T>) {
        d.partitions_assigned = &Trampolines<T>::partitions_assigned;
    }
    if constexpr (has_partitions_revoked<T>) {
        d.partitions_revoked = &Trampolines<T>::partitions_revoked;
    }
    if constexpr (has_flush<T>) d.flush = &Trampolines<T>::flush;
    if constexpr (has_snapshot_state<T>) d.snapshot_state = &Trampolines<T>::snapshot_state;
    if constexpr (has_restore_state<T>) d.restore_state = &Trampolines<T>::restore_state;
    if constexpr (has_resume_offsets<T>) d.resume_offsets = &Trampolines<T>::resume_offsets;
    if constexpr (has_config_keys<T>) {
        try {
            static const ConfigKeyTable<T> table;
            // Non-NULL even when empty: an empty list declares "no keys".
            static const sluice_config_key_t none{};
            d.config_keys = table.c.empty() ? &none : table.c.data();
            d.config_key_count = table.c.size();
            d.config_key_stride = sizeof(sluice_config_key_t);
        } catch (...) {
            // Out of memory at load: leave the keys undeclared (checked by the plugin alone).
        }
    }
    return d;
}

}  // namespace detail
}  // namespace sdk
}  // namespace sluice

/// Exports plugin class `Class` as the library's one entry symbol (sluice_plugin_entry).
/// Use once per shared library, at namespace scope, with or without a `;` after it (it ends
/// in a function body, so a `;` is an empty declaration). The descriptor is returned
/// whatever the host's version: the host compares versions and refuses with a message naming
/// both. Thread: control or loader thread, once per loaded library.
#define SLUICE_PLUGIN(Class, name, version, description, flags)                                    \
    extern "C" SLUICE_EXPORT const sluice_plugin_t *sluice_plugin_entry(uint32_t host_abi_major,   \
                                                                        uint32_t host_abi_minor) { \
        static_assert(std::is_same_v<decltype(&sluice_plugin_entry), sluice_plugin_entry_fn>,      \
                      "sluice_plugin_entry does not match sluice_plugin_entry_fn");                \
        (void)host_abi_major;                                                                      \
        (void)host_abi_minor;                                                                      \
        static const sluice_plugin_t descriptor =                                                  \
            ::sluice::detail::make_descriptor<Class>(name, version, description, flags);           \
        return &descriptor;                                                                        \
    }
