#pragma once
// An HTTP GET with Boost.Beast: a real client, so the exporter's HTTP (and Burrow's API) is read
// by an independent implementation.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
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

}  // namespace sluice::test
