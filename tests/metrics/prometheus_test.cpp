// The Prometheus text format 0.0.4, the /status JSON and the --metrics-address parser: no
// network.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "metrics/listen_address.hpp"
#include "metrics/prometheus.hpp"
#include "metrics/snapshot.hpp"
#include "metrics/status_json.hpp"
#include "metrics_http.hpp"

namespace sluice::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(PrometheusText, EscapesLabelValuesAndHelp) {
    EXPECT_EQ(escape_label_value("plain"), "plain");
    EXPECT_EQ(escape_label_value(R"(a\b"c)"
                                 "\n"
                                 "d"),
              R"(a\\b\"c\nd)");
    // HELP escapes backslash and line feed only: quotes stay.
    EXPECT_EQ(escape_help("say \"hi\"\\\n"), "say \"hi\"\\\\\\n");
}

TEST(PrometheusText, FormatsValuesAsPrometheusReadsThem) {
    EXPECT_EQ(format_value(0), "0");
    EXPECT_EQ(format_value(-0.0), "0");
    EXPECT_EQ(format_value(42), "42");
    EXPECT_EQ(format_value(-7), "-7");
    EXPECT_EQ(format_value(1e15), "1000000000000000");  // no exponent for exact integers
    EXPECT_EQ(format_value(0.25), "0.25");
    EXPECT_EQ(std::stod(format_value(0.1 + 0.2)), 0.1 + 0.2);  // round-trips
    EXPECT_EQ(std::stod(format_value(1e300)), 1e300);
    EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
    EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(PrometheusText, ChecksNames) {
    EXPECT_TRUE(valid_metric_name("sluice_records_total"));
    EXPECT_TRUE(valid_metric_name("a:b_c9"));
    EXPECT_FALSE(valid_metric_name(""));
    EXPECT_FALSE(valid_metric_name("9abc"));
    EXPECT_FALSE(valid_metric_name("a-b"));
    EXPECT_TRUE(valid_label_name("plugin"));
    EXPECT_FALSE(valid_label_name("a:b"));  // colons are for metric names only
}

TEST(PrometheusText, WriterGroupsEachFamilyWithHelpAndType) {
    TextWriter w;
    w.family("x_total", TextWriter::Type::counter, "How many x.\nReally.");
    w.sample("x_total", {{"k", "v\"1"}}, 3);
    w.sample("x_total", {{"k", "v2"}, {"slot", "0"}}, 4.5);
    w.family("y", TextWriter::Type::untyped, "Y.");
    w.sample("y", 1);
    EXPECT_EQ(w.text(),
              "# HELP x_total How many x.\\nReally.\n"
              "# TYPE x_total counter\n"
              "x_total{k=\"v\\\"1\"} 3\n"
              "x_total{k=\"v2\",slot=\"0\"} 4.5\n"
              "# HELP y Y.\n"
              "# TYPE y untyped\n"
              "y 1\n");
    EXPECT_THROW(w.sample("x_total", 1), std::invalid_argument);  // family y is open
    EXPECT_THROW(w.family("bad-name", TextWriter::Type::gauge, ""), std::invalid_argument);
    EXPECT_THROW(w.sample("y", {{"bad label", "v"}}, 1), std::invalid_argument);
}

RunSnapshot sample_snapshot() {
    RunSnapshot s;
    s.state = RunState::running;
    s.start_time_ms = 1700000000500;
    s.add_batch({7, 1700000001000, true, 100, 2000, 0.5, 0.25});
    s.add_batch({8, 1700000003000, false, 50, 1000, 0.25, 0});
    s.last_batch_committed_ms = 1700000003500;
    s.next_offsets[{"orders", 0}] = 120;
    s.next_offsets[{"orders", 1}] = 30;
    PluginSnapshot wc;
    wc.slot = 0;
    wc.plugin = "wordcount";
    wc.generation = 3;
    wc.batches = 2;
    wc.records = 150;
    wc.errors = 1;
    wc.retries = 2;
    wc.seconds = 0.125;
    wc.custom = {{"words", 900}, {"odd \"name\"\n", 1.5}};
    wc.version = "1.2.0";
    wc.hot_reload = true;
    wc.reloads_swapped = 2;
    wc.reloads_rejected = 1;
    wc.reloads_rolled_back = 4;
    wc.serving =
        PluginFileSnapshot{"/opt/plugins/wordcount.so", "1.2.0", "ab12", 1700000000600, {}, {}};
    PluginSnapshot sink;
    sink.slot = 1;
    sink.plugin = "file-sink";
    sink.on_probation = true;
    s.plugins = {wc, sink};
    s.mirror = MirrorSnapshot{true, 1.5, 2, 40, 1};
    return s;
}

TEST(RunSnapshotTest, AddBatchKeepsTotalsAndTheLastBatch) {
    const RunSnapshot s = sample_snapshot();
    EXPECT_EQ(s.batches, 2u);
    EXPECT_EQ(s.replayed_batches, 1u);
    EXPECT_EQ(s.records, 150u);
    EXPECT_EQ(s.bytes, 3000u);
    EXPECT_DOUBLE_EQ(s.processing_seconds, 0.75);
    ASSERT_TRUE(s.last_batch);
    EXPECT_EQ(s.last_batch->batch_id, 8);
}

TEST(RenderPrometheus, ShowsRunPartitionPluginAndMirrorMetrics) {
    const std::string text = render_prometheus(sample_snapshot());
    const auto samples = sluice::test::parse_samples(text);
    ASSERT_FALSE(samples.empty()) << text;
    const std::map<std::string, double> expected = {
        {R"(sluice_info{mode="direct",state="running"})", 1},
        {"sluice_start_time_seconds", 1700000000.5},
        {"sluice_batches_total", 2},
        {"sluice_batches_replayed_total", 1},
        {"sluice_records_total", 150},
        {"sluice_bytes_total", 3000},
        {"sluice_batch_processing_seconds_total", 0.75},
        {"sluice_last_batch_id", 8},
        {"sluice_last_batch_timestamp_seconds", 1700000003.5},
        {"sluice_batch_records", 50},
        {"sluice_batch_processing_seconds", 0.25},
        {"sluice_batch_scheduling_delay_seconds", 0},
        {R"(sluice_partition_offset{topic="orders",partition="0"})", 120},
        {R"(sluice_partition_offset{topic="orders",partition="1"})", 30},
        {R"(sluice_plugin_batches_total{plugin="wordcount",slot="0"})", 2},
        {R"(sluice_plugin_records_total{plugin="wordcount",slot="0"})", 150},
        {R"(sluice_plugin_errors_total{plugin="wordcount",slot="0"})", 1},
        {R"(sluice_plugin_retries_total{plugin="wordcount",slot="0"})", 2},
        {R"(sluice_plugin_seconds_total{plugin="wordcount",slot="0"})", 0.125},
        {R"(sluice_plugin_generation{plugin="wordcount",slot="0"})", 3},
        {R"(sluice_plugin_on_probation{plugin="wordcount",slot="0"})", 0},
        {R"(sluice_plugin_batches_total{plugin="file-sink",slot="1"})", 0},
        {R"(sluice_plugin_records_total{plugin="file-sink",slot="1"})", 0},
        {R"(sluice_plugin_errors_total{plugin="file-sink",slot="1"})", 0},
        {R"(sluice_plugin_retries_total{plugin="file-sink",slot="1"})", 0},
        {R"(sluice_plugin_seconds_total{plugin="file-sink",slot="1"})", 0},
        {R"(sluice_plugin_generation{plugin="file-sink",slot="1"})", 1},
        {R"(sluice_plugin_on_probation{plugin="file-sink",slot="1"})", 1},
        {R"(sluice_plugin_reloads_total{plugin="file-sink",result="swapped"})", 0},
        {R"(sluice_plugin_reloads_total{plugin="file-sink",result="rejected"})", 0},
        {R"(sluice_plugin_reloads_total{plugin="file-sink",result="rolled_back"})", 0},
        {R"(sluice_plugin_reloads_total{plugin="wordcount",result="swapped"})", 2},
        {R"(sluice_plugin_reloads_total{plugin="wordcount",result="rejected"})", 1},
        {R"(sluice_plugin_reloads_total{plugin="wordcount",result="rolled_back"})", 4},
        {R"(sluice_plugin_info{plugin="wordcount",slot="0",version="1.2.0",sha256="ab12"})", 1},
        {R"(sluice_plugin_info{plugin="file-sink",slot="1",version="",sha256=""})", 1},
        {R"(sluice_plugin_custom{plugin="wordcount",slot="0",name="words"})", 900},
        {R"(sluice_plugin_custom{plugin="wordcount",slot="0",name="odd \"name\"\n"})", 1.5},
        {"sluice_zookeeper_mirror_lag_seconds", 1.5},
        {"sluice_zookeeper_mirror_connected", 1},
        {"sluice_zookeeper_mirror_pending_partitions", 2},
        {"sluice_zookeeper_mirror_writes_total", 40},
        {"sluice_zookeeper_mirror_sessions_total", 1},
    };
    for (const auto &[name, value] : expected) {
        ASSERT_TRUE(samples.count(name)) << name << " missing from:\n" << text;
        EXPECT_DOUBLE_EQ(samples.at(name), value) << name;
    }
    // Besides the histograms (their own test below), nothing else is exposed.
    size_t plain = 0;
    for (const auto &[name, value] : samples)
        plain += name.rfind("sluice_batch_processing_time_seconds_", 0) != 0 &&
                 name.rfind("sluice_batch_delay_seconds_", 0) != 0 &&
                 name.rfind("sluice_plugin_call_seconds_", 0) != 0 &&
                 name.rfind("sluice_record_latency_seconds_", 0) != 0;
    EXPECT_EQ(plain, expected.size()) << text;
    // Each family is announced once, with its type, before its samples.
    EXPECT_THAT(text, HasSubstr("# TYPE sluice_records_total counter\nsluice_records_total 150\n"));
    EXPECT_THAT(text, HasSubstr("# TYPE sluice_plugin_generation gauge\n"));
    EXPECT_THAT(text, HasSubstr("# TYPE sluice_plugin_custom untyped\n"));
    EXPECT_EQ(text.back(), '\n');
}

