#include "metrics/exporter.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <mutex>
#include <thread>

#include "metrics/health.hpp"
#include "metrics/prometheus.hpp"
#include "metrics/status_json.hpp"

namespace sluice::metrics {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(10);

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct Exporter::Impl {
    // One HTTP/1.1 connection (keep-alive): read a request, write the answer, repeat.
    // Lives as long as one of its handlers is pending. Exporter thread.
    class Session : public std::enable_shared_from_this<Session> {
      public:
        Session(tcp::socket socket, const Impl &server)
            : stream_(std::move(socket)), server_(server) {}

        void read() {
            request_ = {};
            stream_.expires_after(kRequestTimeout);
            http::async_read(stream_, buffer_, request_,
                             beast::bind_front_handler(&Session::on_read, shared_from_this()));
        }

      private:
        void on_read(beast::error_code ec, size_t) {
            if (ec) {  // end of stream, timeout, garbage: nothing to answer
                beast::error_code ignored;
                stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
                return;
            }
            response_ = server_.respond(request_);
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
        http::request<http::string_body> request_;
        http::response<http::string_body> response_;  // kept until its write completes
        const Impl &server_;
    };

    net::io_context io{1};
    tcp::acceptor acceptor{io};
    ListenAddress bound;

    mutable std::mutex mutex;  // guards latest
    std::shared_ptr<const RunSnapshot> latest = std::make_shared<RunSnapshot>();

    std::thread thread;  // last: started once everything above exists
    bool stopped = false;

    std::shared_ptr<const RunSnapshot> snapshot() const {
        std::lock_guard lock(mutex);
        return latest;
    }

    void accept() {
        acceptor.async_accept(io, [this](beast::error_code ec, tcp::socket socket) {
            if (ec == net::error::operation_aborted) return;  // closed by stop()
            if (!ec) std::make_shared<Session>(std::move(socket), *this)->read();
            accept();
        });
    }

    http::response<http::string_body> respond(
        const http::request<http::string_body> &request) const {
        http::response<http::string_body> response;
        response.version(request.version());
        response.keep_alive(request.keep_alive());
        response.set(http::field::server, "sluice");
        std::string_view target(request.target().data(), request.target().size());
        target = target.substr(0, target.find('?'));
        const auto answer = [&](http::status status, const char *type, std::string body) {
            response.result(status);
            response.set(http::field::content_type, type);
            response.body() = std::move(body);
        };
        if (request.method() != http::verb::get) {
            answer(http::status::method_not_allowed, "text/plain; charset=utf-8",
                   "only GET is supported\n");
            response.set(http::field::allow, "GET");
        } else if (target == "/metrics") {
            answer(http::status::ok, kPrometheusContentType, render_prometheus(*snapshot()));
        } else if (target == "/status") {
            answer(http::status::ok, "application/json",
                   status_json(*snapshot())
                           .dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
                       "\n");
        } else if (target == "/healthz" || target == "/readyz") {
            const auto s = snapshot();
            const HealthVerdict v =
                target == "/healthz" ? liveness(*s, now_ms()) : readiness(*s, now_ms());
            answer(v.ok ? http::status::ok : http::status::service_unavailable,
                   "text/plain; charset=utf-8", v.reason + "\n");
            response.set(http::field::cache_control, "no-store");
        } else if (target == "/") {
            answer(http::status::ok, "text/plain; charset=utf-8",
                   "sluice\n  /metrics  Prometheus text format 0.0.4\n  /status   JSON\n"
                   "  /healthz  200 while the batch loop makes progress, else 503\n"
                   "  /readyz   200 while it reads partitions with its plugins, else 503\n");
        } else {
            answer(http::status::not_found, "text/plain; charset=utf-8",
                   "not found: try /metrics, /status, /healthz or /readyz\n");
        }
        response.prepare_payload();
        return response;
    }
};

Exporter::Exporter(std::string_view address)
    : Exporter([&] {
          try {
              return parse_listen_address(address);
          } catch (const std::invalid_argument &e) {
              throw MetricsError(std::string("metrics-address: ") + e.what());
          }
      }()) {}

Exporter::Exporter(const ListenAddress &address) : impl_(std::make_unique<Impl>()) {
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
