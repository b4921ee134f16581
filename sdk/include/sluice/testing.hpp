#pragma once
// sluice/testing.hpp: a test kit for Sluice plugins, header-only. It loads the plugin's built .so
// through the C ABI of sluice.h the way the host does (dlopen, sluice_plugin_entry, the same ABI
// negotiation and descriptor checks, the declared config keys), plays the host's side of one
// instance in memory, and captures what the plugin logs, records as metrics and emits. It uses
// only sluice.h, the C++17 standard library and dlopen (link ${CMAKE_DL_LIBS}): no library of the
// host, and no test framework (use it with GoogleTest or with plain checks).
//
//     namespace st = sluice::testing;
//     st::Plugin plugin("build/upper.so");              // throws st::LoadError like the host
//     st::Instance inst(plugin, {{"suffix", "!"}});     // the [plugin.upper] section
//     inst.create_ok();                                 // throws st::CallError on failure
//     st::Batch batch(1);                               // batch id 1
//     batch.add("events", 0, "hello").add("events", 0, std::nullopt);  // offsets 0 and 1
//     st::Result r = inst.process(batch);               // status + message, like the host's
//     // r.ok(), inst.emitted(), inst.logs(), inst.metric("records"), inst.logged("text")
//
// Batches: st::Record (topic, partition, offset, timestamp, key, value, headers; std::nullopt is
// a null key/value/header value, "" an empty one), st::Range; Batch::add appends a record at the
// next offset of its partition and grows that partition's range; Batch::replay() sets
// SLUICE_BATCH_REPLAY. The C views are built with padded strides, so a plugin that ignores a
// stride fails here rather than on a newer host.
//
// Calls: create, process, flush, assign/revoke (partitions), snapshot/restore (hot reload
// hand-over; hand_over(old, new) does both), resume_offsets, destroy (also in the destructor).
// Each returns st::Result: the plugin's status (an unknown code is SLUICE_FATAL, as in the host)
// and its message.
//
// What differs from the real host, on purpose: calls run on the test's thread; the kit calls
// process for an empty batch too (the host only does so for SLUICE_PLUGIN_WANTS_EMPTY_BATCHES:
// see Plugin::wants_empty_batches); it does not check the file before dlopen (the host refuses a
// plugin file or directory writable by group or others, and a truncated ELF file).
//
// Thread: one test thread per Plugin and Instance.

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice.h"

