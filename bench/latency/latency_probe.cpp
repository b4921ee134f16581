// latency_probe (bench/latency.sh): for every record, the wall clock at the plugin call minus
// the record's Kafka timestamp (the producer's create time), in microseconds of a millisecond
// timestamp, kept for every record; at destroy writes "records N p50_ms X p99_ms Y max_ms Z" to
// `[plugin.latency_probe] output = FILE`. A benchmark plugin, not a bundled one.

#include <sluice/plugin.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace {

/// Lifecycle: one per instance; process on the batch thread, destroy on the control thread.
class LatencyProbe {
  public:
    static std::vector<sluice::ConfigKey> config_keys() {
        return {{"output", sluice::ConfigType::path, std::nullopt,
                 "where the summary line is written at the end"}};
    }

    explicit LatencyProbe(sluice::Host &host) : output_(host.config_or("output", "")) {
        samples_.reserve(1 << 22);
    }
    ~LatencyProbe() {
        std::FILE *out = output_.empty() ? stdout : std::fopen(output_.c_str(), "w");
        if (out == nullptr) return;
        std::sort(samples_.begin(), samples_.end());
        const auto at = [&](double q) {
            if (samples_.empty()) return int64_t{-1};
            return samples_[std::min(
                samples_.size() - 1,
                static_cast<size_t>(q * static_cast<double>(samples_.size())))];
        };
        std::fprintf(out, "records %zu p50_ms %lld p99_ms %lld max_ms %lld\n", samples_.size(),
                     static_cast<long long>(at(0.50)), static_cast<long long>(at(0.99)),
                     static_cast<long long>(samples_.empty() ? -1 : samples_.back()));
        if (out != stdout) std::fclose(out);
    }
    LatencyProbe(const LatencyProbe &) = delete;
    LatencyProbe &operator=(const LatencyProbe &) = delete;

    // Thread: batch thread.
    sluice::Status process(const sluice::Batch &batch) {
        const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
        for (const sluice::Record &record : batch.records())
            if (record.timestamp() >= 0) samples_.push_back(now_ms - record.timestamp());
        return sluice::Status::ok;
    }

  private:
    std::string output_;
    std::vector<int64_t> samples_;  // ms, one per record
};

}  // namespace

SLUICE_PLUGIN(LatencyProbe, "latency_probe", "1.0.0",
              "Records each record's produce-to-plugin latency (bench/latency.sh)", 0);
