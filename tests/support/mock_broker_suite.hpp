#pragma once
// MockBrokerSuite: one `sluice mock-broker` shared by every test of a GoogleTest suite (a start
// takes about a second), with the topics the suite names.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "e2e_helpers.hpp"
#include "mock_broker_process.hpp"

namespace sluice::test {

/// Derive the suite's fixture F from MockBrokerSuite<F> and give F
/// `static std::vector<MockTopic> mock_topics()`. The broker starts before the suite's first
/// test and stops after its last; a fixture with more to set up (a ZooKeeper) calls
/// MockBrokerSuite<F>::SetUpTestSuite() / TearDownTestSuite() from its own. One (test) thread.
template <class Fixture>
class MockBrokerSuite : public ::testing::Test {
  public:
    static void SetUpTestSuite() {
        broker_ = std::make_unique<MockBrokerProcess>(Fixture::mock_topics());
    }
    static void TearDownTestSuite() { broker_.reset(); }

  protected:
    static MockBrokerProcess &broker() { return *broker_; }
    static std::string bootstrap() { return broker_->bootstrap_servers(); }

    /// per_partition[p] records on partition p of topic, without key, valued
    /// value_prefix + "0", value_prefix + "1", ...; waits for the acks.
    static void produce(const std::string &topic, const std::vector<int> &per_partition,
                        const std::string &value_prefix = "v") {
        std::vector<RecordToProduce> records;
        for (int p = 0; p < static_cast<int>(per_partition.size()); ++p)
            for (int i = 0; i < per_partition[p]; ++i)
                records.push_back({p, std::nullopt, value_prefix + std::to_string(i), {}});
        produce_records(bootstrap(), topic, records);
    }

  private:
    static inline std::unique_ptr<MockBrokerProcess> broker_;
};

}  // namespace sluice::test