namespace sluice::testing {

/// A plugin file the host would refuse to load: one line in the host's words, naming the file,
/// why and the fix.
struct LoadError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
/// A call that had to succeed (create_ok, process_ok, ...) did not.
struct CallError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// One record header, owned. value: std::nullopt = a null value.
struct Header {
    std::string name;
    std::optional<std::string> value;
};
inline bool operator==(const Header &a, const Header &b) {
    return a.name == b.name && a.value == b.value;
}

/// One record, owned: what a test puts in a batch, or what a plugin emitted. An aggregate, so
/// C++20 code can write Record{.topic = "events", .offset = 3, .value = "x"}.
struct Record {
    std::string topic = "t";
    int32_t partition = 0;
    int64_t offset = 0;
    int64_t timestamp_ms = -1;                                ///< -1: not available
    int32_t timestamp_type = SLUICE_TIMESTAMP_NOT_AVAILABLE;  ///< sluice_timestamp_type_t
    std::optional<std::string> key = std::nullopt;            ///< nullopt: null key
    std::optional<std::string> value = std::nullopt;          ///< nullopt: null value
    std::vector<Header> headers = {};
};
inline bool operator==(const Record &a, const Record &b) {
    return a.topic == b.topic && a.partition == b.partition && a.offset == b.offset &&
           a.timestamp_ms == b.timestamp_ms && a.timestamp_type == b.timestamp_type &&
           a.key == b.key && a.value == b.value && a.headers == b.headers;
}
inline bool operator!=(const Record &a, const Record &b) {
    return !(a == b);
}
inline std::ostream &operator<<(std::ostream &out, const Record &r) {
    auto bytes = [&](const std::optional<std::string> &v) -> std::ostream & {
        return v ? out << '"' << *v << '"' : out << "null";
    };
    out << r.topic << '/' << r.partition << '@' << r.offset << " key=";
    bytes(r.key) << " value=";
    bytes(r.value);
    if (r.timestamp_ms >= 0)
        out << " ts=" << r.timestamp_ms << " (type " << r.timestamp_type << ')';
    for (const Header &h : r.headers) {
        out << " header " << h.name << '=';
        bytes(h.value);
    }
    return out;
}

/// What a batch covers in one partition: offsets [from_offset, until_offset).
struct Range {
    std::string topic = "t";
    int32_t partition = 0;
    int64_t from_offset = 0;
    int64_t until_offset = 0;
};

/// A topic-partition for assign / revoke / resume_offsets.
struct Partition {
    std::string topic;
    int32_t partition = 0;
};

namespace detail {

/// Array elements are padded by this much, so each stride differs from sizeof.
constexpr std::size_t kPad = 24;
template <class T>
struct Padded {
    T value;
    unsigned char pad[kPad];
};

inline std::optional<std::string> copy_bytes(const void *p, std::size_t n) {
    if (p == nullptr) return std::nullopt;
    return std::string(static_cast<const char *>(p), n);
}
inline const char *non_null(const std::string &s) {
    return s.data();
}

/// Reads a struct written by a peer of any ABI minor: min(struct_size, sizeof) bytes, zero-fill.
template <class T>
T read_struct(const void *p) {
    T out;
    std::memset(&out, 0, sizeof out);
    uint32_t size = 0;
    std::memcpy(&size, p, sizeof size);
    std::memcpy(&out, p, std::min<std::size_t>(size, sizeof out));
    return out;
}

inline std::string status_name(int32_t status) {
    switch (status) {
        case SLUICE_OK:
            return "SLUICE_OK";
        case SLUICE_RETRY:
            return "SLUICE_RETRY";
        case SLUICE_SKIP:
            return "SLUICE_SKIP";
        case SLUICE_FATAL:
            return "SLUICE_FATAL";
        default:
            return "status " + std::to_string(status);
    }
}

/// The key a host reserves in every [plugin.NAME] section (its error policy).
inline bool is_host_key(std::string_view key) {
    // The error policy's keys and isolation's (host/config/plugin_keys.cpp).
    return key == "on-error" || key == "max-retries" || key == "retry-backoff" ||
           key == "dead-letter-topic" || key == "isolation" || key == "batch-timeout" ||
           key == "memory-limit" || key == "max-crashes" || key == "forbid-exec";
}

/// The candidate `word` is most likely a slip of, or "" (the host's "did you mean" rule: edit
/// distance with a swap of neighbours as one edit, case-insensitive, '_' as '-', at most a third
/// of the word, 1 to 3 edits).
inline std::string nearest(std::string_view word, const std::vector<std::string> &candidates) {
    const auto norm = [](std::string_view text) {
        std::string out(text);
        for (char &c : out) {
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            if (c == '_') c = '-';
        }
        return out;
    };
    const std::string w = norm(word);
    std::string best;
    std::size_t best_distance = static_cast<std::size_t>(-1);
    for (const std::string &candidate : candidates) {
        const std::string c = norm(candidate);
        std::vector<std::size_t> before(c.size() + 1), previous(c.size() + 1), row(c.size() + 1);
        for (std::size_t j = 0; j <= c.size(); ++j) row[j] = j;
        for (std::size_t i = 1; i <= w.size(); ++i) {
            before.swap(previous);
            previous.swap(row);
            row[0] = i;
            for (std::size_t j = 1; j <= c.size(); ++j) {
                row[j] = std::min({previous[j] + 1, row[j - 1] + 1,
                                   previous[j - 1] + (w[i - 1] == c[j - 1] ? 0 : 1)});
                if (i > 1 && j > 1 && w[i - 1] == c[j - 2] && w[i - 2] == c[j - 1])
                    row[j] = std::min(row[j], before[j - 2] + 1);
            }
        }
        if (row[c.size()] < best_distance) {
            best_distance = row[c.size()];
            best = candidate;
        }
    }
    const std::size_t allowed = std::clamp<std::size_t>(w.size() / 3, 1, 3);
    return best_distance <= allowed ? best : std::string();
}

}  // namespace detail

/// A micro-batch to feed a plugin: id, time, flags, ranges and records, plus the C views over
/// them (rebuilt by every view()).
class Batch {
  public:
    explicit Batch(int64_t id = 0, int64_t time_ms = 0) : id_(id), time_ms_(time_ms) {}

