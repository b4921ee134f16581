#include "plugins/plugin_instance.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

namespace sluice::plugins {

// The host API table handed to every plugin. Its functions are called from C: none may throw.
struct HostApi {
    static PluginInstance *self(sluice_host_ctx_t *ctx) {
        return reinterpret_cast<PluginInstance *>(ctx);
    }

    static void log(sluice_host_ctx_t *ctx, int32_t level, const char *message) noexcept {
        try {
            auto lvl = static_cast<spdlog::level::level_enum>(
                std::clamp<int32_t>(level, SLUICE_LOG_TRACE, SLUICE_LOG_ERROR));
            spdlog::log(lvl, "[plugin {}] {}", self(ctx)->name(),
                        message != nullptr ? message : "(null)");
        } catch (...) {
        }
    }

    static const char *config_get(sluice_host_ctx_t *ctx, const char *key) noexcept {
        if (key == nullptr) return nullptr;
        try {
            const auto &config = self(ctx)->config_;
            auto it = config.find(key);
            return it == config.end() ? nullptr : it->second.c_str();
        } catch (...) {
            return nullptr;
        }
    }

    static void metric(sluice_host_ctx_t *ctx, const char *name, int32_t kind,
                       double value) noexcept {
        if (name == nullptr) return;
        try {
            double &slot = self(ctx)->metrics_.custom[name];
            if (kind == SLUICE_METRIC_GAUGE) {
                slot = value;
            } else {
                slot += value;
            }
        } catch (...) {
        }
    }

    static int32_t emit(sluice_host_ctx_t *ctx, const sluice_record_t *record) noexcept {
        PluginInstance *inst = self(ctx);
        try {
            if (!inst->in_process_) {
                spdlog::error("[plugin {}] emit called outside process_batch; record dropped",
                              inst->name());
                return SLUICE_FATAL;
            }
            if (!inst->is_transform()) {
                // Downstream sees this plugin's input; emitted records would be silently lost.
                if (!inst->warned_emit_) {
                    spdlog::warn(
                        "[plugin {}] emits records but does not declare SLUICE_PLUGIN_TRANSFORM; "
                        "they are dropped and the next plugin sees its input",
                        inst->name());
                    inst->warned_emit_ = true;
                }
                return SLUICE_OK;
            }
            std::string why;
            if (!inst->emitted_.add(record, &why)) {
                spdlog::error("[plugin {}] {}", inst->name(), why);
                return SLUICE_FATAL;
            }
            return SLUICE_OK;
        } catch (...) {
            return SLUICE_FATAL;  // out of memory copying the record
        }
    }

