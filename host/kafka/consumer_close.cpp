#include "kafka/consumer_close.hpp"

#include <spdlog/spdlog.h>

#include <mutex>
#include <thread>
#include <vector>

namespace sluice::kafka {

namespace {

// Handles that could not be destroyed. Allocated once and never freed, so that they stay
// reachable until the process ends.
void park(rd_kafka_t *rk) {
    static std::mutex mutex;
    static auto *parked = new std::vector<rd_kafka_t *>;
    std::lock_guard lock(mutex);
    parked->push_back(rk);
}

}  // namespace

void await_first_assignment(rd_kafka_t *rk, const std::function<bool()> &assigned,
                            std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!assigned() && std::chrono::steady_clock::now() < deadline) {
        if (rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 0))
            rd_kafka_message_destroy(m);
        else
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

bool destroy_would_abort(rd_kafka_t *rk, bool assigned) {
    if (assigned) return false;
    // "NONE" until a JoinGroup answer has chosen the assignor; null for a closed consumer.
    const char *protocol = rd_kafka_rebalance_protocol(rk);
    return protocol && std::string_view(protocol) != "NONE";
}

void destroy_consumer(rd_kafka_t *rk, bool would_abort, int flags, std::string_view who) {
    if (!rk) return;
    if (!would_abort) {
        rd_kafka_destroy_flags(rk, flags);
        return;
    }
    spdlog::warn(
        "{}: stopped between joining the group and its first assignment; its Kafka "
        "client is left to the process exit (librdkafka 2.0.2 would abort destroying "
        "it: #4312, fixed in 2.3.0)",
        who);
    rd_kafka_set_log_level(rk, 0);  // nothing more from it, even while the process exits
    park(rk);
}

}  // namespace sluice::kafka
