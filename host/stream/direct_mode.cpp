#include "stream/direct_mode.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <thread>

#include "checkpoint/checkpoint_store.hpp"
#include "common/clock.hpp"
#include "common/data_loss_error.hpp"
#include "ingest/batch_releaser.hpp"
#include "ingest/direct_reader.hpp"
#include "plugins/plugin_chain.hpp"
#include "stream/partition_bounds.hpp"
#include "stream/rate_estimator.hpp"
#include "zk/legacy_layout.hpp"
#include "zk/offset_mirror.hpp"

namespace sluice::stream {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kMetadataTimeout{30000};
constexpr milliseconds kWatermarkTimeout{10000};  // per batch; a shutdown waits at most this
constexpr milliseconds kFetchTimeout{60000};
constexpr milliseconds kProgressEvery{5000};  // a batch still reading after this logs how far

}  // namespace

DirectMode::DirectMode() = default;
DirectMode::~DirectMode() = default;

void DirectMode::open_reader(const config::RunConfig &config, const std::string &bootstrap) {
    ingest::ReaderSettings settings;
    settings.brokers = bootstrap;
    settings.kafka = config.kafka;
    settings.group = config.commit_to_kafka ? config.group : std::string();
    settings.workers = config.workers;
    releaser_ = std::make_unique<ingest::BatchReleaser>();
    reader_ = std::make_unique<ingest::DirectReader>(settings);
    partitions_ = reader_->partitions_for(config.topics, kMetadataTimeout);
    if (partitions_.empty())
        throw std::runtime_error("no partitions found for topics given with --topics");

    // Size librdkafka's per-partition prefetch from the batch limits (memory
    // stays bounded by them), and never plan a range larger than it.
    limits_.batch_interval = config.batch_interval;
    limits_.max_rate_per_partition = config.max_rate_per_partition;
    limits_.max_batch_records = config.max_batch_records;
    limits_.fail_on_data_loss = config.fail_on_data_loss;
    // max-batch-bytes: step() turns it into a record cap from the average record so far; here
    // it bounds librdkafka's prefetch to half a batch in bytes and sizes the prefetch in
    // records (and so the largest range) as if records were 1 KiB: librdkafka counts only
    // payload bytes, and with small records its per-message overhead is the larger part.
    PlanLimits sizing = limits_;
    if (const int64_t most = records_for_bytes(config.max_batch_bytes, 0, 0); most > 0)
        sizing.max_batch_records =
            sizing.max_batch_records > 0 ? std::min(sizing.max_batch_records, most) : most;
    for (const auto &[key, value] :
         prefetch_byte_limits(config.max_batch_bytes, partitions_.size(), config.kafka))
        settings.kafka[key] = value;
    if (auto user = config.kafka.find("queued.min.messages"); user != config.kafka.end()) {
        limits_.max_records_per_partition = std::stoll(user->second);
    } else if (int64_t prefetch = prefetch_per_partition(sizing, partitions_.size())) {
        limits_.max_records_per_partition = prefetch;
        settings.kafka["queued.min.messages"] = std::to_string(prefetch);
        reader_.reset();  // librdkafka settings are fixed at creation: make it anew
        reader_ = std::make_unique<ingest::DirectReader>(std::move(settings));
        spdlog::debug("prefetch: {} records per partition", prefetch);
    }
    bounds_ = std::make_unique<BoundsSource>(*reader_);
    spdlog::info("direct mode on {}: {} partitions", bootstrap, partitions_.size());
}

void DirectMode::open(RunLoop &loop) {
    const config::RunConfig &config = loop.config();
    open_reader(config, loop.bootstrap());
    if (!config.checkpoint_dir.empty()) {
        checkpoint_ = std::make_unique<checkpoint::CheckpointStore>(config.checkpoint_dir);
        auto state = checkpoint_->recover();
        last_committed_ = std::move(state.last_committed);
        pending_ = std::move(state.pending);
        if (last_committed_)
            spdlog::info("checkpoint {}: last committed batch {}", checkpoint_->dir().string(),
                         last_committed_->batch_id);
    }
    positions_ = resolve_start_positions(loop);
    // The first batch plans from a reading of every partition (the fetchers started in
    // start() answer later: 10,000 partitions take seconds); later batches from the fetch
    // responses (BoundsSource).
    std::vector<TopicPartition> unread;
    for (const auto &tp : partitions_)
        if (!seeded_.count(tp)) unread.push_back(tp);
    seeded_.clear();
    try {
        bounds_->ask(unread, kWatermarkTimeout);
    } catch (const std::exception &e) {
        spdlog::debug("no watermarks before the first batch ({}): it asks again", e.what());
    }
    next_id_ = last_committed_ ? last_committed_->batch_id + 1 : 0;
}

