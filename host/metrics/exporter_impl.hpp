#pragma once
// Private to exporter.cpp and exporter_routes.cpp: the exporter's server state and its router.

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "metrics/exporter.hpp"
#include "metrics/exporter_history.hpp"

namespace sluice::metrics {

namespace http = boost::beast::http;

struct Exporter::Impl {
    explicit Impl(ExporterOptions opts) : options(std::move(opts)) {}

    const ExporterOptions options;
    size_t connections =
        0;  // open sessions; exporter thread only (before io: sessions die with it)
    boost::asio::io_context io{1};
    boost::asio::ip::tcp::acceptor acceptor{io};
    ListenAddress bound;

    mutable std::mutex mutex;  // guards latest and history
    std::shared_ptr<const RunSnapshot> latest = std::make_shared<RunSnapshot>();
    BatchHistory history{options.history_batches};

    std::thread thread;  // last but one: started once everything above exists
    bool stopped = false;

    std::shared_ptr<const RunSnapshot> snapshot() const {
        std::lock_guard lock(mutex);
        return latest;
    }

    void accept();

    /// The answer to one request (exporter_routes.cpp). Exporter thread.
    http::response<http::string_body> respond(
        const http::request<http::string_body> &request) const;
    /// A parser of one request with the options' header and body limits.
    void limit(http::request_parser<http::string_body> &parser) const;
    /// What a connection answers once reading a request ended with `ec`: 431 or 413 over the
    /// limits (and close), nothing for another error (close), else respond(request).
    std::optional<http::response<http::string_body>> answer_read(
        boost::beast::error_code ec, const http::request<http::string_body> &request) const;
    /// The answer, serialised, that a connection gives to `bytes` arriving as one request and
    /// the end of the stream: the same parser, limits and routes, without a socket. Empty when
    /// the connection closes without an answer. For the fuzz target (tests/fuzz); any thread.
    std::string answer_bytes(std::string_view bytes) const;
};

}  // namespace sluice::metrics
