#include "stream/receiver_stream.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <thread>

#include "common/clock.hpp"
#include "common/human_bytes.hpp"
#include "kafka/metadata.hpp"
#include "metrics/collect.hpp"
#include "metrics/exporter.hpp"
#include "plugins/plugin_chain.hpp"
#include "receiver/block_queue.hpp"
#include "receiver/consumer_thread.hpp"
#include "stream/batch_runner.hpp"
#include "stream/chain_setup.hpp"
#include "stream/exit_codes.hpp"
#include "wal/write_ahead_log.hpp"
#include "zk/offset_mirror.hpp"

namespace sluice::stream {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kMetadataTimeout{30000};
// Replayed blocks are grouped into batches of about this many bytes.
constexpr uint64_t kReplayBatchBytes = 64ull << 20;

}  // namespace

ReceiverStream::ReceiverStream(config::RunConfig config, std::string bootstrap_servers)
    : config_(std::move(config)), bootstrap_(std::move(bootstrap_servers)) {}

ReceiverStream::~ReceiverStream() {
    // Consumer threads first: they push to the queue and append to the WAL.
    for (auto &r : receivers_) r->stop();
    receivers_.clear();
}

void ReceiverStream::open_components() {
    chain_ = build_chain(config_);
    runner_ = std::make_unique<BatchRunner>(*chain_, config_, bootstrap_);
    queue_ = std::make_unique<receiver::BlockQueue>();
    if (!config_.wal_dir.empty()) {
        wal::WalOptions options;
        options.dir = config_.wal_dir;
        options.fsync_interval = config_.wal_fsync_interval;
        options.max_bytes = config_.wal_max_bytes;
        // Segments must be able to roll (and be deleted) well before the WAL is full.
        options.segment_bytes =
            std::clamp<uint64_t>(config_.wal_max_bytes / 8, 256u << 10, 64ull << 20);
        wal_ = std::make_unique<wal::WriteAheadLog>(options);
    } else {
        spdlog::warn(
            "receiver mode without wal-dir: offsets are auto-committed as records are read, so a "
            "crash loses the records read but not yet processed; set wal-dir for no loss");
    }
}

void ReceiverStream::start_receivers() {
    for (const auto &topic : config_.topics) {
        auto found = config_.topic_threads.find(topic);
        const int threads = found == config_.topic_threads.end() ? 1 : found->second;
        for (int i = 0; i < threads; ++i) {
            receiver::ConsumerSettings s;
            s.brokers = bootstrap_;
            s.kafka = config_.kafka;
            s.group = config_.group;
            s.topic = topic;
            s.index = i;
            s.block_interval = config_.block_interval;
            s.max_rate = config_.receiver_max_rate;
            s.auto_offset_reset = config_.auto_offset_reset;
            s.wal = wal_.get();
            s.queue = queue_.get();
            if (wal_) {
                s.next_block_id = [w = wal_.get()] { return w->allocate_block_id(); };
            } else {
                s.next_block_id = [this] { return next_block_id_.fetch_add(1); };
            }
            receivers_.push_back(std::make_unique<receiver::ConsumerThread>(std::move(s)));
        }
    }
    for (auto &r : receivers_) r->start();
    spdlog::info(
        "receiver mode on {}: group '{}', {} consumer threads, block interval {} ms, {}",
        bootstrap_, config_.group, receivers_.size(), config_.block_interval.count(),
        wal_ ? fmt::format("WAL {} (fsync {})", config_.wal_dir.string(),
                           config_.wal_fsync_interval.count() == 0
                               ? std::string("every block")
                               : fmt::format("every {} ms", config_.wal_fsync_interval.count()))
             : std::string("no WAL (auto-commit)"));
}

void ReceiverStream::stop_receivers() {
    for (auto &r : receivers_) r->stop();
    for (auto &r : receivers_) r->join();
}

