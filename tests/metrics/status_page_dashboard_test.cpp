// docs/grafana-dashboard.json queries only metrics that exist: those of receiver mode and of
// the ZooKeeper mirror are checked here against render_prometheus() with those sections filled
// (status_page_test checks the others against a real run), and every one is in docs/metrics.md.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "metrics/prometheus.hpp"
#include "metrics/snapshot.hpp"
#include "metrics_http.hpp"
#include "sluice_command.hpp"
#include "status_page_dashboard.hpp"

namespace sluice::test {
namespace {

TEST(GrafanaDashboard, ItsReceiverAndMirrorMetricsAreRendered) {
    metrics::RunSnapshot s;
    s.mode = "receiver";
    s.state = metrics::RunState::running;
    s.receiver = metrics::ReceiverSnapshot{.consumer_threads = 2,
                                           .assigned_partitions = 4,
                                           .wal = true,
                                           .wal_bytes = 1000,
                                           .wal_pending_blocks = 3,
                                           .queued_blocks = 1};
    s.mirror = metrics::MirrorSnapshot{.connected = true, .lag_seconds = 0.5, .writes = 10};
    std::set<std::string> served;
    for (const auto &[sample, value] : parse_samples(metrics::render_prometheus(s)))
        served.insert(sample.substr(0, sample.find('{')));
    int checked = 0;
    for (const std::string &name : dashboard_metrics()) {
        if (!only_in_receiver_or_mirror_runs(name)) continue;
        ++checked;
        EXPECT_TRUE(served.count(name)) << name << " is in docs/grafana-dashboard.json only";
    }
    EXPECT_GE(checked, 8);
}

TEST(GrafanaDashboard, EveryMetricItQueriesIsDocumented) {
    const std::string doc = read_file(std::string(SLUICE_SOURCE_DIR) + "/docs/metrics.md");
    ASSERT_FALSE(doc.empty());
    for (std::string name : dashboard_metrics()) {
        const std::string bucket = "_bucket";  // a histogram is documented by its family name
        if (name.size() > bucket.size() &&
            name.compare(name.size() - bucket.size(), bucket.size(), bucket) == 0)
            name.resize(name.size() - bucket.size());
        EXPECT_NE(doc.find("`" + name), std::string::npos)
            << name << " is in docs/grafana-dashboard.json but not in docs/metrics.md";
    }
}

}  // namespace
}  // namespace sluice::test