std::map<TopicPartition, int64_t> DirectMode::resolve_start_positions(RunLoop &loop) {
    const config::RunConfig &config = loop.config();
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

    if (last_committed_) {
        std::map<TopicPartition, int64_t> from_checkpoint;
        for (const auto &r : last_committed_->ranges)
            from_checkpoint[r.topic_partition()] = r.until_offset;
        take(from_checkpoint, "checkpoint");
    }
    if (!config.from_offsets.empty()) {
        std::map<TopicPartition, int64_t> explicit_offsets;
        for (const auto &s : config.from_offsets) {
            if (!known.count(s.tp))
                throw std::runtime_error("--from-offsets names " + s.tp.to_string() +
                                         ", which is not among the subscribed partitions");
            explicit_offsets[s.tp] = s.offset;
        }
        take(explicit_offsets, "--from-offsets");
    }
    if (config.from_timestamp_ms && !remaining().empty())
        take(reader_->offsets_for_timestamp(remaining(), *config.from_timestamp_ms,
                                            kMetadataTimeout),
             "--from-timestamp");
    if (!remaining().empty())
        take(loop.chain().resume_offsets(remaining()), "plugin's own offsets");
    if (config.start_from_zookeeper && !config.group.empty() && !remaining().empty()) {
        zk::ZkSettings zookeeper{config.zookeeper, config.zookeeper_auth};
        take(zk::read_legacy_offsets(zookeeper, config.group, remaining()),
             "ZooKeeper /consumers/" + config.group + "/offsets");
    }
    if (!config.group.empty() && !remaining().empty())
        take(reader_->committed_offsets(remaining(), kMetadataTimeout),
             "group '" + config.group + "' committed offset");
    if (!remaining().empty()) {
        const bool earliest = config.auto_offset_reset == "earliest";
        std::map<TopicPartition, int64_t> reset;
        for (const auto &[tp, w] : reader_->query_watermarks(remaining(), kMetadataTimeout)) {
            reset[tp] = earliest ? w.low : w.high;
            bounds_->seed(tp, {w.low, w.high});  // the first batch plans from these
            seeded_.insert(tp);
        }
        take(reset, "auto-offset-reset=" + config.auto_offset_reset);
    }
    for (const auto &tp : partitions_) {
        if (!positions.count(tp))
            throw std::runtime_error("cannot find a start offset for " + tp.to_string());
        spdlog::info("start {} at offset {} ({})", tp.to_string(), positions[tp], source[tp]);
    }
    return positions;
}

std::map<TopicPartition, int64_t> DirectMode::mirror_start(RunLoop &, zk::MirrorSettings &) {
    return positions_;
}

StartOutcome DirectMode::start(RunLoop &loop, const std::atomic<bool> &abort) {
    if (auto r = loop.chain().partitions_assigned(partitions_); !r.ok()) {
        spdlog::error("plugin {} refused its partitions: {}", r.plugin, r.message);
        return {false, kExitFailure};
    }
    loop.metrics().next_offsets = positions_;
    loop.publish_metrics(metrics::RunState::running);
    // Every partition's fetcher runs from the start, so that its watermarks come with the
    // fetch responses (BoundsSource); starting them does not wait for the brokers.
    const auto starting = Clock::now();
    reader_->start(bounds_->startable(positions_));
    spdlog::debug("started the readers of {} partitions in {:.0f} ms", partitions_.size(),
                  ms_since(starting));
    if (!pending_) return {};
    spdlog::info("replaying batch {} planned before the last stop ({} ranges, same offsets)",
                 pending_->batch_id, pending_->ranges.size());
    const auto outcome = execute(loop, *pending_, true, Clock::now(), abort);
    return {true, outcome.committed ? kExitOk : outcome.exit_code};
}

