#include "receiver/consumer_thread.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/clock.hpp"
#include "kafka/broker_waker.hpp"
#include "kafka/consumer_close.hpp"
#include "kafka/kafka_conf.hpp"
#include "wal/write_ahead_log.hpp"

namespace sluice::receiver {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A block is sealed early past this size, so WAL entries stay far below their limit.
constexpr size_t kMaxBlockBytes = 16u << 20;

std::vector<TopicPartition> to_tps(const rd_kafka_topic_partition_list_t *parts) {
    std::vector<TopicPartition> out;
    for (int i = 0; parts && i < parts->cnt; ++i)
        out.push_back({parts->elems[i].topic, parts->elems[i].partition});
    return out;
}

std::string list_text(const std::vector<TopicPartition> &tps) {
    std::string out;
    for (const auto &tp : tps) out += (out.empty() ? "" : ", ") + tp.to_string();
    return out.empty() ? "none" : out;
}

}  // namespace

ConsumerThread::ConsumerThread(ConsumerSettings settings) : settings_(std::move(settings)) {
    name_ = "receiver-" + settings_.topic + "-" + std::to_string(settings_.index);
    fair_ = settings_.max_rate > 0 || settings_.credit != nullptr;
    if (settings_.resume) known_ = *settings_.resume;
    // Ours first, then the user's (they may pick another assignor, say), then what the
    // receiver's guarantees depend on.
    std::map<std::string, std::string> conf = {
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"client.id", "sluice-" + name_},
    };
    for (const auto &[k, v] : settings_.kafka) conf[k] = v;
    conf["bootstrap.servers"] = settings_.brokers;
    conf["group.id"] = settings_.group;
    conf["auto.offset.reset"] = settings_.auto_offset_reset;
    conf["enable.partition.eof"] = "false";
    if (settings_.commit != CommitRule::read) {
        // Offsets are committed by us: once processed, or once the block is durable.
        if (auto it = settings_.kafka.find("enable.auto.commit");
            it != settings_.kafka.end() && it->second != "false")
            spdlog::warn(
                "{}: enable.auto.commit is off (receiver-commit = {} commits the offsets "
                "itself)",
                name_, settings_.commit == CommitRule::processed ? "processed" : "stored");
        conf["enable.auto.commit"] = "false";
    } else {
        conf["enable.auto.commit"] = "true";
        conf["enable.auto.offset.store"] = "true";
    }
    // The group's state, for settled_ (the statistics go nowhere else); the metadata refresh
    // that finds new partitions and new topics matching a ^regex (librdkafka's default: 5 min)
    // unless the user set it.
    conf["statistics.interval.ms"] = "100";
    conf.try_emplace("topic.metadata.refresh.interval.ms", "5000");
    conf.try_emplace(kafka::kReconnectBackoffMaxKey, kafka::kReconnectBackoffMaxMs);
    if (auto it = conf.find("queued.min.messages"); it != conf.end())
        queued_min_ = std::max<size_t>(1, std::stoul(it->second));
    kafka::ConfPtr c = kafka::make_conf(conf);
    rd_kafka_conf_set_opaque(c.get(), this);
    rd_kafka_conf_set_rebalance_cb(c.get(), &ConsumerThread::rebalance_trampoline);
    rd_kafka_conf_set_stats_cb(c.get(), &ConsumerThread::stats_trampoline);
    rk_ = kafka::make_handle(RD_KAFKA_CONSUMER, std::move(c));
    rd_kafka_poll_set_consumer(rk_.get());
    queue_.reset(rd_kafka_queue_get_consumer(rk_.get()));
    waker_ = std::make_unique<kafka::BrokerWaker>(rk_.get());

    kafka::PartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), settings_.topic.c_str(), RD_KAFKA_PARTITION_UA);
    if (auto err = rd_kafka_subscribe(rk_.get(), topics.get()))
        throw kafka::KafkaError("cannot subscribe to " + settings_.topic + ": " +
                                rd_kafka_err2str(err));
}

