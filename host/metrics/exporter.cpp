#include "metrics/exporter.hpp"

#include <spdlog/spdlog.h>

#include <boost/beast/core.hpp>
#include <chrono>
#include <optional>
#include <sstream>

#include "metrics/exporter_impl.hpp"

namespace sluice::metrics {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// One HTTP/1.1 connection (keep-alive): read a request, write the answer, repeat. Lives as long
// as one of its handlers is pending. Exporter thread.
// Bounds: each request must arrive whole within request_timeout (a slowloris client that
// trickles bytes is dropped then), its headers and body within their limits (431/413, then
// the connection is closed); the answer's write has the same timeout.
class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(tcp::socket socket, Exporter::Impl &server)
        : stream_(std::move(socket)), server_(server) {
        ++server_.connections;
    }
    ~Session() { --server_.connections; }

    void read() {
        parser_.emplace();
        server_.limit(*parser_);
        stream_.expires_after(server_.options.request_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&Session::on_read, shared_from_this()));
    }

  private:
    void on_read(beast::error_code ec, size_t) {
        auto answer = server_.answer_read(ec, parser_->get());
        if (!answer) {  // end of stream, timeout, garbage: nothing to answer
            beast::error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
            return;
        }
        response_ = std::move(*answer);
        write();
    }

    void write() {
        stream_.expires_after(server_.options.request_timeout);
        http::async_write(stream_, response_,
                          beast::bind_front_handler(&Session::on_write, shared_from_this()));
    }

    void on_write(beast::error_code ec, size_t) {
        if (ec) return;
        if (!response_.keep_alive()) {
            beast::error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
            return;
        }
        read();
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;  // one per request
    http::response<http::string_body> response_;                     // kept until written
    Exporter::Impl &server_;
};

}  // namespace

void Exporter::Impl::limit(http::request_parser<http::string_body> &parser) const {
    parser.header_limit(static_cast<uint32_t>(options.header_limit));
    parser.body_limit(options.body_limit);
}

std::optional<http::response<http::string_body>> Exporter::Impl::answer_read(
    beast::error_code ec, const http::request<http::string_body> &request) const {
    if (ec == http::error::header_limit || ec == http::error::body_limit) {
        const bool header = ec == http::error::header_limit;
        http::response<http::string_body> response;
        response.version(11);
        response.result(header ? http::status::request_header_fields_too_large
                               : http::status::payload_too_large);
        response.set(http::field::content_type, "text/plain; charset=utf-8");
        response.body() =
            header ? "request headers over " + std::to_string(options.header_limit) + " bytes\n"
                   : "request body over " + std::to_string(options.body_limit) + " bytes\n";
        response.keep_alive(false);
        response.prepare_payload();
        return response;
    }
    if (ec) return std::nullopt;
    return respond(request);
}

std::string Exporter::Impl::answer_bytes(std::string_view bytes) const {
    http::request_parser<http::string_body> parser;
    limit(parser);
    beast::error_code ec;
    net::const_buffer rest(bytes.data(), bytes.size());
    // As http::read feeds it: everything received, then the end of the stream.
    while (!ec && !parser.is_done() && rest.size() > 0) {
        const size_t used = parser.put(rest, ec);
        rest += used;
        if (ec == http::error::need_more) {
            ec = {};
            break;
        }
    }
    if (!ec && !parser.is_done()) {
        if (parser.got_some())
            parser.put_eof(ec);
        else
            ec = http::error::end_of_stream;
    }
    if (!ec && !parser.is_done()) ec = http::error::partial_message;
    auto answer = answer_read(ec, parser.get());
    if (!answer) return {};
    std::ostringstream out;
    out << *answer;
    return out.str();
}

void Exporter::Impl::accept() {
    acceptor.async_accept(io, [this](beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted) return;  // closed by stop()
        if (!ec && connections >= options.max_connections) {
            beast::error_code ignored;  // full: refuse the newcomer, keep serving the others
            socket.close(ignored);
        } else if (!ec) {
            std::make_shared<Session>(std::move(socket), *this)->read();
        }
        accept();
    });
}

