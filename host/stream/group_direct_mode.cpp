#include "stream/group_direct_mode.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "common/clock.hpp"
#include "common/data_loss_error.hpp"
#include "ingest/batch_releaser.hpp"
#include "ingest/direct_reader.hpp"
#include "kafka/group_member.hpp"
#include "kafka/metadata.hpp"
#include "plugins/plugin_chain.hpp"
#include "stream/partition_bounds.hpp"
#include "stream/rate_estimator.hpp"
#include "zk/offset_mirror.hpp"

namespace sluice::stream {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kMetadataTimeout{30000};
constexpr milliseconds kOffsetsTimeout{10000};  // per batch; a shutdown waits at most this
constexpr milliseconds kFetchTimeout{60000};
constexpr milliseconds kProgressEvery{5000};
constexpr milliseconds kSettleOnRevoke{2000};  // a refused "done" commit is retried this long
constexpr milliseconds kHoldCommits{5000};     // at most, after a refused commit

std::string this_host_id() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0) name[0] = '\0';
    return std::string(name[0] ? name : "host") + ":" + std::to_string(::getpid()) + ":" +
           std::to_string(wall_ms());
}

std::string range_text(const OffsetRange &r) {
    return fmt::format("{} [{}, {})", r.topic_partition().to_string(), r.from_offset,
                       r.until_offset);
}

}  // namespace

GroupDirectMode::GroupDirectMode() = default;
GroupDirectMode::~GroupDirectMode() = default;

void GroupDirectMode::open(RunLoop &loop) {
    const config::RunConfig &config = loop.config();
    loop_ = &loop;
    host_id_ = this_host_id();
    // Named topics must exist (one clear error); patterns may match nothing yet.
    known_ = kafka::partitions_for(loop.bootstrap(), config.kafka, config.topics, kMetadataTimeout);

    limits_.batch_interval = config.batch_interval;
    limits_.max_rate_per_partition = config.max_rate_per_partition;
    limits_.max_batch_records = config.max_batch_records;
    limits_.fail_on_data_loss = config.fail_on_data_loss;
    ingest::ReaderSettings settings;
    settings.brokers = loop.bootstrap();
    settings.kafka = config.kafka;
    settings.workers = config.workers;  // no group: the member commits, fenced by its generation
    if (auto user = config.kafka.find("queued.min.messages"); user != config.kafka.end()) {
        limits_.max_records_per_partition = std::stoll(user->second);
    } else if (int64_t prefetch =
                   prefetch_per_partition(limits_, std::max<size_t>(known_.size(), 1))) {
        limits_.max_records_per_partition = prefetch;
        settings.kafka["queued.min.messages"] = std::to_string(prefetch);
    }
    releaser_ = std::make_unique<ingest::BatchReleaser>();
    reader_ = std::make_unique<ingest::DirectReader>(std::move(settings));
    bounds_ = std::make_unique<BoundsSource>(*reader_);
    member_ = std::make_unique<kafka::GroupMember>(
        kafka::GroupMemberSettings{loop.bootstrap(), config.group, config.topics, config.kafka},
        [this](const std::vector<TopicPartition> &tps, bool lost) { on_revoke(tps, lost); });
    spdlog::info(
        "direct mode on {}, partitions assigned by group '{}': member as host {} ({} partitions "
        "in the topics now)",
        loop.bootstrap(), config.group, host_id_, known_.size());
}

std::map<TopicPartition, int64_t> GroupDirectMode::mirror_start(RunLoop &, zk::MirrorSettings &) {
    // The mirror knows every partition (Burrow counts the nodes); ownership follows the group.
    std::map<TopicPartition, int64_t> start;
    for (const auto &tp : known_) start[tp] = -1;
    return start;
}

StartOutcome GroupDirectMode::start(RunLoop &loop, const std::atomic<bool> &) {
    // Nothing to replay yet: a partition's pending plan is found when the group assigns it.
    if (auto *mirror = loop.mirror()) mirror->set_owned({});
    loop.publish_metrics(metrics::RunState::running);
    return {};
}