    Batch &id(int64_t id) {
        id_ = id;
        return *this;
    }
    Batch &time_ms(int64_t t) {
        time_ms_ = t;
        return *this;
    }
    /// Marks the batch as a re-delivery (SLUICE_BATCH_REPLAY), as after a crash.
    Batch &replay(bool on = true) {
        flags_ = on ? (flags_ | SLUICE_BATCH_REPLAY) : (flags_ & ~SLUICE_BATCH_REPLAY);
        return *this;
    }
    /// Adds a range explicitly (for a range with fewer records than offsets, or none).
    Batch &range(std::string topic, int32_t partition, int64_t from, int64_t until) {
        ranges_.push_back(Range{std::move(topic), partition, from, until});
        return *this;
    }
    /// Appends `r` as it is; extends (or adds) its partition's range to cover its offset.
    Batch &add(Record r) {
        Range &range = range_of(r.topic, r.partition, r.offset);
        range.from_offset = std::min(range.from_offset, r.offset);
        range.until_offset = std::max(range.until_offset, r.offset + 1);
        records_.push_back(std::move(r));
        return *this;
    }
    /// Appends a record at the next offset of topic/partition (its range's end, 0 at first).
    Batch &add(const std::string &topic, int32_t partition, std::optional<std::string> value,
               std::optional<std::string> key = std::nullopt) {
        Record r;
        r.topic = topic;
        r.partition = partition;
        r.offset = range_of(topic, partition, 0).until_offset;
        r.key = std::move(key);
        r.value = std::move(value);
        return add(std::move(r));
    }

    int64_t id() const { return id_; }
    int64_t time_ms() const { return time_ms_; }
    uint32_t flags() const { return flags_; }
    bool is_replay() const { return (flags_ & SLUICE_BATCH_REPLAY) != 0; }
    std::vector<Record> &records() { return records_; }
    const std::vector<Record> &records() const { return records_; }
    std::vector<Range> &ranges() { return ranges_; }
    const std::vector<Range> &ranges() const { return ranges_; }

    /// The C view of the batch, valid until the next view() or the batch's destruction.
    const sluice_batch_t &view() {
        c_ranges_.assign(ranges_.size(), {});
        for (std::size_t i = 0; i < ranges_.size(); ++i) {
            sluice_offset_range_t &r = c_ranges_[i].value;
            r.struct_size = sizeof r;
            r.topic = ranges_[i].topic.c_str();
            r.partition = ranges_[i].partition;
            r.from_offset = ranges_[i].from_offset;
            r.until_offset = ranges_[i].until_offset;
        }
        c_headers_.assign(records_.size(), {});
        c_records_.assign(records_.size(), {});
        for (std::size_t i = 0; i < records_.size(); ++i) {
            const Record &in = records_[i];
            auto &hs = c_headers_[i];
            hs.assign(in.headers.size(), {});
            for (std::size_t j = 0; j < in.headers.size(); ++j) {
                sluice_header_t &h = hs[j].value;
                h.struct_size = sizeof h;
                h.name = in.headers[j].name.c_str();
                if (in.headers[j].value) {
                    h.value = detail::non_null(*in.headers[j].value);
                    h.value_len = in.headers[j].value->size();
                }
            }
            sluice_record_t &r = c_records_[i].value;
            r.struct_size = sizeof r;
            r.topic = in.topic.c_str();
            r.partition = in.partition;
            r.offset = in.offset;
            r.timestamp_ms = in.timestamp_ms;
            r.timestamp_type = in.timestamp_type;
            if (in.key) {
                r.key = detail::non_null(*in.key);
                r.key_len = in.key->size();
            }
            if (in.value) {
                r.value = detail::non_null(*in.value);
                r.value_len = in.value->size();
            }
            r.headers = hs.empty() ? nullptr : &hs[0].value;
            r.header_count = hs.size();
            r.header_stride = sizeof(detail::Padded<sluice_header_t>);
        }
        std::memset(&batch_, 0, sizeof batch_);
        batch_.struct_size = sizeof batch_;
        batch_.batch_id = id_;
        batch_.batch_time_ms = time_ms_;
        batch_.flags = flags_;
        batch_.ranges = c_ranges_.empty() ? nullptr : &c_ranges_[0].value;
        batch_.range_count = c_ranges_.size();
        batch_.range_stride = sizeof(detail::Padded<sluice_offset_range_t>);
        batch_.records = c_records_.empty() ? nullptr : &c_records_[0].value;
        batch_.record_count = c_records_.size();
        batch_.record_stride = sizeof(detail::Padded<sluice_record_t>);
        return batch_;
    }

  private:
    Range &range_of(const std::string &topic, int32_t partition, int64_t first) {
        for (Range &r : ranges_)
            if (r.topic == topic && r.partition == partition) return r;
        ranges_.push_back(Range{topic, partition, first, first});
        return ranges_.back();
    }

