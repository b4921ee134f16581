#pragma once
// RunSnapshot: everything the metrics endpoints show about one `sluice run`, as a plain value.
// The batch thread fills one after each batch and hands a copy to Exporter::publish(); the
// HTTP thread only ever reads published copies, so no counter is shared between threads.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/histogram.hpp"
#include "common/types.hpp"
#include "sluice/sluice.h"

namespace sluice::metrics {

class LagBoard;

/// What the run loop measured about one committed batch.
struct BatchStats {
    int64_t batch_id = -1;
    int64_t batch_time_ms = 0;  // the batch's time (Unix ms), as plugins see it
    bool replay = false;        // replayed after a restart (same id and ranges)
    uint64_t records = 0;
    uint64_t bytes = 0;                   // key + value bytes read
    double processing_seconds = 0;        // read + plugins + commit
    double scheduling_delay_seconds = 0;  // how late the batch started
};

/// One slot of the plugin chain: the serving instance's metrics (PluginMetrics) and its
/// generation. An instance's counters start at zero, so after a hot-reload swap they restart
/// (a Prometheus counter reset); the generation says why.
/// A plugin file as /status shows it (plugins::PluginFile, copied).
struct PluginFileSnapshot {
    std::string file;
    std::string version;  // "" = unknown
    std::string sha256;   // "" = unknown (hot reload off)
    int64_t time_ms = 0;  // Unix ms: serving since / refused at
    std::string result;   // refused files: "rejected" or "rolled_back"
    std::string reason;   // refused files: the error
};

/// A canary generation of a slot (plugins/canary.hpp): the one in shadow, or the last decided.
struct CanarySnapshot {
    std::string state;  // shadowing, promoted, rejected
    std::string file, version;
    uint64_t agreed = 0, needed = 0;
    std::string report;                   // why it was rejected, or how it was promoted
    uint64_t promoted = 0, rejected = 0;  // this run
};

struct PluginSnapshot {
    size_t slot = 0;
    std::string plugin;
    std::string version;  // the serving instance's descriptor version
    uint64_t generation = 1;
    bool on_probation = false;
    bool hot_reload = false;  // the counts and files below are only known with hot reload
    uint64_t reloads_swapped = 0;
    uint64_t reloads_rejected = 0;
    uint64_t reloads_rolled_back = 0;
    std::optional<PluginFileSnapshot> serving;
    std::optional<PluginFileSnapshot> last_refused;
    std::optional<CanarySnapshot> canary;
    uint64_t batches = 0;
    uint64_t records = 0;
    uint64_t errors = 0;
    uint64_t retries = 0;
    double seconds = 0;
    Histogram call_seconds;                // time of each process_batch call
    std::map<std::string, double> custom;  // the plugin's own counters and gauges
};

/// The ZooKeeper offset mirror (zk::MirrorStatus), when --zookeeper and --group are given.
struct MirrorSnapshot {
    bool connected = false;
    double lag_seconds = 0;  // age of the oldest published offset not yet in ZooKeeper
    uint64_t pending_partitions = 0;
    uint64_t writes = 0;
    uint64_t sessions = 0;
};

/// Receiver mode's intake (receiver::ConsumerThread and the WAL), when --mode receiver.
struct ReceiverSnapshot {
    uint64_t consumer_threads = 0;
    uint64_t assigned_partitions = 0;  // held by this process's consumer threads now
    bool paused = false;               // consumption paused by backpressure (WAL or queue full)
    bool wal = false;                  // a --wal-dir is in use (the next two are then known)
    uint64_t wal_bytes = 0;            // segment files on disk
    uint64_t wal_pending_blocks = 0;   // in the WAL, not yet processed
    uint64_t queued_blocks = 0;        // handed over to the batch thread, not yet in a batch
};

/// backpressure = true: the PID rate estimator's state (stream::PidRateEstimator).
struct BackpressureSnapshot {
    std::optional<double> rate;  // records/s of the whole run; none before the first estimate
    int64_t initial_rate = 0;    // backpressure-initial-rate, in force until then (0 = none)
};

/// Lifecycle of the run, as /status reports it.
enum class RunState { starting, running, stopping };
const char *to_string(RunState state);

/// One consistent view of a run. Totals count committed batches only (a batch that failed
/// and is replayed later counts once, when it commits).
struct RunSnapshot {
    std::string mode = "direct";  // "direct" or "receiver"
    RunState state = RunState::starting;
    int64_t start_time_ms = 0;      // Unix ms
    int64_t batch_interval_ms = 0;  // the configured interval (0 = unknown), for /healthz
    int64_t published_at_ms = 0;    // Unix ms; set by Exporter::publish()

    uint64_t batches = 0;
    uint64_t replayed_batches = 0;
    uint64_t records = 0;
    uint64_t bytes = 0;
    double processing_seconds = 0;  // sum over batches
    // Distributions over the committed batches (add_batch observes them).
    Histogram processing_time;   // read + plugins + commit
    Histogram scheduling_delay;  // how late each batch started
    Histogram total_delay;       // scheduling delay + processing time (Spark's total delay)
    // End-to-end record latency: the batch's commit minus each record's Kafka timestamp, for
    // up to kLatencySamples records per batch spread over it (observe_record_latency).
    Histogram record_latency;
    static constexpr size_t kLatencySamples = 256;
    std::optional<BatchStats> last_batch;
    int64_t last_batch_committed_ms = 0;  // Unix ms when the last batch was committed

    std::vector<PluginSnapshot> plugins;             // chain order
    std::map<TopicPartition, int64_t> next_offsets;  // committed: the next offset to read
    std::optional<MirrorSnapshot> mirror;
    std::optional<ReceiverSnapshot> receiver;          // receiver mode only
    std::optional<BackpressureSnapshot> backpressure;  // backpressure = true only
    // The one live part (lag.hpp): high watermarks read by the lag monitor, so that /status
    // and /metrics compute the lag of next_offsets when asked. Null: lag unknown.
    std::shared_ptr<const LagBoard> lag;

    /// Adds a committed batch to the totals and makes it the last batch.
    void add_batch(const BatchStats &batch);

    /// Observes `now_ms` minus the timestamp of up to kLatencySamples of the batch's records,
    /// evenly spaced (records without a timestamp, or stamped in the future, are skipped).
    void observe_record_latency(const sluice_record_t *records, size_t count, int64_t now_ms);
};

}  // namespace sluice::metrics
