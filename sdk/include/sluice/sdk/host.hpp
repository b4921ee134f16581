#pragma once
// Part of the C++ SDK (sluice/plugin.hpp includes every part; include that one).
// sluice::Host: the host's services for one instance (log, typed config lookups, metrics, emit).

#include "views.hpp"

namespace sluice {
// The inline namespace keeps these names apart (in mangling) from the host's own
// sluice::TopicPartition etc.; plugin code just writes sluice::Batch.
inline namespace sdk {

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

}  // namespace detail

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

}  // namespace sdk
}  // namespace sluice
