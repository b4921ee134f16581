#include "metrics/prometheus.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <map>
#include <stdexcept>

#include "common/clock.hpp"
#include "metrics/lag.hpp"

namespace sluice::metrics {

namespace {

bool name_char(char c, bool first, bool colon_ok) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
    if (c == ':') return colon_ok;
    return !first && c >= '0' && c <= '9';
}

bool valid_name(std::string_view name, bool colon_ok) {
    if (name.empty()) return false;
    for (size_t i = 0; i < name.size(); ++i)
        if (!name_char(name[i], i == 0, colon_ok)) return false;
    return true;
}

const char *type_name(TextWriter::Type type) {
    switch (type) {
        case TextWriter::Type::counter:
            return "counter";
        case TextWriter::Type::gauge:
            return "gauge";
        case TextWriter::Type::histogram:
            return "histogram";
        case TextWriter::Type::untyped:
            break;
    }
    return "untyped";
}

}  // namespace

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string escape_help(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string format_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0)  // 2^53
        return std::to_string(static_cast<int64_t>(value));
    return fmt::format("{}", value);  // shortest text that reads back as the same double
}

bool valid_metric_name(std::string_view name) {
    return valid_name(name, true);
}
bool valid_label_name(std::string_view name) {
    return valid_name(name, false);
}

void TextWriter::family(std::string_view name, Type type, std::string_view help) {
    if (!valid_metric_name(name))
        throw std::invalid_argument("not a Prometheus metric name: '" + std::string(name) + "'");
    family_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type_name(type);
    out_ += '\n';
}

void TextWriter::histogram(std::string_view name, const Labels &labels, const Histogram &h) {
    if (family_.empty() || name != family_)
        throw std::invalid_argument("histogram '" + std::string(name) + "' outside its family ('" +
                                    family_ + "')");
    const std::string family = family_;
    // The suffixed series belong to the family; sample() checks names against it.
    family_ = family + "_bucket";
    for (size_t i = 0; i <= Histogram::kBounds.size(); ++i) {
        Labels with_le = labels;
        with_le.emplace_back("le", i < Histogram::kBounds.size()
                                       ? format_value(Histogram::kBounds[i])
                                       : std::string("+Inf"));
        sample(family_, with_le, static_cast<double>(h.cumulative(i)));
    }
    family_ = family + "_sum";
    sample(family_, labels, h.sum());
    family_ = family + "_count";
    sample(family_, labels, static_cast<double>(h.count()));
    family_ = family;
}

void TextWriter::sample(std::string_view name, const Labels &labels, double value) {
    if (family_.empty() || name != family_)
        throw std::invalid_argument("sample '" + std::string(name) + "' outside its family ('" +
                                    family_ + "')");
    out_ += name;
    if (!labels.empty()) {
        out_ += '{';
        bool first = true;
        for (const auto &[label, label_value] : labels) {
            if (!valid_label_name(label))
                throw std::invalid_argument("not a Prometheus label name: '" + label + "'");
            if (!first) out_ += ',';
            first = false;
            out_ += label;
            out_ += "=\"";
            out_ += escape_label_value(label_value);
            out_ += '"';
        }
        out_ += '}';
    }
    out_ += ' ';
    out_ += format_value(value);
    out_ += '\n';
}

std::string render_prometheus(const RunSnapshot &s) {
    return render_prometheus(s, wall_ms());
}

