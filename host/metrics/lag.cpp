#include "metrics/lag.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sluice::metrics {

namespace {

std::optional<double> seconds_behind(std::optional<int64_t> lag, std::optional<double> rate) {
    if (!lag) return std::nullopt;
    if (*lag == 0) return 0.0;
    if (rate && *rate > 0) return static_cast<double>(*lag) / *rate;
    return std::nullopt;  // behind without progress: no estimate (lag_records still says it)
}

}  // namespace

LagReport compute_lag(const std::map<TopicPartition, int64_t> &committed,
                      const std::map<TopicPartition, Watermark> &watermarks,
                      const std::deque<ProgressPoint> &history,
                      const std::map<TopicPartition, int64_t> &latest, int64_t now_ms,
                      int64_t window_ms, int64_t stale_after_ms) {
    const auto advanced = [](const std::map<TopicPartition, int64_t> &counts,
                             const TopicPartition &tp) {
        const auto found = counts.find(tp);
        return found == counts.end() ? int64_t{0} : found->second;
    };
    // The counts as they were `span` ago: those of the last point at or before that moment
    // (they change only at a commit).
    const int64_t span = history.empty() ? 0 : std::min(window_ms, now_ms - history.front().at_ms);
    const ProgressPoint *then = nullptr;
    for (const ProgressPoint &point : history) {
        if (point.at_ms > now_ms - span) break;
        then = &point;
    }
    LagReport out;
    std::map<std::string, TopicLag> topics;
    for (const auto &[tp, next] : committed) {
        PartitionLag p;
        if (auto w = watermarks.find(tp);
            w != watermarks.end() && now_ms - w->second.at_ms <= stale_after_ms) {
            // A reading older than the last commit can be below it; the log reaches at
            // least the committed offset.
            p.high_watermark = std::max(w->second.high, next);
            p.lag_records = *p.high_watermark - next;
        }
        if (span > 0 && then) {
            const int64_t moved = advanced(latest, tp) - advanced(then->advanced, tp);
            p.rate = static_cast<double>(std::max<int64_t>(0, moved)) * 1000.0 /
                     static_cast<double>(span);
        }
        p.lag_seconds = seconds_behind(p.lag_records, p.rate);

        TopicLag &t = topics[tp.topic];
        t.topic = tp.topic;
        ++t.partitions;
        if (p.lag_records) t.lag_records = t.lag_records.value_or(0) + *p.lag_records;
        if (p.rate) t.input_rate = t.input_rate.value_or(0) + *p.rate;
        out.partitions.emplace(tp, p);
    }
    for (auto &[name, t] : topics) {
        t.lag_seconds = seconds_behind(t.lag_records, t.input_rate);
        out.topics.push_back(std::move(t));
    }
    return out;
}

LagBoard::LagBoard(std::chrono::milliseconds window) : window_ms_(window.count()) {}

void LagBoard::add_batch(const std::vector<OffsetRange> &ranges) {
    std::lock_guard lock(mutex_);
    auto hint = advanced_.begin();  // ranges in partition order: found at the hint (fill_offsets)
    for (const OffsetRange &r : ranges) {
        hint = advanced_.try_emplace(hint, r.topic_partition(), 0);
        (hint++)->second += r.count();
    }
}

bool LagBoard::record_progress(const std::map<TopicPartition, int64_t> &next_offsets,
                               int64_t now_ms) {
    std::lock_guard lock(mutex_);
    bool fresh = false;
    for (const auto &[tp, offset] : next_offsets) fresh |= !latest_.count(tp);
    latest_ = next_offsets;
    // About 30 points per window whatever the batch interval: the copy per batch stays small.
    const int64_t spacing = std::max<int64_t>(window_ms_ / 30, 100);
    if (history_.empty() || now_ms - history_.back().at_ms >= spacing)
        history_.push_back({now_ms, advanced_});
    // Keep one point at or before the window's start: the base of the rates.
    while (history_.size() > 1 && history_[1].at_ms <= now_ms - window_ms_) history_.pop_front();
    return fresh;
}

void LagBoard::set_watermarks(const std::map<TopicPartition, int64_t> &high, int64_t now_ms) {
    std::lock_guard lock(mutex_);
    for (const auto &[tp, offset] : high) watermarks_[tp] = {offset, now_ms};
}

std::vector<TopicPartition> LagBoard::partitions() const {
    std::lock_guard lock(mutex_);
    std::vector<TopicPartition> out;
    out.reserve(latest_.size());
    for (const auto &[tp, offset] : latest_) out.push_back(tp);
    return out;
}

LagReport LagBoard::report(const std::map<TopicPartition, int64_t> &committed,
                           int64_t now_ms) const {
    std::lock_guard lock(mutex_);
    return compute_lag(committed, watermarks_, history_, advanced_, now_ms, window_ms_,
                       kStaleAfter.count());
}

LagReport LagBoard::report(int64_t now_ms) const {
    std::lock_guard lock(mutex_);
    return compute_lag(latest_, watermarks_, history_, advanced_, now_ms, window_ms_,
                       kStaleAfter.count());
}

std::string describe_lag(const LagReport &report) {
    std::string out = "lag:";
    if (report.topics.empty()) return out + " no partitions yet";
    for (const TopicLag &t : report.topics) {
        out += out.size() > 4 ? "; " : " ";
        out += t.topic + " ";
        if (!t.lag_records)
            out += "unknown (no high watermark read yet)";
        else
            out += fmt::format("{} records", *t.lag_records);
        if (t.lag_seconds) out += fmt::format(", {:.1f} s", *t.lag_seconds);
        if (t.input_rate) out += fmt::format(" at {:.1f} records/s", *t.input_rate);
        out += fmt::format(" ({} partition{})", t.partitions, t.partitions == 1 ? "" : "s");
    }
    return out;
}

}  // namespace sluice::metrics
