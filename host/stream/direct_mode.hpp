#pragma once
// Direct mode (Spark's createDirectStream), a BatchSource of the RunLoop: every batch interval,
// ask the brokers where each partition ends, fix one OffsetRange per partition, write the plan
// to the checkpoint, read the ranges in parallel, run the plugin chain (RunLoop::process),
// then commit (checkpoint, then the group's offsets).

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "common/types.hpp"
#include "stream/offset_planner.hpp"
#include "stream/run_loop.hpp"

namespace sluice::checkpoint {
class CheckpointStore;
}
namespace sluice::ingest {
class DirectReader;
class BatchReleaser;
}  // namespace sluice::ingest

namespace sluice::stream {

class BoundsSource;

/// Lifecycle: made by the app, owned by its RunLoop; every function on the control thread,
/// which is also the batch thread. The reader's worker threads are its own.
class DirectMode : public BatchSource {
  public:
    DirectMode();
    ~DirectMode() override;

    const char *mode() const override { return "direct"; }
    void open(RunLoop &loop) override;
    std::map<TopicPartition, int64_t> mirror_start(RunLoop &loop,
                                                   zk::MirrorSettings &settings) override;
    StartOutcome start(RunLoop &loop, const std::atomic<bool> &abort) override;
    Clock::time_point first_due() const override { return Clock::now(); }
    BatchOutcome step(RunLoop &loop, Clock::time_point due, const std::atomic<bool> &stop,
                      const std::atomic<bool> &abort) override;
    int finish(RunLoop &loop, int exit_code, bool failed, const std::atomic<bool> &abort) override;

  private:
    void open_reader(const config::RunConfig &config, const std::string &bootstrap);
    std::map<TopicPartition, int64_t> resolve_start_positions(RunLoop &loop);
    /// Reads `plan`, runs it through the loop and commits it.
    BatchOutcome execute(RunLoop &loop, const BatchPlan &plan, bool replay,
                         Clock::time_point scheduled, const std::atomic<bool> &abort);

    std::unique_ptr<ingest::DirectReader> reader_;
    std::unique_ptr<ingest::BatchReleaser> releaser_;
    std::unique_ptr<checkpoint::CheckpointStore> checkpoint_;
    std::vector<TopicPartition> partitions_;
    PlanLimits limits_;
    std::optional<BatchPlan> last_committed_, pending_;  // what the checkpoint held at start
    std::map<TopicPartition, int64_t> positions_;        // next offset to read, per partition
    int64_t next_id_ = 0;
    std::map<TopicPartition, int64_t> kafka_committed_;  // what this run committed to the group
    std::unique_ptr<BoundsSource> bounds_;               // after reader_: destroyed before it
    std::set<TopicPartition> seeded_;  // bounds known from the start's query (open only)
};

}  // namespace sluice::stream
