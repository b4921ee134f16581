#include "stream/run_loop.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "common/clock.hpp"
#include "kafka/metadata.hpp"
#include "metrics/collect.hpp"
#include "metrics/exporter.hpp"
#include "metrics/lag_monitor.hpp"
#include "plugins/canary.hpp"
#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_reloader.hpp"
#include "stream/batch_runner.hpp"
#include "stream/chain_setup.hpp"
#include "stream/offset_planner.hpp"
#include "zk/offset_mirror.hpp"

namespace sluice::stream {

RunLoop::RunLoop(config::RunConfig config, std::string bootstrap_servers,
                 std::unique_ptr<BatchSource> source)
    : config_(std::move(config)),
      bootstrap_(std::move(bootstrap_servers)),
      source_(std::move(source)) {}

RunLoop::~RunLoop() {
    source_.reset();  // first: its threads push to queues and logs the loop outlives
}

void RunLoop::publish_metrics(metrics::RunState state) {
    if (lag_) lag_->record_progress(metrics_.next_offsets);
    metrics::publish_run(exporter_.get(), metrics_, state, *chain_, mirror_.get());
}

void RunLoop::start_mirror() {
    if (config_.zookeeper.empty()) return;
    if (config_.group.empty()) {
        spdlog::warn("--zookeeper without --group: no offsets are mirrored to ZooKeeper");
        return;
    }
    zk::MirrorSettings settings;
    settings.zookeeper = {config_.zookeeper, config_.zookeeper_auth};
    settings.group = config_.group;
    const auto start = source_->mirror_start(*this, settings);
    mirror_ = std::make_unique<zk::OffsetMirror>(std::move(settings), start);
    spdlog::info("mirroring the offsets of group '{}' to ZooKeeper {} as consumer {}",
                 config_.group, config_.zookeeper, mirror_->consumer_id());
}

BatchOutcome RunLoop::run_chain(const ReadyBatch &batch, const std::atomic<bool> &abort) {
    BatchView view = make_batch_view(batch.batch_id, batch.batch_time_ms, batch.replay,
                                     *batch.ranges, batch.records, batch.record_count);
    RunVerdict verdict = runner_->run(view.batch, abort);
    return {verdict.commit ? kExitOk : verdict.exit_code, verdict.commit};
}

void RunLoop::record(const ReadyBatch &batch) {
    const auto &ranges = *batch.ranges;
    // Only queues them: never waits for ZooKeeper.
    if (mirror_ && !ranges.empty()) mirror_->publish(ranges);
    ++batches_done_;
    total_records_ += batch.record_count;
    const double processing_ms = ms_since(batch.started);
    const double delay_ms = std::max(
        0.0, std::chrono::duration<double, std::milli>(batch.started - batch.scheduled).count());
    if (estimator_) {
        // Spark's RateController: each finished batch updates the estimate the next one uses.
        const auto now_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
                .count();
        if (auto rate = estimator_->compute(now_ms, static_cast<int64_t>(batch.record_count),
                                            std::llround(processing_ms), std::llround(delay_ms)))
            spdlog::debug("backpressure: {:.0f} records/s after batch {}", *rate, batch.batch_id);
        metrics_.backpressure->rate = estimator_->rate();
    }
    metrics_.add_batch({batch.batch_id, batch.batch_time_ms, batch.replay, batch.record_count,
                        batch.bytes, processing_ms / 1000.0, delay_ms / 1000.0});
    metrics_.last_batch_committed_ms = wall_ms();
    metrics_.observe_record_latency(batch.records, batch.record_count,
                                    metrics_.last_batch_committed_ms);
    metrics::fill_offsets(metrics_, ranges);
    if (lag_) lag_->add_batch(ranges);
    publish_metrics(metrics::RunState::running);
    spdlog::info(
        "batch {}{}: {} records, {:.2f} MB, {}, processing {:.0f} ms, scheduling delay {:.0f} "
        "ms{}",
        batch.batch_id, batch.replay ? " (replay)" : "", batch.record_count,
        static_cast<double>(batch.bytes) / 1e6, batch.detail, processing_ms, delay_ms,
        source_->batch_suffix());
}

double RunLoop::backpressure_rate() const {
    if (!estimator_) return 0;
    if (auto rate = estimator_->rate()) return *rate;
    return static_cast<double>(config_.backpressure_initial_rate);
}

void RunLoop::apply_flow_limits(PlanLimits *limits) const {
    limits->backpressure_rate = backpressure_rate();  // 0 unless backpressure = true
    if (const int64_t cap =
            records_for_bytes(config_.max_batch_bytes, metrics_.bytes, metrics_.records);
        cap > 0)
        limits->max_batch_records =
            config_.max_batch_records > 0 ? std::min(config_.max_batch_records, cap) : cap;
}

void RunLoop::hold(const std::atomic<bool> &stop) {
    const auto since = Clock::now();
    spdlog::info(
        "paused by POST /control/pause after {} batches: no batch starts until POST "
        "/control/resume",
        batches_done_);
    source_->pause_intake(true);
    while (!stop && pause_requested_) {
        source_->while_paused();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    source_->pause_intake(false);
    if (!stop)
        spdlog::info("resumed by POST /control/resume after {:.1f} s paused",
                     ms_since(since) / 1000.0);
}

int RunLoop::run(const std::atomic<bool> &stop, const std::atomic<bool> &abort) {
    // A stop during the first metadata wait (brokers unreachable) ends it at once, not after
    // its 30 s timeout.
    kafka::StopWaits stoppable_waits(stop);
    // First, so that a port in use fails the run before Kafka is even asked.
    metrics_.start_time_ms = wall_ms();
    metrics_.mode = source_->mode();
    metrics_.batch_interval_ms = config_.batch_interval.count();
    if (config_.backpressure) {
        estimator_.emplace(config_.batch_interval.count());
        metrics_.backpressure =
            metrics::BackpressureSnapshot{{}, config_.backpressure_initial_rate};
    }
    if (!config_.metrics_address.empty()) {
        metrics::ExporterOptions options;
        if (!config_.control_token.empty()) {  // else the /control routes do not exist
            options.control.token = config_.control_token;
            options.control.set_paused = [this](bool paused) { pause_requested_ = paused; };
            options.control.paused = [this] { return pause_requested_.load(); };
            options.control.reload = [hot_reload = config_.hot_reload]() -> std::string {
                if (!hot_reload) return "hot reload is off (hot-reload = false): nothing to rescan";
                spdlog::info("POST /control/reload: rescanning the plugin directories");
                plugins::PluginReloader::rescan_all();
                return "rescanning the plugin directories";
            };
            options.control.promote = [] { return plugins::CanaryShadow::promote_all(); };
            options.control.canary = [](std::string_view query) {
                return plugins::CanaryShadow::deploy_request(query);
            };
        }
        exporter_ =
            std::make_unique<metrics::Exporter>(config_.metrics_address, std::move(options));
        exporter_->publish(metrics_);  // state "starting" while Kafka and the plugins open
    }
    chain_ = build_chain(config_);
    runner_ = std::make_unique<BatchRunner>(*chain_, config_, bootstrap_);
    try {
        source_->open(*this);
    } catch (const kafka::WaitStopped &e) {
        spdlog::info("{}; nothing was read", e.what());
        return kExitOk;
    }
    lag_ = std::make_unique<metrics::LagMonitor>(
        metrics::LagMonitorSettings{bootstrap_, config_.kafka, config_.batch_interval});
    metrics_.lag = lag_->board();
    start_mirror();
    const StartOutcome started = source_->start(*this, abort);
    if (!started.started) return started.exit_code;
    publish_metrics(metrics::RunState::running);

    // Batches are due at first_due + k * interval; a batch that starts late reports the
    // lateness as its scheduling delay.
    int exit_code = started.exit_code;
    bool failed = exit_code != kExitOk;
    auto due = source_->first_due();
    while (exit_code == kExitOk && !stop &&
           (config_.max_batches == 0 || batches_done_ < config_.max_batches)) {
        while (!stop && !pause_requested_ && Clock::now() < due)
            std::this_thread::sleep_for(
                std::min<Clock::duration>(due - Clock::now(), std::chrono::milliseconds(50)));
        if (stop) break;
        if (pause_requested_) {
            hold(stop);
            due = Clock::now();  // a new schedule: the pause is no scheduling delay
            continue;
        }
        const BatchOutcome outcome = source_->step(*this, due, stop, abort);
        if (!outcome.committed && outcome.exit_code == kExitOk) continue;  // nothing planned
        if (!outcome.committed) {
            exit_code = outcome.exit_code;
            failed = true;
            break;
        }
        due += config_.batch_interval;
    }

    exit_code = source_->finish(*this, exit_code, failed, abort);
    publish_metrics(metrics::RunState::stopping);
    mirror_.reset();  // writes the last offsets (bounded wait), ends the ZooKeeper session
    lag_.reset();     // waits at most for a watermark reading under way
    if (exporter_) exporter_->stop();  // joins the HTTP thread
    spdlog::info("stopped after {} batches, {} records", batches_done_, total_records_);
    return source_->final_exit_code(exit_code);
}

}  // namespace sluice::stream
