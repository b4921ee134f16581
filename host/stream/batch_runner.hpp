#pragma once
// Runs the plugin chain on one batch and applies each plugin's error policy (retry, skip,
// dead-letter, stop: config/error_policy.hpp, docs/plugins.md) when it does not return OK.
// Shared by direct and receiver mode, so both apply the same policy.

#include <sluice/sluice.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/types.hpp"
#include "config/error_policy.hpp"
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

class DeadLetterProducer;

/// Applies each plugin's error policy around PluginChain::process and flush:
/// - SLUICE_RETRY: the plugin that asked is called again with the same input (the plugins
///   before it are not) up to its max-retries, waiting retry-backoff, doubled each time (at most
///   30 s); still RETRY after that: its on-error applies (retry and stop both stop).
/// - SLUICE_SKIP: never retried, never stops: the batch is committed without the work of that
///   plugin and the ones after it, dead-lettered first when its on-error is dead-letter.
/// - SLUICE_FATAL or an unknown code: stop without committing, whatever the policy.
/// - dead-letter: the records the plugin got are produced to its dead-letter topic (acks=all,
///   idempotent) and acknowledged before the batch is committed; a failed produce stops.
/// Lifecycle: owned by a stream run loop, after its chain; used on its batch thread only. The
/// dead-letter producer is created on first use and flushed and destroyed with the runner.
class BatchRunner {
  public:
    /// `bootstrap_servers`: the brokers the run reads (the real list, also for --brokers
    /// embedded); dead letters go there, with config.kafka's settings. Throws
    /// config::ConfigError when a plugin's policy keys are invalid.
    BatchRunner(plugins::PluginChain &chain, const config::RunConfig &config,
                std::string bootstrap_servers);
    ~BatchRunner();
    BatchRunner(const BatchRunner &) = delete;
    BatchRunner &operator=(const BatchRunner &) = delete;

    /// Runs the chain (then each plugin's flush) on `batch`. `abort` cuts retry waits short
    /// (the batch is then abandoned: not committed, kExitAbandoned).
    RunVerdict run(const sluice_batch_t &batch, const std::atomic<bool> &abort);

    /// The policy applied to plugin `name` (the defaults when its section has none).
    const config::ErrorPolicy &policy(const std::string &name) const;

  private:
    /// Produces `input`'s records to the plugin's dead-letter topic and waits for the acks.
    /// Returns an empty string on success, else why it failed.
    std::string dead_letter(const config::ErrorPolicy &policy, const std::string &plugin,
                            const std::string &error, const sluice_batch_t &input);

    plugins::PluginChain &chain_;
    std::map<std::string, config::ErrorPolicy> policies_;  // by plugin name
    config::ErrorPolicy default_policy_;
    std::map<std::string, std::string> kafka_settings_;  // for the dead-letter producer
    std::unique_ptr<DeadLetterProducer> dead_letters_;   // created on first use
};

}  // namespace sluice::stream
