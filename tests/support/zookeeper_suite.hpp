#pragma once
// A suite fixture for the end-to-end ZooKeeper tests: a mock broker and a private ZooKeeper.

#include <memory>

#include "mock_broker_suite.hpp"
#include "zookeeper_server.hpp"

namespace sluice::test {

/// MockBrokerSuite with a private ZooKeeper as well: started before the broker, stopped after it.
template <class Fixture>
class MockBrokerAndZooKeeperSuite : public MockBrokerSuite<Fixture> {
  public:
    static void SetUpTestSuite() {
        zookeeper_ = std::make_unique<ZooKeeperServer>();
        MockBrokerSuite<Fixture>::SetUpTestSuite();
    }
    static void TearDownTestSuite() {
        MockBrokerSuite<Fixture>::TearDownTestSuite();
        zookeeper_.reset();
    }

  protected:
    static ZooKeeperServer &zookeeper() { return *zookeeper_; }

  private:
    static inline std::unique_ptr<ZooKeeperServer> zookeeper_;
};

}  // namespace sluice::test
