#pragma once
// Runs the plugin chain on one batch and decides what happens when a plugin does not return OK:
// retry, skip, or stop. Shared by direct and receiver mode, so both apply the same policy.

#include <sluice/sluice.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "common/types.hpp"
#include "config/run_config.hpp"

namespace sluice::plugins {
class PluginChain;
}

namespace sluice::stream {

/// What the run loop does with a batch after the plugins ran.
struct RunVerdict {
    bool commit = false;  // true: the batch is done (ok, or skipped by policy); commit it
    int exit_code = 0;    // when commit is false: why the run stops (stream::ExitCode)
};

/// The C view of a batch: `ranges` and `records` must outlive the returned struct's use.
/// Keeps the topic strings of `plan_ranges` referenced, so they must outlive it too.
struct BatchView {
    std::vector<sluice_offset_range_t> ranges;
    sluice_batch_t batch{};
};
BatchView make_batch_view(int64_t batch_id, int64_t batch_time_ms, bool replay,
                          const std::vector<OffsetRange> &plan_ranges,
                          const sluice_record_t *records, size_t record_count);

/// Applies the error policy around PluginChain::process and flush.
/// Lifecycle: owned by a stream run loop; used on its batch thread only.
class BatchRunner {
  public:
    BatchRunner(plugins::PluginChain &chain, const config::RunConfig &config);

    /// Runs the chain (then each plugin's flush) on `batch`. `abort` cuts retry waits short.
    RunVerdict run(const sluice_batch_t &batch, const std::atomic<bool> &abort);

  private:
    plugins::PluginChain &chain_;
};

}  // namespace sluice::stream
