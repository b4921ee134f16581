#include "metrics/lag_monitor.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/clock.hpp"
#include "kafka/metadata.hpp"

namespace sluice::metrics {

namespace {

// The readers of the run already warn about brokers that are away; this client's own
// connection errors would only repeat them, so they are debug lines.
void debug_log(const rd_kafka_t *, int, const char *facility, const char *message) {
    spdlog::debug("lag monitor: librdkafka {}: {}", facility, message);
}
void debug_error(rd_kafka_t *, int err, const char *reason, void *) {
    spdlog::debug("lag monitor: kafka: {} ({})", reason,
                  rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
}

kafka::HandlePtr make_client(const LagMonitorSettings &settings) {
    kafka::ConfPtr conf(rd_kafka_conf_new());
    rd_kafka_conf_set_log_cb(conf.get(), debug_log);
    rd_kafka_conf_set_error_cb(conf.get(), debug_error);
    for (const auto &[key, value] : settings.kafka) kafka::set_conf(conf.get(), key, value);
    kafka::set_conf(conf.get(), "bootstrap.servers", settings.brokers);
    kafka::set_conf(conf.get(), "client.id", "sluice-lag-monitor");
    return kafka::make_handle(RD_KAFKA_CONSUMER, std::move(conf));
}

std::chrono::milliseconds rate_window(std::chrono::milliseconds batch_interval) {
    return std::max<std::chrono::milliseconds>(std::chrono::seconds(30), 3 * batch_interval);
}

}  // namespace

LagMonitor::LagMonitor(LagMonitorSettings settings)
    : settings_(std::move(settings)),
      board_(std::make_shared<LagBoard>(rate_window(settings_.batch_interval))),
      rk_(make_client(settings_)) {
    thread_ = std::thread([this] { loop(); });
}

LagMonitor::~LagMonitor() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void LagMonitor::record_progress(const std::map<TopicPartition, int64_t> &next_offsets) {
    if (!board_->record_progress(next_offsets, wall_ms())) return;
    {
        std::lock_guard lock(mutex_);
        read_now_ = true;  // new partitions: their lag is known at once, not at the next poll
    }
    wake_.notify_all();
}

void LagMonitor::read_watermarks() {
    const auto partitions = board_->partitions();
    if (partitions.empty()) return;
    try {
        board_->set_watermarks(kafka::query_high_watermarks(rk_.get(), settings_.brokers,
                                                            partitions, settings_.query_timeout),
                               wall_ms());
        if (failing_since_ms_) spdlog::info("lag monitor: reading the high watermarks again");
        failing_since_ms_ = 0;
    } catch (const std::exception &e) {
        const int64_t now = wall_ms();
        if (!failing_since_ms_) failing_since_ms_ = now;
        // Once when it starts failing, then once a minute: the lag shows as unknown meanwhile.
        if (now - last_warning_ms_ >= 60'000) {
            last_warning_ms_ = now;
            spdlog::warn("lag monitor: {}; the lag is unknown until the brokers answer", e.what());
        }
    }
}

void LagMonitor::loop() {
    auto next_log = std::chrono::steady_clock::now() + settings_.log_every;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        read_watermarks();
        if (std::chrono::steady_clock::now() >= next_log) {
            next_log += settings_.log_every;
            spdlog::info("{}", describe_lag(board_->report(wall_ms())));
        }
        lock.lock();
        wake_.wait_for(lock, settings_.poll_every, [this] { return stopping_ || read_now_; });
        read_now_ = false;
    }
}

}  // namespace sluice::metrics