TEST(RenderPrometheus, LeavesOutWhatARunDoesNotHave) {
    RunSnapshot s;  // before the first batch, no mirror, no custom metrics
    const std::string text = render_prometheus(s);
    EXPECT_THAT(text, HasSubstr("sluice_batches_total 0\n"));
    EXPECT_THAT(text, HasSubstr("state=\"starting\""));
    EXPECT_THAT(text, Not(HasSubstr("sluice_last_batch_id")));
    EXPECT_THAT(text, Not(HasSubstr("sluice_zookeeper_mirror")));
    EXPECT_THAT(text, Not(HasSubstr("sluice_plugin_")));
    EXPECT_FALSE(sluice::test::parse_samples(text).empty());
}

TEST(RenderPrometheus, ReceiverModeShowsItsIntakeAndTheWal) {
    RunSnapshot s;
    s.mode = "receiver";
    s.receiver = ReceiverSnapshot{3, 7, true, true, 4096, 5, 2};
    const auto samples = sluice::test::parse_samples(render_prometheus(s));
    EXPECT_EQ(samples.at("sluice_receiver_consumer_threads"), 3);
    EXPECT_EQ(samples.at("sluice_receiver_assigned_partitions"), 7);
    EXPECT_EQ(samples.at("sluice_receiver_paused"), 1);
    EXPECT_EQ(samples.at("sluice_receiver_queued_blocks"), 2);
    EXPECT_EQ(samples.at("sluice_wal_bytes"), 4096);
    EXPECT_EQ(samples.at("sluice_wal_pending_blocks"), 5);
    const nlohmann::json j = status_json(s);
    EXPECT_EQ(j["receiver"]["paused"], true);
    EXPECT_EQ(j["receiver"]["wal"]["pending_blocks"], 5);
    // Without a WAL there are no WAL figures; direct mode has no receiver section at all.
    s.receiver->wal = false;
    EXPECT_EQ(render_prometheus(s).find("sluice_wal_"), std::string::npos);
    EXPECT_TRUE(status_json(s)["receiver"]["wal"].is_null());
    EXPECT_EQ(render_prometheus(RunSnapshot{}).find("sluice_receiver_"), std::string::npos);
    EXPECT_TRUE(status_json(RunSnapshot{})["receiver"].is_null());
}

