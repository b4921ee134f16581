#pragma once
// Test helpers for the metrics endpoints: an HTTP GET with Boost.Beast (a real client, so the
// exporter's HTTP is checked by an independent implementation), a reader of the Prometheus text
// format, and the port `sluice run` logs for --metrics-address 127.0.0.1:0.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>

namespace sluice::test {

struct HttpResponse {
    int status = 0;
    std::string content_type;
    std::string body;
};

/// GET http://host:port/target over a fresh connection, within `timeout`; nullopt when there
/// is no complete answer (nothing listening, timeout, connection dropped).
inline std::optional<HttpResponse> http_get(
    const std::string &host, int port, const std::string &target,
    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    namespace net = boost::asio;
    namespace beast = boost::beast;
    namespace http = beast::http;
    net::io_context io;
    beast::tcp_stream stream(io);
    beast::flat_buffer buffer;
    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, host);
    request.set(http::field::connection, "close");
    http::response<http::string_body> response;
    bool done = false;
    stream.expires_after(timeout);
    net::ip::tcp::endpoint endpoint(net::ip::make_address(host), static_cast<uint16_t>(port));
    stream.async_connect(endpoint, [&](beast::error_code ec) {
        if (ec) return;
        http::async_write(stream, request, [&](beast::error_code ec, size_t) {
            if (ec) return;
            http::async_read(stream, buffer, response,
                             [&](beast::error_code ec, size_t) { done = !ec; });
        });
    });
    io.run();
    if (!done) return std::nullopt;
    HttpResponse out;
    out.status = static_cast<int>(response.result_int());
    out.content_type = std::string(response[http::field::content_type]);
    out.body = std::move(response.body());
    return out;
}

/// The samples of a Prometheus text exposition: `name{labels}` as written -> value. Comment
/// lines are skipped; a malformed sample line makes the result empty.
inline std::map<std::string, double> parse_samples(const std::string &text) {
    std::map<std::string, double> out;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] == '#') continue;
        const size_t space = line.rfind(' ');
        if (space == std::string::npos) return {};
        try {
            out[line.substr(0, space)] = std::stod(line.substr(space + 1));
        } catch (const std::exception &) {
            return {};
        }
    }
    return out;
}

/// The port of the "metrics: serving http://127.0.0.1:PORT/metrics" line in a log file, or 0.
inline int logged_metrics_port(const std::string &log_path) {
    std::ifstream in(log_path);
    std::stringstream text;
    text << in.rdbuf();
    std::smatch match;
    const std::string log = text.str();
    static const std::regex line(R"(metrics: serving http://127\.0\.0\.1:(\d+)/metrics)");
    return std::regex_search(log, match, line) ? std::stoi(match[1]) : 0;
}

}  // namespace sluice::test
