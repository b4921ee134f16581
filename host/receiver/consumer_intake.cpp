// ConsumerThread's intake: how fast it reads and from where. The fair share of a rate over
// the partitions' own queues, the rate itself (receiver-max-rate, backpressure), the pause
// when the WAL or the batch queue is full, and waking librdkafka's fetchers once a full
// consumer queue has drained.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "kafka/broker_waker.hpp"
#include "receiver/consumer_thread.hpp"
#include "wal/write_ahead_log.hpp"

namespace sluice::receiver {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

}  // namespace

void ConsumerThread::wake_fetchers() {
    // librdkafka 2.0.2 stops fetching a partition while the consumer queue (every partition's
    // queue forwards to it) holds queued.min.messages, and looks again only when its broker
    // thread next wakes: up to 1 s later when nothing else wakes it (2.2 added
    // fetch.queue.backoff.ms). A consumer slower than the fetchers then reads in bursts with
    // ~1 s gaps. So once the queue has been (nearly) that full, wake the leaders when it is
    // half drained; one call takes at most kConsumeBatch off the queue, so the full state is
    // never missed.
    size_t queued = rd_kafka_queue_length(queue_.get());
    for (const auto &[tp, q] : partition_queues_) queued += rd_kafka_queue_length(q.get());
    const size_t low = queued_min_ / 2;
    const size_t high =
        std::max(low + 1, queued_min_ > kConsumeBatch ? queued_min_ - kConsumeBatch : 0);
    if (queued >= high) {
        queue_was_full_ = true;
    } else if (queue_was_full_ && queued <= low) {
        queue_was_full_ = false;
        std::vector<TopicPartition> tps;
        tps.reserve(open_.size());
        for (const auto &[tp, builder] : open_) tps.push_back(tp);
        waker_->poke(tps);
    }
}

void ConsumerThread::take_partition_queues(const std::vector<TopicPartition> &tps) {
    for (const auto &tp : tps) {
        kafka::QueuePtr q(rd_kafka_queue_get_partition(rk_.get(), tp.topic.c_str(), tp.partition));
        if (!q) {  // its records keep coming through the consumer queue, unshared
            spdlog::warn("{}: no queue of its own for {}; it is read without a fair share", name_,
                         tp.to_string());
            continue;
        }
        // Its fetched records stay in its own queue (until it is assigned again, librdkafka
        // no longer forwards them to the consumer queue).
        rd_kafka_queue_forward(q.get(), nullptr);
        std::erase_if(partition_queues_, [&](const auto &e) { return e.first == tp; });
        partition_queues_.emplace_back(tp, std::move(q));
    }
}

size_t ConsumerThread::consume_fairly(std::vector<rd_kafka_message_t *> &messages, size_t cap,
                                      milliseconds wait) {
    // The consumer queue still carries the group's callbacks, errors and the records of a
    // partition without a queue of its own: served first, without waiting.
    size_t total = 0;
    auto take = [&](rd_kafka_queue_t *q, size_t most, milliseconds timeout) {
        const ssize_t n = rd_kafka_consume_batch_queue(q, static_cast<int>(timeout.count()),
                                                       messages.data(), most);
        for (ssize_t i = 0; i < n; ++i) {
            add(messages[i]);
            rd_kafka_message_destroy(messages[i]);
        }
        total += static_cast<size_t>(std::max<ssize_t>(n, 0));
    };
    take(queue_.get(), cap, milliseconds(0));
    // Then every partition its share of the rest, starting one further each round so the
    // remainder of an uneven split moves on. Reading a partition's queue runs no rebalance
    // callback, so partition_queues_ stays as it is meanwhile.
    if (const size_t count = partition_queues_.size(); count > 0 && total < cap) {
        const size_t share = std::max<size_t>(1, (cap - total) / count);
        for (size_t k = 0; k < count && total < cap; ++k)
            take(partition_queues_[(fair_next_ + k) % count].second.get(),
                 std::min(share, cap - total), milliseconds(0));
        fair_next_ = (fair_next_ + 1) % count;
    }
    // Nothing anywhere: wait a little on the consumer queue (records arriving in a partition's
    // queue do not wake it, hence short).
    if (total == 0) take(queue_.get(), cap, std::min(wait, milliseconds(10)));
    return total;
}

void ConsumerThread::update_pause() {
    bool want = false;
    if (settings_.wal)
        want = !sealed_.empty() || settings_.wal->full();
    else
        want = settings_.queue->bytes() >= settings_.max_queued_bytes;
    if (want == paused_) return;
    rd_kafka_topic_partition_list_t *assignment = nullptr;
    if (rd_kafka_assignment(rk_.get(), &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    kafka::PartitionListPtr owned(assignment);
    if (want) {
        rd_kafka_pause_partitions(rk_.get(), assignment);
        spdlog::warn("{}: {}; pausing consumption until batches catch up", name_,
                     settings_.wal ? "the WAL is full (wal-max-bytes)" : "the batch queue is full");
    } else {
        rd_kafka_resume_partitions(rk_.get(), assignment);
        spdlog::info("{}: resuming consumption", name_);
    }
    paused_ = want;
    paused_now_.store(want, std::memory_order_relaxed);
}

int64_t ConsumerThread::max_rate() const {
    const int64_t limit = settings_.rate_limit ? settings_.rate_limit->load() : 0;
    if (limit <= 0) return settings_.max_rate;
    return settings_.max_rate > 0 ? std::min(settings_.max_rate, limit) : limit;
}

void ConsumerThread::throttle(size_t consumed) {
    const int64_t rate = max_rate();
    if (rate <= 0) return;
    rate_count_ += consumed;
    // Sleep until the records read so far are within max_rate since the window began; short
    // sleeps keep the group protocol served.
    while (!stop_) {
        const double elapsed = std::chrono::duration<double>(Clock::now() - rate_start_).count();
        const double ahead = static_cast<double>(rate_count_) / static_cast<double>(rate) - elapsed;
        if (ahead <= 0) break;
        std::this_thread::sleep_for(
            std::min(std::chrono::duration<double>(ahead), std::chrono::duration<double>(0.05)));
    }
    // Restart the window now and then so an idle spell does not bank a burst.
    const double elapsed = std::chrono::duration<double>(Clock::now() - rate_start_).count();
    if (elapsed > 2.0) {
        rate_start_ = Clock::now();
        rate_count_ = 0;
    }
}

}  // namespace sluice::receiver