namespace {

/// The lag families: a series only where the value is known (an absent series is Prometheus's
/// "unknown"), and none at all without a lag monitor.
void render_lag(TextWriter &w, const RunSnapshot &s, int64_t now_ms) {
    using Type = TextWriter::Type;
    if (!s.lag || s.next_offsets.empty()) return;
    const LagReport lag = s.lag->report(s.next_offsets, now_ms);
    const auto partition_family = [&](const char *name, const char *help, auto value) {
        w.family(name, Type::gauge, help);
        for (const auto &[tp, p] : lag.partitions)
            if (auto v = value(p))
                w.sample(name, {{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}},
                         static_cast<double>(*v));
    };
    partition_family("sluice_partition_high_watermark",
                     "High watermark of each partition (the next offset to be written), read by "
                     "the lag monitor every few seconds.",
                     [](const PartitionLag &p) { return p.high_watermark; });
    partition_family("sluice_partition_lag_records",
                     "High watermark minus the committed next offset: records not yet processed.",
                     [](const PartitionLag &p) { return p.lag_records; });
    partition_family("sluice_partition_lag_seconds",
                     "Lag in records divided by the partition's recent rate of progress "
                     "(offsets committed per second, over at least 30 s); 0 when nothing is "
                     "behind, absent while behind without progress.",
                     [](const PartitionLag &p) { return p.lag_seconds; });
    const auto topic_family = [&](const char *name, const char *help, auto value) {
        w.family(name, Type::gauge, help);
        for (const TopicLag &t : lag.topics)
            if (auto v = value(t)) w.sample(name, {{"topic", t.topic}}, static_cast<double>(*v));
    };
    topic_family("sluice_topic_lag_records", "Sum of the lag in records of the topic's partitions.",
                 [](const TopicLag &t) { return t.lag_records; });
    topic_family("sluice_topic_lag_seconds",
                 "The topic's lag in records divided by its input rate; 0 when nothing is behind.",
                 [](const TopicLag &t) { return t.lag_seconds; });
    topic_family("sluice_topic_input_records_per_second",
                 "Records (offsets) of the topic committed per second, over at least the last "
                 "30 s.",
                 [](const TopicLag &t) { return t.input_rate; });
}

}  // namespace