ReceiverStream::Outcome ReceiverStream::execute(std::vector<std::unique_ptr<wal::Block>> blocks,
                                                bool replay, Clock::time_point scheduled,
                                                const std::atomic<bool> &abort,
                                                const Planned *planned) {
    const auto started = Clock::now();
    // Ranges in order of first appearance; a partition's blocks come in offset order (one
    // thread reads it at a time) but may not touch (a rebalance in between).
    std::vector<OffsetRange> ranges;
    std::map<TopicPartition, size_t> index;
    size_t record_count = 0;
    uint64_t bytes = 0;
    for (const auto &b : blocks) {
        record_count += b->records.size();
        bytes += b->bytes();
        auto [it, fresh] = index.try_emplace(b->tp, ranges.size());
        if (fresh) {
            ranges.push_back(b->range());
        } else {
            auto &r = ranges[it->second];
            r.from_offset = std::min(r.from_offset, b->from_offset);
            r.until_offset = std::max(r.until_offset, b->until_offset);
        }
    }
    std::vector<sluice_record_t> records;
    records.reserve(record_count);
    for (const auto &b : blocks)
        records.insert(records.end(), b->records.begin(), b->records.end());

    // The id is spent once planned: a replay after a crash reuses it for exactly these blocks
    // (the batch_id promise of sluice.h), so a later batch never gets it.
    const int64_t batch_id = planned ? planned->batch_id : next_batch_id_++;
    const int64_t batch_time_ms = planned ? planned->batch_time_ms : wall_ms();
    std::vector<uint64_t> ids;
    ids.reserve(blocks.size());
    for (const auto &b : blocks) ids.push_back(b->id);
    if (wal_ && !planned) {
        try {
            // An empty batch has nothing to replay: its done mark, written first, is enough
            // to spend the id (one fsync, as before plans existed).
            if (ids.empty())
                wal_->mark_done(batch_id, ids);
            else
                wal_->plan_batch(batch_id, batch_time_ms, ids);
        } catch (const wal::WalError &) {
            return {kExitFailure, false};  // latched: run() reports it
        }
    }
    BatchView view =
        make_batch_view(batch_id, batch_time_ms, replay, ranges, records.data(), records.size());
    RunVerdict verdict = runner_->run(view.batch, abort);
    if (!verdict.commit) return {verdict.exit_code, false};

    const bool done_already = !planned && ids.empty();
    if (wal_ && !done_already) {
        try {
            wal_->mark_done(batch_id, ids);
        } catch (const wal::WalError &) {
            // Nothing of this batch reaches ZooKeeper; the next start replays it (same id).
            return {kExitFailure, false};
        }
    }
    if (mirror_ && !ranges.empty()) mirror_->publish(ranges);

    ++batches_done_;
    total_records_ += record_count;
    const double processing_ms = ms_since(started);
    const double delay_ms =
        std::max(0.0, std::chrono::duration<double, std::milli>(started - scheduled).count());
    metrics_.add_batch({batch_id, view.batch.batch_time_ms, replay, record_count, bytes,
                        processing_ms / 1000.0, delay_ms / 1000.0});
    metrics_.last_batch_committed_ms = wall_ms();
    metrics::fill_offsets(metrics_, ranges);
    publish_metrics(metrics::RunState::running);
    spdlog::info(
        "batch {}{}: {} records, {:.2f} MB, {} blocks, {} partitions, processing {:.0f} ms, "
        "scheduling delay {:.0f} ms{}",
        batch_id, replay ? " (replay)" : "", record_count, static_cast<double>(bytes) / 1e6,
        blocks.size(), ranges.size(), processing_ms, delay_ms,
        wal_ ? fmt::format(", WAL {} ({} blocks pending)", human_bytes(wal_->disk_bytes()),
                           wal_->pending_blocks())
             : std::string());
    return {kExitOk, true};
}

bool ReceiverStream::drain(std::deque<receiver::ReceiverItem> items, Clock::time_point due,
                           const std::atomic<bool> &abort, bool allow_empty) {
    std::vector<std::unique_ptr<wal::Block>> blocks;
    bool ran = false;
    auto flush = [&]() {
        if (blocks.empty() && (ran || !allow_empty)) return true;
        auto outcome = execute(std::move(blocks), false, due, abort);
        blocks.clear();
        ran = true;
        if (!outcome.committed) exit_code_ = outcome.exit_code;
        return outcome.committed;
    };
    for (auto &item : items) {
        switch (item.kind) {
            case receiver::ReceiverItem::Kind::block:
                blocks.push_back(std::move(item.block));
                break;
            case receiver::ReceiverItem::Kind::assigned: {
                owned_.insert(item.tps.begin(), item.tps.end());
                if (auto r = chain_->partitions_assigned(item.tps); !r.ok()) {
                    spdlog::error("plugin {} refused its partitions: {}", r.plugin, r.message);
                    exit_code_ = kExitFailure;
                    return false;
                }
                if (mirror_) mirror_->set_owned({owned_.begin(), owned_.end()});
                break;
            }
            case receiver::ReceiverItem::Kind::revoked: {
                // The blocks received before the revocation are processed first, so the
                // plugins see them before the partition closes.
                if (!blocks.empty() && !flush()) return false;
                for (const auto &tp : item.tps) owned_.erase(tp);
                if (auto r = chain_->partitions_revoked(item.tps); !r.ok())
                    spdlog::warn("plugin {} failed its partitions_revoked: {}", r.plugin,
                                 r.message);
                if (mirror_) mirror_->set_owned({owned_.begin(), owned_.end()});
                break;
            }
        }
    }
    return flush();
}

