#pragma once
// A small host for driving plugins through the C ABI in tests: a host API
// table backed by maps and vectors, batches built from owned records with
// padded strides (so plugins that ignore the stride fail), and a Boost.DLL
// loader. Not the real host (host/plugins/): this only needs to be plain and
// inspectable.

#include <sluice/sluice.h>

#include <boost/dll/shared_library.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sluice::testing {

/// An owned record (what a test writes into a batch, or what a plugin emitted).
struct TestRecord {
    std::string topic = "t";
    int32_t partition = 0;
    int64_t offset = 0;
    int64_t timestamp = -1;
    int32_t timestamp_type = SLUICE_TIMESTAMP_NOT_AVAILABLE;
    std::optional<std::string> key = std::nullopt;
    std::optional<std::string> value = std::nullopt;
    std::vector<std::pair<std::string, std::optional<std::string>>> headers = {};

    bool operator==(const TestRecord &) const = default;
};

inline std::optional<std::string> copy_bytes(const void *p, size_t n) {
    if (p == nullptr) return std::nullopt;
    return std::string(static_cast<const char *>(p), n);
}

/// The host side of one plugin instance: config, logs, metrics, emitted records.
/// Lifecycle: owned by the test, outlives the instance. Thread: the test's.
class TestHost {
  public:
    TestHost() {
        std::memset(&api_, 0, sizeof api_);
        api_.struct_size = sizeof api_;
        api_.abi_major = SLUICE_ABI_MAJOR;
        api_.abi_minor = SLUICE_ABI_MINOR;
        api_.log = [](sluice_host_ctx_t *ctx, int32_t level, const char *message) {
            self(ctx)->logs.emplace_back(level, message);
        };
        api_.config_get = [](sluice_host_ctx_t *ctx, const char *key) -> const char * {
            auto &config = self(ctx)->config;
            auto it = config.find(key);
            return it == config.end() ? nullptr : it->second.c_str();
        };
        api_.metric = [](sluice_host_ctx_t *ctx, const char *name, int32_t kind, double value) {
            auto &m = self(ctx)->metrics[name];
            m = kind == SLUICE_METRIC_COUNTER ? m + value : value;
        };
        api_.emit = [](sluice_host_ctx_t *ctx, const sluice_record_t *r) -> int32_t {
            TestHost *h = self(ctx);
            if (!h->in_process) return SLUICE_FATAL;
            TestRecord out;
            out.topic = r->topic;
            out.partition = r->partition;
            out.offset = r->offset;
            out.timestamp = r->timestamp_ms;
            out.timestamp_type = r->timestamp_type;
            out.key = copy_bytes(r->key, r->key_len);
            out.value = copy_bytes(r->value, r->value_len);
            for (size_t i = 0; i < r->header_count; ++i) {
                auto *hd = reinterpret_cast<const sluice_header_t *>(
                    reinterpret_cast<const char *>(r->headers) + i * r->header_stride);
                out.headers.emplace_back(hd->name, copy_bytes(hd->value, hd->value_len));
            }
            h->emitted.push_back(std::move(out));
            return SLUICE_OK;
        };
    }
    TestHost(const TestHost &) = delete;
    TestHost &operator=(const TestHost &) = delete;

    const sluice_host_api_t *api() const { return &api_; }
    sluice_host_api_t &mutable_api() { return api_; }
    sluice_host_ctx_t *ctx() { return reinterpret_cast<sluice_host_ctx_t *>(this); }

    std::map<std::string, std::string> config;
    std::vector<std::pair<int32_t, std::string>> logs;
    std::map<std::string, double> metrics;
    std::vector<TestRecord> emitted;
    bool in_process = false;

  private:
    static TestHost *self(sluice_host_ctx_t *ctx) { return reinterpret_cast<TestHost *>(ctx); }
    sluice_host_api_t api_;
};

/// Elements are padded by this much beyond their struct, so the stride differs from sizeof.
constexpr size_t kPad = 24;

template <class T>
struct Padded {
    T value;
    unsigned char pad[kPad];
};

struct TestRange {
    std::string topic = "t";
    int32_t partition = 0;
    int64_t from_offset = 0;
    int64_t until_offset = 0;
};

/// A batch plus the C structs that view it. Rebuilds the views on every c().
/// Lifecycle: test-owned; c() is valid until the next c() or destruction.
class TestBatch {
  public:
    int64_t id = 0;
    int64_t time_ms = 0;
    uint32_t flags = 0;
    std::vector<TestRange> ranges;
    std::vector<TestRecord> records;
    /// struct_size written into each record (to play an older host).
    uint32_t record_struct_size = sizeof(sluice_record_t);

