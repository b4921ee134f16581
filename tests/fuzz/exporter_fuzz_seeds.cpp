// Writes the seed corpus of exporter_fuzz: requests as the status page, Prometheus, curl and
// the control commands send them (every route, keep-alive, a body, chunked, over the limits).
// Usage: exporter_fuzz_seeds OUTDIR

#include <string>

#include "fuzz_support.hpp"

int main(int argc, char **argv) {
    const std::string token = "fuzz-token-0123456789abcdef";
    const auto get = [](const std::string &target, const std::string &extra = "") {
        return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:9108\r\nUser-Agent: curl/7.88\r\n" +
               extra + "\r\n";
    };
    const auto post = [&](const std::string &action, const std::string &auth) {
        return "POST /control/" + action +
               " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + auth +
               "\r\nContent-Length: 0\r\n\r\n";
    };
    return sluice::fuzz::write_seeds(
        argc, argv, "exporter_fuzz",
        {{"metrics", get("/metrics", "Accept: text/plain;version=0.0.4\r\n")},
         {"status", get("/status")},
         {"status-batches", get("/status/batches?after=40")},
         {"healthz", get("/healthz")},
         {"readyz", "GET /readyz HTTP/1.0\r\n\r\n"},
         {"page", get("/", "Accept: text/html,application/xhtml+xml\r\n")},
         {"page-script", get("/app.js")},
         {"root-plain", get("/")},
         {"not-found", get("/nope")},
         {"head", "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"},
         {"control-pause", post("pause", "Bearer " + token)},
         {"control-resume", post("resume", "Bearer " + token)},
         {"control-reload", post("reload", "Bearer " + token)},
         {"control-promote", post("promote", "Bearer " + token)},
         {"control-wrong-token", post("pause", "Bearer nope")},
         {"control-no-bearer", post("pause", "Basic dXNlcjpwYXNz")},
         {"control-get", get("/control/pause")},
         {"control-body", "POST /control/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                              token + "\r\nContent-Length: 5\r\n\r\nhello"},
         {"chunked",
          "POST /control/resume HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5\r\nhello\r\n0\r\n\r\n"},
         {"keep-alive-two", get("/healthz", "Connection: keep-alive\r\n") + get("/status")},
         {"headers-over-limit", get("/status", "X-Big: " + std::string(9000, 'a') + "\r\n")},
         {"body-over-limit",
          "POST /control/pause HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
              std::string(5000, 'b')},
         {"partial", "GET /metr"}});
}