TEST(StatusJson, CarriesTheSameSnapshot) {
    const nlohmann::json j = status_json(sample_snapshot());
    EXPECT_EQ(j["mode"], "direct");
    EXPECT_EQ(j["state"], "running");
    EXPECT_EQ(j["batches"], 2);
    EXPECT_EQ(j["records"], 150);
    EXPECT_EQ(j["last_batch"]["id"], 8);
    EXPECT_EQ(j["last_batch"]["processing_ms"], 250.0);
    ASSERT_EQ(j["plugins"].size(), 2u);
    EXPECT_EQ(j["plugins"][0]["name"], "wordcount");
    EXPECT_EQ(j["plugins"][0]["generation"], 3);
    EXPECT_EQ(j["plugins"][0]["custom"]["words"], 900.0);
    EXPECT_EQ(j["plugins"][1]["on_probation"], true);
    ASSERT_EQ(j["partitions"].size(), 2u);
    // No lag monitor in this snapshot: its lag fields are null (lag_test.cpp has them).
    EXPECT_EQ(j["partitions"][0], (nlohmann::json{{"topic", "orders"},
                                                  {"partition", 0},
                                                  {"next_offset", 120},
                                                  {"high_watermark", nullptr},
                                                  {"lag_records", nullptr},
                                                  {"lag_seconds", nullptr}}));
    EXPECT_EQ(j["zookeeper_mirror"]["lag_ms"], 1500.0);
    // A run without a mirror or a batch says so with null.
    const nlohmann::json empty = status_json(RunSnapshot{});
    EXPECT_TRUE(empty["zookeeper_mirror"].is_null());
    EXPECT_TRUE(empty["last_batch"].is_null());
}

