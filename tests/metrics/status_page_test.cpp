// The status page at / as a person sees it: `sluice run` under load from `sluice produce` on a
// standalone mock broker, the page opened in headless Chromium (Debian `chromium`), its
// charts and tables read from the DOM it rendered and compared with /status; a screenshot is
// saved (its path is printed). Then every metric docs/grafana-dashboard.json queries must be
// in the run's /metrics.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "metrics_http.hpp"
#include "mock_broker_suite.hpp"
#include "sluice_command.hpp"
#include "status_page_dashboard.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr const char *kChromium = "/usr/bin/chromium";
constexpr int kRecords = 6000;

class StatusPage : public MockBrokerSuite<StatusPage> {
  public:
    static std::vector<MockTopic> mock_topics() { return {{"paged", 3}}; }

  protected:
    /// Headless Chromium on `url` with `args` (--dump-dom, --screenshot=...); its stdout. The
    /// page runs for a virtual 5 s first, so that it has polled /status a few times.
    std::string chromium(const std::string &url, std::vector<std::string> args) {
        std::vector<std::string> argv = {kChromium,
                                         "--headless",
                                         "--no-sandbox",  // CI runs as root
                                         "--disable-gpu",
                                         "--disable-dev-shm-usage",  // small /dev/shm in containers
                                         "--hide-scrollbars",
                                         "--no-first-run",
                                         "--user-data-dir=" + dir_.file("chromium-profile"),
                                         "--window-size=1400,1900",
                                         "--virtual-time-budget=5000"};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.push_back(url);
        ChildProcess browser(argv, {dir_.file("chromium.log"), true});
        auto out = browser.read_all(60s);
        const auto status = browser.wait(10s);
        EXPECT_TRUE(status && status->code == 0)
            << "chromium " << (status ? status->describe() : "did not exit") << "\n"
            << read_file(dir_.file("chromium.log"));
        return out.value_or("");
    }

    TempDir dir_ = temp_dir("sluice-status-page");
};

/// The data-value of the cell data-field="field" in the row data-key="key" of table `table`
/// in the DOM; "" when absent.
std::string cell(const std::string &dom, const std::string &table, const std::string &key,
                 const std::string &field) {
    const size_t at = dom.find("<table id=\"" + table + "\"");
    if (at == std::string::npos) return "";
    const size_t end = dom.find("</table>", at);
    const std::string body = dom.substr(at, end - at);
    const std::regex row("<tr data-key=\"" + key + "\">(.*?)</tr>");
    std::smatch match;
    if (!std::regex_search(body, match, row)) return "";
    const std::string cells = match[1];
    const std::regex value("data-field=\"" + field + "\"[^>]*data-value=\"([^\"]*)\"");
    return std::regex_search(cells, match, value) ? std::string(match[1]) : "";
}

