// The exporter's router: what each request gets. Exporter thread.
#include <fmt/format.h>
#include <openssl/crypto.h>

#include <charconv>
#include <chrono>

#include "metrics/exporter_impl.hpp"
#include "metrics/health.hpp"
#include "metrics/page/assets.hpp"
#include "metrics/prometheus.hpp"
#include "metrics/status_json.hpp"

namespace sluice::metrics {

namespace {

constexpr const char *kText = "text/plain; charset=utf-8";

// The page loads only what the binary serves: no CDN, no inline script.
constexpr const char *kPagePolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' "
    "data:; connect-src 'self'; frame-ancestors 'none'; form-action 'none'";

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string_view content_type(std::string_view file) {
    const auto ends = [&](std::string_view suffix) {
        return file.size() >= suffix.size() && file.substr(file.size() - suffix.size()) == suffix;
    };
    if (ends(".html")) return "text/html; charset=utf-8";
    if (ends(".js")) return "text/javascript; charset=utf-8";
    if (ends(".css")) return "text/css; charset=utf-8";
    return kText;
}

const page::Asset *find_asset(std::string_view url) {
    for (const page::Asset &asset : page::assets())
        if (asset.url == url) return &asset;
    return nullptr;
}

/// The guess against the control token in constant time, so the answer's timing does not tell
/// how much of a guess was right: OpenSSL's CRYPTO_memcmp (written so that no compiler turns
/// it into an early exit) over the token's length, whatever the guess's length or its first
/// difference. An empty token matches nothing.
bool same_token(std::string_view given, std::string_view expected) {
    if (expected.empty()) return false;
    std::string guess(expected.size(), '\0');
    given.copy(guess.data(), std::min(given.size(), expected.size()));
    const bool same_bytes = CRYPTO_memcmp(guess.data(), expected.data(), expected.size()) == 0;
    return same_bytes && given.size() == expected.size();
}

uint64_t query_number(std::string_view query, std::string_view name) {
    const std::string key = std::string(name) + "=";
    for (size_t at = 0; at < query.size();) {
        const size_t end = std::min(query.find('&', at), query.size());
        const std::string_view part = query.substr(at, end - at);
        if (part.substr(0, key.size()) == key) {
            uint64_t value = 0;
            std::from_chars(part.data() + key.size(), part.data() + part.size(), value);
            return value;
        }
        at = end + 1;
    }
    return 0;
}

}  // namespace

http::response<http::string_body> Exporter::Impl::respond(
    const http::request<http::string_body> &request) const {
    http::response<http::string_body> response;
    response.version(request.version());
    response.keep_alive(request.keep_alive());
    response.set(http::field::server, "sluice");
    const std::string_view full(request.target().data(), request.target().size());
    const size_t question = full.find('?');
    const std::string_view target = full.substr(0, question);
    const std::string_view query =
        question == std::string_view::npos ? std::string_view() : full.substr(question + 1);
    const auto answer = [&](http::status status, std::string_view type, std::string body) {
        response.result(status);
        response.set(http::field::content_type, std::string(type));
        response.body() = std::move(body);
    };
    const ExporterControl &control = options.control;
    const bool paused = control.enabled() && control.paused && control.paused();
    const auto accept = request[http::field::accept];
    const bool wants_html =
        std::string_view(accept.data(), accept.size()).find("text/html") != std::string_view::npos;

    if (control.enabled() && target.substr(0, 9) == "/control/") {
        const std::string_view action = target.substr(9);
        const auto auth = request[http::field::authorization];
        const std::string_view given(auth.data(), auth.size());
        if (action != "pause" && action != "resume" && action != "reload" && action != "promote" &&
            action != "canary") {
            answer(http::status::not_found, kText,
                   "not found: POST /control/pause, /control/resume, /control/reload, "
                   "/control/promote or /control/canary?plugin=NAME\n");
        } else if (request.method() != http::verb::post) {
            answer(http::status::method_not_allowed, kText, "control takes POST\n");
            response.set(http::field::allow, "POST");
        } else if (given.substr(0, 7) != "Bearer ") {
            answer(http::status::unauthorized, kText,
                   "control needs 'Authorization: Bearer TOKEN' (the control-token)\n");
            response.set(http::field::www_authenticate, "Bearer realm=\"sluice\"");
        } else if (!same_token(given.substr(7), control.token)) {
            answer(http::status::forbidden, kText, "wrong control token\n");
        } else {
            std::string result;
            std::string refused;  // a bad canary request: 400 with this line
            if (action == "canary") {
                try {
                    result = control.canary ? control.canary(query) : "canaries need hot reload";
                } catch (const std::invalid_argument &e) {
                    refused = e.what();
                }
            } else if (action == "reload") {
                result = control.reload ? control.reload() : "nothing to reload";
            } else if (action == "promote") {
                result = control.promote ? control.promote() : "nothing to promote";
            } else {
                const bool pause = action == "pause";
                if (control.set_paused) control.set_paused(pause);
                result =
                    pause ? "paused: no new batch starts until POST /control/resume" : "resumed";
            }
            if (!refused.empty())
                answer(http::status::bad_request, kText, refused + "\n");
            else
                answer(http::status::ok, "application/json",
                       nlohmann::json{{"action", action},
                                      {"paused", control.paused ? control.paused() : false},
                                      {"result", result}}
                               .dump() +
                           "\n");
        }
        response.set(http::field::cache_control, "no-store");
    } else if (target.substr(0, 9) == "/control/") {  // no control-token: no control routes
        answer(http::status::not_found, kText,
               "not found: the control routes need a control-token in the configuration\n");
    } else if (request.method() != http::verb::get) {
        answer(http::status::method_not_allowed, kText, "only GET is supported\n");
        response.set(http::field::allow, "GET");
    } else if (target == "/metrics") {
        answer(http::status::ok, kPrometheusContentType, render_prometheus(*snapshot()));
    } else if (target == "/status") {
        answer(
            http::status::ok, "application/json",
            status_json(*snapshot()).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
                "\n");
    } else if (target == "/status/batches") {
        nlohmann::json history_json;
        {
            std::lock_guard lock(mutex);
            history_json = history.json(query_number(query, "after"));
        }
        history_json["paused"] = paused;
        answer(http::status::ok, "application/json", history_json.dump() + "\n");
        response.set(http::field::cache_control, "no-store");
    } else if (target == "/healthz" || target == "/readyz") {
        const auto s = snapshot();
        const bool live = target == "/healthz";
        HealthVerdict v = live ? liveness(*s, now_ms()) : readiness(*s, now_ms());
        // A paused loop publishes nothing: alive by the operator's choice, but not ready.
        if (paused && s->state == RunState::running)
            v = live ? HealthVerdict{true, "paused by POST /control/pause"}
                     : HealthVerdict{false, "paused by POST /control/pause"};
        answer(v.ok ? http::status::ok : http::status::service_unavailable, kText, v.reason + "\n");
        response.set(http::field::cache_control, "no-store");
    } else if (target == "/" && !wants_html) {
        answer(http::status::ok, kText,
               "sluice\n  /                the status page (in a browser)\n"
               "  /metrics         Prometheus text format 0.0.4\n  /status          JSON\n"
               "  /status/batches  the recent batches (JSON)\n"
               "  /healthz         200 while the batch loop makes progress, else 503\n"
               "  /readyz          200 while it reads partitions with its plugins, else 503\n");
    } else if (const page::Asset *asset = find_asset(target)) {
        std::string body(asset->body);
        if (target == "/" && control.enabled()) {
            const std::string off = "data-control=\"off\"";
            if (const size_t at = body.find(off); at != std::string::npos)
                body.replace(at, off.size(), "data-control=\"on\"");
        }
        answer(http::status::ok, content_type(asset->file), std::move(body));
        if (target == "/") {
            response.set("Content-Security-Policy", kPagePolicy);
            response.set(http::field::cache_control, "no-store");
        }
        response.set("X-Content-Type-Options", "nosniff");
    } else {
        answer(http::status::not_found, kText,
               "not found: try /, /metrics, /status, /status/batches, /healthz or /readyz\n");
    }
    response.prepare_payload();
    return response;
}

}  // namespace sluice::metrics