    int64_t id_;
    int64_t time_ms_;
    uint32_t flags_ = 0;
    std::vector<Range> ranges_;
    std::vector<Record> records_;
    std::vector<detail::Padded<sluice_offset_range_t>> c_ranges_;
    std::vector<std::vector<detail::Padded<sluice_header_t>>> c_headers_;
    std::vector<detail::Padded<sluice_record_t>> c_records_;
    sluice_batch_t batch_{};
};

/// A key the plugin declares for its [plugin.NAME] section (ABI 1.1).
struct DeclaredKey {
    std::string name;
    int32_t type = SLUICE_CONFIG_STRING;  ///< sluice_config_type_t
    std::optional<std::string> default_value;
    std::string description;
};

/// A plugin library, loaded and negotiated with the contract of the host's loader
/// (host/plugins/plugin_loader.cpp): dlopen(RTLD_NOW | RTLD_LOCAL), the entry symbol called with
/// this header's ABI version, the descriptor refused when NULL, of another major, of a newer
/// minor, or smaller than ABI 1.0's required part, then copied by its struct_size; create,
/// destroy and process_batch required; declared keys copied (a key without a name, or one of
/// the host's own, is refused). dlclose'd by the destructor: destroy every Instance first.
class Plugin {
  public:
    explicit Plugin(const std::string &path) : path_(path) {
        dlerror();
        handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle_ == nullptr) {
            const char *why = dlerror();
            fail(std::string("cannot be loaded: ") + (why ? why : "unknown dlopen error"),
                 "check its dependencies with ldd and rebuild it against this SDK");
        }
        void *symbol = dlsym(handle_, SLUICE_PLUGIN_ENTRY_SYMBOL);
        if (symbol == nullptr) {
            close();
            fail(std::string("exports no ") + SLUICE_PLUGIN_ENTRY_SYMBOL +
                     " symbol, so it is not a Sluice plugin",
                 "in C++ add one SLUICE_PLUGIN(Class, \"name\", \"version\", \"description\", "
                 "flags) line (sluice/plugin.hpp), in C export sluice_plugin_entry with "
                 "SLUICE_EXPORT, and build it with sluice_add_plugin");
        }
        sluice_plugin_entry_fn entry = nullptr;
        std::memcpy(&entry, &symbol, sizeof entry);
        negotiate(entry(SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR));
    }
    ~Plugin() { close(); }
    Plugin(const Plugin &) = delete;
    Plugin &operator=(const Plugin &) = delete;

    /// The kit's copy of the descriptor (members beyond the plugin's struct_size are zero).
    const sluice_plugin_t &descriptor() const { return d_; }
    const std::string &path() const { return path_; }
    std::string name() const { return d_.name ? d_.name : ""; }
    std::string version() const { return d_.version ? d_.version : ""; }
    std::string description() const { return d_.description ? d_.description : ""; }
    uint32_t abi_major() const { return d_.abi_major; }
    uint32_t abi_minor() const { return d_.abi_minor; }
    bool is_transform() const { return (d_.flags & SLUICE_PLUGIN_TRANSFORM) != 0; }
    bool wants_empty_batches() const { return (d_.flags & SLUICE_PLUGIN_WANTS_EMPTY_BATCHES) != 0; }
    /// The keys it declares, or nullopt when it does not declare them (any key is accepted).
    const std::optional<std::vector<DeclaredKey>> &config_keys() const { return keys_; }
    /// Which optional hooks it has (a NULL pointer is an absent hook).
    bool has_flush() const { return d_.flush != nullptr; }
    bool has_partition_hooks() const {
        return d_.partitions_assigned != nullptr || d_.partitions_revoked != nullptr;
    }
    /// The host hands state over on a hot reload only when both hooks are present.
    bool has_state_hooks() const {
        return d_.snapshot_state != nullptr && d_.restore_state != nullptr;
    }
    bool has_resume_offsets() const { return d_.resume_offsets != nullptr; }

  private:
    /// The host's one-line format, "plugin 'NAME' (PATH): PROBLEM; WAY OUT", NAME being the
    /// file's name without ".so" (the host's --plugin NAME).
    [[noreturn]] void fail(const std::string &why, const std::string &fix) {
        std::string name = path_.substr(path_.find_last_of('/') + 1);
        if (name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0)
            name.resize(name.size() - 3);
        throw LoadError("plugin '" + name + "' (" + path_ + "): " + why + "; " + fix);
    }
    void close() {
        if (handle_ != nullptr) dlclose(handle_);
        handle_ = nullptr;
    }
    void refuse(const std::string &why, const std::string &fix) {
        close();
        fail(why, fix);
    }

