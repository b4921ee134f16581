#include "stream/direct_stream.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <thread>

#include "checkpoint/checkpoint_store.hpp"
#include "common/clock.hpp"
#include "ingest/batch_releaser.hpp"
#include "ingest/direct_reader.hpp"
#include "metrics/collect.hpp"
#include "metrics/exporter.hpp"
#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_loader.hpp"
#include "stream/batch_runner.hpp"
#include "stream/chain_setup.hpp"
#include "stream/offset_planner.hpp"
#include "zk/legacy_layout.hpp"
#include "zk/offset_mirror.hpp"

namespace sluice::stream {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kMetadataTimeout{30000};
constexpr milliseconds kWatermarkTimeout{10000};  // per batch; a shutdown waits at most this
constexpr milliseconds kFetchTimeout{60000};
constexpr milliseconds kProgressEvery{5000};  // a batch still reading after this logs how far

}  // namespace

DirectStream::DirectStream(config::RunConfig config, std::string bootstrap_servers)
    : config_(std::move(config)), bootstrap_(std::move(bootstrap_servers)) {}

DirectStream::~DirectStream() = default;

void DirectStream::open_components() {
    chain_ = build_chain(config_);
    runner_ = std::make_unique<BatchRunner>(*chain_, config_, bootstrap_);

    ingest::ReaderSettings settings;
    settings.brokers = bootstrap_;
    settings.kafka = config_.kafka;
    settings.group = config_.commit_to_kafka ? config_.group : std::string();
    settings.workers = config_.workers;
    releaser_ = std::make_unique<ingest::BatchReleaser>();
    reader_ = std::make_unique<ingest::DirectReader>(settings);
    partitions_ = reader_->partitions_for(config_.topics, kMetadataTimeout);
    if (partitions_.empty())
        throw std::runtime_error("no partitions found for topics given with --topics");

    // Size librdkafka's per-partition prefetch from the batch limits (memory
    // stays bounded by them), and never plan a range larger than it.
    limits_.batch_interval = config_.batch_interval;
    limits_.max_rate_per_partition = config_.max_rate_per_partition;
    limits_.max_batch_records = config_.max_batch_records;
    limits_.fail_on_data_loss = config_.fail_on_data_loss;
    if (auto user = config_.kafka.find("queued.min.messages"); user != config_.kafka.end()) {
        limits_.max_records_per_partition = std::stoll(user->second);
    } else if (int64_t prefetch = prefetch_per_partition(limits_, partitions_.size())) {
        limits_.max_records_per_partition = prefetch;
        settings.kafka["queued.min.messages"] = std::to_string(prefetch);
        reader_.reset();  // librdkafka settings are fixed at creation: make it anew
        reader_ = std::make_unique<ingest::DirectReader>(std::move(settings));
        spdlog::debug("prefetch: {} records per partition", prefetch);
    }
    spdlog::info("direct mode on {}: {} partitions", bootstrap_, partitions_.size());

    if (!config_.checkpoint_dir.empty())
        checkpoint_ = std::make_unique<checkpoint::CheckpointStore>(config_.checkpoint_dir);
}

