// ConsumerThread's offset commits: the processed rule's bookkeeping (which blocks were handed
// over, which are processed, holding a revoke until they are), the start after what this
// process is known to have processed, and the synchronous commit itself.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "common/clock.hpp"
#include "receiver/consumer_thread.hpp"
#include "wal/write_ahead_log.hpp"

namespace sluice::receiver {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string list_text(const std::vector<TopicPartition> &tps) {
    std::string out;
    for (const auto &tp : tps) out += (out.empty() ? "" : ", ") + tp.to_string();
    return out.empty() ? "none" : out;
}

}  // namespace

void ConsumerThread::processed(const std::map<TopicPartition, int64_t> &until) {
    std::lock_guard lock(processed_mutex_);
    for (const auto &[tp, offset] : until) {
        auto &n = processed_in_[tp];
        n = std::max(n, offset);
    }
}

bool ConsumerThread::take_processed() {
    std::map<TopicPartition, int64_t> in;
    {
        std::lock_guard lock(processed_mutex_);
        in.swap(processed_in_);
    }
    bool any = false;
    for (const auto &[tp, until] : in) {
        auto it = owned_.find(tp);
        if (it == owned_.end()) {
            // Gone since: its next owner reads it again; should it come back here, it starts
            // after this.
            auto &k = known_[tp];
            k = std::max(k, until);
            continue;
        }
        it->second.processed = std::max(it->second.processed, until);
        auto &n = uncommitted_[tp];
        n = std::max(n, until);
        any = true;
    }
    return any;
}

void ConsumerThread::commit_for_a_while(std::chrono::milliseconds how_long, bool force) {
    // A commit refused during a rebalance is tried again for a little while: what stays
    // uncommitted is read twice by the partition's next owner.
    const auto give_up = Clock::now() + how_long;
    flush_commits(force);
    // A commit refused for this member's generation never lands: the group has moved on.
    while (!uncommitted_.empty() && !wal_failed() && !fenced_ && Clock::now() < give_up) {
        std::this_thread::sleep_for(milliseconds(100));
        flush_commits(force);
    }
}

void ConsumerThread::commit_at_stop() {
    // A rebalance under way at the stop (a member joining, the second round of a cooperative
    // one) refuses every commit until each member has rejoined and run its assign callback,
    // which librdkafka delivers through poll: so the thread keeps polling, and retries, until
    // the owner lets it close. Records fetched meanwhile are dropped: none of them is
    // committed, so their partition's next owner reads them. A partition lost meanwhile takes
    // its offsets out of uncommitted_; one assigned again brings them back (resume_known).
    const bool commits = settings_.commit != CommitRule::read;
    if (commits) flush_commits(true);
    auto last_try = Clock::now();
    while (!may_close_.load(std::memory_order_acquire)) {
        const bool done = !commits || uncommitted_.empty() || wal_failed();
        committed_at_stop_.store(done, std::memory_order_release);
        if (rd_kafka_message_t *m = rd_kafka_consumer_poll(rk_.get(), 20))
            rd_kafka_message_destroy(m);
        if (!done && Clock::now() - last_try >= milliseconds(100)) {
            take_processed();
            flush_commits(true);
            last_try = Clock::now();
        }
    }
    if (commits && !uncommitted_.empty())
        spdlog::warn(
            "{}: the last offset commit did not land before the stop (the group was "
            "rebalancing); the next owner of its partitions reads the last records again",
            name_);
}

void ConsumerThread::resume_known(rd_kafka_topic_partition_list_t *parts) {
    // A partition whose committed offset is below where this process's processing of it
    // ended (the WAL's replay at start, or a commit that never landed before the partition
    // went) starts there instead, and that end is committed: everything below it was
    // processed, below the committed offset by someone, above it by this process.
    if (known_.empty()) return;
    kafka::PartitionListPtr ask(rd_kafka_topic_partition_list_new(parts->cnt));
    for (int i = 0; i < parts->cnt; ++i)
        if (known_.count({parts->elems[i].topic, parts->elems[i].partition}))
            rd_kafka_topic_partition_list_add(ask.get(), parts->elems[i].topic,
                                              parts->elems[i].partition);
    if (ask->cnt == 0) return;
    if (auto err = rd_kafka_committed(rk_.get(), ask.get(), 10000)) {
        spdlog::warn(
            "{}: cannot read the group's offsets ({}); records already processed may "
            "be read again",
            name_, rd_kafka_err2str(err));
        return;
    }
    for (int i = 0; i < ask->cnt; ++i) {
        const auto &e = ask->elems[i];
        const TopicPartition tp{e.topic, e.partition};
        if (e.err) continue;
        const int64_t until = known_.at(tp);
        known_.erase(tp);
        if (e.offset >= until) continue;
        for (int j = 0; j < parts->cnt; ++j)
            if (tp == TopicPartition{parts->elems[j].topic, parts->elems[j].partition})
                parts->elems[j].offset = until;
        auto &n = uncommitted_[tp];
        n = std::max(n, until);
        spdlog::info("{}: {} starts at {}, after what this process processed (the group had {})",
                     name_, tp.to_string(), until,
                     e.offset < 0 ? std::string("none") : std::to_string(e.offset));
    }
}