/// How often `needle` occurs in `text`.
long occurrences(const std::string &text, const std::string &needle) {
    long n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

std::string number(const nlohmann::json &j) {
    return j.is_number_integer() ? std::to_string(j.get<int64_t>()) : j.dump();
}

TEST_F(StatusPage, ChromiumShowsChartsWithPointsAndTheNumbersOfStatus) {
    ASSERT_TRUE(std::filesystem::exists(kChromium))
        << "no " << kChromium << ": run scripts/install-deps.sh test (Debian package chromium)";
    const std::string token_file = dir_.file("control-token");
    write_text(token_file, "status-page-test-token-0123456789\n");
    std::filesystem::permissions(
        token_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const std::string log = dir_.file("host.log");
    ChildProcess host(
        sluice_argv({"run", "--brokers", bootstrap(), "--topics", "paged", "--plugin", "noop",
                     "--batch-interval", "200ms", "--auto-offset-reset", "earliest",
                     "--metrics-address", "127.0.0.1:0", "--control-token-file", token_file, "-X",
                     "fetch.wait.max.ms=10"}),
        ChildProcess::Options{log, false});
    int port = 0;
    ASSERT_TRUE(wait_until([&] { return (port = logged_metrics_port(log)) != 0; }, 30s))
        << read_file(log);

    // Load: about 3 s of records at 2,000/s, so the charts have batches with records in them.
    const std::string producer_log = dir_.file("produce.log");
    ChildProcess producer = start_producer(bootstrap(), "paged", kRecords, 2000, producer_log);
    ASSERT_TRUE(exits_cleanly(producer, producer_log, 60s));
    // Until the host has committed everything and the lag monitor has seen the watermarks:
    // from then on the tables of the page and /status stay the same.
    nlohmann::json status;
    ASSERT_TRUE(wait_until(
        [&] {
            const auto r = http_get("127.0.0.1", port, "/status");
            if (!r) return false;
            status = nlohmann::json::parse(r->body);
            if (status.at("records") != kRecords) return false;
            for (const auto &p : status.at("partitions"))
                if (p.value("high_watermark", nlohmann::json()) != p.at("next_offset"))
                    return false;
            return true;
        },
        60s))
        << status.dump(2) << "\n"
        << read_file(log);

    // Self-contained: the page names no other origin.
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
    const std::string dom = chromium(url, {"--dump-dom"});
    ASSERT_THAT(dom, HasSubstr("data-loaded=\"true\"")) << dom;
    EXPECT_EQ(dom.find("https://"), std::string::npos);

    // The four charts have points: one per committed batch the page has seen.
    const std::regex points("id=\"(chart-[a-z]+)\" class=\"chart\" data-points=\"(\\d+)\"");
    std::set<std::string> charts;
    for (auto it = std::sregex_iterator(dom.begin(), dom.end(), points);
         it != std::sregex_iterator(); ++it) {
        charts.insert((*it)[1]);
        EXPECT_GE(std::stoi((*it)[2]), 10) << (*it)[1] << " has too few points";
    }
    EXPECT_EQ(charts, (std::set<std::string>{"chart-input", "chart-processing", "chart-scheduling",
                                             "chart-total"}));
    // uPlot drew them (its canvas is in each chart).
    EXPECT_GE(occurrences(dom, "<canvas"), 4);

    // The tables show what /status reports.
    ASSERT_EQ(status.at("partitions").size(), 3u);
    for (const auto &p : status.at("partitions")) {
        const std::string key = "paged/" + std::to_string(p.at("partition").get<int>());
        SCOPED_TRACE(key);
        EXPECT_EQ(cell(dom, "partitions", key, "next_offset"), number(p.at("next_offset")));
        EXPECT_EQ(cell(dom, "partitions", key, "high_watermark"), number(p.at("high_watermark")));
        EXPECT_EQ(cell(dom, "partitions", key, "lag_records"), number(p.at("lag_records")));
    }
    int64_t committed = 0;
    for (const auto &p : status.at("partitions")) committed += p.at("next_offset").get<int64_t>();
    EXPECT_EQ(committed, kRecords);
    const auto &noop = status.at("plugins").at(0);
    EXPECT_EQ(cell(dom, "plugins", "0", "records"), number(noop.at("records")));
    EXPECT_EQ(cell(dom, "plugins", "0", "records"), std::to_string(kRecords));
    EXPECT_EQ(cell(dom, "plugins", "0", "errors"), "0");
    EXPECT_EQ(cell(dom, "plugins", "0", "generation"), number(noop.at("generation")));
    EXPECT_THAT(dom, HasSubstr("data-field=\"records\" data-value=\"" + std::to_string(kRecords)));
    // Recent batches: the newest 20 of the history.
    const size_t batches_at = dom.find("<table id=\"batches\"");
    ASSERT_NE(batches_at, std::string::npos);
    const std::string batches_table = dom.substr(batches_at, dom.find("</table>", batches_at));
    EXPECT_EQ(occurrences(batches_table, "<tr data-key="), 20);
    // The control token was given: the page shows its control section.
    EXPECT_THAT(dom, HasSubstr("data-control=\"on\""));
    EXPECT_THAT(dom, HasSubstr("<section id=\"control\">"));
    EXPECT_THAT(dom, HasSubstr("not configured (no --zookeeper and --group)"));

    // The screenshot, for a person: kept with the test's output.
    const std::filesystem::path shots = std::filesystem::path(SLUICE_BINARY_DIR) / "test-output";
    std::filesystem::create_directories(shots);
    const std::string shot = (shots / "status_page.png").string();
    std::filesystem::remove(shot);
    chromium(url, {"--screenshot=" + shot});
    ASSERT_TRUE(std::filesystem::exists(shot)) << read_file(dir_.file("chromium.log"));
    EXPECT_GT(std::filesystem::file_size(shot), 20'000u) << "an empty page?";
    std::cout << "status page screenshot: " << shot << std::endl;

    // Every metric the Grafana dashboard queries is served by this run, but for the receiver
    // and ZooKeeper ones (not in a direct run without --zookeeper; status_page_dashboard_test
    // renders those).
    const auto metrics = http_get("127.0.0.1", port, "/metrics");
    ASSERT_TRUE(metrics);
    std::set<std::string> served;
    for (const auto &[sample, value] : parse_samples(metrics->body))
        served.insert(sample.substr(0, sample.find('{')));
    for (const std::string &name : dashboard_metrics()) {
        if (only_in_receiver_or_mirror_runs(name)) continue;
        EXPECT_TRUE(served.count(name)) << name << " is in docs/grafana-dashboard.json but not in "
                                        << "/metrics:\n"
                                        << metrics->body;
    }

    ASSERT_TRUE(stops_cleanly(host, log));
}

}  // namespace
}  // namespace sluice::test