    static constexpr sluice_host_api_t table{
        sizeof(sluice_host_api_t),
        SLUICE_ABI_MAJOR,
        SLUICE_ABI_MINOR,
        &log,
        &config_get,
        &metric,
        &emit,
    };
};

namespace {
sluice_host_ctx_t *as_ctx(PluginInstance *inst) {
    return reinterpret_cast<sluice_host_ctx_t *>(inst);
}
std::atomic<PluginInstance::BackendFactory> backend_factory{nullptr};
}  // namespace

void PluginInstance::set_backend_factory(BackendFactory factory) {
    backend_factory = factory;
}

PluginInstance::PluginInstance(std::shared_ptr<PluginLibrary> lib,
                               std::map<std::string, std::string> config)
    : lib_(std::move(lib)), config_(std::move(config)) {
    // A declaring plugin's section holds only its keys (and the host's): refused before
    // create, so a misspelt key is not silently ignored by the plugin.
    check_plugin_config(*lib_, config_);
    if (BackendFactory factory = backend_factory.load()) {
        backend_ = factory(*lib_, config_);
        if (backend_) return;  // created in the backend
    }
    clear_error();
    int32_t code = lib_->descriptor().create(&HostApi::table, as_ctx(this), &instance_,
                                             error_.data(), error_.size());
    if (code != SLUICE_OK) {
        ChainResult r = result_of(code, "create");
        throw plugin_error(name(), lib_->deployed_path().string(), "create failed: " + r.message,
                           "fix its [plugin." + name() +
                               "] settings or see the plugin's "
                               "documentation");
    }
    created_ = true;
}

PluginInstance::PluginInstance(std::shared_ptr<PluginLibrary> lib,
                               std::map<std::string, std::string> config,
                               std::unique_ptr<InstanceBackend> backend)
    : lib_(std::move(lib)), config_(std::move(config)), backend_(std::move(backend)) {
    check_plugin_config(*lib_, config_);
}

PluginInstance::~PluginInstance() {
    backend_.reset();  // the backend's own destroy (a worker's exit) before the library goes
    if (created_) lib_->descriptor().destroy(instance_);
    // lib_ is released after this body: the library outlives destroy().
}

ChainResult PluginInstance::result_of(int32_t code, const char *function) {
    ChainResult r;
    if (code == SLUICE_OK) return r;
    error_.back() = '\0';  // the plugin should have terminated it; don't trust that
    r.plugin = name();
    r.message = error_.data();
    if (code == SLUICE_RETRY || code == SLUICE_SKIP || code == SLUICE_FATAL) {
        r.status = static_cast<sluice_status_t>(code);
        if (r.message.empty()) {
            static constexpr const char *kNames[] = {"OK", "RETRY", "SKIP", "FATAL"};
            r.message =
                std::string(function) + " returned SLUICE_" + kNames[code] + " without a message";
        }
    } else {
        r.status = SLUICE_FATAL;
        if (r.message.empty()) r.message = std::string(function) + " failed";
        r.message += " (unknown status " + std::to_string(code) + ", treated as fatal)";
    }
    return r;
}

ChainResult PluginInstance::process_batch(const sluice_batch_t &batch) {
    emitted_.clear();
    clear_error();
    in_process_ = true;
    auto start = std::chrono::steady_clock::now();
    ChainResult forwarded;
    int32_t code = SLUICE_OK;
    if (backend_) {
        forwarded = backend_->process_batch(batch, &metrics_.custom);
    } else {
        code = lib_->descriptor().process_batch(instance_, &batch, error_.data(), error_.size());
    }
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics_.seconds += took;
    metrics_.call_seconds.observe(took);
    in_process_ = false;
    emitted_.seal();
    metrics_.batches++;
    metrics_.records += batch.record_count;
    ChainResult r = backend_ ? forwarded : result_of(code, "process_batch");
    if (r.status == SLUICE_RETRY) {
        metrics_.retries++;
    } else if (!r.ok()) {
        metrics_.errors++;
    }
    return r;
}

sluice_batch_t PluginInstance::emitted_batch(const sluice_batch_t &source) const {
    sluice_batch_t b{};
    b.struct_size = sizeof(sluice_batch_t);
    b.batch_id = source.batch_id;
    b.batch_time_ms = source.batch_time_ms;
    b.flags = source.flags;
    b.ranges = source.ranges;
    b.range_count = source.range_count;
    b.range_stride = source.range_stride;
    b.records = emitted_.records();
    b.record_count = emitted_.size();
    if (backend_) b.records = backend_->emitted(&b.record_count);
    b.record_stride = sizeof(sluice_record_t);
    return b;
}

ChainResult PluginInstance::flush(const sluice_batch_t &batch) {
    auto fn = lib_->descriptor().flush;
    if (fn == nullptr) return {};
    if (backend_) return backend_->flush(batch);
    clear_error();
    return result_of(fn(instance_, &batch, error_.data(), error_.size()), "flush");
}

ChainResult PluginInstance::partitions_assigned(const sluice_topic_partition_t *tps, size_t count) {
    if (backend_) return backend_->partitions_assigned(tps, count);
    return call_partitions_hook(lib_->descriptor().partitions_assigned, tps, count,
                                "partitions_assigned");
}

ChainResult PluginInstance::partitions_revoked(const sluice_topic_partition_t *tps, size_t count) {
    if (backend_) return backend_->partitions_revoked(tps, count);
    return call_partitions_hook(lib_->descriptor().partitions_revoked, tps, count,
                                "partitions_revoked");
}

ChainResult PluginInstance::call_partitions_hook(PartitionsHook fn,
                                                 const sluice_topic_partition_t *tps, size_t count,
                                                 const char *function) {
    if (fn == nullptr) return {};
    clear_error();
    return result_of(
        fn(instance_, tps, count, sizeof(sluice_topic_partition_t), error_.data(), error_.size()),
        function);
}

ChainResult PluginInstance::resume_offsets(const sluice_topic_partition_t *tps, size_t count,
                                           int64_t *offsets) {
    std::fill(offsets, offsets + count, int64_t{-1});
    auto fn = lib_->descriptor().resume_offsets;
    if (fn == nullptr) return {};
    if (backend_) return backend_->resume_offsets(tps, count, offsets);
    clear_error();
    return result_of(fn(instance_, tps, count, sizeof(sluice_topic_partition_t), offsets,
                        error_.data(), error_.size()),
                     "resume_offsets");
}

namespace {
struct StateSink {
    std::string *out;
    bool failed = false;
};
// Called from C by the plugin: must not throw.
void write_state(void *sink, const void *data, size_t len) noexcept {
    auto *s = static_cast<StateSink *>(sink);
    if (data == nullptr || len == 0 || s->failed) return;
    try {
        s->out->append(static_cast<const char *>(data), len);
    } catch (...) {
        s->failed = true;
    }
}
}  // namespace

ChainResult PluginInstance::snapshot_state(std::string *out) {
    auto fn = lib_->descriptor().snapshot_state;
    if (fn == nullptr) return {};
    if (backend_) return backend_->snapshot_state(out);
    clear_error();
    StateSink sink{out};
    ChainResult r = result_of(fn(instance_, &write_state, &sink, error_.data(), error_.size()),
                              "snapshot_state");
    if (r.ok() && sink.failed) {
        r.status = SLUICE_FATAL;
        r.plugin = name();
        r.message = "out of memory storing the state snapshot";
    }
    return r;
}

ChainResult PluginInstance::restore_state(std::string_view data) {
    auto fn = lib_->descriptor().restore_state;
    if (fn == nullptr) return {};
    if (backend_) return backend_->restore_state(data);
    clear_error();
    return result_of(fn(instance_, data.data(), data.size(), error_.data(), error_.size()),
                     "restore_state");
}

}  // namespace sluice::plugins
