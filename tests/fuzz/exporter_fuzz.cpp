// libFuzzer target for the HTTP request path of the exporter (host/metrics: exporter.cpp's
// request parsing with its limits, exporter_routes.cpp's routes, and the renderings they serve:
// /metrics, /status, /status/batches, /healthz, /readyz, the page, /control/...), through
// Exporter::Impl::answer_bytes: the bytes of one request, answered as a connection would.
//
// Input: the bytes a client sends. Anything but an answer or a closed connection (a crash, a
// sanitizer report, an exception, a hang) is a finding. Invariants:
//   - an answer is one well-formed HTTP response (it parses back, its Content-Length is its
//     body's) with a status the exporter gives (200, 400, 401, 403, 404, 405, 413, 431, 503);
//   - a control action ran only for a POST carrying "Authorization: Bearer" with the token;
//   - the control token never appears in an answer;
//   - a 200 JSON answer (/status, /status/batches, control) is valid JSON.

#include <spdlog/spdlog.h>

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "fuzz_support.hpp"
#include "metrics/exporter_impl.hpp"

namespace {

using namespace sluice::metrics;
namespace http = boost::beast::http;

constexpr std::string_view kToken = "fuzz-token-0123456789abcdef";

void check(bool ok, const std::string &what) {
    if (!ok) sluice::fuzz::broken("exporter_fuzz", what);
}

int actions = 0;  // control callbacks run

RunSnapshot sample_snapshot() {
    RunSnapshot s;
    s.state = RunState::running;
    s.start_time_ms = 1'700'000'000'000;
    s.batch_interval_ms = 2000;
    BatchStats batch{41, 1'700'000'100'000, false, 120, 4800, 0.25, 0.01};
    s.add_batch(batch);
    s.last_batch_committed_ms = 1'700'000'100'300;
    s.next_offsets[{"orders", 0}] = 1200;
    s.next_offsets[{"orders", 1}] = 17;
    PluginSnapshot p;
    p.plugin = "file-sink";
    p.version = "1.0";
    p.batches = 42;
    p.custom["lines"] = 120;
    s.plugins.push_back(p);
    s.mirror = MirrorSnapshot{true, 0.5, 1, 10, 1};
    s.backpressure = BackpressureSnapshot{250.0, 100};
    return s;
}

Exporter::Impl &server() {
    static Exporter::Impl *impl = [] {
        ExporterOptions options;
        options.control.token = std::string(kToken);
        options.control.set_paused = [](bool) { ++actions; };
        options.control.paused = [] { return false; };
        options.control.reload = [] {
            ++actions;
            return std::string("rescanned");
        };
        options.control.promote = [] {
            ++actions;
            return std::string("nothing to promote");
        };
        auto *i = new Exporter::Impl(std::move(options));
        RunSnapshot s = sample_snapshot();
        i->history.add(s);
        i->latest = std::make_shared<const RunSnapshot>(std::move(s));
        return i;
    }();
    return *impl;
}

void check_answer(std::string_view request, const std::string &answer) {
    check(answer.find(kToken) == std::string::npos, "an answer shows the control token");
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{64} << 20);
    parser.header_limit(1 << 20);
    boost::beast::error_code ec;
    boost::asio::const_buffer rest(answer.data(), answer.size());
    while (!ec && !parser.is_done() && rest.size() > 0) rest += parser.put(rest, ec);
    check(!ec && parser.is_done() && rest.size() == 0,
          "an answer is not one HTTP response (" + ec.message() + "): " + answer.substr(0, 200));
    const auto &response = parser.get();
    static const std::set<unsigned> statuses = {200, 400, 401, 403, 404, 405, 413, 431, 503};
    check(statuses.count(response.result_int()) == 1,
          "an unexpected status " + std::to_string(response.result_int()));
    const auto length = response[http::field::content_length];
    check(std::string(length.data(), length.size()) == std::to_string(response.body().size()),
          "Content-Length is not the body's size");
    const auto type = response[http::field::content_type];
    if (response.result_int() == 200 && type.starts_with("application/json"))
        check(!nlohmann::json::parse(response.body(), nullptr, false).is_discarded(),
              "a JSON answer that is not JSON: " + response.body().substr(0, 200));
    (void)request;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    spdlog::set_level(spdlog::level::off);
    server();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string_view request(reinterpret_cast<const char *>(data), size);
    const int before = actions;
    const std::string answer = server().answer_bytes(request);
    if (actions != before) {
        check(!answer.empty() && answer.find(" 200 ") != std::string::npos,
              "a control action ran without a 200 answer");
        check(request.find("Bearer " + std::string(kToken)) != std::string::npos,
              "a control action ran without the token");
        check(request.find("POST") != std::string::npos, "a control action ran without POST");
    }
    if (!answer.empty()) check_answer(request, answer);
    return 0;
}