void ReceiverStream::publish_metrics(metrics::RunState state) {
    metrics::publish_run(exporter_.get(), metrics_, state, *chain_, mirror_.get());
}

int ReceiverStream::run(const std::atomic<bool> &stop, const std::atomic<bool> &abort) {
    metrics_.start_time_ms = wall_ms();
    metrics_.mode = "receiver";
    if (!config_.metrics_address.empty()) {
        exporter_ = std::make_unique<metrics::Exporter>(config_.metrics_address);
        exporter_->publish(metrics_);
    }
    open_components();

    // 1. The ZooKeeper mirror knows every partition of the topics from the start (Burrow
    // counts the nodes); which ones this process owns follows the group.
    if (!config_.zookeeper.empty()) {
        std::map<TopicPartition, int64_t> start;
        for (const auto &tp :
             kafka::partitions_for(bootstrap_, config_.kafka, config_.topics, kMetadataTimeout))
            start[tp] = -1;
        zk::MirrorSettings mirror;
        mirror.zookeeper = {config_.zookeeper, config_.zookeeper_auth};
        mirror.group = config_.group;
        // The thread count of each topic (NAME:N; a bare name is one thread).
        for (const auto &topic : config_.topics) {
            auto found = config_.topic_threads.find(topic);
            mirror.topic_threads[topic] = found == config_.topic_threads.end() ? 1 : found->second;
        }
        mirror_ = std::make_unique<zk::OffsetMirror>(std::move(mirror), start);
        mirror_->set_owned({});
        spdlog::info("mirroring the offsets of group '{}' to ZooKeeper {} as consumer {}",
                     config_.group, config_.zookeeper, mirror_->consumer_id());
    }

    // 2. Replay: blocks in the WAL never marked processed, before any new data.
    if (wal_ && !replay_wal(abort)) {
        if (wal_->failed()) return report_wal_failure();
        spdlog::error("replay of the WAL failed; the blocks stay pending for the next start");
        return exit_code_;
    }

    // 3. The receivers, then a batch every interval.
    start_receivers();
    publish_metrics(metrics::RunState::running);
    auto due = Clock::now() + config_.batch_interval;
    bool failed = false;
    while (!stop && (config_.max_batches == 0 || batches_done_ < config_.max_batches)) {
        while (!stop && Clock::now() < due)
            std::this_thread::sleep_for(
                std::min<Clock::duration>(due - Clock::now(), milliseconds(50)));
        if (stop) break;
        if (wal_ && wal_->failed()) {
            failed = true;
            break;
        }
        for (const auto &r : receivers_) {
            if (std::string why = r->failure(); !why.empty()) {
                if (!wal_ || !wal_->failed())  // else reported once, at the end
                    spdlog::error(
                        "{} failed: {}; stopping (what is in the WAL is replayed on the "
                        "next start)",
                        r->name(), why);
                exit_code_ = kExitFailure;
                failed = true;
            }
        }
        if (failed) break;
        if (!drain(queue_->take_all(), due, abort, true)) {
            failed = true;
            break;
        }
        due += config_.batch_interval;
    }

    // 4. Stop: receivers seal, store and commit what they read, leave the group; the blocks
    // they hand over are the last batch (unless the shutdown was abandoned or a batch failed).
    stop_receivers();
    auto rest = queue_->take_all();
    if (!failed && !abort) {
        const bool had_blocks = std::any_of(rest.begin(), rest.end(), [](const auto &item) {
            return item.kind == receiver::ReceiverItem::Kind::block;
        });
        if (had_blocks) spdlog::info("processing what the receivers read before stopping");
        drain(std::move(rest), Clock::now(), abort, false);
    } else if (abort && exit_code_ == kExitOk) {
        exit_code_ = kExitAbandoned;
    }
    if (exit_code_ == kExitAbandoned)
        spdlog::warn("abandoned the blocks not yet processed at shutdown; {}",
                     wal_ ? "they are in the WAL and replayed on the next start"
                          : "without a WAL they are lost if their offsets were auto-committed");
    if (!owned_.empty()) chain_->partitions_revoked({owned_.begin(), owned_.end()});
    publish_metrics(metrics::RunState::stopping);
    mirror_.reset();
    receivers_.clear();
    if (exporter_) exporter_->stop();
    spdlog::info("stopped after {} batches, {} records", batches_done_, total_records_);
    if (wal_ && wal_->failed()) return report_wal_failure();
    return exit_code_;
}