void ConsumerThread::release_partitions(const std::vector<TopicPartition> &tps, bool lost) {
    auto revoked = [&](const TopicPartition &tp) {
        return std::find(tps.begin(), tps.end(), tp) != tps.end();
    };
    // Nothing of these partitions was committed beyond what was processed, so everything read
    // of them goes to the batch thread, oldest first (per partition: in the WAL but not yet
    // fsynced, then sealed but not in the WAL, then not yet sealed); the WAL is not needed
    // for it: a crash before it is processed leaves the offsets uncommitted, so the next
    // owner reads them again.
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        if (!revoked(it->block->tp)) {
            ++it;
            continue;
        }
        hand_over(std::move(it->block));
        it = waiting_.erase(it);
    }
    for (auto it = sealed_.begin(); it != sealed_.end();) {
        if (!revoked((*it)->tp)) {
            ++it;
            continue;
        }
        hand_over(std::move(*it));
        it = sealed_.erase(it);
    }
    for (auto it = open_.begin(); it != open_.end();) {
        if (!revoked(it->first)) {
            ++it;
            continue;
        }
        if (!it->second.empty()) hand_over(it->second.seal(settings_.next_block_id(), wall_ms()));
        it = open_.erase(it);
    }
    // A lost partition has another owner already: nothing may be committed for it.
    if (!lost) hold_revoke(tps);
    for (const auto &tp : tps) {
        if (auto it = uncommitted_.find(tp); it != uncommitted_.end()) {
            auto &k = known_[tp];
            k = std::max(k, it->second);
            uncommitted_.erase(it);
        }
        owned_.erase(tp);
    }
}

void ConsumerThread::hold_revoke(const std::vector<TopicPartition> &tps) {
    // The partitions stay ours until the batch thread has processed what was read of them
    // and that is committed, so their next owner starts right after it (a graceful hand-over
    // reads nothing twice). Bounded by revoke_wait; the run's stop (allow_leave: no batch
    // will run any more) or a failed WAL end the wait at once.
    const auto deadline = Clock::now() + settings_.revoke_wait;
    auto behind = [&] {
        int64_t n = 0;
        for (const auto &tp : tps)
            if (auto it = owned_.find(tp);
                it != owned_.end() && it->second.handed > it->second.processed)
                n += it->second.handed - std::max<int64_t>(it->second.processed, 0);
        return n;
    };
    while (true) {
        take_processed();
        if (behind() == 0) break;
        if (may_leave_.load(std::memory_order_acquire) || wal_failed() ||
            Clock::now() >= deadline) {
            spdlog::warn(
                "{}: letting {} go before all it read was processed; its next owner "
                "reads that again",
                name_, list_text(tps));
            break;
        }
        std::this_thread::sleep_for(milliseconds(5));
    }
    bool any = false;
    std::string what;
    for (const auto &tp : tps)
        if (auto it = uncommitted_.find(tp); it != uncommitted_.end()) {
            any = true;
            what += (what.empty() ? "" : ", ") + tp.to_string() + "@" + std::to_string(it->second);
        }
    spdlog::debug("{}: revoke of {}: committing {}", name_, list_text(tps),
                  what.empty() ? "nothing" : what);
    if (any)
        // Bounded: the group waits for this member meanwhile (and may move on without it).
        commit_for_a_while(milliseconds(2000), true);
}

void ConsumerThread::hand_over(std::unique_ptr<wal::Block> block) {
    block->reader = settings_.reader;
    if (settings_.commit == CommitRule::processed)
        if (auto it = owned_.find(block->tp); it != owned_.end())
            it->second.handed = std::max(it->second.handed, block->until_offset);
    settings_.queue->push({ReceiverItem::Kind::block, std::move(block), {}});
}

void ConsumerThread::flush_commits(bool force) {
    if (uncommitted_.empty()) return;
    // The next statistics report, or the end of the rebalance, says when.
    if (!force && (!settled_ || Clock::now() < hold_commits_until_)) return;
    // After a WAL I/O error nothing more reaches Kafka, not even offsets of blocks synced
    // before it: the next start replays or re-reads them (duplicates, never a loss).
    if (wal_failed()) return;
    last_commit_try_ = Clock::now();
    fenced_ = false;
    kafka::PartitionListPtr list(
        rd_kafka_topic_partition_list_new(static_cast<int>(uncommitted_.size())));
    for (const auto &[tp, offset] : uncommitted_)
        rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset =
            offset;
    // Synchronous: a loopback or LAN round trip once per block interval, and the result says
    // whether to try again. A commit refused during a rebalance is retried, so the partition's
    // next owner starts as late as possible (fewer records read twice).
    const rd_kafka_resp_err_t err = rd_kafka_commit(rk_.get(), list.get(), 0);
    bool all_ok = !err;
    // A request the group refused as a whole (a rebalance in progress) leaves the partitions'
    // own errors unset: nothing of it landed.
    const bool refused = err && err != RD_KAFKA_RESP_ERR__NO_OFFSET;
    for (int i = 0; i < list->cnt && !refused; ++i) {
        const auto &e = list->elems[i];
        if (e.err) {
            all_ok = false;
            continue;
        }
        auto it = uncommitted_.find({e.topic, e.partition});
        if (it != uncommitted_.end() && it->second <= e.offset) uncommitted_.erase(it);
    }
    if (refused || !all_ok) {
        // Nothing is committed before it may be: a commit that never lands only means
        // records read twice.
        rd_kafka_resp_err_t why = err;
        for (int i = 0; i < list->cnt && !why; ++i) why = list->elems[i].err;
        if (why == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
        fenced_ = why == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
                  why == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
                  why == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID;
        spdlog::debug("{}: offset commit failed: {}; retrying", name_, rd_kafka_err2str(why));
        settled_ = false;  // until the group says it is settled again
        hold_commits_until_ = Clock::now() + std::chrono::seconds(5);
        if (++failed_commits_ % 50 == 1)
            spdlog::warn(
                "{}: offset commit failed: {} (retrying; at worst the partition's next owner "
                "reads those records again)",
                name_, rd_kafka_err2str(why));
    }
}

}  // namespace sluice::receiver
