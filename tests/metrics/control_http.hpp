#pragma once
// Test helper for the control routes: one HTTP request with a method, headers and a body over
// a fresh connection, with Boost.Beast (an independent client of the exporter's HTTP).

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "metrics_http.hpp"

namespace sluice::test {

/// METHOD http://127.0.0.1:port/target with `headers` and `body`, within `timeout`; nullopt
/// when there is no complete answer.
inline std::optional<HttpResponse> http_request(
    int port, boost::beast::http::verb method, const std::string &target,
    const std::map<std::string, std::string> &headers = {}, const std::string &body = "",
    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    namespace net = boost::asio;
    namespace beast = boost::beast;
    namespace http = beast::http;
    net::io_context io;
    beast::tcp_stream stream(io);
    beast::flat_buffer buffer;
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::connection, "close");
    for (const auto &[name, value] : headers) request.set(name, value);
    request.body() = body;
    request.prepare_payload();
    http::response<http::string_body> response;
    bool done = false;
    stream.expires_after(timeout);
    stream.async_connect({net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)},
                         [&](beast::error_code ec) {
                             if (ec) return;
                             http::async_write(stream, request, [&](beast::error_code ec, size_t) {
                                 if (ec) return;
                                 http::async_read(
                                     stream, buffer, response,
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

/// POST /control/ACTION with "Authorization: Bearer TOKEN" (none when token is empty).
inline std::optional<HttpResponse> control_post(int port, const std::string &action,
                                                const std::string &token) {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return http_request(port, boost::beast::http::verb::post, "/control/" + action, headers);
}

}  // namespace sluice::test
