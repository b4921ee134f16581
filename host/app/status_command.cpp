// `sluice status [URL] [--once]`: a one-screen terminal view of a running host, read from its
// /status (the metrics-address of `sluice run`), for a person on a server without a browser.
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "app/commands.hpp"
#include "app/usage.hpp"

namespace sluice::app {

namespace {

using nlohmann::json;

constexpr const char *kDefaultAddress = "127.0.0.1:9100";

constexpr const char *kUsage =
    "Usage: sluice status [URL] [--once]\n"
    "\n"
    "Shows what a running `sluice run` is doing on one terminal screen, refreshed every second:\n"
    "its state, batches and records, the last batch's processing time and scheduling delay,\n"
    "each topic's consumer lag (records behind the high watermark, and how many seconds that is\n"
    "at the recent input rate), the plugins, the receiver's intake and the ZooKeeper mirror.\n"
    "It reads the host's /status, so the host must run with a metrics address\n"
    "(--metrics-address or metrics-address = HOST:PORT in its config file).\n"
    "\n"
    "  URL      the host's metrics address: HOST:PORT or http://HOST:PORT (default "
    "127.0.0.1:9100,\n"
    "           as in the example configuration and the systemd unit)\n"
    "  --once   print the screen once and exit (for scripts and logs); without it, Ctrl-C ends\n"
    "\n"
    "Unknown values show as '-': a lag before the first high watermark is read, seconds of lag\n"
    "while nothing has been committed for the last 30 s. The numbers are the host's own: the\n"
    "same as GET URL/status (JSON) and URL/metrics (Prometheus); docs/metrics.md explains them.\n"
    "\n"
    "Examples:\n"
    "  sluice status                          # the host on 127.0.0.1:9100\n"
    "  sluice status 10.0.0.5:9200 --once     # one screen of another host, then exit\n"
    "\n"
    "Exit status: 0 after --once or Ctrl-C, 1 when the host cannot be read, 2 usage error.\n";

struct Target {
    std::string host;
    std::string port;
    std::string url;  // what the messages name: http://HOST:PORT/status
};

/// HOST:PORT, http://HOST:PORT or either with a trailing / or /status. Throws UsageError.
Target parse_target(std::string text) {
    const std::string given = text;
    if (text.rfind("https://", 0) == 0)
        throw UsageError("'" + given + "': the metrics address speaks plain HTTP; use http://");
    if (text.rfind("http://", 0) == 0) text = text.substr(7);
    for (const std::string suffix : {"/status", "/"})
        if (text.size() > suffix.size() && text.ends_with(suffix))
            text.resize(text.size() - suffix.size());
    const size_t colon = text.rfind(':');
    Target t;
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size() ||
        text.find('/') != std::string::npos)
        throw UsageError("'" + given +
                         "' is not a metrics address: give HOST:PORT, e.g. 127.0.0.1:9100");
    t.host = text.substr(0, colon);
    t.port = text.substr(colon + 1);
    if (t.host.size() > 2 && t.host.front() == '[' && t.host.back() == ']')
        t.host = t.host.substr(1, t.host.size() - 2);  // [::1]
    if (t.port.find_first_not_of("0123456789") != std::string::npos)
        throw UsageError("'" + given + "': the port must be a number");
    t.url = "http://" + text + "/status";
    return t;
}

/// GET /status within a few seconds; the parsed body, or a one-line reason.
std::optional<json> fetch_status(const Target &t, std::string &error) {
    namespace net = boost::asio;
    namespace beast = boost::beast;
    namespace http = beast::http;
    net::io_context io;
    beast::tcp_stream stream(io);
    beast::flat_buffer buffer;
    http::request<http::empty_body> request{http::verb::get, "/status", 11};
    request.set(http::field::host, t.host);
    request.set(http::field::connection, "close");
    http::response<http::string_body> response;
    beast::error_code failure;
    bool done = false;
    stream.expires_after(std::chrono::seconds(3));
    net::ip::tcp::resolver resolver(io);
    resolver.async_resolve(t.host, t.port, [&](beast::error_code ec, auto endpoints) {
        if (ec) return void(failure = ec);
        stream.async_connect(endpoints, [&](beast::error_code ec, auto) {
            if (ec) return void(failure = ec);
            http::async_write(stream, request, [&](beast::error_code ec, size_t) {
                if (ec) return void(failure = ec);
                http::async_read(stream, buffer, response, [&](beast::error_code ec, size_t) {
                    if (ec) return void(failure = ec);
                    done = true;
                });
            });
        });
    });
    io.run();
    if (!done) {
        const std::string why =
            failure == beast::error::timeout ? "no answer within 3 s" : failure.message();
        error = "cannot reach " + t.url + ": " + why + " (is `sluice run` running there with " +
                "metrics-address = " + t.host + ":" + t.port + "?)";
        return std::nullopt;
    }
    if (response.result() != http::status::ok) {
        error = t.url + " answered " + std::to_string(response.result_int()) + " " +
                std::string(response.reason()) + ": is this the metrics address of sluice run?";
        return std::nullopt;
    }
    json body = json::parse(response.body(), nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("state")) {
        error = t.url + " did not answer with sluice's status JSON: is this the metrics " +
                "address of sluice run?";
        return std::nullopt;
    }
    return body;
}

// Formatting of JSON values that may be null or absent: '-' for unknown.
std::string integer(const json &v) {
    return v.is_number() ? std::to_string(v.get<int64_t>()) : "-";
}
std::string decimal(const json &v, int digits = 1) {
    return v.is_number() ? fmt::format("{:.{}f}", v.get<double>(), digits) : "-";
}
const json &field(const json &object, const char *name) {
    static const json null;
    if (!object.is_object()) return null;
    const auto it = object.find(name);
    return it == object.end() ? null : *it;
}

std::string duration(int64_t ms) {
    int64_t s = ms / 1000;
    if (s < 60) return fmt::format("{}s", s);
    if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
    return fmt::format("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60);
}

std::string megabytes(const json &v) {
    return v.is_number() ? fmt::format("{:.1f} MB", v.get<double>() / 1e6) : "-";
}

/// The screen for one /status document.
std::string render(const Target &t, const json &s) {
    std::string out;
    // This machine's clock: a held batch shows as "committed 40s ago" although the host's
    // last snapshot is from then.
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    const int64_t started =
        field(s, "start_time_ms").is_number() ? field(s, "start_time_ms").get<int64_t>() : 0;
    const std::time_t now = std::time(nullptr);
    char clock[16];
    std::strftime(clock, sizeof clock, "%H:%M:%S", std::localtime(&now));
    out += fmt::format("sluice {}  {} mode, {}, up {}  ({})\n", t.url.substr(7, t.url.size() - 14),
                       field(s, "mode").is_string() ? field(s, "mode").get<std::string>() : "-",
                       field(s, "state").is_string() ? field(s, "state").get<std::string>() : "-",
                       started ? duration(std::max<int64_t>(0, now_ms - started)) : "-", clock);
    out += fmt::format("batches {} ({} replayed)   records {}   {}   processing {} s in all\n",
                       integer(field(s, "batches")), integer(field(s, "replayed_batches")),
                       integer(field(s, "records")), megabytes(field(s, "bytes")),
                       decimal(field(s, "processing_seconds"), 3));
    const json &last = field(s, "last_batch");
    if (last.is_object()) {
        const json &committed = field(last, "committed_at_ms");
        out += fmt::format(
            "last batch {}: {} records, processing {} ms, scheduling delay {} ms, committed {} "
            "ago\n",
            integer(field(last, "id")), integer(field(last, "records")),
            decimal(field(last, "processing_ms")), decimal(field(last, "scheduling_delay_ms")),
            committed.is_number()
                ? duration(std::max<int64_t>(0, now_ms - committed.get<int64_t>()))
                : "-");
    } else {
        out += "last batch: none yet\n";
    }

    out += fmt::format("\n{:<32} {:>10} {:>12} {:>9} {:>12}\n", "TOPIC", "PARTITIONS", "LAG",
                       "LAG (s)", "RECORDS/S");
    for (const json &topic : field(s, "topics").is_array() ? field(s, "topics") : json::array())
        out += fmt::format(
            "{:<32} {:>10} {:>12} {:>9} {:>12}\n",
            field(topic, "topic").is_string() ? field(topic, "topic").get<std::string>() : "-",
            integer(field(topic, "partitions")), integer(field(topic, "lag_records")),
            decimal(field(topic, "lag_seconds")), decimal(field(topic, "input_rate")));

    out += fmt::format("\n{:<24} {:>4} {:>4} {:>9} {:>12} {:>7} {:>7} {:>9}\n", "PLUGIN", "SLOT",
                       "GEN", "BATCHES", "RECORDS", "ERRORS", "RETRIES", "TIME (s)");
    for (const json &p : field(s, "plugins").is_array() ? field(s, "plugins") : json::array()) {
        std::string name = field(p, "name").is_string() ? field(p, "name").get<std::string>() : "-";
        if (field(p, "on_probation") == true) name += " (probation)";
        out += fmt::format("{:<24} {:>4} {:>4} {:>9} {:>12} {:>7} {:>7} {:>9}\n", name,
                           integer(field(p, "slot")), integer(field(p, "generation")),
                           integer(field(p, "batches")), integer(field(p, "records")),
                           integer(field(p, "errors")), integer(field(p, "retries")),
                           decimal(field(p, "seconds"), 3));
    }

    const json &receiver = field(s, "receiver");
    const json &mirror = field(s, "zookeeper_mirror");
    if (receiver.is_object() || mirror.is_object()) out += "\n";
    if (receiver.is_object()) {
        const json &wal = field(receiver, "wal");
        out += fmt::format(
            "receiver: {} consumer threads, {} partitions assigned, {}, {} queued blocks{}\n",
            integer(field(receiver, "consumer_threads")),
            integer(field(receiver, "assigned_partitions")),
            field(receiver, "paused") == true ? "PAUSED by backpressure" : "not paused",
            integer(field(receiver, "queued_blocks")),
            wal.is_object()
                ? fmt::format(", WAL {} ({} blocks pending)", megabytes(field(wal, "bytes")),
                              integer(field(wal, "pending_blocks")))
                : std::string(", no WAL"));
    }
    if (mirror.is_object())
        out += fmt::format("zookeeper mirror: {}, lag {} ms, {} partitions pending, {} writes\n",
                           field(mirror, "connected") == true ? "connected" : "NOT CONNECTED",
                           decimal(field(mirror, "lag_ms"), 0),
                           integer(field(mirror, "pending_partitions")),
                           integer(field(mirror, "writes")));
    return out;
}

}  // namespace

int status_command(int argc, char **argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    bool once = false;
    std::optional<std::string> address;
    for (const std::string &arg : args) {
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            return 0;
        }
        if (arg == "--once") {
            once = true;
        } else if (arg.starts_with("-")) {
            std::cerr << "sluice status: unknown option '" << arg
                      << "' (see sluice status --help)\n";
            return 2;
        } else if (address) {
            std::cerr << "sluice status: one URL only (got '" << *address << "' and '" << arg
                      << "')\n";
            return 2;
        } else {
            address = arg;
        }
    }
    Target target;
    try {
        target = parse_target(address.value_or(kDefaultAddress));
    } catch (const UsageError &e) {
        std::cerr << "sluice status: " << e.what() << "\n";
        return 2;
    }

    std::string error;
    auto status = fetch_status(target, error);
    if (!status) {
        std::cerr << "sluice status: " << error << "\n";
        return 1;
    }
    if (once) {
        std::cout << render(target, *status) << std::flush;
        return 0;
    }
    // Refresh every second; a host that goes away keeps its last screen with a line saying so,
    // and comes back when it answers again (a restart). Ctrl-C ends.
    const bool terminal = ::isatty(STDOUT_FILENO) == 1;
    for (;;) {
        std::string screen = render(target, *status);
        if (!error.empty()) screen += "\n" + error + " (retrying every second)\n";
        std::cout << (terminal ? "\x1b[H\x1b[2J" : "\n") << screen << std::flush;
        std::this_thread::sleep_for(std::chrono::seconds(1));
        error.clear();
        if (auto next = fetch_status(target, error)) status = std::move(next);
    }
}

}  // namespace sluice::app
