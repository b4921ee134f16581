#include "stream/batch_runner.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "kafka/kafka_conf.hpp"
#include "plugins/plugin_chain.hpp"
#include "stream/exit_codes.hpp"

namespace sluice::stream {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const char *status_name(sluice_status_t s) {
    switch (s) {
        case SLUICE_OK:
            return "ok";
        case SLUICE_RETRY:
            return "retry";
        case SLUICE_SKIP:
            return "skip";
        default:
            return "fatal";
    }
}

/// Sleeps `wait`, in steps, unless `abort` is raised. Returns false when it was.
bool wait_unless_aborted(milliseconds wait, const std::atomic<bool> &abort) {
    const auto until = Clock::now() + wait;
    while (!abort) {
        const auto now = Clock::now();
        if (now >= until) return true;
        std::this_thread::sleep_for(std::min<Clock::duration>(until - now, milliseconds(20)));
    }
    return false;
}

void producer_log(const rd_kafka_t *, int level, const char *facility, const char *message) {
    // The pass-through [kafka] settings are mostly consumer properties: the producer's "is a
    // consumer property and will be ignored" warnings are noise here.
    const bool noise = std::string_view(facility) == "CONFWARN";
    const auto lvl = noise        ? spdlog::level::debug
                     : level <= 3 ? spdlog::level::err
                     : level == 4 ? spdlog::level::warn
                     : level <= 6 ? spdlog::level::info
                                  : spdlog::level::debug;
    spdlog::log(lvl, "librdkafka dead-letter producer {}: {}", facility, message);
}

std::string decimal(int64_t n) {
    return std::to_string(n);
}

}  // namespace

/// The idempotent (acks=all) producer that writes dead letters. Batch thread only: delivery
/// reports are served by rd_kafka_flush/poll on the calling thread.
class DeadLetterProducer {
  public:
    DeadLetterProducer(const std::map<std::string, std::string> &kafka_settings,
                       const std::string &bootstrap_servers) {
        auto conf = kafka::make_conf(kafka_settings);
        kafka::set_conf(conf.get(), "bootstrap.servers", bootstrap_servers);
        // A dead letter must not be lost or written twice by the producer's own retries.
        kafka::set_conf(conf.get(), "enable.idempotence", "true");
        kafka::set_conf(conf.get(), "acks", "all");
        if (!kafka_settings.count("message.timeout.ms"))
            kafka::set_conf(conf.get(), "message.timeout.ms", "30000");
        if (!kafka_settings.count("linger.ms")) kafka::set_conf(conf.get(), "linger.ms", "1");
        rd_kafka_conf_set_log_cb(conf.get(), producer_log);
        rd_kafka_conf_set_dr_msg_cb(conf.get(), &DeadLetterProducer::on_delivery);
        rd_kafka_conf_set_opaque(conf.get(), this);
        handle_ = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(conf));
    }

    ~DeadLetterProducer() {
        if (handle_) rd_kafka_flush(handle_.get(), 5000);
    }

    /// Produces every record of `batch` to `topic`, keeping key, value, timestamp and headers
    /// and adding the sluice.* headers; waits until each is acknowledged or failed. Returns ""
    /// or the first error.
    std::string produce(const std::string &topic, const std::string &plugin,
                        const std::string &error, const sluice_batch_t &batch) {
        delivered_ = failed_ = 0;
        first_error_.clear();
        size_t queued = 0;
        const auto *base = static_cast<const char *>(static_cast<const void *>(batch.records));
        for (size_t i = 0; i < batch.record_count; ++i) {
            const auto &r =
                *reinterpret_cast<const sluice_record_t *>(base + i * batch.record_stride);
            rd_kafka_headers_t *headers = rd_kafka_headers_new(r.header_count + 6);
            const auto *hbase = static_cast<const char *>(static_cast<const void *>(r.headers));
            for (size_t h = 0; h < r.header_count; ++h) {
                const auto &hdr =
                    *reinterpret_cast<const sluice_header_t *>(hbase + h * r.header_stride);
                rd_kafka_header_add(headers, hdr.name, -1, hdr.value,
                                    static_cast<ssize_t>(hdr.value_len));
            }
            const auto add = [&](const char *name, const std::string &value) {
                rd_kafka_header_add(headers, name, -1, value.data(),
                                    static_cast<ssize_t>(value.size()));
            };
            add("sluice.plugin", plugin);
            add("sluice.error", error);
            add("sluice.topic", r.topic ? r.topic : "");
            add("sluice.partition", decimal(r.partition));
            add("sluice.offset", decimal(r.offset));
            add("sluice.batch", decimal(batch.batch_id));
            const int64_t timestamp = r.timestamp_ms >= 0 ? r.timestamp_ms : 0;  // 0 = now
            rd_kafka_resp_err_t err;
            for (;;) {
                // librdkafka keeps NULL distinct from empty for key and value.
                err = rd_kafka_producev(handle_.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_KEY(const_cast<void *>(r.key), r.key_len),
                                        RD_KAFKA_V_VALUE(const_cast<void *>(r.value), r.value_len),
                                        RD_KAFKA_V_TIMESTAMP(timestamp),
                                        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
                rd_kafka_poll(handle_.get(), 100);  // make room: serve delivery reports
            }
            if (err) {
                rd_kafka_headers_destroy(headers);  // not taken over on failure
                flush();
                return "producing to '" + topic + "' failed: " + rd_kafka_err2str(err);
            }
            ++queued;
        }
        flush();
        if (failed_ > 0 || !first_error_.empty())
            return std::to_string(failed_) + " of " + std::to_string(queued) +
                   " records not acknowledged by '" + topic + "': " + first_error_;
        if (delivered_ != queued)
            return std::to_string(queued - delivered_) + " of " + std::to_string(queued) +
                   " records not acknowledged by '" + topic + "' in time";
        return {};
    }

  private:
    // Every queued message ends in a delivery report (success, or failure at
    // message.timeout.ms at the latest); the deadline only guards against a stuck client.
    void flush() {
        const auto deadline = Clock::now() + std::chrono::minutes(5);
        while (rd_kafka_outq_len(handle_.get()) > 0 && Clock::now() < deadline)
            rd_kafka_flush(handle_.get(), 1000);
        rd_kafka_poll(handle_.get(), 0);
    }

    static void on_delivery(rd_kafka_t *, const rd_kafka_message_t *m, void *opaque) {
        auto *self = static_cast<DeadLetterProducer *>(opaque);
        if (m->err) {
            ++self->failed_;
            if (self->first_error_.empty()) self->first_error_ = rd_kafka_err2str(m->err);
        } else {
            ++self->delivered_;
        }
    }

    kafka::HandlePtr handle_;
    size_t delivered_ = 0, failed_ = 0;
    std::string first_error_;
};

