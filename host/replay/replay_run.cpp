#include "replay/replay_run.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>

#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_loader.hpp"
#include "stream/batch_runner.hpp"

namespace sluice::replay {

namespace {

/// Keeps every line the logger takes while it is installed. Any thread (plugins may log from
/// their own threads while they live); read after it is removed.
class CaptureSink : public spdlog::sinks::base_sink<std::mutex> {
  public:
    std::vector<LogLine> take() {
        std::lock_guard<std::mutex> lock(mutex_);
        return std::move(lines_);
    }

  protected:
    void sink_it_(const spdlog::details::log_msg &msg) override {
        LogLine line;
        const auto level = spdlog::level::to_string_view(msg.level);
        line.level.assign(level.data(), level.size());
        line.text.assign(msg.payload.data(), msg.payload.size());
        constexpr std::string_view kPrefix = "[plugin ";
        if (line.text.starts_with(kPrefix)) {
            const auto end = line.text.find("] ", kPrefix.size());
            if (end != std::string::npos) {
                line.plugin = line.text.substr(kPrefix.size(), end - kPrefix.size());
                line.text.erase(0, end + 2);
            }
        }
        lines_.push_back(std::move(line));
    }
    void flush_() override {}

  private:
    std::vector<LogLine> lines_;
};

/// Adds the sink to the default logger (every level) for its lifetime; the logger's other
/// sinks keep their own levels.
class CaptureScope {
  public:
    explicit CaptureScope(std::shared_ptr<CaptureSink> sink)
        : sink_(std::move(sink)), logger_(spdlog::default_logger()) {
        for (auto &s : logger_->sinks())
            if (s->level() == spdlog::level::trace) s->set_level(logger_->level());
        previous_ = logger_->level();
        sink_->set_level(spdlog::level::trace);
        logger_->sinks().push_back(sink_);
        logger_->set_level(spdlog::level::trace);
    }
    ~CaptureScope() {
        logger_->set_level(previous_);
        auto &sinks = logger_->sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    }
    CaptureScope(const CaptureScope &) = delete;
    CaptureScope &operator=(const CaptureScope &) = delete;

  private:
    std::shared_ptr<CaptureSink> sink_;
    std::shared_ptr<spdlog::logger> logger_;
    spdlog::level::level_enum previous_ = spdlog::level::info;
};

std::optional<std::string> bytes_or_null(const void *p, size_t n) {
    if (p == nullptr) return std::nullopt;
    return std::string(static_cast<const char *>(p), n);
}

}  // namespace

RecordCopy copy_record(const sluice_record_t &r) {
    RecordCopy c;
    c.topic = r.topic != nullptr ? r.topic : "";
    c.partition = r.partition;
    c.offset = r.offset;
    c.timestamp_ms = r.timestamp_ms;
    c.key = bytes_or_null(r.key, r.key_len);
    c.value = bytes_or_null(r.value, r.value_len);
    for (size_t h = 0; h < r.header_count; ++h) {
        const auto &header = *reinterpret_cast<const sluice_header_t *>(
            reinterpret_cast<const char *>(r.headers) + h * r.header_stride);
        c.headers.emplace_back(header.name != nullptr ? header.name : "",
                               bytes_or_null(header.value, header.value_len));
    }
    return c;
}

ReplayReport run_replay(const ReplayInput &input, const RunOptions &options) {
    ReplayReport report;
    report.input = &input;
    auto sink = std::make_shared<CaptureSink>();
    {
        CaptureScope capture(sink);
        plugins::PluginLoader loader(options.plugin_dirs);
        plugins::PluginChain chain;  // no hot reload: nothing is staged or remembered
        for (const auto &name : options.plugins) {
            std::map<std::string, std::string> config;
            if (auto it = options.plugin_config.find(name); it != options.plugin_config.end())
                config = it->second;
            auto library = chain.load(loader, name);
            PluginOutcome outcome;
            outcome.name = name;
            outcome.file = library->deployed_path().string();
            chain.add(
                std::make_unique<plugins::PluginInstance>(std::move(library), std::move(config)));
            outcome.transform = chain.instances().back()->is_transform();
            report.plugins.push_back(std::move(outcome));
        }

        std::vector<TopicPartition> tps;
        for (const auto &r : input.ranges) tps.push_back(r.topic_partition());
        std::sort(tps.begin(), tps.end());
        tps.erase(std::unique(tps.begin(), tps.end()), tps.end());

        auto view = stream::make_batch_view(input.batch_id, input.batch_time_ms, true, input.ranges,
                                            input.records(), input.record_count());
        plugins::ChainResult result = chain.partitions_assigned(tps);
        bool ran = false;
        if (result.ok()) {
            result = chain.process(view.batch);
            ran = true;
        }
        const size_t failed = result.ok() ? chain.size() : chain.failed_slot();
        for (size_t i = 0; i < chain.size(); ++i) {
            const auto &inst = *chain.instances()[i];
            auto &outcome = report.plugins[i];
            const auto &m = inst.metrics();
            outcome.called = m.batches > 0;
            outcome.input_records = m.records;
            outcome.seconds = m.seconds;
            outcome.metrics = m.custom;
            if (!ran) {
                outcome.not_called_why = "partitions_assigned failed";
            } else if (i > failed) {
                outcome.not_called_why = "the chain stopped at " + report.plugins[failed].name;
            } else if (!outcome.called) {
                outcome.not_called_why =
                    "the batch it would get is empty and it does not set "
                    "SLUICE_PLUGIN_WANTS_EMPTY_BATCHES";
            }
            if (i == failed) {
                outcome.status = result.status;
                outcome.message = result.message;
            }
            if (outcome.called && outcome.transform) {
                const auto emitted = inst.emitted_batch(view.batch);
                for (size_t r = 0; r < emitted.record_count; ++r)
                    outcome.emitted.push_back(
                        copy_record(*reinterpret_cast<const sluice_record_t *>(
                            reinterpret_cast<const char *>(emitted.records) +
                            r * emitted.record_stride)));
            }
        }
        if (!ran) {
            report.failed_plugin = result.plugin;
            report.failed_message = "partitions_assigned: " + result.message;
        } else if (result.ok()) {
            // flush() stops at the first plugin that fails it; the later ones are not flushed.
            const auto flushed = chain.flush(view.batch);
            for (auto &outcome : report.plugins) {
                if (!outcome.called) continue;
                if (!flushed.ok() && outcome.name == flushed.plugin) {
                    outcome.flush_status = flushed.status;
                    outcome.flush_message = flushed.message;
                    break;
                }
                outcome.flush_status = SLUICE_OK;
            }
            result = flushed;
        }
        report.status = result.status;
        if (!result.ok() && report.failed_plugin.empty()) {
            report.failed_plugin = result.plugin;
            report.failed_message = result.message;
        }
        const auto revoked = chain.partitions_revoked(tps);
        if (!revoked.ok())
            spdlog::warn("[plugin {}] partitions_revoked returned {}: {}", revoked.plugin,
                         status_name(revoked.status), revoked.message);
    }  // the chain is destroyed here: what destroy() logs is captured too
    for (auto &line : sink->take()) {
        auto it = std::find_if(report.plugins.begin(), report.plugins.end(),
                               [&](const PluginOutcome &o) { return o.name == line.plugin; });
        if (line.plugin.empty() || it == report.plugins.end()) {
            report.host_logs.push_back(std::move(line));
        } else {
            it->logs.push_back(std::move(line));
        }
    }
    return report;
}

}  // namespace sluice::replay
