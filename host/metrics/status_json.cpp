#include "metrics/status_json.hpp"

#include "common/clock.hpp"
#include "metrics/lag.hpp"

namespace sluice::metrics {

namespace {

template <typename T>
nlohmann::json or_null(const std::optional<T> &value) {
    return value ? nlohmann::json(*value) : nlohmann::json();
}

}  // namespace

nlohmann::json status_json(const RunSnapshot &s) {
    return status_json(s, wall_ms());
}

nlohmann::json status_json(const RunSnapshot &s, int64_t now_ms) {
    using nlohmann::json;
    json out = {
        {"mode", s.mode},
        {"state", to_string(s.state)},
        {"start_time_ms", s.start_time_ms},
        {"published_at_ms", s.published_at_ms},
        {"batches", s.batches},
        {"replayed_batches", s.replayed_batches},
        {"records", s.records},
        {"bytes", s.bytes},
        {"processing_seconds", s.processing_seconds},
    };
    if (s.last_batch) {
        const BatchStats &b = *s.last_batch;
        out["last_batch"] = {
            {"id", b.batch_id},
            {"time_ms", b.batch_time_ms},
            {"committed_at_ms", s.last_batch_committed_ms},
            {"replay", b.replay},
            {"records", b.records},
            {"bytes", b.bytes},
            {"processing_ms", b.processing_seconds * 1000.0},
            {"scheduling_delay_ms", b.scheduling_delay_seconds * 1000.0},
        };
    } else {
        out["last_batch"] = nullptr;
    }
    const auto file_json = [](const std::optional<PluginFileSnapshot> &f, bool refused) -> json {
        if (!f) return nullptr;
        const auto text_or_null = [](const std::string &t) { return t.empty() ? json() : json(t); };
        json out = {{"file", f->file},
                    {"version", text_or_null(f->version)},
                    {"sha256", text_or_null(f->sha256)},
                    {refused ? "time_ms" : "since_ms", f->time_ms}};
        if (refused) {
            out["result"] = f->result;
            out["reason"] = f->reason;
        }
        return out;
    };
    json plugins = json::array();
    for (const PluginSnapshot &p : s.plugins)
        plugins.push_back({
            {"slot", p.slot},
            {"name", p.plugin},
            {"version", p.version.empty() ? json() : json(p.version)},
            {"serving", file_json(p.serving, false)},
            {"last_rejected", file_json(p.last_refused, true)},
            {"reloads", p.hot_reload ? json{{"swapped", p.reloads_swapped},
                                            {"rejected", p.reloads_rejected},
                                            {"rolled_back", p.reloads_rolled_back}}
                                     : json()},
            {"generation", p.generation},
            {"on_probation", p.on_probation},
            {"canary", p.canary ? json{{"state", p.canary->state},
                                       {"file", p.canary->file},
                                       {"version", p.canary->version},
                                       {"agreed_batches", p.canary->agreed},
                                       {"canary_batches", p.canary->needed},
                                       {"report", p.canary->report},
                                       {"promoted", p.canary->promoted},
                                       {"rejected", p.canary->rejected}}
                                : json()},
            {"batches", p.batches},
            {"records", p.records},
            {"errors", p.errors},
            {"retries", p.retries},
            {"seconds", p.seconds},
            {"custom", p.custom},
        });
    out["plugins"] = std::move(plugins);
    const LagReport lag = s.lag ? s.lag->report(s.next_offsets, now_ms) : LagReport{};
    json partitions = json::array();
    for (const auto &[tp, offset] : s.next_offsets) {
        const auto found = lag.partitions.find(tp);
        const PartitionLag p = found == lag.partitions.end() ? PartitionLag{} : found->second;
        partitions.push_back({{"topic", tp.topic},
                              {"partition", tp.partition},
                              {"next_offset", offset},
                              {"high_watermark", or_null(p.high_watermark)},
                              {"lag_records", or_null(p.lag_records)},
                              {"lag_seconds", or_null(p.lag_seconds)}});
    }
    out["partitions"] = std::move(partitions);
    json topics = json::array();
    if (s.lag) {
        for (const TopicLag &t : lag.topics)
            topics.push_back({{"topic", t.topic},
                              {"partitions", t.partitions},
                              {"lag_records", or_null(t.lag_records)},
                              {"lag_seconds", or_null(t.lag_seconds)},
                              {"input_rate", or_null(t.input_rate)}});
    } else {
        std::map<std::string, size_t> counts;
        for (const auto &[tp, offset] : s.next_offsets) ++counts[tp.topic];
        for (const auto &[topic, n] : counts)
            topics.push_back({{"topic", topic},
                              {"partitions", n},
                              {"lag_records", nullptr},
                              {"lag_seconds", nullptr},
                              {"input_rate", nullptr}});
    }
    out["topics"] = std::move(topics);
    if (s.receiver) {
        const ReceiverSnapshot &r = *s.receiver;
        out["receiver"] = {
            {"consumer_threads", r.consumer_threads},
            {"assigned_partitions", r.assigned_partitions},
            {"paused", r.paused},
            {"queued_blocks", r.queued_blocks},
            {"wal", r.wal ? json{{"bytes", r.wal_bytes}, {"pending_blocks", r.wal_pending_blocks}}
                          : json(nullptr)},
        };
    } else {
        out["receiver"] = nullptr;
    }
    if (s.backpressure)
        out["backpressure"] = {{"rate", or_null(s.backpressure->rate)},
                               {"initial_rate", s.backpressure->initial_rate}};
    else
        out["backpressure"] = nullptr;
    if (s.mirror) {
        const MirrorSnapshot &m = *s.mirror;
        out["zookeeper_mirror"] = {
            {"connected", m.connected},
            {"lag_ms", m.lag_seconds * 1000.0},
            {"pending_partitions", m.pending_partitions},
            {"writes", m.writes},
            {"sessions", m.sessions},
        };
    } else {
        out["zookeeper_mirror"] = nullptr;
    }
    return out;
}

}  // namespace sluice::metrics
