#pragma once
// Exporter: the HTTP endpoint of --metrics-address. GET /metrics (Prometheus text format
// 0.0.4) and GET /status (JSON) show the latest RunSnapshot the run loop published.

#include <cstdint>
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

/// Snapshot model: the run loop owns its counters and publishes a complete copy after each
/// batch; the HTTP thread renders the latest copy on each request. Nothing is shared but one
/// shared_ptr behind a mutex, so a scrape never waits for a batch and never sees half of one.
///
/// Lifecycle: the constructor binds the address (throws MetricsError) and starts the HTTP
/// thread; stop() or the destructor closes the listener and the open connections and joins the
/// thread. Owned by the run loop (stream::RunLoop) for the whole run.
/// Threads: publish() and latest() from any thread (in practice the batch thread); requests
/// are served on the exporter's own thread, one at a time.
class Exporter {
  public:
    explicit Exporter(const ListenAddress &address);
    /// Parses `address` first (a bad one throws MetricsError).
    explicit Exporter(std::string_view address);
    ~Exporter();
    Exporter(const Exporter &) = delete;
    Exporter &operator=(const Exporter &) = delete;

    /// Makes `snapshot` what the endpoints show; stamps its published_at_ms. Cheap: a move
    /// and a pointer swap under a lock.
    void publish(RunSnapshot snapshot);
    /// The last published snapshot (an empty one before the first publish).
    std::shared_ptr<const RunSnapshot> latest() const;

    /// The address actually bound: with port 0, the port the system picked.
    const ListenAddress &address() const;
    /// "http://HOST:PORT".
    std::string url() const;

    /// Stops serving and joins the HTTP thread. Idempotent; the destructor calls it.
    void stop();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::metrics