bool GroupDirectMode::owns(const TopicPartition &tp) const {
    return member_->owned().count(tp);
}

void GroupDirectMode::hold_commits() {
    // A refused commit means a rebalance (or a coordinator away). Committing on while the
    // group rebalances is worse than useless: a commit that lands after the group's new
    // generation and before this member learnt it is answered ILLEGAL_GENERATION, which makes
    // librdkafka give up the member's whole assignment as lost and rejoin, which starts another
    // rebalance for everyone (on librdkafka 2.0.2's mock this kept three hosts rebalancing).
    if (!held_)
        spdlog::info("group '{}' refused a commit: holding commits until the rebalance ends",
                     member_->group());
    held_ = true;
    held_at_rebalance_ = member_->rebalances();
    held_since_ = Clock::now();
}

bool GroupDirectMode::commits_held() {
    if (held_ &&
        (member_->rebalances() != held_at_rebalance_ || Clock::now() - held_since_ >= kHoldCommits))
        held_ = false;
    return held_;
}

void GroupDirectMode::while_paused() {
    // A refusal (already logged) ends the run at the first step after the resume, as it would
    // have between two batches.
    if (loop_ && !refused_while_paused_) refused_while_paused_ = !follow_group(*loop_);
}

bool GroupDirectMode::follow_group(RunLoop &loop) {
    const std::vector<TopicPartition> added = member_->poll();
    if (!added.empty()) {
        if (auto r = loop.chain().partitions_assigned(added); !r.ok()) {
            spdlog::error("plugin {} refused its partitions: {}", r.plugin, r.message);
            return false;
        }
        if (auto *mirror = loop.mirror())
            mirror->set_owned({member_->owned().begin(), member_->owned().end()});
        take_over(loop, added);
    } else if (!unresolved_.empty()) {
        take_over(loop, {unresolved_.begin(), unresolved_.end()});
    }
    return true;
}

void GroupDirectMode::take_over(RunLoop &loop, const std::vector<TopicPartition> &tps) {
    start_readers_ = true;
    const config::RunConfig &config = loop.config();
    std::map<TopicPartition, kafka::CommittedOffset> committed;
    try {
        committed = member_->committed(tps, kOffsetsTimeout);
    } catch (const std::exception &e) {
        spdlog::warn("{}; trying again at the next batch", e.what());
        unresolved_.insert(tps.begin(), tps.end());
        return;
    }
    std::vector<TopicPartition> rest;
    for (const auto &tp : tps) {
        unresolved_.erase(tp);
        auto it = committed.find(tp);
        if (it == committed.end()) {
            rest.push_back(tp);
            continue;
        }
        const int64_t offset = it->second.offset;
        const CommittedPlan c = decode_plan(it->second.metadata);
        if (c.kind == CommittedPlan::Kind::planned && c.plan.until_offset > offset) {
            const OffsetRange range{tp.topic, tp.partition, offset, c.plan.until_offset};
            replays_[tp] = {range, c.plan};
            positions_[tp] = c.plan.until_offset;
            spdlog::info("{}: planned by host {} in its batch {} and not done: replaying it",
                         range_text(range), c.plan.host, c.plan.batch_id);
            continue;
        }
        positions_[tp] = offset;
        spdlog::info("start {} at offset {} (group '{}' committed offset{})", tp.to_string(),
                     offset, config.group,
                     c.kind == CommittedPlan::Kind::plain ? "" : ", done by host " + c.plan.host);
    }
    if (rest.empty()) return;
    std::vector<TopicPartition> remaining;
    const auto own = loop.chain().resume_offsets(rest);
    for (const auto &tp : rest) {
        auto it = own.find(tp);
        if (it == own.end() || it->second < 0) {
            remaining.push_back(tp);
            continue;
        }
        positions_[tp] = it->second;
        spdlog::info("start {} at offset {} (plugin's own offsets)", tp.to_string(), it->second);
    }
    if (remaining.empty()) return;
    try {
        const bool earliest = config.auto_offset_reset == "earliest";
        for (const auto &[tp, w] : reader_->query_watermarks(remaining, kOffsetsTimeout)) {
            positions_[tp] = earliest ? w.low : w.high;
            spdlog::info("start {} at offset {} (auto-offset-reset={})", tp.to_string(),
                         positions_[tp], config.auto_offset_reset);
        }
    } catch (const std::exception &e) {
        spdlog::warn("{}; trying again at the next batch", e.what());
        unresolved_.insert(remaining.begin(), remaining.end());
    }
}

