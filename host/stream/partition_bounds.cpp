#include "stream/partition_bounds.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "ingest/direct_reader.hpp"

namespace sluice::stream {

namespace {

constexpr std::chrono::seconds kAskUnfetchedEvery{10};
constexpr std::chrono::seconds kSliceEvery{1};
constexpr size_t kSlice = 100;
constexpr std::chrono::milliseconds kProbeWait{100};
constexpr std::chrono::seconds kProbeFailingFor{10};

}  // namespace

void BoundsSource::ask(const std::vector<TopicPartition> &tps, std::chrono::milliseconds timeout) {
    for (const auto &[tp, w] : reader_.query_watermarks(tps, timeout)) asked_[tp] = {w.low, w.high};
    asked_at_ = Clock::now();
}

std::map<TopicPartition, int64_t> BoundsSource::startable(
    const std::map<TopicPartition, int64_t> &positions) const {
    std::map<TopicPartition, int64_t> out;
    for (const auto &[tp, position] : positions) {
        auto it = asked_.find(tp);
        if (it == asked_.end() || position >= it->second.low)
            out.emplace_hint(out.end(), tp, position);
    }
    return out;
}

void BoundsSource::probe(const std::vector<TopicPartition> &tps,
                         std::map<TopicPartition, PartitionBounds> &bounds, Clock::time_point now) {
    // A short wait: while fetchers start (seconds at 10,000 partitions) a request queues behind
    // their first fetches, and a batch must not wait for it. Only when the brokers have not
    // answered one for kProbeFailingFor does the batch see the error (and retry).
    sliced_at_ = now;
    std::vector<TopicPartition> slice;
    for (size_t i = 0; i < std::min(kSlice, tps.size()); ++i)
        slice.push_back(tps[(cursor_ + i) % tps.size()]);
    try {
        for (const auto &[tp, w] : reader_.query_watermarks(slice, kProbeWait))
            bounds[tp] = {w.low, w.high};
        cursor_ = (cursor_ + kSlice) % tps.size();
        probe_failing_since_ = {};
    } catch (const std::exception &e) {
        if (probe_failing_since_ == Clock::time_point{}) probe_failing_since_ = now;
        if (now - probe_failing_since_ >= kProbeFailingFor) {
            probe_failing_since_ = {};
            throw;
        }
        spdlog::debug("the brokers did not answer a watermark probe in {} ms: {}",
                      kProbeWait.count(), e.what());
    }
}

void BoundsSource::forget(const std::vector<TopicPartition> &tps) {
    for (const auto &tp : tps) asked_.erase(tp);
}

std::map<TopicPartition, PartitionBounds> BoundsSource::current(
    const std::map<TopicPartition, int64_t> &positions, int64_t batch_id,
    std::chrono::milliseconds timeout) {
    std::vector<TopicPartition> tps;
    tps.reserve(positions.size());
    for (const auto &[tp, position] : positions) tps.push_back(tp);
    const auto cached = reader_.cached_watermarks(tps);
    const auto now = Clock::now();
    const bool ask_unfetched = now - asked_at_ >= kAskUnfetchedEvery;
    std::map<TopicPartition, PartitionBounds> bounds;
    std::vector<TopicPartition> ask;
    size_t missing = 0;
    for (const auto &[tp, position] : positions) {
        missing += !cached.count(tp);
        if (auto it = cached.find(tp); it != cached.end()) {
            bounds.emplace_hint(bounds.end(), tp, PartitionBounds{it->second.low, it->second.high});
            if (!asked_.empty()) asked_.erase(tp);
        } else if (ask_unfetched) {
            ask.push_back(tp);
        } else if (auto old = asked_.find(tp); old != asked_.end()) {
            bounds.emplace_hint(bounds.end(), tp, old->second);
        } else {
            bounds.emplace_hint(bounds.end(), tp, PartitionBounds{position, position});
        }
    }
    if (!ask.empty()) {
        spdlog::debug(
            "batch {}: asking the brokers for the offsets of {} partitions not fetched yet",
            batch_id, ask.size());
        for (const auto &[tp, w] : reader_.query_watermarks(ask, timeout))
            bounds[tp] = asked_[tp] = {w.low, w.high};
        asked_at_ = now;
    } else if (now - sliced_at_ >= kSliceEvery && !tps.empty() && missing == 0) {
        probe(tps, bounds, now);
    }
    return bounds;
}

}  // namespace sluice::stream
