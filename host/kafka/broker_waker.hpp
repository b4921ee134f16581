#pragma once
// Wakes librdkafka's broker threads after the batch thread drained partition
// queues, so that prefetching the next batch starts at once.

#include <librdkafka/rdkafka.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "common/types.hpp"

namespace sluice::kafka {

/// librdkafka 2.0.2 stops fetching a partition whose queue holds
/// queued.min.messages, and re-checks only when its broker thread next wakes:
/// on network traffic, on a request from the application, or after up to 1 s
/// (2.2 added fetch.queue.backoff.ms for this). When every partition is in
/// that state, nothing wakes it and the next batch waits. A ListOffsets request
/// through each leader wakes its thread, so poke() sends one, off the batch
/// thread. Used by direct mode's reader and by receiver mode's consumer threads.
/// Lifecycle: owned by its handle's user; its thread is joined in the
/// destructor; `rk` must outlive it.
class BrokerWaker {
  public:
    explicit BrokerWaker(rd_kafka_t *rk);
    ~BrokerWaker();
    BrokerWaker(const BrokerWaker &) = delete;
    BrokerWaker &operator=(const BrokerWaker &) = delete;

    /// Asks for a wake-up of the leaders of `partitions`. Never blocks on
    /// the network; pokes that arrive while one is under way are merged.
    void poke(const std::vector<TopicPartition> &partitions);

  private:
    void loop();

    rd_kafka_t *rk_;
    std::mutex mutex_;
    std::condition_variable wanted_;
    std::vector<TopicPartition> pending_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace sluice::kafka