void GroupDirectMode::settle(const std::vector<TopicPartition> &only) {
    std::vector<kafka::OffsetCommit> done;
    for (const auto &[tp, mark] : unsettled_) {
        if (!only.empty() && std::find(only.begin(), only.end(), tp) == only.end()) continue;
        if (!owns(tp)) continue;
        done.push_back({tp, mark.first, encode_done(mark.second, host_id_)});
    }
    if (done.empty()) return;
    const auto failed = member_->commit(done);
    for (const auto &d : done)
        if (!failed.count(d.tp)) unsettled_.erase(d.tp);
    if (!failed.empty()) hold_commits();
}

void GroupDirectMode::on_revoke(const std::vector<TopicPartition> &tps, bool lost) {
    // Between batches: the batch in flight is finished, so what is left is to mark it done
    // (when the commit after it was refused) before the partitions are released.
    if (!lost) {
        const auto deadline = Clock::now() + kSettleOnRevoke;
        for (;;) {
            settle(tps);
            const bool open = std::any_of(tps.begin(), tps.end(),
                                          [&](const auto &tp) { return unsettled_.count(tp); });
            if (!open) break;
            if (Clock::now() >= deadline) {
                spdlog::warn(
                    "the done marks of revoked partitions were refused until the hand-over; "
                    "their next owner replays their last range (the sinks skip what they "
                    "stored)");
                break;
            }
            std::this_thread::sleep_for(milliseconds(100));
        }
    }
    for (const auto &tp : tps) {
        positions_.erase(tp);
        replays_.erase(tp);  // still planned in Kafka: the next owner replays it
        unresolved_.erase(tp);
        unsettled_.erase(tp);
    }
    reader_->release(tps);
    if (bounds_) bounds_->forget(tps);
    if (!loop_) return;
    // Not ours any more: /status, /metrics and the lag board stop showing them (their lag is
    // the next owner's to report).
    for (const auto &tp : tps) loop_->metrics().next_offsets.erase(tp);
    if (auto r = loop_->chain().partitions_revoked(tps); !r.ok())
        spdlog::warn("plugin {} failed its partitions_revoked: {}", r.plugin, r.message);
    if (auto *mirror = loop_->mirror()) {
        std::vector<TopicPartition> owned;
        for (const auto &tp : member_->owned())
            if (std::find(tps.begin(), tps.end(), tp) == tps.end()) owned.push_back(tp);
        mirror->set_owned(owned);
    }
}

void GroupDirectMode::wait_for_assignment(RunLoop &loop, const std::atomic<bool> &stop) {
    const auto now = Clock::now();
    if (waiting_since_ == Clock::time_point{}) waiting_since_ = now;
    if (now - waiting_since_ >= std::chrono::seconds(5) &&
        now - last_wait_log_ >= std::chrono::seconds(5)) {
        last_wait_log_ = now;
        spdlog::info(
            "waiting for group '{}' to assign partitions: {} s (a member joining or leaving "
            "takes up to session.timeout.ms; a group with more hosts than partitions leaves "
            "some idle)",
            loop.config().group,
            std::chrono::duration_cast<std::chrono::seconds>(now - waiting_since_).count());
    }
    for (int i = 0; i < 5 && !stop; ++i) std::this_thread::sleep_for(milliseconds(20));
}

