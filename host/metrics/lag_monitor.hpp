#pragma once
// LagMonitor: reads the high watermarks of the partitions a run commits, every few seconds, on
// its own thread and its own librdkafka handle, the same outside view Burrow takes; keeps them
// on a LagBoard (lag.hpp) for /status and /metrics, and logs each topic's lag every 30 s.
// Never on the batch thread: a slow or absent broker delays only the next reading.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/types.hpp"
#include "kafka/kafka_conf.hpp"
#include "metrics/lag.hpp"

namespace sluice::metrics {

struct LagMonitorSettings {
    std::string brokers;
    std::map<std::string, std::string> kafka;  // the user's [kafka] section (security etc.)
    std::chrono::milliseconds batch_interval{1000};
    std::chrono::milliseconds poll_every{2000};
    std::chrono::milliseconds query_timeout{2000};  // bounds a reading, and so the stop
    std::chrono::milliseconds log_every{30000};
};

/// Lifecycle: the constructor makes the handle (throws kafka::KafkaError for a rejected
/// setting) and starts the thread; the destructor stops it (waiting at most query_timeout for a
/// reading under way) and destroys the handle. Owned by the run loop (stream::RunLoop).
/// Threads: record_progress() on the batch thread; board() from any thread.
class LagMonitor {
  public:
    explicit LagMonitor(LagMonitorSettings settings);
    ~LagMonitor();
    LagMonitor(const LagMonitor &) = delete;
    LagMonitor &operator=(const LagMonitor &) = delete;

    /// A committed batch's ranges, for the rates. Thread: batch.
    void add_batch(const std::vector<OffsetRange> &ranges) { board_->add_batch(ranges); }
    /// The committed next offsets after a batch (and at start); their partitions are the ones
    /// read. Thread: batch.
    void record_progress(const std::map<TopicPartition, int64_t> &next_offsets);

    /// For RunSnapshot::lag.
    std::shared_ptr<const LagBoard> board() const { return board_; }

  private:
    void loop();
    void read_watermarks();

    LagMonitorSettings settings_;
    std::shared_ptr<LagBoard> board_;
    kafka::HandlePtr rk_;
    std::mutex mutex_;  // guards stopping_ and read_now_ (with wake_)
    std::condition_variable wake_;
    bool stopping_ = false;
    bool read_now_ = false;         // the batch thread saw new partitions
    int64_t failing_since_ms_ = 0;  // monitor thread: 0 while readings succeed
    int64_t last_warning_ms_ = 0;   // monitor thread
    std::thread thread_;            // last: started once everything above exists
};

}  // namespace sluice::metrics