    void negotiate(const sluice_plugin_t *offered) {
        const std::string host =
            std::to_string(SLUICE_ABI_MAJOR) + "." + std::to_string(SLUICE_ABI_MINOR);
        constexpr std::size_t header_size = offsetof(sluice_plugin_t, name);
        constexpr std::size_t required_size =
            offsetof(sluice_plugin_t, process_batch) + sizeof(sluice_plugin_t::process_batch);
        if (offered == nullptr)
            refuse(
                "the plugin refused this host (its entry returned no descriptor for Sluice ABI " +
                    host + ")",
                "use a build of the plugin that supports ABI " + host);
        if (offered->struct_size < header_size)
            refuse("its descriptor has struct_size " + std::to_string(offered->struct_size) +
                       ", too small to hold an ABI version",
                   "rebuild the plugin against this SDK");
        const std::string theirs =
            std::to_string(offered->abi_major) + "." + std::to_string(offered->abi_minor);
        if (offered->abi_major != SLUICE_ABI_MAJOR)
            refuse("built for Sluice ABI " + theirs + ", this host speaks " + host,
                   "rebuild the plugin against this SDK");
        if (offered->abi_minor > SLUICE_ABI_MINOR)
            refuse("built for Sluice ABI " + theirs + ", this host speaks " + host,
                   "use a newer sluice host or rebuild the plugin against this SDK");
        if (offered->struct_size < required_size)
            refuse("its descriptor has struct_size " + std::to_string(offered->struct_size) +
                       ", less than the " + std::to_string(required_size) +
                       " bytes ABI 1.0 requires",
                   "rebuild the plugin against this SDK");
        d_ = detail::read_struct<sluice_plugin_t>(offered);
        std::string missing;
        if (d_.create == nullptr) missing += " create";
        if (d_.destroy == nullptr) missing += " destroy";
        if (d_.process_batch == nullptr) missing += " process_batch";
        if (!missing.empty())
            refuse("its descriptor lacks required functions:" + missing,
                   "implement them (create, destroy and process_batch are required)");
        if (d_.config_keys == nullptr) return;
        const std::size_t stride =
            d_.config_key_stride != 0 ? d_.config_key_stride : sizeof(sluice_config_key_t);
        std::vector<DeclaredKey> keys;
        const auto *base = reinterpret_cast<const unsigned char *>(d_.config_keys);
        for (std::size_t i = 0; i < d_.config_key_count; ++i) {
            const auto k = detail::read_struct<sluice_config_key_t>(base + i * stride);
            if (k.name == nullptr || *k.name == '\0')
                refuse("its declared config key #" + std::to_string(i + 1) + " has no name",
                       "fix config_keys in the plugin and rebuild it");
            if (detail::is_host_key(k.name))
                refuse(std::string("it declares the config key '") + k.name +
                           "', which is the host's own (error policy, isolation)",
                       "rename the plugin's key and rebuild it");
            DeclaredKey key;
            key.name = k.name;
            key.type = k.type;
            if (k.default_value != nullptr) key.default_value = std::string(k.default_value);
            if (k.description != nullptr) key.description = k.description;
            keys.push_back(std::move(key));
        }
        keys_ = std::move(keys);
    }

    std::string path_;
    void *handle_ = nullptr;
    sluice_plugin_t d_{};
    std::optional<std::vector<DeclaredKey>> keys_;
};

/// A call's outcome, as the host sees it: the status (an unknown code is SLUICE_FATAL, with
/// "(unknown status N, treated as fatal)" in the message) and the plugin's message ("F returned
/// SLUICE_X without a message" when it wrote none).
struct Result {
    int32_t status = SLUICE_OK;
    std::string message;
    bool ok() const { return status == SLUICE_OK; }
};
inline std::ostream &operator<<(std::ostream &out, const Result &r) {
    out << detail::status_name(r.status);
    if (!r.message.empty()) out << ": " << r.message;
    return out;
}

/// One log line the plugin wrote (level: sluice_log_level_t). The kit's own warnings, e.g. about
/// emit, are here too, as the host would log them, tagged "host: ".
struct LogLine {
    int32_t level = SLUICE_LOG_INFO;
    std::string message;
};

/// The host side of one plugin instance: its config section, the host API table, and what the
/// plugin logged, recorded as metrics and emitted. Lifecycle: created empty; create() creates
/// the plugin's instance; destroy() (or the destructor) destroys it. Must not outlive `plugin`.
/// Not copyable or movable: the plugin keeps a pointer to it as its host context.
class Instance {
  public:
    /// The host's error buffers are this large (PluginInstance::kErrorBufferSize).
    static constexpr std::size_t kErrorBufferSize = 2048;