std::vector<OffsetRange> GroupDirectMode::commit_plans(const std::vector<OffsetRange> &ranges,
                                                       int64_t batch_id, int64_t batch_time_ms) {
    std::vector<kafka::OffsetCommit> plans;
    for (const auto &r : ranges)
        if (r.count() > 0)
            plans.push_back({r.topic_partition(), r.from_offset,
                             encode_plan({r.until_offset, batch_id, batch_time_ms, host_id_})});
    const auto failed = member_->commit(plans);
    if (!failed.empty()) hold_commits();
    std::vector<OffsetRange> durable;
    for (const auto &r : ranges) {
        auto it = failed.find(r.topic_partition());
        if (it == failed.end()) {
            durable.push_back(r);
            if (r.count() > 0) unsettled_.erase(r.topic_partition());  // the plan supersedes it
            continue;
        }
        spdlog::warn("batch {}: the plan of {} was not committed ({}): not read in this batch",
                     batch_id, range_text(r), it->second);
    }
    return durable;
}

BatchOutcome GroupDirectMode::step(RunLoop &loop, Clock::time_point due,
                                   const std::atomic<bool> &stop, const std::atomic<bool> &abort) {
    if (refused_while_paused_ || !follow_group(loop)) return {kExitFailure, false};
    if (member_->owned().empty() || positions_.empty()) {
        wait_for_assignment(loop, stop);
        return {kExitOk, false};
    }
    waiting_since_ = {};
    if (commits_held() || !member_->settled()) {
        for (int i = 0; i < 5 && !stop; ++i) std::this_thread::sleep_for(milliseconds(20));
        return {kExitOk, false};
    }
    settle();
    if (!replays_.empty()) return replay_next(loop, abort);

    std::map<TopicPartition, PartitionBounds> bounds;
    try {
        if (start_readers_) {
            // The fetchers of the partitions taken over run from now on, so that their
            // watermarks come with the fetch responses (as in DirectMode; issue 17).
            start_readers_ = false;
            std::vector<TopicPartition> unread;
            for (const auto &[tp, offset] : positions_) unread.push_back(tp);
            bounds_->ask(unread, kOffsetsTimeout);  // this batch plans from it
            std::map<TopicPartition, int64_t> starts;
            for (const auto &[tp, offset] : positions_)
                if (!replays_.count(tp)) starts.emplace_hint(starts.end(), tp, offset);
            reader_->start(bounds_->startable(starts));
        }
        bounds = bounds_->current(positions_, next_id_, kOffsetsTimeout);
    } catch (const std::exception &e) {
        spdlog::warn("batch {}: cannot ask Kafka for the latest offsets ({}); retrying in 1 s",
                     next_id_, e.what());
        for (int i = 0; i < 20 && !stop; ++i) std::this_thread::sleep_for(milliseconds(50));
        return {kExitOk, false};
    }
    PlannedRanges planned;
    loop.apply_flow_limits(&limits_);
    try {
        planned = plan_ranges(positions_, bounds, limits_);
    } catch (const DataLossError &e) {
        spdlog::error("{}", e.what());
        return {kExitDataLoss, false};
    }
    for (const auto &s : planned.skipped)
        spdlog::warn(
            "data loss on {}: skipped {} records (offsets {}..{}) because "
            "fail-on-data-loss=false",
            s.tp.to_string(), s.count(), s.from_offset, s.until_offset - 1);
    const int64_t time_ms = wall_ms();
    // Each range's plan is durable in Kafka before any of its records is read.
    BatchPlan plan{next_id_, time_ms, commit_plans(planned.ranges, next_id_, time_ms)};
    return execute(loop, plan, false, due, abort);
}

BatchOutcome GroupDirectMode::replay_next(RunLoop &loop, const std::atomic<bool> &abort) {
    // One former batch at a time: its ranges, with their batch id and time.
    const PlanRecord first = replays_.begin()->second.plan;
    BatchPlan plan{first.batch_id, first.batch_time_ms, {}};
    for (const auto &[tp, r] : replays_)
        if (r.plan.host == first.host && r.plan.batch_id == first.batch_id)
            plan.ranges.push_back(r.range);
    spdlog::info("replaying batch {} of host {} ({} ranges, same offsets)", plan.batch_id,
                 first.host, plan.ranges.size());
    return execute(loop, plan, true, Clock::now(), abort);
}

