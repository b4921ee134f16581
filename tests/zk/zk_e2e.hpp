#pragma once
// Shared by the end-to-end ZooKeeper tests: a suite fixture with a mock broker and a ZooKeeper,
// Burrow as a child process and a minimal HTTP GET for its API.

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "child_process.hpp"
#include "loopback_tcp.hpp"
#include "mock_broker_suite.hpp"
#include "temp_dir.hpp"
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

/// The body of GET http://127.0.0.1:port/path, or "" when there is no answer.
inline std::string http_get(int port, const std::string &path) {
    const std::string response = tcp_exchange(
        port, "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 3000);
    const auto body = response.find("\r\n\r\n");
    return body == std::string::npos ? "" : response.substr(body + 4);
}

/// Burrow (Debian's `burrow`): its cluster "local" is the mock broker, its
/// kafka_zk consumer module reads our ZooKeeper (below `zookeeper_path`).
/// Lifecycle: the constructor writes burrow.toml and starts it; the
/// destructor kills it. One (test) thread.
class BurrowProcess {
  public:
    BurrowProcess(const std::string &bootstrap, const std::string &zookeeper,
                  const std::string &zookeeper_path, int http_port)
        : dir_(temp_dir("sluice-burrow")), port_(http_port) {
        std::ofstream cfg(dir_.file("burrow.toml"));
        cfg << "[general]\npidfile=\"" << dir_.file("burrow.pid") << "\"\n"
            << "[logging]\nlevel=\"info\"\nfilename=\"" << dir_.file("burrow.log") << "\"\n"
            << "[zookeeper]\nservers=[\"" << zookeeper << "\"]\ntimeout=6\n"
            << "root-path=\"/burrow\"\n"
            // The 2.0.2 mock refuses the Metadata versions of newer Kafka versions.
            << "[client-profile.mock]\nclient-id=\"burrow-test\"\nkafka-version=\"0.10.0\"\n"
            << "[cluster.local]\nclass-name=\"kafka\"\nservers=[\"" << bootstrap << "\"]\n"
            << "client-profile=\"mock\"\ntopic-refresh=1\noffset-refresh=1\n"
            << "[consumer.zk]\nclass-name=\"kafka_zk\"\ncluster=\"local\"\n"
            << "servers=[\"" << zookeeper << "\"]\nzookeeper-path=\"" << zookeeper_path
            << "\"\nzookeeper-timeout=6\n"
            << "[httpserver.default]\naddress=\"127.0.0.1:" << http_port << "\"\n"
            << "[storage.default]\nclass-name=\"inmemory\"\nworkers=2\nintervals=10\n"
            << "expire-group=604800\nmin-distance=1\n";
        cfg.close();
        process_ = std::make_unique<ChildProcess>(
            std::vector<std::string>{"/usr/bin/Burrow", "--config-dir", dir_.path().string()},
            ChildProcess::Options{dir_.file("burrow.stderr"), false});
    }
    ~BurrowProcess() { process_.reset(); }

    std::string get(const std::string &path) const { return http_get(port_, path); }
    std::string log() const {
        std::ifstream in(dir_.file("burrow.log"));
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
    bool running() { return process_->running(); }

  private:
    TempDir dir_;
    int port_;
    std::unique_ptr<ChildProcess> process_;
};

}  // namespace sluice::test