    explicit Instance(const Plugin &plugin, std::map<std::string, std::string> config = {})
        : plugin_(plugin), config_(std::move(config)) {
        std::memset(&api_, 0, sizeof api_);
        api_.struct_size = sizeof api_;
        api_.abi_major = SLUICE_ABI_MAJOR;
        api_.abi_minor = SLUICE_ABI_MINOR;
        api_.log = &Instance::api_log;
        api_.config_get = &Instance::api_config_get;
        api_.metric = &Instance::api_metric;
        api_.emit = &Instance::api_emit;
    }
    ~Instance() { destroy(); }
    Instance(const Instance &) = delete;
    Instance &operator=(const Instance &) = delete;

    /// The [plugin.NAME] section: change it before create().
    std::map<std::string, std::string> &config() { return config_; }

    /// Checks the section against the declared keys as the host does (an undeclared key that is
    /// not the host's own is refused before create), then calls create.
    Result create() {
        if (instance_ != nullptr) return {SLUICE_FATAL, "create called twice on one instance"};
        if (const auto &keys = plugin_.config_keys()) {
            std::vector<std::string> names;
            for (const DeclaredKey &k : *keys) names.push_back(k.name);
            for (const auto &entry : config_) {
                if (detail::is_host_key(entry.first) ||
                    std::find(names.begin(), names.end(), entry.first) != names.end())
                    continue;
                const std::string near = detail::nearest(entry.first, names);
                return {SLUICE_FATAL,
                        "[plugin." + plugin_.name() + "] has the key '" + entry.first +
                            "', which the plugin does not declare" +
                            (near.empty() ? std::string() : " (did you mean '" + near + "'?)")};
            }
        }
        void *instance = nullptr;
        Result r = call("create", [&](char *err, std::size_t size) {
            return plugin_.descriptor().create(&api_, ctx(), &instance, err, size);
        });
        if (r.ok()) instance_ = instance;
        return r;
    }
    /// create() that must succeed: throws CallError with the plugin's message otherwise.
    Instance &create_ok() { return must(create(), "create"); }

    /// Calls process_batch. emitted() is then what this call emitted (for a transform).
    Result process(Batch &batch) {
        if (Result r = need_instance("process_batch"); !r.ok()) return r;
        emitted_.clear();
        const sluice_batch_t &view = batch.view();
        in_process_ = true;
        Result r = call("process_batch", [&](char *err, std::size_t size) {
            return plugin_.descriptor().process_batch(instance_, &view, err, size);
        });
        in_process_ = false;
        ++batches_;
        return r;
    }
    Instance &process_ok(Batch &batch) { return must(process(batch), "process_batch"); }

    /// flush (OK without a call when the plugin has no flush, as in the host).
    Result flush(Batch &batch) {
        if (plugin_.descriptor().flush == nullptr) return {};
        if (Result r = need_instance("flush"); !r.ok()) return r;
        const sluice_batch_t &view = batch.view();
        return call("flush", [&](char *err, std::size_t size) {
            return plugin_.descriptor().flush(instance_, &view, err, size);
        });
    }
    Result assign(const std::vector<Partition> &partitions) {
        return partition_call("partitions_assigned", plugin_.descriptor().partitions_assigned,
                              partitions);
    }
    Result revoke(const std::vector<Partition> &partitions) {
        return partition_call("partitions_revoked", plugin_.descriptor().partitions_revoked,
                              partitions);
    }
    /// Appends the instance's state to *out (nothing when the hook is absent).
    Result snapshot(std::string &out) {
        if (plugin_.descriptor().snapshot_state == nullptr) return {};
        if (Result r = need_instance("snapshot_state"); !r.ok()) return r;
        return call("snapshot_state", [&](char *err, std::size_t size) {
            return plugin_.descriptor().snapshot_state(instance_, &Instance::write_state, &out, err,
                                                       size);
        });
    }
    /// Gives a snapshot to this instance (OK without a call when the hook is absent).
    Result restore(std::string_view state) {
        if (plugin_.descriptor().restore_state == nullptr) return {};
        if (Result r = need_instance("restore_state"); !r.ok()) return r;
        return call("restore_state", [&](char *err, std::size_t size) {
            return plugin_.descriptor().restore_state(instance_, state.data(), state.size(), err,
                                                      size);
        });
    }
    /// offsets is resized to partitions.size() and set to -1 before the call, as the host does.
    Result resume_offsets(const std::vector<Partition> &partitions, std::vector<int64_t> &offsets) {
        offsets.assign(partitions.size(), -1);
        auto fn = plugin_.descriptor().resume_offsets;
        if (fn == nullptr) return {};
        if (Result r = need_instance("resume_offsets"); !r.ok()) return r;
        auto tps = c_partitions(partitions);
        return call("resume_offsets", [&](char *err, std::size_t size) {
            return fn(instance_, tps.empty() ? nullptr : &tps[0].value, tps.size(),
                      sizeof(detail::Padded<sluice_topic_partition_t>), offsets.data(), err, size);
        });
    }
    /// Calls destroy (once; nothing when not created).
    void destroy() {
        if (instance_ != nullptr) plugin_.descriptor().destroy(instance_);
        instance_ = nullptr;
    }
    bool created() const { return instance_ != nullptr; }
    const Plugin &plugin() const { return plugin_; }