std::map<TopicPartition, int64_t> DirectStream::resolve_start_positions(
    const std::optional<BatchPlan> &last_committed) {
    std::map<TopicPartition, int64_t> positions;
    std::map<TopicPartition, std::string> source;
    const std::set<TopicPartition> known(partitions_.begin(), partitions_.end());
    auto remaining = [&] {
        std::vector<TopicPartition> out;
        for (const auto &tp : partitions_)
            if (!positions.count(tp)) out.push_back(tp);
        return out;
    };
    auto take = [&](const std::map<TopicPartition, int64_t> &found, const std::string &why) {
        for (const auto &[tp, offset] : found) {
            if (offset < 0 || positions.count(tp) || !known.count(tp)) continue;
            positions[tp] = offset;
            source[tp] = why;
        }
    };

    if (last_committed) {
        std::map<TopicPartition, int64_t> from_checkpoint;
        for (const auto &r : last_committed->ranges)
            from_checkpoint[r.topic_partition()] = r.until_offset;
        take(from_checkpoint, "checkpoint");
    }
    if (!config_.from_offsets.empty()) {
        std::map<TopicPartition, int64_t> explicit_offsets;
        for (const auto &s : config_.from_offsets) {
            if (!known.count(s.tp))
                throw std::runtime_error("--from-offsets names " + s.tp.to_string() +
                                         ", which is not among the subscribed partitions");
            explicit_offsets[s.tp] = s.offset;
        }
        take(explicit_offsets, "--from-offsets");
    }
    if (config_.from_timestamp_ms && !remaining().empty())
        take(reader_->offsets_for_timestamp(remaining(), *config_.from_timestamp_ms,
                                            kMetadataTimeout),
             "--from-timestamp");
    if (!remaining().empty()) take(chain_->resume_offsets(remaining()), "plugin's own offsets");
    if (config_.start_from_zookeeper && !config_.group.empty() && !remaining().empty()) {
        zk::ZkSettings zookeeper{config_.zookeeper, config_.zookeeper_auth};
        take(zk::read_legacy_offsets(zookeeper, config_.group, remaining()),
             "ZooKeeper /consumers/" + config_.group + "/offsets");
    }
    if (!config_.group.empty() && !remaining().empty())
        take(reader_->committed_offsets(remaining(), kMetadataTimeout),
             "group '" + config_.group + "' committed offset");
    if (!remaining().empty()) {
        const bool earliest = config_.auto_offset_reset == "earliest";
        std::map<TopicPartition, int64_t> reset;
        for (const auto &[tp, w] : reader_->query_watermarks(remaining(), kMetadataTimeout))
            reset[tp] = earliest ? w.low : w.high;
        take(reset, "auto-offset-reset=" + config_.auto_offset_reset);
    }
    for (const auto &tp : partitions_) {
        if (!positions.count(tp))
            throw std::runtime_error("cannot find a start offset for " + tp.to_string());
        spdlog::info("start {} at offset {} ({})", tp.to_string(), positions[tp], source[tp]);
    }
    return positions;
}

DirectStream::BatchOutcome DirectStream::execute(const BatchPlan &plan, bool replay,
                                                 Clock::time_point scheduled,
                                                 const std::atomic<bool> &abort) {
    const auto started = Clock::now();
    std::vector<OffsetRange> to_read;
    for (const auto &r : plan.ranges)
        if (r.count() > 0) to_read.push_back(r);

    // A long read (a backlog after a restart, a slow broker) says how far it is.
    const auto report = [&](const ingest::FetchProgress &p) {
        const double seconds = std::chrono::duration<double>(p.elapsed).count();
        spdlog::info(
            "batch {}: reading, {} of {} records after {:.0f} s ({:.0f} records/s), {} of {} "
            "partitions done",
            plan.batch_id, p.records, p.planned, seconds,
            seconds > 0 ? static_cast<double>(p.records) / seconds : 0.0, p.ranges_done, p.ranges);
    };
    std::unique_ptr<ingest::FetchedBatch> fetched;
    while (!fetched) {
        try {
            fetched = reader_->fetch(to_read, kFetchTimeout, abort, report, kProgressEvery);
        } catch (const ingest::FetchTimeout &e) {
            if (abort) return {kExitAbandoned, false};
            spdlog::warn("batch {}: {}; retrying the same ranges", plan.batch_id, e.what());
        } catch (const DataLossError &e) {
            spdlog::error("batch {}: {}", plan.batch_id, e.what());
            return {kExitDataLoss, false};
        } catch (const std::exception &e) {
            if (abort) return {kExitAbandoned, false};
            throw;
        }
    }
    if (abort) return {kExitAbandoned, false};

    BatchView view = make_batch_view(plan.batch_id, plan.batch_time_ms, replay, plan.ranges,
                                     fetched->records(), fetched->record_count());
    RunVerdict verdict = runner_->run(view.batch, abort);
    if (!verdict.commit) return {verdict.exit_code, false};

    if (checkpoint_) checkpoint_->write_commit(plan);
    if (config_.commit_to_kafka && !config_.group.empty()) {
        try {
            reader_->commit(plan.ranges);
        } catch (const std::exception &e) {
            // The checkpoint is the source of truth; the group commit is for
            // Kafka's tools and for restarts without a checkpoint.
            spdlog::warn("batch {}: offset commit to group '{}' failed: {}", plan.batch_id,
                         config_.group, e.what());
        }
    }
    if (mirror_) mirror_->publish(plan.ranges);  // only queues them: never waits for ZooKeeper

    size_t active = 0;
    for (const auto &r : plan.ranges) active += r.count() > 0;
    total_records_ += fetched->record_count();
    const double delay_ms =
        std::max(0.0, std::chrono::duration<double, std::milli>(started - scheduled).count());
    const double processing_ms = ms_since(started);
    metrics_.add_batch({plan.batch_id, plan.batch_time_ms, replay, fetched->record_count(),
                        fetched->bytes(), processing_ms / 1000.0, delay_ms / 1000.0});
    metrics_.last_batch_committed_ms = wall_ms();
    metrics::fill_offsets(metrics_, plan.ranges);
    spdlog::info(
        "batch {}{}: {} records, {:.2f} MB, {} of {} partitions, processing {:.0f} ms, "
        "scheduling delay {:.0f} ms",
        plan.batch_id, replay ? " (replay)" : "", fetched->record_count(),
        static_cast<double>(fetched->bytes()) / 1e6, active, plan.ranges.size(), processing_ms,
        delay_ms);
    releaser_->release(std::move(fetched));
    return {kExitOk, true};
}

