#pragma once
// tcp_exchange(): one request to a loopback TCP port and all of the answer, for the plain-text
// protocols tests talk to (ZooKeeper's four-letter commands, Burrow's HTTP API).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace sluice::test {

/// Connects to 127.0.0.1:port, writes `request` and reads until the peer closes or is silent
/// for quiet_ms. "" when nothing answers.
inline std::string tcp_exchange(int port, const std::string &request, int quiet_ms) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "";
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0 &&
        ::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
        char buf[8192];
        pollfd pfd{fd, POLLIN, 0};
        while (::poll(&pfd, 1, quiet_ms) > 0) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) break;
            out.append(buf, static_cast<size_t>(n));
        }
    }
    ::close(fd);
    return out;
}

}  // namespace sluice::test
