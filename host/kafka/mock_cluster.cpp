#include "kafka/mock_cluster.hpp"

#include <fcntl.h>

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <optional>

#include "kafka/mock_faults.hpp"

namespace sluice::kafka {

MockCluster::MockCluster(int broker_count) : broker_count_(broker_count) {
    if (broker_count < 1) throw KafkaError("mock cluster needs at least 1 broker");
    // An owner handle without bootstrap.servers: it only hosts the cluster.
    ConfPtr conf = make_conf({{"log_level", "3"}});
    owner_ = make_handle(RD_KAFKA_PRODUCER, std::move(conf));
    cluster_ = rd_kafka_mock_cluster_new(owner_.get(), broker_count);
    if (!cluster_) throw KafkaError("cannot start the embedded Kafka mock cluster");
}

MockCluster::~MockCluster() {
    if (cluster_) rd_kafka_mock_cluster_destroy(cluster_);
}

std::string MockCluster::bootstrap_servers() const {
    return rd_kafka_mock_cluster_bootstraps(cluster_);
}

void MockCluster::create_topic(const std::string &topic, int partitions, int replication_factor) {
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, replication_factor);
    if (err)
        throw KafkaError("cannot create topic '" + topic +
                         "' on the mock cluster: " + rd_kafka_err2str(err));
    topics_[topic] = partitions;
}

int MockCluster::partitions(const std::string &topic) const {
    const auto it = topics_.find(topic);
    return it == topics_.end() ? 0 : it->second;
}

int serve_mock_cluster(int broker_count, const std::vector<std::pair<std::string, int>> &topics) {
    // Block the stop signals before librdkafka starts its threads (they inherit
    // the mask), so that only sigwait below ever sees them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    try {
        MockCluster cluster(broker_count);
        for (const auto &[name, partitions] : topics) cluster.create_topic(name, partitions);
        const std::string bootstrap = cluster.bootstrap_servers();
        std::printf("bootstrap.servers=%s\n", bootstrap.c_str());
        std::fflush(stdout);
        spdlog::info(
            "mock cluster: {} broker(s) at {}, {} topic(s) created; stop with SIGTERM or "
            "Ctrl-C",
            broker_count, bootstrap, topics.size());
        for (const auto &[name, partitions] : topics)
            spdlog::debug("topic '{}' with {} partition(s)", name, partitions);

        // Fault commands on stdin. A background job of an interactive shell that reads its
        // terminal is stopped by SIGTTIN; ignored, the read fails with EIO instead, which
        // ends the reading and leaves the cluster serving.
        ::signal(SIGTTIN, SIG_IGN);
        std::optional<FaultCommandReader> faults;  // destroyed before the cluster
        if (::fcntl(STDIN_FILENO, F_GETFD) != -1)
            faults.emplace(cluster, STDIN_FILENO);
        else
            spdlog::debug("no standard input: no fault commands");

        int signal_number = 0;
        sigwait(&stop_signals, &signal_number);
        spdlog::info("received signal {}, stopping the mock cluster", signal_number);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "sluice mock-broker: %s\n", e.what());
        return 1;
    }
    return 0;
}

}  // namespace sluice::kafka