BatchOutcome DirectMode::step(RunLoop &loop, Clock::time_point due, const std::atomic<bool> &stop,
                              const std::atomic<bool> &abort) {
    std::map<TopicPartition, PartitionBounds> bounds;
    try {
        bounds = bounds_->current(positions_, next_id_, kWatermarkTimeout);
    } catch (const std::exception &e) {
        // Brokers away: nothing is planned, nothing is lost; try again.
        spdlog::warn("batch {}: cannot ask Kafka for the latest offsets ({}); retrying in 1 s",
                     next_id_, e.what());
        for (int i = 0; i < 20 && !stop; ++i) std::this_thread::sleep_for(milliseconds(50));
        return {kExitOk, false};
    }
    PlannedRanges planned;
    loop.apply_flow_limits(&limits_);
    try {
        planned = plan_ranges(positions_, bounds, limits_);
    } catch (const DataLossError &e) {
        spdlog::error("{}", e.what());
        return {kExitDataLoss, false};
    }
    for (const auto &s : planned.skipped)
        spdlog::warn(
            "data loss on {}: skipped {} records (offsets {}..{}) because "
            "fail-on-data-loss=false",
            s.tp.to_string(), s.count(), s.from_offset, s.until_offset - 1);

    BatchPlan plan{next_id_, wall_ms(), std::move(planned.ranges)};
    if (loop.batches_done() == 0) {
        // The first batch of a run takes what accumulated while it was stopped: say how
        // much, as it can take a while (docs/benchmarks.md, "Catching up").
        int64_t backlog = 0;
        size_t active = 0;
        for (const auto &r : plan.ranges) {
            backlog += r.count();
            active += r.count() > 0;
        }
        if (backlog > 0)
            spdlog::info("batch {}: catching up {} records on {} of {} partitions{}", plan.batch_id,
                         backlog, active, plan.ranges.size(),
                         limits_.max_batch_records > 0 || limits_.max_rate_per_partition > 0
                             ? ""
                             : " in one batch (max-batch-records splits a backlog)");
    }
    // The plan is durable before any record is read, so a crash from here
    // on replays exactly these ranges under this id.
    if (checkpoint_) checkpoint_->write_offsets(plan);
    return execute(loop, plan, false, due, abort);
}

BatchOutcome DirectMode::execute(RunLoop &loop, const BatchPlan &plan, bool replay,
                                 Clock::time_point scheduled, const std::atomic<bool> &abort) {
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

    const config::RunConfig &config = loop.config();
    size_t active = 0;
    for (const auto &r : plan.ranges) active += r.count() > 0;
    ReadyBatch batch{plan.batch_id,
                     plan.batch_time_ms,
                     replay,
                     &plan.ranges,
                     fetched->records(),
                     fetched->record_count(),
                     fetched->bytes(),
                     scheduled,
                     started,
                     fmt::format("{} of {} partitions", active, plan.ranges.size())};
    const BatchOutcome outcome = loop.process(batch, abort, [&]() -> BatchOutcome {
        if (checkpoint_) checkpoint_->write_commit(plan);
        if (config.commit_to_kafka && !config.group.empty()) {
            try {
                // Only what moved since the last commit: an idle partition's offset is in
                // the group already (the first commit of a run has every partition).
                const auto moved = moved_since(plan.ranges, kafka_committed_);
                reader_->commit(moved);
                for (const auto &r : moved) kafka_committed_[r.topic_partition()] = r.until_offset;
            } catch (const std::exception &e) {
                // The checkpoint is the source of truth; the group commit is for
                // Kafka's tools and for restarts without a checkpoint.
                spdlog::warn("batch {}: offset commit to group '{}' failed: {}", plan.batch_id,
                             config.group, e.what());
            }
        }
        return {kExitOk, true};
    });
    if (!outcome.committed) return outcome;
    // The plan's ranges are in positions_'s order: walk both (no lookup per partition).
    auto at = positions_.begin();
    for (const auto &r : plan.ranges) {
        const TopicPartition tp = r.topic_partition();
        if (at == positions_.end() || at->first != tp) at = positions_.try_emplace(tp, 0).first;
        (at++)->second = r.until_offset;
    }
    next_id_ = plan.batch_id + 1;
    releaser_->release(std::move(fetched));
    return outcome;
}

int DirectMode::finish(RunLoop &loop, int exit_code, bool, const std::atomic<bool> &) {
    if (exit_code == kExitAbandoned)
        spdlog::warn("abandoned the batch in flight at shutdown; it is replayed on the next start");
    loop.chain().partitions_revoked(partitions_);
    return exit_code;
}

}  // namespace sluice::stream
