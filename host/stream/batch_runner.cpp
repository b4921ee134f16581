#include "stream/batch_runner.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "plugins/plugin_chain.hpp"
#include "stream/direct_stream.hpp"

namespace sluice::stream {

namespace {

constexpr int kMaxRetries = 3;

const char *status_name(sluice_status_t s) {
    switch (s) {
        case SLUICE_OK:
            return "ok";
        case SLUICE_RETRY:
            return "retry";
        case SLUICE_SKIP:
            return "skip";
        default:
            return "fatal";
    }
}

}  // namespace

BatchView make_batch_view(int64_t batch_id, int64_t batch_time_ms, bool replay,
                          const std::vector<OffsetRange> &plan_ranges,
                          const sluice_record_t *records, size_t record_count) {
    BatchView view;
    view.ranges.resize(plan_ranges.size());
    for (size_t i = 0; i < plan_ranges.size(); ++i) {
        const auto &r = plan_ranges[i];
        view.ranges[i] = {sizeof(sluice_offset_range_t), r.topic.c_str(), r.partition,
                          r.from_offset, r.until_offset};
    }
    auto &batch = view.batch;
    batch.struct_size = sizeof batch;
    batch.batch_id = batch_id;
    batch.batch_time_ms = batch_time_ms;
    batch.flags = replay ? SLUICE_BATCH_REPLAY : 0u;
    batch.ranges = view.ranges.data();
    batch.range_count = view.ranges.size();
    batch.range_stride = sizeof(sluice_offset_range_t);
    batch.records = records;
    batch.record_count = record_count;
    batch.record_stride = sizeof(sluice_record_t);
    return view;
}

BatchRunner::BatchRunner(plugins::PluginChain &chain, const config::RunConfig &)
    : chain_(chain) {}

RunVerdict BatchRunner::run(const sluice_batch_t &batch, const std::atomic<bool> &abort) {
    using std::chrono::milliseconds;
    for (int attempt = 0;; ++attempt) {
        plugins::ChainResult result = chain_.process(batch);
        if (result.ok()) break;
        if (result.status == SLUICE_RETRY && attempt < kMaxRetries && !abort) {
            const auto backoff = milliseconds(100) * (1 << attempt);
            spdlog::warn("plugin {} asked to retry batch {} ({}); attempt {} of {} in {} ms",
                         result.plugin, batch.batch_id, result.message, attempt + 1, kMaxRetries,
                         backoff.count());
            std::this_thread::sleep_for(backoff);
            continue;
        }
        if (result.status == SLUICE_SKIP) {
            spdlog::warn("plugin {} skipped batch {}: {}; committing it without that plugin's work",
                         result.plugin, batch.batch_id, result.message);
            break;
        }
        spdlog::error(
            "plugin {} failed batch {} ({}): {}; stopping without committing the batch (it is "
            "replayed on the next start)",
            result.plugin, batch.batch_id, status_name(result.status), result.message);
        return {false, kExitFailure};
    }
    plugins::ChainResult flushed = chain_.flush(batch);
    if (!flushed.ok()) {
        spdlog::error("plugin {} failed to flush batch {}: {}; stopping without committing it",
                      flushed.plugin, batch.batch_id, flushed.message);
        return {false, kExitFailure};
    }
    return {true, kExitOk};
}

}  // namespace sluice::stream