BatchOutcome GroupDirectMode::execute(RunLoop &loop, const BatchPlan &plan, bool replay,
                                      Clock::time_point scheduled, const std::atomic<bool> &abort) {
    const auto started = Clock::now();
    std::vector<OffsetRange> to_read;
    for (const auto &r : plan.ranges)
        if (r.count() > 0) to_read.push_back(r);
    const auto report = [&](const ingest::FetchProgress &p) {
        spdlog::info("batch {}: reading, {} of {} records, {} of {} partitions done", plan.batch_id,
                     p.records, p.planned, p.ranges_done, p.ranges);
    };
    std::unique_ptr<ingest::FetchedBatch> fetched;
    while (!fetched) {
        try {
            fetched = reader_->fetch(to_read, kFetchTimeout, abort, report, kProgressEvery);
        } catch (const ingest::FetchTimeout &e) {
            if (abort) return {kExitAbandoned, false};
            spdlog::warn("batch {}: {}; retrying the same ranges", plan.batch_id, e.what());
        } catch (const DataLossError &e) {
            spdlog::error("batch {}: {}", plan.batch_id, e.what());
            return {kExitDataLoss, false};
        } catch (const std::exception &e) {
            if (abort) return {kExitAbandoned, false};
            throw;
        }
    }
    if (abort) return {kExitAbandoned, false};

    size_t active = 0;
    for (const auto &r : plan.ranges) active += r.count() > 0;
    ReadyBatch batch{plan.batch_id,
                     plan.batch_time_ms,
                     replay,
                     &plan.ranges,
                     fetched->records(),
                     fetched->record_count(),
                     fetched->bytes(),
                     scheduled,
                     started,
                     fmt::format("{} of {} partitions", active, member_->owned().size())};
    const BatchOutcome outcome = loop.process(batch, abort, [&]() -> BatchOutcome {
        std::vector<kafka::OffsetCommit> done;
        done.reserve(to_read.size());
        for (const auto &r : to_read)
            done.push_back(
                {r.topic_partition(), r.until_offset, encode_done(plan.batch_id, host_id_)});
        std::map<TopicPartition, std::string> failed;
        if (member_->settled()) {
            failed = member_->commit(done);
            if (!failed.empty()) hold_commits();
        } else {
            for (const auto &d : done) failed[d.tp] = "the group is rebalancing";
        }
        for (const auto &[tp, why] : failed) {
            // The chain's output is stored; only the mark is missing. It is committed again
            // before the next plan or the hand-over; a successor meanwhile replays the range
            // and the sinks skip what they stored.
            for (const auto &r : to_read)
                if (r.topic_partition() == tp) unsettled_[tp] = {r.until_offset, plan.batch_id};
            spdlog::warn(
                "batch {}: the done mark of {} was not committed ({}); committing it later",
                plan.batch_id, tp.to_string(), why);
        }
        return {kExitOk, true};
    });
    if (!outcome.committed) return outcome;
    for (const auto &r : plan.ranges) {
        positions_[r.topic_partition()] = r.until_offset;
        if (replay) replays_.erase(r.topic_partition());
    }
    if (!replay) next_id_ = plan.batch_id + 1;
    releaser_->release(std::move(fetched));
    return outcome;
}

int GroupDirectMode::finish(RunLoop &loop, int exit_code, bool, const std::atomic<bool> &abort) {
    if (exit_code == kExitAbandoned)
        spdlog::warn(
            "abandoned the batch in flight at shutdown; its plan is in Kafka: the partitions' "
            "next owner replays it");
    if (!abort) {
        settle();
        // Leaving the group: the revoke callback marks what is done and closes the plugins'
        // partitions before they are released, so a graceful hand-over replays nothing.
        member_->close();
    }
    const auto left = member_->owned();
    if (!left.empty()) on_revoke({left.begin(), left.end()}, true);
    member_.reset();
    loop_ = nullptr;
    (void)loop;
    return exit_code;
}

}  // namespace sluice::stream