void DirectStream::publish_metrics(metrics::RunState state) {
    metrics::publish_run(exporter_.get(), metrics_, state, *chain_, mirror_.get());
}

int DirectStream::run(const std::atomic<bool> &stop, const std::atomic<bool> &abort) {
    // First, so that a port in use fails the run before Kafka is even asked.
    metrics_.start_time_ms = wall_ms();
    if (!config_.metrics_address.empty()) {
        exporter_ = std::make_unique<metrics::Exporter>(config_.metrics_address);
        exporter_->publish(metrics_);  // state "starting" while Kafka and the plugins open
    }
    open_components();

    std::optional<BatchPlan> last_committed, pending;
    if (checkpoint_) {
        auto state = checkpoint_->recover();
        last_committed = std::move(state.last_committed);
        pending = std::move(state.pending);
        if (last_committed)
            spdlog::info("checkpoint {}: last committed batch {}", checkpoint_->dir().string(),
                         last_committed->batch_id);
    }
    auto positions = resolve_start_positions(last_committed);
    if (!config_.zookeeper.empty() && !config_.group.empty()) {
        zk::MirrorSettings mirror;
        mirror.zookeeper = {config_.zookeeper, config_.zookeeper_auth};
        mirror.group = config_.group;
        mirror_ = std::make_unique<zk::OffsetMirror>(std::move(mirror), positions);
        spdlog::info("mirroring the offsets of group '{}' to ZooKeeper {} as consumer {}",
                     config_.group, config_.zookeeper, mirror_->consumer_id());
    } else if (!config_.zookeeper.empty()) {
        spdlog::warn("--zookeeper without --group: no offsets are mirrored to ZooKeeper");
    }
    int64_t next_id = last_committed ? last_committed->batch_id + 1 : 0;

    if (auto r = chain_->partitions_assigned(partitions_); !r.ok()) {
        spdlog::error("plugin {} refused its partitions: {}", r.plugin, r.message);
        return kExitFailure;
    }
    metrics_.next_offsets = positions;
    publish_metrics(metrics::RunState::running);

    int exit_code = kExitOk;
    int64_t batches_done = 0;
    auto finish_batch = [&](const BatchPlan &plan) {
        for (const auto &r : plan.ranges) positions[r.topic_partition()] = r.until_offset;
        next_id = plan.batch_id + 1;
        ++batches_done;
        publish_metrics(metrics::RunState::running);
    };

    if (pending) {
        spdlog::info("replaying batch {} planned before the last stop ({} ranges, same offsets)",
                     pending->batch_id, pending->ranges.size());
        auto outcome = execute(*pending, true, Clock::now(), abort);
        if (!outcome.committed)
            exit_code = outcome.exit_code;
        else
            finish_batch(*pending);
    }

    // Batches are due at start + k * interval; a batch that starts late
    // reports the lateness as its scheduling delay.
    auto due = Clock::now();
    auto last_full_query = Clock::time_point{};
    while (exit_code == kExitOk && !stop &&
           (config_.max_batches == 0 || batches_done < config_.max_batches)) {
        while (!stop && Clock::now() < due)
            std::this_thread::sleep_for(
                std::min<Clock::duration>(due - Clock::now(), milliseconds(50)));
        if (stop) break;

        std::map<TopicPartition, PartitionBounds> bounds;
        try {
            // Fetch responses already carry every running partition's
            // watermarks: with short intervals, ask the brokers (a ListOffsets
            // round trip that queues behind fetch traffic) only for the others
            // and at least once a second.
            std::vector<TopicPartition> ask = partitions_;
            if (Clock::now() - last_full_query < std::chrono::seconds(1)) {
                ask.clear();
                auto cached = reader_->cached_watermarks(partitions_);
                for (const auto &tp : partitions_) {
                    auto it = cached.find(tp);
                    if (it == cached.end())
                        ask.push_back(tp);
                    else
                        bounds[tp] = {it->second.low, it->second.high};
                }
            }
            if (!ask.empty())
                spdlog::debug("batch {}: asking the brokers for the offsets of {} partitions",
                              next_id, ask.size());
            for (const auto &[tp, w] : reader_->query_watermarks(ask, kWatermarkTimeout))
                bounds[tp] = {w.low, w.high};
            if (ask.size() == partitions_.size()) last_full_query = Clock::now();
        } catch (const std::exception &e) {
            // Brokers away: nothing is planned, nothing is lost; try again.
            spdlog::warn("batch {}: cannot ask Kafka for the latest offsets ({}); retrying in 1 s",
                         next_id, e.what());
            for (int i = 0; i < 20 && !stop; ++i) std::this_thread::sleep_for(milliseconds(50));
            continue;
        }
        PlannedRanges planned;
        try {
            planned = plan_ranges(positions, bounds, limits_);
        } catch (const DataLossError &e) {
            spdlog::error("{}", e.what());
            exit_code = kExitDataLoss;
            break;
        }
        for (const auto &s : planned.skipped)
            spdlog::warn(
                "data loss on {}: skipped {} records (offsets {}..{}) because "
                "fail-on-data-loss=false",
                s.tp.to_string(), s.count(), s.from_offset, s.until_offset - 1);

        BatchPlan plan{next_id, wall_ms(), std::move(planned.ranges)};
        if (batches_done == 0) {
            // The first batch of a run takes what accumulated while it was stopped: say how
            // much, as it can take a while (docs/benchmarks.md, "Catching up").
            int64_t backlog = 0;
            size_t active = 0;
            for (const auto &r : plan.ranges) {
                backlog += r.count();
                active += r.count() > 0;
            }
            if (backlog > 0)
                spdlog::info("batch {}: catching up {} records on {} of {} partitions{}",
                             plan.batch_id, backlog, active, plan.ranges.size(),
                             limits_.max_batch_records > 0 || limits_.max_rate_per_partition > 0
                                 ? ""
                                 : " in one batch (max-batch-records splits a backlog)");
        }
        // The plan is durable before any record is read, so a crash from here
        // on replays exactly these ranges under this id.
        if (checkpoint_) checkpoint_->write_offsets(plan);
        auto outcome = execute(plan, false, due, abort);
        if (!outcome.committed) {
            exit_code = outcome.exit_code;
            break;
        }
        finish_batch(plan);
        due += config_.batch_interval;
    }

    if (exit_code == kExitAbandoned)
        spdlog::warn("abandoned the batch in flight at shutdown; it is replayed on the next start");
    publish_metrics(metrics::RunState::stopping);
    chain_->partitions_revoked(partitions_);
    mirror_.reset();  // writes the last offsets (bounded wait), ends the ZooKeeper session
    if (exporter_) exporter_->stop();  // joins the HTTP thread
    spdlog::info("stopped after {} batches, {} records", batches_done, total_records_);
    return exit_code;
}

}  // namespace sluice::stream