    // ---- what the plugin did ----

    const std::vector<LogLine> &logs() const { return logs_; }
    /// True when a log line contains `text`.
    bool logged(std::string_view text) const {
        for (const LogLine &l : logs_)
            if (l.message.find(text) != std::string::npos) return true;
        return false;
    }
    /// Counters add up, gauges keep the last value (as in the host's /metrics).
    const std::map<std::string, double> &metrics() const { return metrics_; }
    /// A metric's value, or nullopt when the plugin never recorded it.
    std::optional<double> metric(const std::string &name) const {
        auto it = metrics_.find(name);
        if (it == metrics_.end()) return std::nullopt;
        return it->second;
    }
    /// The records emitted during the last process() (what the next plugin would see). A plugin
    /// that is not SLUICE_PLUGIN_TRANSFORM has its emits dropped, as in the host, with a warning
    /// in logs().
    const std::vector<Record> &emitted() const { return emitted_; }
    /// process() calls so far.
    uint64_t batches() const { return batches_; }

  private:
    sluice_host_ctx_t *ctx() { return reinterpret_cast<sluice_host_ctx_t *>(this); }
    static Instance *self(sluice_host_ctx_t *ctx) { return reinterpret_cast<Instance *>(ctx); }

    Instance &must(const Result &r, const char *what) {
        if (!r.ok()) {
            std::string text = what;
            text += " of plugin " + plugin_.name() + " failed: ";
            text += detail::status_name(r.status) + ": " + r.message;
            throw CallError(text);
        }
        return *this;
    }
    Result need_instance(const char *what) const {
        if (instance_ != nullptr) return {};
        return {SLUICE_FATAL, std::string(what) + " called before a successful create()"};
    }

    /// Runs one call with a fresh host-owned error buffer; maps its code as the host does.
    template <class F>
    Result call(const char *function, F &&f) {
        std::vector<char> err(kErrorBufferSize, '\0');
        const int32_t code = f(err.data(), err.size());
        Result r;
        if (code == SLUICE_OK) return r;
        err.back() = '\0';  // the plugin should have terminated it; do not trust that
        r.message = err.data();
        if (code == SLUICE_RETRY || code == SLUICE_SKIP || code == SLUICE_FATAL) {
            r.status = code;
            if (r.message.empty())
                r.message = std::string(function) + " returned " + detail::status_name(code) +
                            " without a message";
        } else {
            r.status = SLUICE_FATAL;
            if (r.message.empty()) r.message = std::string(function) + " failed";
            r.message += " (unknown status " + std::to_string(code) + ", treated as fatal)";
        }
        return r;
    }

    static std::vector<detail::Padded<sluice_topic_partition_t>> c_partitions(
        const std::vector<Partition> &partitions) {
        std::vector<detail::Padded<sluice_topic_partition_t>> tps(partitions.size());
        for (std::size_t i = 0; i < partitions.size(); ++i) {
            std::memset(&tps[i], 0, sizeof tps[i]);
            tps[i].value.struct_size = sizeof(sluice_topic_partition_t);
            tps[i].value.topic = partitions[i].topic.c_str();
            tps[i].value.partition = partitions[i].partition;
        }
        return tps;
    }
    template <class Fn>
    Result partition_call(const char *function, Fn fn, const std::vector<Partition> &partitions) {
        if (fn == nullptr) return {};
        if (Result r = need_instance(function); !r.ok()) return r;
        auto tps = c_partitions(partitions);
        return call(function, [&](char *err, std::size_t size) {
            return fn(instance_, tps.empty() ? nullptr : &tps[0].value, tps.size(),
                      sizeof(detail::Padded<sluice_topic_partition_t>), err, size);
        });
    }

    // ---- the host API; called from C, so none may throw ----