TEST(ListenAddressTest, ParsesHostPortAndRefusesTheRest) {
    const auto a = parse_listen_address("127.0.0.1:9100");
    EXPECT_EQ(a.host, "127.0.0.1");
    EXPECT_EQ(a.port, 9100);
    EXPECT_EQ(parse_listen_address("localhost:0").port, 0);
    const auto v6 = parse_listen_address("[::1]:9100");
    EXPECT_EQ(v6.host, "::1");
    EXPECT_EQ(v6.to_string(), "[::1]:9100");
    for (const char *bad : {"", "9100", ":9100", "host:", "host:x", "host:65536", "host:-1",
                            "::1:9100", "[::1]9100", "[::1]", "a b:1", "host:91 00"}) {
        SCOPED_TRACE(bad);
        try {
            parse_listen_address(bad);
            ADD_FAILURE() << "accepted";
        } catch (const std::invalid_argument &e) {
            EXPECT_THAT(e.what(), HasSubstr("write HOST:PORT"));
        }
    }
}

}  // namespace
}  // namespace sluice::metrics

namespace sluice::metrics {
namespace {

TEST(RenderPrometheus, HistogramsOfProcessingTimeDelaysAndPluginCalls) {
    RunSnapshot s;
    s.add_batch({0, 1, false, 10, 100, 0.004, 0.0});  // 4 ms, on time
    s.add_batch({1, 2, false, 10, 100, 0.2, 0.03});   // 200 ms, 30 ms late
    s.add_batch({2, 3, false, 10, 100, 70.0, 1.0});   // a minute and more
    PluginSnapshot p;
    p.plugin = "noop";
    p.call_seconds.observe(0.0005);
    p.call_seconds.observe(0.02);
    s.plugins.push_back(p);
    const std::string text = render_prometheus(s);
    const auto samples = sluice::test::parse_samples(text);
    EXPECT_THAT(text, HasSubstr("# TYPE sluice_batch_processing_time_seconds histogram\n"));
    EXPECT_EQ(samples.at(R"(sluice_batch_processing_time_seconds_bucket{le="0.005"})"), 1);
    EXPECT_EQ(samples.at(R"(sluice_batch_processing_time_seconds_bucket{le="0.25"})"), 2);
    EXPECT_EQ(samples.at(R"(sluice_batch_processing_time_seconds_bucket{le="60"})"), 2);
    EXPECT_EQ(samples.at(R"(sluice_batch_processing_time_seconds_bucket{le="120"})"), 3);
    EXPECT_EQ(samples.at(R"(sluice_batch_processing_time_seconds_bucket{le="+Inf"})"), 3);
    EXPECT_EQ(samples.at("sluice_batch_processing_time_seconds_count"), 3);
    EXPECT_NEAR(samples.at("sluice_batch_processing_time_seconds_sum"), 70.204, 1e-9);
    EXPECT_EQ(samples.at(R"(sluice_batch_delay_seconds_bucket{kind="scheduling",le="0.001"})"), 1);
    EXPECT_EQ(samples.at(R"(sluice_batch_delay_seconds_bucket{kind="scheduling",le="0.05"})"), 2);
    EXPECT_EQ(samples.at(R"(sluice_batch_delay_seconds_bucket{kind="total",le="0.25"})"), 2);
    EXPECT_EQ(samples.at(R"(sluice_plugin_call_seconds_bucket{plugin="noop",slot="0",le="0.001"})"),
              1);
    EXPECT_EQ(samples.at(R"(sluice_plugin_call_seconds_count{plugin="noop",slot="0"})"), 2);
}

TEST(RenderPrometheus, RecordLatencyIsSampledFromTheBatchesRecords) {
    RunSnapshot s;
    // A batch of 1,000 records stamped 0..999 ms before the commit at 10 s; one without a
    // timestamp and one from the future (a skewed producer clock) are not observed.
    std::vector<sluice_record_t> records(1000);
    for (size_t i = 0; i < records.size(); ++i)
        records[i].timestamp_ms = 10'000 - static_cast<int64_t>(i);
    records[0].timestamp_ms = -1;
    records[3].timestamp_ms = 20'000;
    s.observe_record_latency(records.data(), records.size(), 10'000);
    const auto samples = sluice::test::parse_samples(render_prometheus(s));
    // 1000 / 256: every 3rd record, 334 sampled, of which records 0 (no timestamp) and 3 (from
    // the future) are skipped: latencies 6, 9, ..., 999 ms.
    EXPECT_EQ(samples.at("sluice_record_latency_seconds_count"), 332);
    EXPECT_EQ(samples.at(R"(sluice_record_latency_seconds_bucket{le="0.005"})"), 0);
    EXPECT_EQ(samples.at(R"(sluice_record_latency_seconds_bucket{le="0.01"})"), 2);
    EXPECT_EQ(samples.at(R"(sluice_record_latency_seconds_bucket{le="1"})"), 332);
    s.observe_record_latency(nullptr, 0, 10'000);  // an empty batch observes nothing
    EXPECT_EQ(
        sluice::test::parse_samples(render_prometheus(s)).at("sluice_record_latency_seconds_count"),
        332);
}

}  // namespace
}  // namespace sluice::metrics