int ReceiverStream::report_wal_failure() {
    // One line for the whole run: the consumer threads and the batch thread all fail with this
    // same error once it is latched, and none of them logs it.
    spdlog::error("{}", wal_->failure());
    exit_code_ = kExitFailure;
    return exit_code_;
}

bool ReceiverStream::replay_wal(const std::atomic<bool> &abort) {
    wal::Recovery recovery = wal_->take_recovery();
    next_batch_id_ = recovery.last_batch_id + 1;
    size_t replay_records = 0, replay_blocks = recovery.pending.size();
    for (const auto &b : recovery.pending) replay_records += b->records.size();
    for (const auto &batch : recovery.planned) {
        replay_blocks += batch.blocks.size();
        for (const auto &b : batch.blocks) replay_records += b->records.size();
    }
    spdlog::info(
        "wal {}: {} segments, {} blocks already processed, {} blocks ({} records) to replay{}{}",
        config_.wal_dir.string(), recovery.segments, recovery.blocks_done, replay_blocks,
        replay_records,
        recovery.planned.empty()
            ? std::string()
            : fmt::format(" ({} planned batches replayed as they were)", recovery.planned.size()),
        recovery.torn_entries ? fmt::format("; cut a torn tail of {} bytes from {}",
                                            recovery.torn_bytes, recovery.torn_segment)
                              : std::string());
    if (recovery.pending.empty() && recovery.planned.empty()) return true;

    std::set<TopicPartition> tps;
    for (const auto &b : recovery.pending) tps.insert(b->tp);
    for (const auto &batch : recovery.planned)
        for (const auto &b : batch.blocks) tps.insert(b->tp);
    const std::vector<TopicPartition> replayed(tps.begin(), tps.end());
    if (auto r = chain_->partitions_assigned(replayed); !r.ok()) {
        spdlog::error("plugin {} refused its partitions: {}", r.plugin, r.message);
        exit_code_ = kExitFailure;
        return false;
    }
    auto run = [&](std::vector<std::unique_ptr<wal::Block>> blocks, const Planned *planned) {
        auto outcome = execute(std::move(blocks), true, Clock::now(), abort, planned);
        if (!outcome.committed) exit_code_ = outcome.exit_code;
        return outcome.committed;
    };
    bool ok = true;
    // First the batches that were planned when the last run stopped: the same id, time and
    // blocks, in id order (a plugin may have seen them, and keys its output by the id).
    for (auto &batch : recovery.planned) {
        const Planned planned{batch.batch_id, batch.batch_time_ms};
        if (!(ok = run(std::move(batch.blocks), &planned))) break;
    }
    // Then the blocks no batch was planned for, regrouped under new ids.
    std::vector<std::unique_ptr<wal::Block>> batch;
    uint64_t batch_bytes = 0;
    for (auto &b : recovery.pending) {
        if (!ok) break;
        batch_bytes += b->bytes();
        batch.push_back(std::move(b));
        if (batch_bytes >= kReplayBatchBytes) {
            ok = run(std::move(batch), nullptr);
            batch.clear();
            batch_bytes = 0;
        }
    }
    if (ok && !batch.empty()) ok = run(std::move(batch), nullptr);
    chain_->partitions_revoked(replayed);
    return ok;
}

}  // namespace sluice::stream
