#pragma once
// Burrow (Debian's `burrow`, /usr/bin/Burrow) as a child process: the real ZooKeeper-based lag
// monitor, pointed at a mock broker and at the ZooKeeper our offset mirror writes.

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "http_get.hpp"
#include "temp_dir.hpp"

namespace sluice::test {

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

    /// The body of GET path on Burrow's HTTP API; "" without an answer.
    std::string get(const std::string &path) const {
        const auto response = http_get("127.0.0.1", port_, path, std::chrono::seconds(3));
        return response ? response->body : "";
    }
    /// Burrow's current_lag per partition of `topic` for `group` (-1: null); empty while
    /// Burrow has no status for the group. `raw`, when given, gets the whole answer.
    std::map<int, int64_t> lag(const std::string &group, const std::string &topic,
                               std::string *raw = nullptr) const {
        const std::string body = get("/v3/kafka/local/consumer/" + group + "/lag");
        if (raw) *raw = body;
        std::map<int, int64_t> out;
        const auto j = nlohmann::json::parse(body, nullptr, false);
        if (j.is_discarded() || !j.contains("status") || !j["status"].is_object()) return out;
        for (const auto &p : j["status"].value("partitions", nlohmann::json::array()))
            if (p.value("topic", "") == topic)
                out[p.value("partition", -1)] = p.value("current_lag", int64_t{-1});
        return out;
    }
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
