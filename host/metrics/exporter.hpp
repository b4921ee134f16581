#pragma once
// Exporter: the HTTP endpoint of --metrics-address. GET /metrics (Prometheus text format
// 0.0.4) and GET /status (JSON) show the latest RunSnapshot the run loop published; GET / is
// the live status page (host/metrics/page, embedded), GET /status/batches the recent batches
// it charts; with a control token, POST /control/{pause,resume,reload}.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "metrics/listen_address.hpp"
#include "metrics/snapshot.hpp"

namespace sluice::metrics {

/// The exporter cannot start: an address that does not resolve, a port in use... what() is
/// one line naming the address and the fix.
class MetricsError : public std::runtime_error {
    using runtime_error::runtime_error;
};

/// What POST /control/... does, given by the run loop. The callbacks run on the exporter's
/// thread: they must be quick and thread-safe (set an atomic, ask for a rescan).
struct ExporterControl {
    std::string token;  // the bearer token; empty: the /control routes do not exist (404)
    std::function<void(bool paused)> set_paused;  // pause: true, resume: false
    std::function<bool()> paused;                 // paused now (by set_paused)
    std::function<std::string()> reload;          // rescan the plugins; one line for the answer
    std::function<std::string()> promote;         // promote the canaries in shadow; one line
    // Deploy a canary: the request's query (plugin=NAME); one line, or throws
    // std::invalid_argument (answered 400 with its text).
    std::function<std::string(std::string_view query)> canary;
    bool enabled() const { return !token.empty(); }
};

/// Bounds that keep one client from stalling the others (all requests share one thread).
struct ExporterOptions {
    ExporterControl control;
    std::chrono::milliseconds request_timeout{10000};  // whole request, and each answer's write
    size_t max_connections = 64;   // more are closed at once (the oldest are not dropped)
    size_t header_limit = 8192;    // bytes; a larger request line + headers gets 431
    size_t body_limit = 4096;      // bytes; a larger body gets 413 (control bodies are empty)
    size_t history_batches = 600;  // batches kept for /status/batches
};

/// Snapshot model: the run loop owns its counters and publishes a complete copy after each
/// batch; the HTTP thread renders the latest copy on each request. Nothing is shared but one
/// shared_ptr behind a mutex, so a scrape never waits for a batch and never sees half of one.
///
/// Lifecycle: the constructor binds the address (throws MetricsError) and starts the HTTP
/// thread; stop() or the destructor closes the listener and the open connections and joins the
/// thread. Owned by the run loop (stream::RunLoop) for the whole run.
/// Threads: publish() and latest() from any thread (in practice the batch thread); requests
/// are served on the exporter's own thread, one at a time, each bounded in size and time.
class Exporter {
  public:
    explicit Exporter(const ListenAddress &address, ExporterOptions options = {});
    /// Parses `address` first (a bad one throws MetricsError).
    explicit Exporter(std::string_view address, ExporterOptions options = {});
    ~Exporter();
    Exporter(const Exporter &) = delete;
    Exporter &operator=(const Exporter &) = delete;

    /// Makes `snapshot` what the endpoints show; stamps its published_at_ms; adds its
    /// last_batch to the history of /status/batches when it is a new one. Cheap: a move and a
    /// pointer swap under a lock.
    void publish(RunSnapshot snapshot);
    /// The last published snapshot (an empty one before the first publish).
    std::shared_ptr<const RunSnapshot> latest() const;

    /// The address actually bound: with port 0, the port the system picked.
    const ListenAddress &address() const;
    /// "http://HOST:PORT".
    std::string url() const;

    /// Stops serving and joins the HTTP thread. Idempotent; the destructor calls it.
    void stop();

    struct Impl;  // exporter_impl.hpp, for the exporter's own files only

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::metrics