    const sluice_batch_t *c() {
        c_ranges_.assign(ranges.size(), {});
        for (size_t i = 0; i < ranges.size(); ++i) {
            auto &r = c_ranges_[i].value;
            r.struct_size = sizeof r;
            r.topic = ranges[i].topic.c_str();
            r.partition = ranges[i].partition;
            r.from_offset = ranges[i].from_offset;
            r.until_offset = ranges[i].until_offset;
        }
        c_headers_.assign(records.size(), {});
        c_records_.assign(records.size(), {});
        for (size_t i = 0; i < records.size(); ++i) {
            const TestRecord &in = records[i];
            auto &hs = c_headers_[i];
            hs.assign(in.headers.size(), {});
            for (size_t j = 0; j < in.headers.size(); ++j) {
                auto &h = hs[j].value;
                h.struct_size = sizeof h;
                h.name = in.headers[j].first.c_str();
                if (in.headers[j].second) {
                    h.value = in.headers[j].second->data();
                    h.value_len = in.headers[j].second->size();
                }
            }
            auto &r = c_records_[i].value;
            r.struct_size = record_struct_size;
            r.topic = in.topic.c_str();
            r.partition = in.partition;
            r.offset = in.offset;
            r.timestamp_ms = in.timestamp;
            r.timestamp_type = in.timestamp_type;
            if (in.key) {
                r.key = in.key->data();
                r.key_len = in.key->size();
            }
            if (in.value) {
                r.value = in.value->data();
                r.value_len = in.value->size();
            }
            r.headers = hs.empty() ? nullptr : &hs[0].value;
            r.header_count = hs.size();
            r.header_stride = sizeof(Padded<sluice_header_t>);
        }
        std::memset(&batch_, 0, sizeof batch_);
        batch_.struct_size = sizeof batch_;
        batch_.batch_id = id;
        batch_.batch_time_ms = time_ms;
        batch_.flags = flags;
        batch_.ranges = c_ranges_.empty() ? nullptr : &c_ranges_[0].value;
        batch_.range_count = c_ranges_.size();
        batch_.range_stride = sizeof(Padded<sluice_offset_range_t>);
        batch_.records = c_records_.empty() ? nullptr : &c_records_[0].value;
        batch_.record_count = c_records_.size();
        batch_.record_stride = sizeof(Padded<sluice_record_t>);
        return &batch_;
    }

  private:
    std::vector<Padded<sluice_offset_range_t>> c_ranges_;
    std::vector<std::vector<Padded<sluice_header_t>>> c_headers_;
    std::vector<Padded<sluice_record_t>> c_records_;
    sluice_batch_t batch_;
};

struct CallResult {
    int32_t status;
    std::string message;
};

/// A loaded plugin library. Lifecycle: test-owned; outlives its instances.
class LoadedPlugin {
  public:
    explicit LoadedPlugin(const std::filesystem::path &path)
        : lib_(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local) {
        auto &entry =
            lib_.get<const sluice_plugin_t *(uint32_t, uint32_t)>(SLUICE_PLUGIN_ENTRY_SYMBOL);
        descriptor_ = entry(SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR);
        if (descriptor_ == nullptr) throw std::runtime_error("plugin refused the host");
    }
    const sluice_plugin_t &descriptor() const { return *descriptor_; }

  private:
    boost::dll::shared_library lib_;
    const sluice_plugin_t *descriptor_;
};

/// One plugin instance created against a TestHost. Lifecycle: test-owned; destroys the
/// instance in its destructor.
class TestInstance {
  public:
    TestInstance(const LoadedPlugin &plugin, TestHost &host)
        : d_(plugin.descriptor()), host_(host) {}
    ~TestInstance() { destroy(); }
    TestInstance(const TestInstance &) = delete;
    TestInstance &operator=(const TestInstance &) = delete;

    CallResult create() {
        char err[512] = "untouched";
        int32_t rc = d_.create(host_.api(), host_.ctx(), &instance_, err, sizeof err);
        return {rc, rc == SLUICE_OK ? std::string() : std::string(err)};
    }
    /// create() that must succeed.
    void create_ok() {
        auto r = create();
        if (r.status != SLUICE_OK) throw std::runtime_error("create failed: " + r.message);
    }
    CallResult process(TestBatch &batch, size_t err_size = 512) {
        std::vector<char> err(err_size ? err_size : 1, 'x');
        host_.in_process = true;
        int32_t rc =
            d_.process_batch(instance_, batch.c(), err_size ? err.data() : nullptr, err_size);
        host_.in_process = false;
        return {rc, err_size && rc != SLUICE_OK ? std::string(err.data()) : std::string()};
    }
    CallResult snapshot(std::string &out) {
        char err[512] = "";
        int32_t rc = d_.snapshot_state(
            instance_,
            [](void *sink, const void *data, size_t len) {
                static_cast<std::string *>(sink)->append(static_cast<const char *>(data), len);
            },
            &out, err, sizeof err);
        return {rc, err};
    }
    CallResult restore(const std::string &state) {
        char err[512] = "";
        int32_t rc = d_.restore_state(instance_, state.data(), state.size(), err, sizeof err);
        return {rc, err};
    }
    CallResult resume_offsets(const std::vector<std::pair<std::string, int32_t>> &parts,
                              std::vector<int64_t> &offsets) {
        std::vector<Padded<sluice_topic_partition_t>> tps(parts.size());
        for (size_t i = 0; i < parts.size(); ++i) {
            tps[i].value.struct_size = sizeof(sluice_topic_partition_t);
            tps[i].value.topic = parts[i].first.c_str();
            tps[i].value.partition = parts[i].second;
        }
        offsets.assign(parts.size(), 12345);  // the plugin must overwrite every entry
        char err[512] = "";
        int32_t rc = d_.resume_offsets(instance_, tps.empty() ? nullptr : &tps[0].value, tps.size(),
                                       sizeof(Padded<sluice_topic_partition_t>), offsets.data(),
                                       err, sizeof err);
        return {rc, err};
    }
    void destroy() {
        if (instance_ != nullptr) d_.destroy(instance_);
        instance_ = nullptr;
    }
    void *raw() const { return instance_; }

  private:
    const sluice_plugin_t &d_;
    TestHost &host_;
    void *instance_ = nullptr;
};

inline std::filesystem::path bundled_plugin(const std::string &name) {
    return std::filesystem::path(SLUICE_PLUGIN_OUTPUT_DIR) / (name + ".so");
}

}  // namespace sluice::testing