BatchView make_batch_view(int64_t batch_id, int64_t batch_time_ms, bool replay,
                          const std::vector<OffsetRange> &plan_ranges,
                          const sluice_record_t *records, size_t record_count) {
    BatchView view;
    view.ranges.resize(plan_ranges.size());
    for (size_t i = 0; i < plan_ranges.size(); ++i) {
        const auto &r = plan_ranges[i];
        view.ranges[i] = {sizeof(sluice_offset_range_t), r.topic.c_str(), r.partition,
                          r.from_offset, r.until_offset};
    }
    auto &batch = view.batch;
    batch.struct_size = sizeof batch;
    batch.batch_id = batch_id;
    batch.batch_time_ms = batch_time_ms;
    batch.flags = replay ? SLUICE_BATCH_REPLAY : 0u;
    batch.ranges = view.ranges.data();
    batch.range_count = view.ranges.size();
    batch.range_stride = sizeof(sluice_offset_range_t);
    batch.records = records;
    batch.record_count = record_count;
    batch.record_stride = sizeof(sluice_record_t);
    return view;
}

BatchRunner::BatchRunner(plugins::PluginChain &chain, const config::RunConfig &config,
                         std::string bootstrap_servers)
    : chain_(chain), kafka_settings_(config.kafka) {
    kafka_settings_["bootstrap.servers"] = std::move(bootstrap_servers);
    for (const std::string &name : config.plugins) {
        const auto it = config.plugin_config.find(name);
        policies_[name] = it == config.plugin_config.end()
                              ? config::ErrorPolicy{}
                              : config::parse_error_policy(name, it->second);
    }
}

BatchRunner::~BatchRunner() = default;

const config::ErrorPolicy &BatchRunner::policy(const std::string &name) const {
    const auto it = policies_.find(name);
    return it == policies_.end() ? default_policy_ : it->second;
}

std::string BatchRunner::dead_letter(const config::ErrorPolicy &policy, const std::string &plugin,
                                     const std::string &error, const sluice_batch_t &input) {
    try {
        if (!dead_letters_) {
            std::map<std::string, std::string> settings = kafka_settings_;
            const std::string bootstrap = settings["bootstrap.servers"];
            settings.erase("bootstrap.servers");
            dead_letters_ = std::make_unique<DeadLetterProducer>(settings, bootstrap);
        }
        return dead_letters_->produce(policy.dead_letter_topic, plugin, error, input);
    } catch (const std::exception &e) {
        dead_letters_.reset();  // a broken producer is rebuilt on the next use
        return e.what();
    }
}

