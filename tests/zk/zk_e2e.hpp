#pragma once
// Shared by the end-to-end ZooKeeper tests: Burrow as a child process and a
// minimal HTTP GET for its API.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "child_process.hpp"
#include "temp_dir.hpp"

namespace sluice::test {

/// The body of GET http://127.0.0.1:port/path, or "" when there is no answer.
inline std::string http_get(int port, const std::string &path) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "";
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string response;
    const std::string request =
        "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0 &&
        ::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
        char buf[8192];
        pollfd pfd{fd, POLLIN, 0};
        while (::poll(&pfd, 1, 3000) > 0) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) break;
            response.append(buf, static_cast<size_t>(n));
        }
    }
    ::close(fd);
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
