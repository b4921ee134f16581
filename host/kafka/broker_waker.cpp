#include "kafka/broker_waker.hpp"

#include <memory>

namespace sluice::kafka {

BrokerWaker::BrokerWaker(rd_kafka_t *rk) : rk_(rk), thread_([this] { loop(); }) {}

BrokerWaker::~BrokerWaker() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wanted_.notify_one();
    thread_.join();
}

void BrokerWaker::poke(const std::vector<TopicPartition> &partitions) {
    if (partitions.empty()) return;
    {
        std::lock_guard lock(mutex_);
        if (!pending_.empty()) return;  // one is queued already: it covers this
        pending_ = partitions;
    }
    wanted_.notify_one();
}

void BrokerWaker::loop() {
    std::unique_lock lock(mutex_);
    while (true) {
        wanted_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
        if (stopping_) return;
        std::vector<TopicPartition> partitions;
        partitions.swap(pending_);
        lock.unlock();
        std::unique_ptr<rd_kafka_topic_partition_list_t,
                        decltype(&rd_kafka_topic_partition_list_destroy)>
            list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())),
                 &rd_kafka_topic_partition_list_destroy);
        for (const auto &tp : partitions)
            rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset =
                RD_KAFKA_OFFSET_END;
        // The answer does not matter, only that the request reaches each
        // leader's broker thread; errors are harmless here.
        rd_kafka_offsets_for_times(rk_, list.get(), 1000);
        lock.lock();
    }
}

}  // namespace sluice::kafka