RunVerdict BatchRunner::run(const sluice_batch_t &batch, const std::atomic<bool> &abort) {
    plugins::ChainResult result = chain_.process(batch);
    size_t retried_slot = 0;
    int attempt = 0;  // re-runs of the plugin in retried_slot
    while (!result.ok()) {
        const size_t slot = chain_.failed_slot();
        plugins::PluginInstance &plugin = *chain_.instances().at(slot);
        const config::ErrorPolicy &pol = policy(plugin.name());
        if (slot != retried_slot) {
            retried_slot = slot;
            attempt = 0;
        }
        const std::string &why = result.message;

        enum class Action { skip, dead_letter, stop } action = Action::stop;
        if (result.status == SLUICE_RETRY) {
            if (attempt < pol.max_retries) {
                ++attempt;
                const milliseconds wait = pol.backoff_before(attempt);
                spdlog::warn("plugin {} batch {}: asked to retry ({}); retry {} of {} in {} ms",
                             plugin.name(), batch.batch_id, why, attempt, pol.max_retries,
                             wait.count());
                if (!wait_unless_aborted(wait, abort)) {
                    spdlog::warn(
                        "plugin {} batch {}: shutdown while waiting to retry; the batch is not "
                        "committed (it is replayed on the next start)",
                        plugin.name(), batch.batch_id);
                    return {false, kExitAbandoned};
                }
                result = chain_.retry_failed();
                continue;
            }
            plugin.count_retries_exhausted();
            spdlog::warn(
                "plugin {} batch {}: still asking to retry after {} retries ({}); "
                "on-error = {} applies",
                plugin.name(), batch.batch_id, pol.max_retries, why,
                config::on_error_name(pol.on_error));
            action = pol.on_error == config::OnError::skip          ? Action::skip
                     : pol.on_error == config::OnError::dead_letter ? Action::dead_letter
                                                                    : Action::stop;
        } else if (result.status == SLUICE_SKIP) {
            action =
                pol.on_error == config::OnError::dead_letter ? Action::dead_letter : Action::skip;
        }

        const sluice_batch_t &input = chain_.failed_input();
        const bool later = slot + 1 < chain_.size();
        // An isolated plugin's poison records fail alone: the rest of the batch went through
        // this plugin and the later ones (PluginChain::run_from).
        const bool subset = plugin.failed_subset() != nullptr;
        const std::string without =
            subset ? "its " + std::to_string(input.record_count) +
                         " poison record(s), the rest of the batch processed"
                   : std::string(later ? "the work of this and the later plugins"
                                       : "the work of this plugin");
        if (action == Action::skip) {
            spdlog::warn("plugin {} batch {} ({}): {}; skipped: committing the batch without {}",
                         plugin.name(), batch.batch_id, status_name(result.status), why, without);
            break;
        }
        if (action == Action::dead_letter) {
            const std::string failed = dead_letter(pol, plugin.name(), why, input);
            if (failed.empty()) {
                plugin.count_dead_lettered(input.record_count);
                spdlog::warn(
                    "plugin {} batch {} ({}): {}; dead-lettered its {} records to "
                    "'{}', committing the batch without {}",
                    plugin.name(), batch.batch_id, status_name(result.status), why,
                    input.record_count, pol.dead_letter_topic, without);
                break;
            }
            spdlog::error(
                "plugin {} batch {} ({}): {}; dead-lettering to '{}' failed: {}; stopping "
                "without committing the batch (it is replayed on the next start)",
                plugin.name(), batch.batch_id, status_name(result.status), why,
                pol.dead_letter_topic, failed);
            return {false, kExitFailure};
        }
        spdlog::error(
            "plugin {} batch {} ({}): {}; stopping without committing the batch (it is replayed "
            "on the next start){}",
            plugin.name(), batch.batch_id, status_name(result.status), why,
            result.status == SLUICE_FATAL
                ? ""
                : "; on-error = " + std::string(config::on_error_name(pol.on_error)));
        return {false, kExitFailure};
    }
    plugins::ChainResult flushed = chain_.flush(batch);
    if (!flushed.ok()) {
        spdlog::error("plugin {} failed to flush batch {}: {}; stopping without committing it",
                      flushed.plugin, batch.batch_id, flushed.message);
        return {false, kExitFailure};
    }
    return {true, kExitOk};
}

}  // namespace sluice::stream