std::string render_prometheus(const RunSnapshot &s, int64_t now_ms) {
    using Type = TextWriter::Type;
    TextWriter w;
    const auto one = [&w](const char *name, Type type, const char *help, double value) {
        w.family(name, type, help);
        w.sample(name, value);
    };

    w.family("sluice_info", Type::gauge, "Always 1; the labels describe the run.");
    w.sample("sluice_info", {{"mode", s.mode}, {"state", to_string(s.state)}}, 1);
    one("sluice_start_time_seconds", Type::gauge, "When the run started (Unix seconds).",
        static_cast<double>(s.start_time_ms) / 1000.0);
    one("sluice_batches_total", Type::counter, "Batches committed, replays included.",
        static_cast<double>(s.batches));
    one("sluice_batches_replayed_total", Type::counter,
        "Batches replayed after a restart (planned but not committed before it).",
        static_cast<double>(s.replayed_batches));
    one("sluice_records_total", Type::counter, "Records in committed batches.",
        static_cast<double>(s.records));
    one("sluice_bytes_total", Type::counter, "Key and value bytes in committed batches.",
        static_cast<double>(s.bytes));
    one("sluice_batch_processing_seconds_total", Type::counter,
        "Time spent processing committed batches (read, plugins, commit).", s.processing_seconds);
    w.family("sluice_batch_processing_time_seconds", Type::histogram,
             "Processing time of each committed batch (read, plugins, commit; Spark's processing "
             "time).");
    w.histogram("sluice_batch_processing_time_seconds", {}, s.processing_time);
    w.family("sluice_batch_delay_seconds", Type::histogram,
             "Per committed batch: how late it started after its due time (kind=scheduling) and "
             "that plus its processing time (kind=total), as Spark's streaming tab shows them.");
    w.histogram("sluice_batch_delay_seconds", {{"kind", "scheduling"}}, s.scheduling_delay);
    w.histogram("sluice_batch_delay_seconds", {{"kind", "total"}}, s.total_delay);
    w.family("sluice_record_latency_seconds", Type::histogram,
             "End-to-end record latency: the commit of its batch minus the record's Kafka "
             "timestamp (up to 256 records sampled per batch).");
    w.histogram("sluice_record_latency_seconds", {}, s.record_latency);
    if (s.last_batch) {
        const BatchStats &b = *s.last_batch;
        one("sluice_last_batch_id", Type::gauge, "Id of the last committed batch.",
            static_cast<double>(b.batch_id));
        one("sluice_last_batch_timestamp_seconds", Type::gauge,
            "When the last batch was committed (Unix seconds).",
            static_cast<double>(s.last_batch_committed_ms) / 1000.0);
        one("sluice_batch_records", Type::gauge, "Records in the last committed batch.",
            static_cast<double>(b.records));
        one("sluice_batch_processing_seconds", Type::gauge,
            "Processing time of the last committed batch (read, plugins, commit).",
            b.processing_seconds);
        one("sluice_batch_scheduling_delay_seconds", Type::gauge,
            "How late the last committed batch started after its due time.",
            b.scheduling_delay_seconds);
    }

    if (!s.next_offsets.empty()) {
        w.family("sluice_partition_offset", Type::gauge,
                 "Committed position of each partition: the next offset to read.");
        for (const auto &[tp, offset] : s.next_offsets)
            w.sample("sluice_partition_offset",
                     {{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}},
                     static_cast<double>(offset));
    }
    render_lag(w, s, now_ms);

    if (!s.plugins.empty()) {
        struct PluginFamily {
            const char *name;
            Type type;
            const char *help;
            double (*value)(const PluginSnapshot &);
        };
        static const PluginFamily kPluginFamilies[] = {
            {"sluice_plugin_batches_total", Type::counter,
             "process_batch calls of the plugin instance serving the slot.",
             [](const PluginSnapshot &p) { return static_cast<double>(p.batches); }},
            {"sluice_plugin_records_total", Type::counter,
             "Records handed to the plugin instance serving the slot.",
             [](const PluginSnapshot &p) { return static_cast<double>(p.records); }},
            {"sluice_plugin_errors_total", Type::counter,
             "process_batch calls that returned SKIP, FATAL or an unknown code.",
             [](const PluginSnapshot &p) { return static_cast<double>(p.errors); }},
            {"sluice_plugin_retries_total", Type::counter,
             "process_batch calls that returned RETRY.",
             [](const PluginSnapshot &p) { return static_cast<double>(p.retries); }},
            {"sluice_plugin_seconds_total", Type::counter, "Time spent inside process_batch.",
             [](const PluginSnapshot &p) { return p.seconds; }},
            {"sluice_plugin_generation", Type::gauge,
             "Generation serving the slot: 1 at start, +1 per hot-reload swap; counters of a "
             "new generation start at 0.",
             [](const PluginSnapshot &p) { return static_cast<double>(p.generation); }},
            {"sluice_plugin_on_probation", Type::gauge,
             "1 while a newly swapped-in generation has not passed its first batch.",
             [](const PluginSnapshot &p) { return p.on_probation ? 1.0 : 0.0; }},
        };
        for (const PluginFamily &f : kPluginFamilies) {
            w.family(f.name, f.type, f.help);
            for (const PluginSnapshot &p : s.plugins)
                w.sample(f.name, {{"plugin", p.plugin}, {"slot", std::to_string(p.slot)}},
                         f.value(p));
        }
        w.family("sluice_plugin_call_seconds", Type::histogram,
                 "Time of each process_batch call of the instance serving the slot.");
        for (const PluginSnapshot &p : s.plugins)
            w.histogram("sluice_plugin_call_seconds",
                        {{"plugin", p.plugin}, {"slot", std::to_string(p.slot)}}, p.call_seconds);
        // Summed by plugin name: the labels the issue of record (and dashboards) use.
        std::map<std::string, std::array<uint64_t, 3>> reloads;
        for (const PluginSnapshot &p : s.plugins) {
            auto &r = reloads[p.plugin];
            r[0] += p.reloads_swapped;
            r[1] += p.reloads_rejected;
            r[2] += p.reloads_rolled_back;
        }
        w.family("sluice_plugin_reloads_total", Type::counter,
                 "Hot reloads by outcome: swapped (swapped in and not rolled back), rejected "
                 "(refused before serving: load, ABI, create or state hand-over failed), "
                 "rolled_back (failed its first batch; the previous version serves again).");
        for (const auto &[plugin, r] : reloads) {
            const char *results[] = {"swapped", "rejected", "rolled_back"};
            for (size_t i = 0; i < 3; ++i)
                w.sample("sluice_plugin_reloads_total",
                         {{"plugin", plugin}, {"result", results[i]}}, static_cast<double>(r[i]));
        }
        // Canary generations (plugins/canary.hpp): only once one was deployed in this run.
        bool any_canary = false;
        for (const PluginSnapshot &p : s.plugins) any_canary |= p.canary.has_value();
        if (any_canary) {
            w.family("sluice_plugin_canary_shadowing", Type::gauge,
                     "1 while a canary generation (NAME.canary.so) runs in shadow of the slot.");
            for (const PluginSnapshot &p : s.plugins)
                if (p.canary)
                    w.sample("sluice_plugin_canary_shadowing",
                             {{"plugin", p.plugin}, {"slot", std::to_string(p.slot)}},
                             p.canary->state == "shadowing" ? 1.0 : 0.0);
            w.family("sluice_plugin_canary_agreed_batches", Type::gauge,
                     "Batches the canary agreed with the serving generation on (the one in "
                     "shadow, or the last decided).");
            for (const PluginSnapshot &p : s.plugins)
                if (p.canary)
                    w.sample("sluice_plugin_canary_agreed_batches",
                             {{"plugin", p.plugin}, {"slot", std::to_string(p.slot)}},
                             static_cast<double>(p.canary->agreed));
            w.family("sluice_plugin_canaries_total", Type::counter,
                     "Canary generations decided, by result: promoted (agreed on "
                     "canary-batches batches, or told to) or rejected (a different output or "
                     "return code).");
            for (const PluginSnapshot &p : s.plugins) {
                if (!p.canary) continue;
                for (const bool promoted : {true, false})
                    w.sample(
                        "sluice_plugin_canaries_total",
                        {{"plugin", p.plugin},
                         {"slot", std::to_string(p.slot)},
                         {"result", promoted ? "promoted" : "rejected"}},
                        static_cast<double>(promoted ? p.canary->promoted : p.canary->rejected));
            }
        }
        w.family("sluice_plugin_info", Type::gauge,
                 "Always 1; the labels describe the version serving the slot (sha256 is empty "
                 "without hot reload).");
        for (const PluginSnapshot &p : s.plugins)
            w.sample("sluice_plugin_info",
                     {{"plugin", p.plugin},
                      {"slot", std::to_string(p.slot)},
                      {"version", p.version},
                      {"sha256", p.serving ? p.serving->sha256 : std::string()}},
                     1);
        bool any_custom = false;
        for (const PluginSnapshot &p : s.plugins) any_custom |= !p.custom.empty();
        if (any_custom) {
            w.family("sluice_plugin_custom", Type::untyped,
                     "Metrics the plugin reports through the host API (counters add up, gauges "
                     "are set), by name.");
            for (const PluginSnapshot &p : s.plugins)
                for (const auto &[name, value] : p.custom)
                    w.sample(
                        "sluice_plugin_custom",
                        {{"plugin", p.plugin}, {"slot", std::to_string(p.slot)}, {"name", name}},
                        value);
        }
    }

    if (s.receiver) {
        const ReceiverSnapshot &r = *s.receiver;
        one("sluice_receiver_consumer_threads", Type::gauge,
            "Consumer threads of this process in the group.",
            static_cast<double>(r.consumer_threads));
        one("sluice_receiver_assigned_partitions", Type::gauge,
            "Partitions the group has assigned to this process's consumer threads.",
            static_cast<double>(r.assigned_partitions));
        one("sluice_receiver_paused", Type::gauge,
            "1 while consumption is paused by backpressure (the WAL at wal-max-bytes, or the batch "
            "queue full without a WAL).",
            r.paused ? 1.0 : 0.0);
        one("sluice_receiver_queued_blocks", Type::gauge,
            "Blocks handed to the batch thread and not yet in a batch.",
            static_cast<double>(r.queued_blocks));
        if (r.wal) {
            one("sluice_wal_bytes", Type::gauge, "Bytes of the write-ahead log's segment files.",
                static_cast<double>(r.wal_bytes));
            one("sluice_wal_pending_blocks", Type::gauge,
                "Blocks in the write-ahead log not yet processed by a batch.",
                static_cast<double>(r.wal_pending_blocks));
        }
    }

    if (s.backpressure && s.backpressure->rate)
        one("sluice_backpressure_rate", Type::gauge,
            "backpressure = true: the PID estimator's records/s for the whole run, which sizes "
            "the next batch (direct mode) or the consumers' intake (receiver mode).",
            *s.backpressure->rate);

    if (s.mirror) {
        const MirrorSnapshot &m = *s.mirror;
        one("sluice_zookeeper_mirror_lag_seconds", Type::gauge,
            "How long the oldest committed offset not yet written to ZooKeeper has waited (0 "
            "when ZooKeeper holds every committed offset).",
            m.lag_seconds);
        one("sluice_zookeeper_mirror_connected", Type::gauge,
            "1 while the mirror has a ZooKeeper session.", m.connected ? 1.0 : 0.0);
        one("sluice_zookeeper_mirror_pending_partitions", Type::gauge,
            "Partitions whose committed offset is not yet in ZooKeeper.",
            static_cast<double>(m.pending_partitions));
        one("sluice_zookeeper_mirror_writes_total", Type::counter,
            "Offset nodes written to ZooKeeper.", static_cast<double>(m.writes));
        one("sluice_zookeeper_mirror_sessions_total", Type::counter,
            "ZooKeeper sessions opened by the mirror (1 + re-established sessions).",
            static_cast<double>(m.sessions));
    }
    return w.text();
}

}  // namespace sluice::metrics