    static void write_state(void *sink, const void *data, std::size_t len) noexcept {
        if (data == nullptr || len == 0) return;
        try {
            static_cast<std::string *>(sink)->append(static_cast<const char *>(data), len);
        } catch (...) {
        }
    }
    static void api_log(sluice_host_ctx_t *ctx, int32_t level, const char *message) noexcept {
        try {
            self(ctx)->logs_.push_back(
                LogLine{std::clamp<int32_t>(level, SLUICE_LOG_TRACE, SLUICE_LOG_ERROR),
                        message != nullptr ? message : "(null)"});
        } catch (...) {
        }
    }
    static const char *api_config_get(sluice_host_ctx_t *ctx, const char *key) noexcept {
        if (key == nullptr) return nullptr;
        try {
            const auto &config = self(ctx)->config_;
            auto it = config.find(key);
            return it == config.end() ? nullptr : it->second.c_str();
        } catch (...) {
            return nullptr;
        }
    }
    static void api_metric(sluice_host_ctx_t *ctx, const char *name, int32_t kind,
                           double value) noexcept {
        if (name == nullptr) return;
        try {
            double &slot = self(ctx)->metrics_[name];
            slot = kind == SLUICE_METRIC_GAUGE ? value : slot + value;
        } catch (...) {
        }
    }
    static int32_t api_emit(sluice_host_ctx_t *ctx, const sluice_record_t *record) noexcept {
        Instance *inst = self(ctx);
        try {
            if (!inst->in_process_) {
                inst->host_log(SLUICE_LOG_ERROR,
                               "emit called outside process_batch; record dropped");
                return SLUICE_FATAL;
            }
            if (!inst->plugin_.is_transform()) {
                if (!inst->warned_emit_)
                    inst->host_log(SLUICE_LOG_WARN,
                                   "emits records but does not declare SLUICE_PLUGIN_TRANSFORM; "
                                   "they are dropped and the next plugin sees its input");
                inst->warned_emit_ = true;
                return SLUICE_OK;
            }
            constexpr std::size_t min_record =
                offsetof(sluice_record_t, value_len) + sizeof(size_t);
            constexpr std::size_t min_header =
                offsetof(sluice_header_t, value_len) + sizeof(size_t);
            if (record == nullptr || record->struct_size < min_record) {
                inst->host_log(SLUICE_LOG_ERROR, record == nullptr
                                                     ? "emit called with a NULL record"
                                                     : "emitted record has a struct_size below "
                                                       "ABI 1.0's");
                return SLUICE_FATAL;
            }
            const auto r = detail::read_struct<sluice_record_t>(record);
            if (r.header_count > 0 && (r.headers == nullptr || r.header_stride < min_header)) {
                inst->host_log(SLUICE_LOG_ERROR,
                               "emitted record has headers but no header array or a "
                               "header_stride below ABI 1.0's sluice_header_t");
                return SLUICE_FATAL;
            }
            Record out;
            out.topic = r.topic != nullptr ? r.topic : "";
            out.partition = r.partition;
            out.offset = r.offset;
            out.timestamp_ms = r.timestamp_ms;
            out.timestamp_type = r.timestamp_type;
            out.key = detail::copy_bytes(r.key, r.key_len);
            out.value = detail::copy_bytes(r.value, r.value_len);
            const auto *base = reinterpret_cast<const unsigned char *>(r.headers);
            for (std::size_t i = 0; i < r.header_count; ++i) {
                const auto h = detail::read_struct<sluice_header_t>(base + i * r.header_stride);
                out.headers.push_back(Header{h.name != nullptr ? h.name : "",
                                             detail::copy_bytes(h.value, h.value_len)});
            }
            inst->emitted_.push_back(std::move(out));
            return SLUICE_OK;
        } catch (...) {
            return SLUICE_FATAL;
        }
    }
    void host_log(int32_t level, const std::string &text) {
        logs_.push_back(LogLine{level, "host: " + text});
    }

    const Plugin &plugin_;
    std::map<std::string, std::string> config_;  // node-based: config_get's strings stay put
    sluice_host_api_t api_;
    void *instance_ = nullptr;
    bool in_process_ = false;
    bool warned_emit_ = false;
    uint64_t batches_ = 0;
    std::vector<LogLine> logs_;
    std::map<std::string, double> metrics_;
    std::vector<Record> emitted_;
};

/// A hot reload's hand-over, as the host's chain does it: when both generations have both state
/// hooks, from.snapshot, then to.restore with what it wrote; otherwise nothing (OK).
inline Result hand_over(Instance &from, Instance &to) {
    if (!from.plugin().has_state_hooks() || !to.plugin().has_state_hooks()) return {};
    std::string state;
    Result r = from.snapshot(state);
    if (!r.ok()) return r;
    return to.restore(state);
}

}  // namespace sluice::testing
