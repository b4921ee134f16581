#pragma once
// ZooKeeperServer: a private, real ZooKeeper (Debian's `zookeeper` package) for
// tests: standalone, loopback, a free port, a fresh data directory.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "child_process.hpp"
#include "loopback_tcp.hpp"
#include "temp_dir.hpp"

namespace sluice::test {

/// Lifecycle: the constructor writes zoo.cfg, starts the server and waits until
/// `srvr` answers with a Mode: line (throws if not within the timeout); kill9()
/// and start() simulate a crash and a restart on the same port (with the same
/// data, or a wiped data directory, which expires every session); the
/// destructor kills the server and removes its directory. One (test) thread.
class ZooKeeperServer {
  public:
    static constexpr const char *kJar = "/usr/share/java/zookeeper.jar";

    ZooKeeperServer() : dir_(temp_dir("sluice-zk")), port_(free_port()) {
        std::filesystem::create_directories(dir_.path() / "data");
        std::ofstream cfg(dir_.file("zoo.cfg"));
        // tickTime 500: sessions may be as short as 1 s, so expiry tests are quick.
        cfg << "tickTime=500\n"
            << "initLimit=10\nsyncLimit=5\n"
            << "dataDir=" << dir_.file("data") << "\n"
            << "clientPort=" << port_ << "\n"
            << "clientPortAddress=127.0.0.1\n"
            << "admin.enableServer=false\n"
            << "4lw.commands.whitelist=srvr,ruok,stat\n"
            << "maxClientCnxns=0\n";
        if (!cfg) throw std::runtime_error("cannot write " + dir_.file("zoo.cfg"));
        cfg.close();
        start();
    }

    ~ZooKeeperServer() { kill9(); }
    ZooKeeperServer(const ZooKeeperServer &) = delete;
    ZooKeeperServer &operator=(const ZooKeeperServer &) = delete;

    int port() const { return port_; }
    /// "127.0.0.1:PORT" (append a chroot as needed).
    std::string connect_string() const { return "127.0.0.1:" + std::to_string(port_); }
    std::string log_path() const { return dir_.file("server.log"); }

    /// Starts the server (again), optionally on an empty data directory.
    void start(bool wipe_data = false,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(30000)) {
        if (process_) throw std::logic_error("ZooKeeperServer::start: already running");
        if (wipe_data) {
            std::filesystem::remove_all(dir_.path() / "data");
            std::filesystem::create_directories(dir_.path() / "data");
        }
        // The jar's manifest lists the rest of the class path (netty, slf4j, jute...).
        process_ = std::make_unique<ChildProcess>(
            std::vector<std::string>{
                "/usr/bin/java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dzookeeper.jmx.log4j.disable=true", "-cp", kJar,
                "org.apache.zookeeper.server.ZooKeeperServerMain", dir_.file("zoo.cfg")},
            ChildProcess::Options{log_path(), true});
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (srvr().find("Mode:") == std::string::npos) {
            if (!process_->running())
                throw std::runtime_error("ZooKeeper server exited at start: see " + log_path());
            if (std::chrono::steady_clock::now() > deadline)
                throw std::runtime_error(
                    "ZooKeeper server not ready on port " + std::to_string(port_) + " within " +
                    std::to_string(timeout.count()) + " ms: see " + log_path());
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    /// kill -9: no clean shutdown, sessions stay in the data directory.
    void kill9() {
        if (!process_) return;
        process_->send_signal(SIGKILL);
        process_->wait(std::chrono::milliseconds(10000));
        process_.reset();
    }

    bool running() const { return process_ != nullptr; }

    /// The answer to the `srvr` four-letter command, or "" when none.
    std::string srvr() const { return four_letter("srvr"); }

    std::string four_letter(const std::string &command) const {
        return tcp_exchange(port_, command, 2000);
    }

    /// A loopback TCP port nobody listens on right now.
    static int free_port() {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
            if (fd >= 0) ::close(fd);
            throw std::runtime_error("cannot find a free loopback port");
        }
        ::close(fd);
        return ntohs(addr.sin_port);
    }

  private:
    TempDir dir_;
    int port_;
    std::unique_ptr<ChildProcess> process_;
};

}  // namespace sluice::test