ConsumerThread::~ConsumerThread() {
    stop();
    allow_leave();
    allow_close();
    join();
    waker_.reset();
    partition_queues_.clear();
    if (rk_) close_consumer();  // only when the thread never ran (a stop during the start)
    queue_.reset();
}

void ConsumerThread::start() {
    thread_ = std::thread([this] {
        try {
            loop();
        } catch (const std::exception &e) {
            std::lock_guard lock(failure_mutex_);
            failure_ = e.what();
            // A failed WAL is reported once, by the receiver stream, not by every thread.
            if (wal_failed())
                spdlog::debug("{}: {}", name_, e.what());
            else
                spdlog::error("{}: {}", name_, e.what());
        }
        // Leaving the group here (not in the destructor) hands the partitions over as soon
        // as this thread is done. In WAL mode everything committed is durable by now; after a
        // WAL failure the revoke callback commits nothing (flush_commits, sync throw). First
        // the other threads of the process finish their last commits: our leaving would start
        // a rebalance that refuses them. Under the processed rule the batch thread processes
        // the last blocks meanwhile, and this thread commits them as they are done.
        done_reading_.store(true, std::memory_order_release);
        const bool processed_rule = settings_.commit == CommitRule::processed;
        while (!may_leave_.load(std::memory_order_acquire)) {
            if (processed_rule && take_processed()) flush_commits(true);
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        if (processed_rule) take_processed();
        commit_at_stop();
        waker_.reset();
        partition_queues_.clear();
        queue_.reset();
        close_consumer();
    });
}

void ConsumerThread::stop() {
    stop_ = true;
}

void ConsumerThread::join() {
    if (thread_.joinable()) thread_.join();
}

void ConsumerThread::request_seal(uint64_t epoch) {
    seal_requested_.store(epoch, std::memory_order_release);
    rd_kafka_queue_yield(queue_.get());  // ends the thread's wait for records
}

std::string ConsumerThread::failure() const {
    std::lock_guard lock(failure_mutex_);
    return failure_;
}

void ConsumerThread::rebalance_trampoline(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                          rd_kafka_topic_partition_list_t *parts, void *opaque) {
    auto *self = static_cast<ConsumerThread *>(opaque);
    try {
        self->on_rebalance(err, parts);
    } catch (const std::exception &e) {
        // No exception may unwind through librdkafka's C frames: record the failure (the batch
        // thread stops the run) and still leave the assignment as the group expects.
        {
            std::lock_guard lock(self->failure_mutex_);
            if (self->failure_.empty())
                self->failure_ = std::string("during a rebalance: ") + e.what();
        }
        self->stop_ = true;
        if (self->wal_failed())
            spdlog::debug("{}: during a rebalance: {}", self->name_, e.what());
        else
            spdlog::error("{}: during a rebalance: {}", self->name_, e.what());
        const bool cooperative = std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
        rd_kafka_error_t *error = nullptr;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
            error = cooperative ? rd_kafka_incremental_assign(rk, parts)
                                : (rd_kafka_assign(rk, parts), nullptr);
        else
            error = cooperative ? rd_kafka_incremental_unassign(rk, parts)
                                : (rd_kafka_assign(rk, nullptr), nullptr);
        if (error) rd_kafka_error_destroy(error);
    }
}

int ConsumerThread::stats_trampoline(rd_kafka_t *, char *json, size_t len, void *opaque) {
    auto *self = static_cast<ConsumerThread *>(opaque);
    if (const auto settled = kafka::group_settled_in_stats(json, len)) self->settled_ = *settled;
    return 0;  // librdkafka frees the JSON
}

void ConsumerThread::close_consumer() {
    kafka::await_first_assignment(rk_.get(), [this] { return ever_rebalanced_; });
    const bool would_abort = kafka::destroy_would_abort(rk_.get(), ever_rebalanced_);
    rd_kafka_consumer_close(rk_.get());
    kafka::destroy_consumer(rk_.release(), would_abort, 0, name_);
}

void ConsumerThread::on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts) {
    ever_rebalanced_ = true;
    hold_commits_until_ = {};  // the rebalance that refused a commit is over
    const bool cooperative =
        std::string_view(rd_kafka_rebalance_protocol(rk_.get())) == "COOPERATIVE";
    const auto tps = to_tps(parts);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        spdlog::info("{}: assigned {}", name_, list_text(tps));
        resume_known(parts);
        if (settings_.commit == CommitRule::processed)
            for (const auto &tp : tps) owned_.try_emplace(tp);
        if (cooperative) {
            if (auto *e = rd_kafka_incremental_assign(rk_.get(), parts)) {
                spdlog::error("{}: incremental assign failed: {}", name_, rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_assign(rk_.get(), parts);
        }
        for (const auto &tp : tps) {
            open_.try_emplace(tp, tp);
            next_.erase(tp);  // starts where the group (or resume_known) says
        }
        if (paused_) rd_kafka_pause_partitions(rk_.get(), parts);
        if (fair_) take_partition_queues(tps);
        settings_.queue->push({ReceiverItem::Kind::assigned, nullptr, tps});
        return;
    }
    const bool lost = rd_kafka_assignment_lost(rk_.get());
    spdlog::info("{}: {} {}", name_, lost ? "lost" : "revoked", list_text(tps));
    drop_partitions(tps, lost);
    for (const auto &tp : tps) next_.erase(tp);
    std::erase_if(partition_queues_, [&](const auto &q) {
        return std::find(tps.begin(), tps.end(), q.first) != tps.end();
    });
    if (cooperative) {
        if (auto *e = rd_kafka_incremental_unassign(rk_.get(), parts)) {
            spdlog::error("{}: incremental unassign failed: {}", name_, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_assign(rk_.get(), nullptr);
    }
    settings_.queue->push({ReceiverItem::Kind::revoked, nullptr, tps});
}

void ConsumerThread::drop_partitions(const std::vector<TopicPartition> &tps, bool lost) {
    if (settings_.commit == CommitRule::processed) return release_partitions(tps, lost);
    auto revoked = [&](const TopicPartition &tp) {
        return std::find(tps.begin(), tps.end(), tp) != tps.end();
    };
    // Records not yet in a block: dropped uncommitted; the next owner reads them again.
    // Without a WAL they are sealed and processed here instead (auto-commit may already have
    // committed them, so dropping them would lose them).
    for (auto it = open_.begin(); it != open_.end();) {
        if (!revoked(it->first)) {
            ++it;
            continue;
        }
        if (!settings_.wal && !it->second.empty()) {
            hand_over(it->second.seal(settings_.next_block_id(), wall_ms()));
        } else if (!it->second.empty()) {
            spdlog::debug("{}: dropping {} unsealed records of {} (not committed)", name_,
                          it->second.count(), it->first.to_string());
        }
        it = open_.erase(it);
    }
    if (!settings_.wal) return;
    // Sealed but not in the WAL (it was full): not committed either, dropped.
    std::erase_if(sealed_, [&](const auto &b) { return revoked(b->tp); });
    // In the WAL, not yet fsynced: make them durable and commit them before the partitions
    // go, so the next owner starts after them; they are processed here.
    if (!waiting_.empty()) {
        settings_.wal->sync();
        std::vector<const wal::Block *> done;
        for (const auto &w : waiting_) done.push_back(w.block.get());
        if (!lost) commit(done, true);
        for (auto &w : waiting_) hand_over(std::move(w.block));
        waiting_.clear();
    }
    // Offsets still to commit: one last try, then they are the next owner's business.
    if (!lost) flush_commits(true);
    for (const auto &tp : tps) uncommitted_.erase(tp);
}

void ConsumerThread::loop() {
    std::vector<rd_kafka_message_t *> messages(kConsumeBatch);
    auto next_seal = Clock::now() + settings_.block_interval;
    rate_start_ = Clock::now();
    while (!stop_) {
        const auto now = Clock::now();
        auto wait = std::chrono::duration_cast<milliseconds>(next_seal - now);
        wait = std::clamp(wait, milliseconds(0), milliseconds(100));
        size_t cap = kConsumeBatch;
        if (const int64_t rate = max_rate(); rate > 0)
            cap = static_cast<size_t>(
                std::clamp<int64_t>(rate / 20, 1, static_cast<int64_t>(kConsumeBatch)));
        const int64_t credit = settings_.credit ? settings_.credit->load() : 1;
        if (credit <= 0) {
            // The next batch is full: read again once the batch thread starts it.
            std::this_thread::sleep_for(std::min(wait, milliseconds(20)));
        } else {
            if (settings_.credit) cap = std::min<size_t>(cap, static_cast<size_t>(credit));
            ssize_t n = 0;
            if (fair_) {
                n = static_cast<ssize_t>(consume_fairly(messages, cap, wait));
            } else {
                n = rd_kafka_consume_batch_queue(queue_.get(), static_cast<int>(wait.count()),
                                                 messages.data(), cap);
                for (ssize_t i = 0; i < n; ++i) {
                    add(messages[i]);
                    rd_kafka_message_destroy(messages[i]);
                }
            }
            if (n > 0 && settings_.credit) settings_.credit->fetch_sub(n);
            if (n > 0) throttle(static_cast<size_t>(n));
        }
        wake_fetchers();
        if (const uint64_t want = seal_requested_.load(std::memory_order_acquire);
            want > sealed_epoch_.load(std::memory_order_relaxed)) {
            // A batch starts: it takes every record read until now (a record waits for the
            // next batch, not for the block interval as well). The next cut is an interval on.
            seal(false);
            store_and_hand_over(false);
            sealed_epoch_.store(want, std::memory_order_release);
            next_seal = Clock::now() + settings_.block_interval;
        }
        if (Clock::now() >= next_seal) {
            seal(false);
            next_seal += settings_.block_interval;
            if (next_seal < Clock::now()) next_seal = Clock::now() + settings_.block_interval;
        }
        store_and_hand_over(false);
        const bool newly_processed = settings_.commit == CommitRule::processed && take_processed();
        if (newly_processed ||
            (!uncommitted_.empty() && Clock::now() - last_commit_try_ > milliseconds(200)))
            flush_commits();
        update_pause();
    }
    // Graceful stop: what was read becomes blocks, stored and committed, for the batch
    // thread's last batch. A last commit refused (a rebalance under way) is tried again for a
    // little while: what stays uncommitted is read twice by the partition's next owner.
    seal(true);
    store_and_hand_over(true);
    if (settings_.commit == CommitRule::stored) commit_for_a_while(std::chrono::seconds(2), true);
}

void ConsumerThread::add(const rd_kafka_message_t *m) {
    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
        static thread_local Clock::time_point last_warned{};
        if (Clock::now() - last_warned > std::chrono::seconds(5)) {
            last_warned = Clock::now();
            spdlog::warn("{}: {}", name_, rd_kafka_message_errstr(m));
        }
        return;
    }
    TopicPartition tp{rd_kafka_topic_name(m->rkt), m->partition};
    // A record of a partition revoked meanwhile (fetched before it went): its owner reads it,
    // and a block of it here would commit over the owner's offsets.
    if (settings_.commit == CommitRule::processed && !owned_.count(tp)) return;
    if (!in_sequence(tp, m->offset)) return;
    auto it = open_.find(tp);
    if (it == open_.end()) it = open_.try_emplace(tp, tp).first;
    wal::BlockBuilder &builder = it->second;

    rd_kafka_timestamp_type_t ts_type;
    const int64_t ts = rd_kafka_message_timestamp(m, &ts_type);
    rd_kafka_headers_t *headers = nullptr;
    size_t header_count = 0;
    if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR)
        header_count = rd_kafka_header_cnt(headers);
    builder.add_record(m->offset, ts, static_cast<int32_t>(ts_type), m->key, m->key_len, m->payload,
                       m->len, static_cast<uint16_t>(std::min<size_t>(header_count, 65535)));
    for (size_t h = 0; h < header_count && h < 65535; ++h) {
        const char *name = nullptr;
        const void *value = nullptr;
        size_t size = 0;
        rd_kafka_header_get_all(headers, h, &name, &value, &size);
        builder.add_header(name, value, size);
    }
    records_.fetch_add(1, std::memory_order_relaxed);
    if (builder.bytes() >= kMaxBlockBytes)
        sealed_.push_back(builder.seal(settings_.next_block_id(), wall_ms()));
}

bool ConsumerThread::in_sequence(const TopicPartition &tp, int64_t offset) {
    NextOffset &n = next_[tp];
    if (n.next < 0 || offset == n.next) {
        n = {offset + 1, -1, -1};
        return true;
    }
    if (offset < n.next) return false;  // read already (a seek back, a stale fetch)
    if (n.seeking_to == n.next) {
        // After the seek the first record is `next`, or the one after a real gap; records
        // past that are stale ones from before the seek.
        if (offset > n.gap_at) return false;
        n = {offset + 1, -1, -1};
        return true;
    }
    spdlog::info("{}: {} jumped from {} to {}; reading again from {}", name_, tp.to_string(),
                 n.next, offset, n.next);
    ++seeks_back_;
    kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = n.next;
    if (rd_kafka_error_t *e = rd_kafka_seek_partitions(rk_.get(), list.get(), 0)) {
        spdlog::warn(
            "{}: cannot seek {} back to {}: {}; records {}..{} are read by the next "
            "start or owner",
            name_, tp.to_string(), n.next, rd_kafka_error_string(e), n.next, offset - 1);
        rd_kafka_error_destroy(e);
        n = {offset + 1, -1, -1};
        return true;
    }
    n.seeking_to = n.next;
    n.gap_at = offset;
    return false;
}

void ConsumerThread::seal(bool) {
    for (auto &[tp, builder] : open_)
        if (!builder.empty()) sealed_.push_back(builder.seal(settings_.next_block_id(), wall_ms()));
}

void ConsumerThread::store_and_hand_over(bool final) {
    if (!settings_.wal) {
        for (auto &block : sealed_) hand_over(std::move(block));
        sealed_.clear();
        return;
    }
    wal::WriteAheadLog &wal = *settings_.wal;
    size_t appended = 0;
    try {
        for (auto &block : sealed_) {
            if (wal.full() && !final) break;  // backpressure: the rest waits, consumption pauses
            const uint64_t position = wal.append(*block);
            waiting_.push_back({position, std::move(block)});
            ++appended;
        }
    } catch (...) {
        // The blocks moved to waiting_ must leave sealed_ even when a later append fails:
        // the revoke callback still walks sealed_.
        sealed_.erase(sealed_.begin(), sealed_.begin() + static_cast<ptrdiff_t>(appended));
        throw;
    }
    sealed_.erase(sealed_.begin(), sealed_.begin() + static_cast<ptrdiff_t>(appended));
    if (waiting_.empty()) return;
    const auto interval = wal.options().fsync_interval;
    if (final || (interval.count() > 0 && Clock::now() - last_sync_ >= interval)) {
        wal.sync();
        last_sync_ = Clock::now();
    }
    const uint64_t durable = wal.durable_position();
    size_t ready = 0;
    while (ready < waiting_.size() && waiting_[ready].position <= durable) ++ready;
    if (ready == 0) return;
    std::vector<const wal::Block *> blocks;
    for (size_t i = 0; i < ready; ++i) blocks.push_back(waiting_[i].block.get());
    if (settings_.commit == CommitRule::stored) commit(blocks, final);
    for (size_t i = 0; i < ready; ++i) hand_over(std::move(waiting_[i].block));
    waiting_.erase(waiting_.begin(), waiting_.begin() + static_cast<ptrdiff_t>(ready));
}

void ConsumerThread::commit(const std::vector<const wal::Block *> &blocks, bool force) {
    for (const auto *b : blocks) {
        auto &n = uncommitted_[b->tp];
        n = std::max(n, b->until_offset);
    }
    flush_commits(force);
}

bool ConsumerThread::wal_failed() const {
    return settings_.wal && settings_.wal->failed();
}

}  // namespace sluice::receiver
