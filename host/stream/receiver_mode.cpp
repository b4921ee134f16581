#include "stream/receiver_mode.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <thread>

#include "common/clock.hpp"
#include "common/human_bytes.hpp"
#include "kafka/metadata.hpp"
#include "plugins/plugin_chain.hpp"
#include "receiver/block_queue.hpp"
#include "receiver/consumer_thread.hpp"
#include "wal/write_ahead_log.hpp"
#include "zk/offset_mirror.hpp"

namespace sluice::stream {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kMetadataTimeout{30000};
// At the stop, how long the consumer threads may take to land their last commits (a rebalance
// under way has to end first).
constexpr milliseconds kLastCommitWait{15000};
// As a batch starts, how long it waits for the consumer threads to seal what they read (they
// answer within a millisecond or two unless a rebalance callback holds them).
constexpr milliseconds kSealWait{20};
// Replayed blocks are grouped into batches of about this many bytes.
constexpr uint64_t kReplayBatchBytes = 64ull << 20;

}  // namespace

ReceiverMode::ReceiverMode() = default;

ReceiverMode::~ReceiverMode() {
    // Consumer threads first: they push to the queue and append to the WAL.
    for (auto &r : receivers_) r->stop();
    receivers_.clear();
}

void ReceiverMode::open(RunLoop &loop) {
    const config::RunConfig &config = loop.config();
    // The same bounded first wait as direct mode: unreachable brokers or an unknown topic are
    // one line and exit 1, not empty batches for ever.
    partitions_ =
        kafka::partitions_for(loop.bootstrap(), config.kafka, config.topics, kMetadataTimeout);
    queue_ = std::make_unique<receiver::BlockQueue>();
    loop_commit_ = config.receiver_commit;
    if (!config.wal_dir.empty()) {
        wal::WalOptions options;
        options.dir = config.wal_dir;
        options.fsync_interval = config.wal_fsync_interval;
        options.max_bytes = config.wal_max_bytes;
        // Segments must be able to roll (and be deleted) well before the WAL is full.
        options.segment_bytes =
            std::clamp<uint64_t>(config.wal_max_bytes / 8, 256u << 10, 64ull << 20);
        wal_ = std::make_unique<wal::WriteAheadLog>(options);
    }
    if (config.receiver_commit == config::ReceiverCommit::read)
        spdlog::warn(
            "receiver-commit = read: offsets are auto-committed as records are read, so a crash "
            "loses the records read but not yet processed; use receiver-commit = processed (the "
            "default) for no loss");
    else if (config.receiver_commit == config::ReceiverCommit::stored)
        spdlog::warn(
            "receiver-commit = stored: offsets are committed once their block is in the local "
            "WAL, so losing this machine (its disk) loses the blocks not yet processed; use "
            "receiver-commit = processed (the default) for no loss");
}

std::map<TopicPartition, int64_t> ReceiverMode::mirror_start(RunLoop &loop,
                                                             zk::MirrorSettings &settings) {
    // The ZooKeeper mirror knows every partition of the topics from the start (Burrow counts
    // the nodes); which ones this process owns follows the group (set_owned).
    const config::RunConfig &config = loop.config();
    std::map<TopicPartition, int64_t> start;
    for (const auto &tp : partitions_) start[tp] = -1;
    // The thread count of each topic (NAME:N; a bare name is one thread).
    for (const auto &topic : config.topics) {
        auto found = config.topic_threads.find(topic);
        settings.topic_threads[topic] = found == config.topic_threads.end() ? 1 : found->second;
    }
    return start;
}

StartOutcome ReceiverMode::start(RunLoop &loop, const std::atomic<bool> &abort) {
    if (auto *mirror = loop.mirror()) mirror->set_owned({});
    // Replay: blocks in the WAL never marked processed, before any new data.
    if (wal_ && !replay_wal(loop, abort)) {
        if (wal_->failed()) return {false, report_wal_failure()};
        spdlog::error("replay of the WAL failed; the blocks stay pending for the next start");
        return {false, exit_code_};
    }
    // Then the receivers, and a batch every interval.
    start_receivers(loop);
    first_due_ = Clock::now() + loop.config().batch_interval;
    return {};
}

BatchOutcome ReceiverMode::step(RunLoop &loop, Clock::time_point due, const std::atomic<bool> &,
                                const std::atomic<bool> &abort) {
    // A failed step keeps exit_code_ as it was when the WAL failed (the latched error decides
    // the exit code at the end), and hands the loop a code that stops it.
    if (wal_ && wal_->failed()) return {kExitFailure, false};
    update_intake(loop);
    bool failed = false;
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
    set_intake_rate(loop);  // the estimate after the last batch, for the next one
    if (!failed) seal_receivers();
    if (failed || !drain(loop, queue_->take_all(), due, abort, true))
        return {exit_code_ != kExitOk ? exit_code_ : kExitFailure, false};
    return {kExitOk, true};
}

