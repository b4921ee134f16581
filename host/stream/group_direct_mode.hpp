#pragma once
// Direct mode with direct-assignment=group, a BatchSource of the RunLoop: every host started
// with the same --group is a member of it (kafka::GroupMember, cooperative-sticky by default)
// and plans and reads only the partitions the group assigns it. Each range's plan is made
// durable in Kafka before it is read (commit offset = from_offset, metadata = the plan record,
// plan_record.hpp) and marked done after the chain succeeded (offset = until_offset, "done");
// the next owner of a partition replays a planned range that is not done with the same bounds
// and the replay flag (docs/scale-out.md).

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/types.hpp"
#include "stream/offset_planner.hpp"
#include "stream/plan_record.hpp"
#include "stream/run_loop.hpp"

namespace sluice::ingest {
class DirectReader;
class BatchReleaser;
}  // namespace sluice::ingest
namespace sluice::kafka {
class GroupMember;
}

namespace sluice::stream {

class BoundsSource;

/// Lifecycle: made by the app, owned by its RunLoop; every function on the control thread,
/// which is also the batch thread, and so is the group's revoke callback (it runs inside
/// GroupMember::poll and close, between batches: the batch in flight is always finished and
/// committed before a partition is released).
class GroupDirectMode : public BatchSource {
  public:
    GroupDirectMode();
    ~GroupDirectMode() override;

    const char *mode() const override { return "direct"; }
    void open(RunLoop &loop) override;
    std::map<TopicPartition, int64_t> mirror_start(RunLoop &loop,
                                                   zk::MirrorSettings &settings) override;
    StartOutcome start(RunLoop &loop, const std::atomic<bool> &abort) override;
    Clock::time_point first_due() const override { return Clock::now(); }
    BatchOutcome step(RunLoop &loop, Clock::time_point due, const std::atomic<bool> &stop,
                      const std::atomic<bool> &abort) override;
    int finish(RunLoop &loop, int exit_code, bool failed, const std::atomic<bool> &abort) override;
    /// While /control/pause holds the batches: polls the member, so that the group keeps it
    /// (max.poll.interval.ms) and assignments and revocations are followed as between batches.
    void while_paused() override;

  private:
    /// A range a former owner planned and did not mark done: replayed as it was.
    struct Replay {
        OffsetRange range;
        PlanRecord plan;
    };

    /// Serves the group; takes over newly assigned partitions. False: a plugin refused them.
    bool follow_group(RunLoop &loop);
    /// Where each newly assigned partition starts: its plan in Kafka, the plugins' own
    /// offsets, auto-offset-reset. Partitions whose offsets cannot be read yet stay unresolved.
    void take_over(RunLoop &loop, const std::vector<TopicPartition> &tps);
    /// The group's revoke callback: marks what is done, closes the plugins' partitions.
    void on_revoke(const std::vector<TopicPartition> &tps, bool lost);
    /// Commits the "done" marks a refused commit left behind (owned partitions only).
    void settle(const std::vector<TopicPartition> &only = {});
    /// Commits a plan for every range with records; returns the ranges whose plan is durable
    /// (empty ranges always), warning about the others.
    std::vector<OffsetRange> commit_plans(const std::vector<OffsetRange> &ranges, int64_t batch_id,
                                          int64_t batch_time_ms);
    BatchOutcome replay_next(RunLoop &loop, const std::atomic<bool> &abort);
    BatchOutcome execute(RunLoop &loop, const BatchPlan &plan, bool replay,
                         Clock::time_point scheduled, const std::atomic<bool> &abort);
    bool owns(const TopicPartition &tp) const;
    /// After a refused commit: no commit (and so no plan, no batch) until the rebalance that
    /// refused it has ended, or kHoldCommits has passed.
    void hold_commits();
    bool commits_held();
    void wait_for_assignment(RunLoop &loop, const std::atomic<bool> &stop);

    RunLoop *loop_ = nullptr;            // for the revoke callback, between open() and finish()
    bool refused_while_paused_ = false;  // a plugin refused partitions assigned while paused
    std::unique_ptr<ingest::DirectReader> reader_;
    std::unique_ptr<ingest::BatchReleaser> releaser_;
    std::unique_ptr<kafka::GroupMember> member_;
    std::string host_id_;
    std::vector<TopicPartition> known_;  // every partition of --topics at open (the mirror's)
    PlanLimits limits_;
    std::map<TopicPartition, int64_t> positions_;  // owned and resolved: next offset to read
    std::set<TopicPartition> unresolved_;          // owned, start not known yet
    std::map<TopicPartition, Replay> replays_;     // owned, a former owner's plan to replay
    std::map<TopicPartition, std::pair<int64_t, int64_t>> unsettled_;  // tp -> (until, batch)
    int64_t next_id_ = 0;
    bool held_ = false;
    uint64_t held_at_rebalance_ = 0;
    Clock::time_point held_since_{};
    Clock::time_point waiting_since_{}, last_wait_log_{};
    std::unique_ptr<BoundsSource> bounds_;  // on reader_; reset before it (destructor)
    bool start_readers_ = false;            // take_over() added partitions to positions_
};

}  // namespace sluice::stream
