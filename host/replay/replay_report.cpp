// Printing a ReplayReport (replay_run.hpp): readable text, or one JSON document.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>

#include "replay/replay_run.hpp"

namespace sluice::replay {

namespace {

constexpr size_t kShownBytes = 120;  // of a key or value, in text

/// Printable ASCII as is, the rest as \xNN (and \n, \t, \\, \"), cut after kShownBytes.
std::string quoted_bytes(const std::optional<std::string> &bytes) {
    if (!bytes) return "null";
    std::string out = "\"";
    const size_t shown = std::min(bytes->size(), kShownBytes);
    for (size_t i = 0; i < shown; ++i) {
        const auto c = static_cast<unsigned char>((*bytes)[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c >= 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
    if (bytes->size() > shown) out += fmt::format("... ({} bytes)", bytes->size());
    return out;
}

std::string utc_time(int64_t ms) {
    if (ms <= 0) return "unknown";
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:03}Z", text, ms % 1000);
}

std::string record_line(const RecordCopy &r) {
    std::string line = fmt::format("{}:{}@{} key={} value={}", r.topic, r.partition, r.offset,
                                   quoted_bytes(r.key), quoted_bytes(r.value));
    if (r.timestamp_ms >= 0) line += fmt::format(" ts={}", r.timestamp_ms);
    for (const auto &[name, value] : r.headers)
        line += fmt::format(" [{}={}]", name, quoted_bytes(value));
    return line;
}

void print_records(std::ostream &out, const std::vector<RecordCopy> &records, size_t show) {
    const size_t n = show == 0 ? records.size() : std::min(show, records.size());
    for (size_t i = 0; i < n; ++i) out << "      " << record_line(records[i]) << "\n";
    if (n < records.size())
        out << fmt::format("      ... and {} more (--show 0 prints them all)\n",
                           records.size() - n);
}

void print_logs(std::ostream &out, const std::vector<LogLine> &logs) {
    for (const auto &l : logs) out << fmt::format("      {:<5} {}\n", l.level, l.text);
}

std::vector<RecordCopy> input_records(const ReplayInput &input) {
    std::vector<RecordCopy> records;
    const sluice_record_t *r = input.records();
    for (size_t i = 0; i < input.record_count(); ++i) records.push_back(copy_record(r[i]));
    return records;
}

bool is_utf8(const std::string &s) {
    try {
        (void)nlohmann::json(s).dump();
        return true;
    } catch (const nlohmann::json::exception &) {
        return false;
    }
}

std::string base64(const std::string &in) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
    }
    if (i + 1 == in.size()) {
        const uint32_t v = uint8_t(in[i]) << 16;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

/// Bytes as a JSON string when they are UTF-8, else {"base64": "..."}; null stays null.
nlohmann::json bytes_json(const std::optional<std::string> &bytes) {
    if (!bytes) return nullptr;
    if (is_utf8(*bytes)) return *bytes;
    return {{"base64", base64(*bytes)}};
}

nlohmann::json record_json(const RecordCopy &r) {
    nlohmann::json headers = nlohmann::json::array();
    for (const auto &[name, value] : r.headers)
        headers.push_back({{"name", name}, {"value", bytes_json(value)}});
    return {{"topic", r.topic},
            {"partition", r.partition},
            {"offset", r.offset},
            {"timestamp_ms", r.timestamp_ms},
            {"key", bytes_json(r.key)},
            {"value", bytes_json(r.value)},
            {"headers", std::move(headers)}};
}

nlohmann::json logs_json(const std::vector<LogLine> &logs) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto &l : logs) out.push_back({{"level", l.level}, {"message", l.text}});
    return out;
}

}  // namespace

void print_text(std::ostream &out, const ReplayReport &report, size_t show, bool show_input) {
    const ReplayInput &in = *report.input;
    out << fmt::format("batch {} from {} ({}), batch time {}, replayed with the replay flag\n",
                       in.batch_id, in.source, in.state, utc_time(in.batch_time_ms));
    size_t empty = 0;
    for (const auto &r : in.ranges) {
        if (r.count() == 0) {
            ++empty;
            continue;
        }
        out << fmt::format("  range {} [{}, {})\n", r.topic_partition().to_string(), r.from_offset,
                           r.until_offset);
    }
    if (empty > 0)
        out << fmt::format("  and {} empty ranges (partitions without records)\n", empty);
    out << fmt::format("  {} records read from {}\n", in.record_count(),
                       in.records_from.empty() ? "nowhere (no records)" : in.records_from);
    if (show_input) print_records(out, input_records(in), show);
    if (!report.host_logs.empty()) {
        out << "  host logged:\n";
        print_logs(out, report.host_logs);
    }
    for (size_t i = 0; i < report.plugins.size(); ++i) {
        const auto &p = report.plugins[i];
        out << fmt::format("\nplugin {}/{}: {} ({}, {})\n", i + 1, report.plugins.size(), p.name,
                           p.transform ? "transform" : "sink", p.file);
        if (p.called) {
            out << fmt::format("  process_batch: {} records in, returned {}{} ({:.3f} ms)\n",
                               p.input_records, status_name(p.status),
                               p.message.empty() ? "" : ": " + p.message, p.seconds * 1000);
        } else {
            out << fmt::format("  process_batch: not called ({})\n", p.not_called_why);
        }
        if (p.flush_status)
            out << fmt::format("  flush: {}{}\n", status_name(*p.flush_status),
                               p.flush_message.empty() ? "" : ": " + p.flush_message);
        if (p.logs.empty()) {
            out << "  logged: nothing\n";
        } else {
            out << fmt::format("  logged {} lines:\n", p.logs.size());
            print_logs(out, p.logs);
        }
        if (!p.metrics.empty()) {
            out << "  metrics:\n";
            for (const auto &[name, value] : p.metrics)
                out << fmt::format("      {} = {}\n", name, value);
        }
        if (p.transform && p.called) {
            out << fmt::format("  emitted {} records:\n", p.emitted.size());
            print_records(out, p.emitted, show);
        }
    }
    out << "\n";
    if (report.status == SLUICE_OK) {
        out << "result: OK (the host would commit this batch)\n";
    } else {
        out << fmt::format("result: {} from {}: {}\n", status_name(report.status),
                           report.failed_plugin, report.failed_message);
    }
}

void print_json(std::ostream &out, const ReplayReport &report, bool show_input) {
    const ReplayInput &in = *report.input;
    nlohmann::json ranges = nlohmann::json::array();
    for (const auto &r : in.ranges)
        ranges.push_back({{"topic", r.topic},
                          {"partition", r.partition},
                          {"from_offset", r.from_offset},
                          {"until_offset", r.until_offset}});
    nlohmann::json doc = {{"batch_id", in.batch_id},
                          {"batch_time_ms", in.batch_time_ms},
                          {"source", in.source},
                          {"state", in.state},
                          {"records_from", in.records_from},
                          {"ranges", std::move(ranges)},
                          {"record_count", in.record_count()},
                          {"host_logs", logs_json(report.host_logs)}};
    if (show_input) {
        nlohmann::json records = nlohmann::json::array();
        for (const auto &r : input_records(in)) records.push_back(record_json(r));
        doc["records"] = std::move(records);
    }
    nlohmann::json plugins = nlohmann::json::array();
    for (const auto &p : report.plugins) {
        nlohmann::json j = {{"name", p.name},
                            {"file", p.file},
                            {"transform", p.transform},
                            {"called", p.called},
                            {"input_records", p.input_records},
                            {"seconds", p.seconds},
                            {"metrics", p.metrics},
                            {"logs", logs_json(p.logs)}};
        if (p.called) {
            j["status"] = status_name(p.status);
            j["message"] = p.message;
        } else {
            j["not_called_why"] = p.not_called_why;
        }
        if (p.flush_status) {
            j["flush_status"] = status_name(*p.flush_status);
            j["flush_message"] = p.flush_message;
        }
        if (p.transform && p.called) {
            nlohmann::json emitted = nlohmann::json::array();
            for (const auto &r : p.emitted) emitted.push_back(record_json(r));
            j["emitted"] = std::move(emitted);
        }
        plugins.push_back(std::move(j));
    }
    doc["plugins"] = std::move(plugins);
    doc["status"] = status_name(report.status);
    if (report.status != SLUICE_OK) {
        doc["failed_plugin"] = report.failed_plugin;
        doc["failed_message"] = report.failed_message;
    }
    out << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace sluice::replay
