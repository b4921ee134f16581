#pragma once
// librdkafka's mock cluster: a real Kafka-protocol server on loopback TCP,
// used for `--brokers embedded`, `sluice mock-broker` and the tests.

#include <librdkafka/rdkafka.h>
// clang-format off: rdkafka_mock.h must come after rdkafka.h
#include <librdkafka/rdkafka_mock.h>
// clang-format on

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kafka/kafka_conf.hpp"

namespace sluice::kafka {

/// Owns a mock cluster and the (non-client) librdkafka handle it lives in.
/// Lifecycle: constructed and destroyed on the control thread; the cluster
/// serves from librdkafka's own threads in between. Nothing survives
/// destruction. Ports are random each start.
class MockCluster {
  public:
    explicit MockCluster(int broker_count = 1);
    ~MockCluster();
    MockCluster(const MockCluster &) = delete;
    MockCluster &operator=(const MockCluster &) = delete;

    /// "127.0.0.1:PORT,..." for bootstrap.servers.
    std::string bootstrap_servers() const;

    /// Creates a topic (CreateTopics does not work against the mock).
    /// Throws KafkaError on failure.
    void create_topic(const std::string &topic, int partitions, int replication_factor = 1);

    rd_kafka_mock_cluster_t *get() const { return cluster_; }

    /// Brokers are numbered 1..broker_count().
    int broker_count() const { return broker_count_; }

    /// The partition count of a topic made by create_topic; 0 for any other (a topic a client
    /// auto-created is not known here).
    int partitions(const std::string &topic) const;

  private:
    int broker_count_ = 0;
    std::map<std::string, int> topics_;  // made by create_topic; control thread only
    HandlePtr owner_;                    // holds the cluster; not a client itself
    rd_kafka_mock_cluster_t *cluster_ = nullptr;
};

/// `sluice mock-broker`'s work: serves a cluster of `broker_count` brokers with `topics`
/// (name, partitions) created, prints `bootstrap.servers=...` as the first line on stdout, and
/// returns 0 at SIGTERM or SIGINT (1 when the cluster cannot start, with one line on stderr).
/// Meanwhile it reads fault commands on standard input (kafka/mock_faults.hpp); end of input
/// leaves it serving. Main thread; blocks those signals in the calling thread before
/// librdkafka starts its own.
int serve_mock_cluster(int broker_count, const std::vector<std::pair<std::string, int>> &topics);

}  // namespace sluice::kafka
