#pragma once
// The HOST:PORT of --metrics-address. Header-only, so the config parser checks the value with
// the same rules as the exporter without linking the metrics library.

#include <charconv>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice::metrics {

/// HOST:PORT as --metrics-address takes it; an IPv6 host is written in brackets ([::1]:9100).
/// Port 0 asks for a free port.
struct ListenAddress {
    std::string host;
    uint16_t port = 0;
    std::string to_string() const;
};

/// Throws std::invalid_argument with a message saying what is wrong and how to write it (no
/// key name: the caller adds it).
ListenAddress parse_listen_address(std::string_view text);

inline std::string ListenAddress::to_string() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

inline ListenAddress parse_listen_address(std::string_view text) {
    const auto bad = [&](const std::string &why) {
        return std::invalid_argument("'" + std::string(text) + "' " + why +
                                     ": write HOST:PORT, e.g. 127.0.0.1:9100 (port 0 = any free "
                                     "port; [::1]:9100 for IPv6)");
    };
    ListenAddress out;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            throw bad("is not an address");
        out.host = std::string(text.substr(1, close - 1));
        port = text.substr(close + 2);
    } else {
        const size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) throw bad("has no port");
        out.host = std::string(text.substr(0, colon));
        if (out.host.find(':') != std::string::npos)
            throw bad("needs brackets around an IPv6 host");
        port = text.substr(colon + 1);
    }
    if (out.host.empty()) throw bad("has no host");
    if (out.host.find_first_of(" \t/") != std::string::npos) throw bad("is not an address");
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535)
        throw bad("has no valid port (0-65535)");
    out.port = static_cast<uint16_t>(value);
    return out;
}

}  // namespace sluice::metrics