Exporter::Exporter(std::string_view address, ExporterOptions options)
    : Exporter(
          [&] {
              try {
                  return parse_listen_address(address);
              } catch (const std::invalid_argument &e) {
                  throw MetricsError(std::string("metrics-address: ") + e.what());
              }
          }(),
          std::move(options)) {}

Exporter::Exporter(const ListenAddress &address, ExporterOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
    const std::string where = "--metrics-address " + address.to_string();
    tcp::endpoint endpoint;
    try {
        tcp::resolver resolver(impl_->io);
        const auto results =
            resolver.resolve(address.host, std::to_string(address.port),
                             tcp::resolver::passive | tcp::resolver::numeric_service);
        if (results.empty()) throw MetricsError(where + ": the host does not resolve");
        endpoint = results.begin()->endpoint();
    } catch (const boost::system::system_error &e) {
        throw MetricsError(where + ": cannot resolve '" + address.host + "' (" +
                           e.code().message() + "); give an IP address such as 127.0.0.1");
    }
    beast::error_code ec;
    impl_->acceptor.open(endpoint.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(endpoint, ec);
    if (ec == net::error::address_in_use)
        throw MetricsError(where +
                           ": the port is already in use (another sluice or exporter?); choose "
                           "another port, or port 0 for a free one");
    if (ec == boost::system::errc::address_not_available)
        throw MetricsError(where +
                           ": no local interface has this address; use one of this "
                           "machine's addresses, 127.0.0.1, or 0.0.0.0 for all");
    if (ec == net::error::access_denied)
        throw MetricsError(where +
                           ": permission denied (ports below 1024 need privileges); "
                           "choose a port above 1024");
    if (!ec) impl_->acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) throw MetricsError(where + ": cannot listen: " + ec.message());

    impl_->bound = address;
    impl_->bound.port = impl_->acceptor.local_endpoint().port();
    impl_->accept();
    impl_->thread = std::thread([impl = impl_.get()] {
        try {
            impl->io.run();
        } catch (const std::exception &e) {
            spdlog::error("metrics endpoint stopped: {}", e.what());
        }
    });
    spdlog::info("metrics: serving {}/metrics (Prometheus) and {}/status (JSON)", url(), url());
    spdlog::info("metrics: status page at {}/{}", url(),
                 impl_->options.control.enabled()
                     ? " (control: POST /control/pause, /control/resume, /control/reload, "
                       "/control/promote, /control/canary?plugin=NAME with the bearer token)"
                     : "");
    if (impl_->options.control.enabled() && !endpoint.address().is_loopback())
        spdlog::warn(
            "metrics: the control routes listen on {}, not loopback: the bearer token crosses the "
            "network in clear text (plain HTTP); keep it on 127.0.0.1 behind an authenticating "
            "proxy, or on a trusted network",
            address.to_string());
}

Exporter::~Exporter() {
    stop();
}

void Exporter::stop() {
    if (!impl_ || impl_->stopped) return;
    impl_->stopped = true;
    // Closing the acceptor and stopping the loop from its own thread lets the accept handler see
    // operation_aborted; open connections are dropped with the io_context.
    net::post(impl_->io, [impl = impl_.get()] {
        beast::error_code ignored;
        impl->acceptor.close(ignored);
        impl->io.stop();
    });
    if (impl_->thread.joinable()) impl_->thread.join();
}

void Exporter::publish(RunSnapshot snapshot) {
    snapshot.published_at_ms = now_ms();
    auto next = std::make_shared<const RunSnapshot>(std::move(snapshot));
    std::lock_guard lock(impl_->mutex);
    impl_->history.add(*next);
    impl_->latest.swap(next);
    // `next` (the previous snapshot) is freed outside the lock, unless a request still holds it.
}

std::shared_ptr<const RunSnapshot> Exporter::latest() const {
    return impl_->snapshot();
}

const ListenAddress &Exporter::address() const {
    return impl_->bound;
}

std::string Exporter::url() const {
    return "http://" + impl_->bound.to_string();
}

}  // namespace sluice::metrics