void ReceiverMode::seal_receivers() {
    const uint64_t epoch = ++seal_epoch_;
    std::vector<receiver::ConsumerThread *> answering;
    for (auto &r : receivers_) {
        if (r->sealed(epoch - 1)) answering.push_back(r.get());
        r->request_seal(epoch);
    }
    const auto deadline = Clock::now() + kSealWait;
    while (true) {
        std::erase_if(answering, [&](const auto *r) { return r->sealed(epoch); });
        if (answering.empty() || Clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

int ReceiverMode::finish(RunLoop &loop, int, bool failed, const std::atomic<bool> &abort) {
    // Receivers seal, store (and under the stored rule commit) what they read; the blocks
    // they hand over are the last batch (unless the shutdown was abandoned or a batch
    // failed); under the processed rule they commit it once it is done; then they leave the
    // group.
    const bool drain_rest = !failed && !abort;
    bool said = false;
    auto drain_now = [&] {
        auto rest = queue_->take_all();
        const bool had_blocks = std::any_of(rest.begin(), rest.end(), [](const auto &item) {
            return item.kind == receiver::ReceiverItem::Kind::block;
        });
        if (had_blocks && !said) spdlog::info("processing what the receivers read before stopping");
        said |= had_blocks;
        if (exit_code_ == kExitOk) drain(loop, std::move(rest), Clock::now(), abort, false);
    };
    stop_receivers(drain_rest ? std::function<void()>(drain_now) : std::function<void()>());
    if (drain_rest) {
        drain_now();
    } else if (abort && exit_code_ == kExitOk) {
        exit_code_ = kExitAbandoned;
    }
    for (auto &r : receivers_) r->allow_leave();
    // Every thread's last commit lands before any leaves the group (a leaving member starts a
    // rebalance that refuses the others'); bounded, as a rebalance under way may not end.
    const auto deadline = Clock::now() + kLastCommitWait;
    for (auto &r : receivers_)
        while (!r->committed_at_stop() && !abort && Clock::now() < deadline)
            std::this_thread::sleep_for(milliseconds(5));
    for (auto &r : receivers_) r->allow_close();
    for (auto &r : receivers_) r->join();
    if (exit_code_ == kExitAbandoned)
        spdlog::warn("abandoned the blocks not yet processed at shutdown; {}",
                     wal_ ? "they are in the WAL and replayed on the next start"
                     : loop_commit_ == config::ReceiverCommit::read
                         ? "without a WAL they are lost if their offsets were auto-committed"
                         : "their offsets were not committed, so the group reads them again");
    if (!owned_.empty()) loop.chain().partitions_revoked({owned_.begin(), owned_.end()});
    receivers_.clear();
    return exit_code_;
}

int ReceiverMode::final_exit_code(int exit_code) {
    if (wal_ && wal_->failed()) return report_wal_failure();
    return exit_code;
}

void ReceiverMode::start_receivers(const RunLoop &loop) {
    const config::RunConfig &config = loop.config();
    const std::string &bootstrap = loop.bootstrap();
    uint64_t total_threads = 0;
    for (const auto &topic : config.topics) {
        auto found = config.topic_threads.find(topic);
        total_threads += found == config.topic_threads.end() ? 1 : found->second;
    }
    for (const auto &topic : config.topics) {
        auto found = config.topic_threads.find(topic);
        const int threads = found == config.topic_threads.end() ? 1 : found->second;
        for (int i = 0; i < threads; ++i) {
            receiver::ConsumerSettings s;
            s.brokers = bootstrap;
            s.kafka = config.kafka;
            s.group = config.group;
            s.topic = topic;
            s.index = i;
            s.block_interval = config.block_interval;
            s.max_rate = config.receiver_max_rate;
            s.rate_limit = &thread_rate_;
            if (config.max_batch_bytes > 0) {
                // max-batch-bytes: the blocks waiting for the next batch pause the threads at
                // this size, and each thread's librdkafka queue holds at most half a batch
                // over the threads.
                s.max_queued_bytes = config.max_batch_bytes;
                s.kafka.try_emplace("queued.max.messages.kbytes",
                                    std::to_string(std::max<uint64_t>(
                                        64, config.max_batch_bytes / 2 / 1024 / total_threads)));
            }
            if (config.backpressure) s.credit = &credit_;
            s.auto_offset_reset = config.auto_offset_reset;
            s.wal = wal_.get();
            s.queue = queue_.get();
            s.commit = config.receiver_commit == config::ReceiverCommit::processed
                           ? receiver::CommitRule::processed
                       : config.receiver_commit == config::ReceiverCommit::stored
                           ? receiver::CommitRule::stored
                           : receiver::CommitRule::read;
            s.reader = static_cast<int>(receivers_.size());
            s.resume = &resume_;
            s.revoke_wait = config.shutdown_timeout;
            if (wal_) {
                s.next_block_id = [w = wal_.get()] { return w->allocate_block_id(); };
            } else {
                s.next_block_id = [this] { return next_block_id_.fetch_add(1); };
            }
            receivers_.push_back(std::make_unique<receiver::ConsumerThread>(std::move(s)));
        }
    }
    set_intake_rate(loop);  // backpressure-initial-rate until the first estimate
    for (auto &r : receivers_) r->start();
    const char *committed =
        config.receiver_commit == config::ReceiverCommit::processed ? "processed"
        : config.receiver_commit == config::ReceiverCommit::stored  ? "stored in the WAL"
                                                                    : "read (auto-commit)";
    spdlog::info(
        "receiver mode on {}: group '{}', {} consumer thread{}, block interval {} ms, {}, "
        "offsets committed once {}",
        bootstrap, config.group, receivers_.size(), receivers_.size() == 1 ? "" : "s",
        config.block_interval.count(),
        wal_ ? fmt::format("WAL {} (fsync {})", config.wal_dir.string(),
                           config.wal_fsync_interval.count() == 0
                               ? std::string("every block")
                               : fmt::format("every {} ms", config.wal_fsync_interval.count()))
             : std::string("no WAL"),
        committed);
}

void ReceiverMode::set_intake_rate(const RunLoop &loop) {
    // Backpressure: the consumer threads share the rate, and together read at most what one
    // batch interval at that rate holds before the next batch starts (a batch that runs long
    // does not let them read on meanwhile).
    const double rate = loop.backpressure_rate();
    if (rate <= 0 || receivers_.empty()) return;
    thread_rate_ =
        std::max<int64_t>(1, std::llround(rate / static_cast<double>(receivers_.size())));
    const double interval_s = static_cast<double>(loop.config().batch_interval.count()) / 1000.0;
    credit_ = std::max<int64_t>(1, std::llround(rate * interval_s));
}

void ReceiverMode::stop_receivers(const std::function<void()> &meanwhile) {
    for (auto &r : receivers_) r->stop();
    // Every thread hands over (and commits) its last blocks before any leaves the group
    // (ConsumerThread::allow_leave, by the caller); a thread that does not get there in time
    // is let go anyway. Meanwhile the batch thread processes what arrives: a thread held in a
    // revoke waits for exactly that.
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    for (auto &r : receivers_)
        while (!r->done_reading() && Clock::now() < deadline) {
            if (meanwhile) meanwhile();
            std::this_thread::sleep_for(milliseconds(5));
        }
}

BatchOutcome ReceiverMode::execute(RunLoop &loop, std::vector<std::unique_ptr<wal::Block>> blocks,
                                   bool replay, Clock::time_point scheduled,
                                   const std::atomic<bool> &abort, const Planned *planned) {
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
    const bool done_already = !planned && ids.empty();
    ReadyBatch batch{
        batch_id,       batch_time_ms,
        replay,         &ranges,
        records.data(), records.size(),
        bytes,          scheduled,
        started,        fmt::format("{} blocks, {} partitions", blocks.size(), ranges.size())};
    return loop.process(batch, abort, [&]() -> BatchOutcome {
        if (wal_ && !done_already) {
            try {
                wal_->mark_done(batch_id, ids);
            } catch (const wal::WalError &) {
                // Nothing of this batch reaches ZooKeeper; the next start replays it (same id).
                return {kExitFailure, false};
            }
        }
        hand_processed(blocks);
        return {kExitOk, true};
    });
}

void ReceiverMode::hand_processed(const std::vector<std::unique_ptr<wal::Block>> &blocks) {
    // The processed rule's commit: each consumer thread commits the ends of its own blocks
    // (a replayed block has no reader: its partitions' ends are in resume_ already).
    if (loop_commit_ != config::ReceiverCommit::processed) return;
    std::map<int, std::map<TopicPartition, int64_t>> by_reader;
    for (const auto &b : blocks) {
        if (b->reader < 0 || static_cast<size_t>(b->reader) >= receivers_.size()) continue;
        auto &until = by_reader[b->reader][b->tp];
        until = std::max(until, b->until_offset);
    }
    for (const auto &[reader, until] : by_reader) receivers_[reader]->processed(until);
}

void ReceiverMode::update_intake(RunLoop &loop) {
    metrics::ReceiverSnapshot intake;
    intake.consumer_threads = receivers_.size();
    intake.assigned_partitions = owned_.size();
    for (const auto &r : receivers_) intake.paused |= r->paused();
    intake.queued_blocks = queue_->blocks();
    if (wal_) {
        intake.wal = true;
        intake.wal_bytes = wal_->disk_bytes();
        intake.wal_pending_blocks = wal_->pending_blocks();
    }
    loop.metrics().receiver = intake;

    const auto now = Clock::now();
    if (!owned_.empty()) {
        unassigned_since_ = {};
        return;
    }
    if (unassigned_since_ == Clock::time_point{}) unassigned_since_ = now;
    if (now - unassigned_since_ >= std::chrono::seconds(5) &&
        now - last_unassigned_log_ >= std::chrono::seconds(5)) {
        last_unassigned_log_ = now;
        spdlog::info(
            "waiting for group '{}' to assign partitions: {} s (the topics have {} partitions; "
            "a member joining or leaving takes up to session.timeout.ms, and a group with more "
            "consumer threads than partitions leaves some idle)",
            loop.config().group,
            std::chrono::duration_cast<std::chrono::seconds>(now - unassigned_since_).count(),
            partitions_.size());
    }
}

std::string ReceiverMode::batch_suffix() const {
    if (!wal_) return {};
    return fmt::format(", WAL {} ({} blocks pending)", human_bytes(wal_->disk_bytes()),
                       wal_->pending_blocks());
}

bool ReceiverMode::drain(RunLoop &loop, std::deque<receiver::ReceiverItem> items,
                         Clock::time_point due, const std::atomic<bool> &abort, bool allow_empty) {
    std::vector<std::unique_ptr<wal::Block>> blocks;
    bool ran = false;
    auto flush = [&]() {
        if (blocks.empty() && (ran || !allow_empty)) return true;
        auto outcome = execute(loop, std::move(blocks), false, due, abort);
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
                if (auto r = loop.chain().partitions_assigned(item.tps); !r.ok()) {
                    spdlog::error("plugin {} refused its partitions: {}", r.plugin, r.message);
                    exit_code_ = kExitFailure;
                    return false;
                }
                if (auto *mirror = loop.mirror()) mirror->set_owned({owned_.begin(), owned_.end()});
                break;
            }
            case receiver::ReceiverItem::Kind::revoked: {
                // The blocks received before the revocation are processed first, so the
                // plugins see them before the partition closes.
                if (!blocks.empty() && !flush()) return false;
                for (const auto &tp : item.tps) owned_.erase(tp);
                if (auto r = loop.chain().partitions_revoked(item.tps); !r.ok())
                    spdlog::warn("plugin {} failed its partitions_revoked: {}", r.plugin,
                                 r.message);
                if (auto *mirror = loop.mirror()) mirror->set_owned({owned_.begin(), owned_.end()});
                break;
            }
        }
    }
    return flush();
}

int ReceiverMode::report_wal_failure() {
    // One line for the whole run: the consumer threads and the batch thread all fail with this
    // same error once it is latched, and none of them logs it.
    spdlog::error("{}", wal_->failure());
    exit_code_ = kExitFailure;
    return exit_code_;
}

bool ReceiverMode::replay_wal(RunLoop &loop, const std::atomic<bool> &abort) {
    wal::Recovery recovery = wal_->take_recovery();
    next_batch_id_ = recovery.last_batch_id + 1;
    // Once the replay succeeded, everything the WAL held is processed: a partition whose
    // committed offset is behind starts after it (ConsumerThread::resume_from_wal).
    resume_ = recovery.until;
    size_t replay_records = 0, replay_blocks = recovery.pending.size();
    for (const auto &b : recovery.pending) replay_records += b->records.size();
    for (const auto &batch : recovery.planned) {
        replay_blocks += batch.blocks.size();
        for (const auto &b : batch.blocks) replay_records += b->records.size();
    }
    spdlog::info(
        "wal {}: {} segments, {} blocks already processed, {} blocks ({} records) to replay{}{}",
        loop.config().wal_dir.string(), recovery.segments, recovery.blocks_done, replay_blocks,
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
    if (auto r = loop.chain().partitions_assigned(replayed); !r.ok()) {
        spdlog::error("plugin {} refused its partitions: {}", r.plugin, r.message);
        exit_code_ = kExitFailure;
        return false;
    }
    if (!recovery.until.empty())
        spdlog::debug("wal: {} partitions resume after the WAL's blocks", recovery.until.size());
    auto run = [&](std::vector<std::unique_ptr<wal::Block>> blocks, const Planned *planned) {
        auto outcome = execute(loop, std::move(blocks), true, Clock::now(), abort, planned);
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
    loop.chain().partitions_revoked(replayed);
    return ok;
}

}  // namespace sluice::stream
