#include "kafka/mock_cluster.hpp"

namespace sluice::kafka {

MockCluster::MockCluster(int broker_count) {
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
}

}  // namespace sluice::kafka
