// `sluice run` with hot reload under load: while `sluice produce` feeds it through a standalone
// `sluice mock-broker`, the plugin file is replaced 50 times, alternating two builds that tag
// their output with their version. Nothing may be lost or written twice, both versions must
// have written, and the host must survive; the sink is cross-checked against an independent
// consumer.

#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <set>
#include <sstream>

#include "e2e_helpers.hpp"
#include "mock_broker_process.hpp"
#include "reload_test_support.hpp"
#include "sluice_command.hpp"

using namespace std::chrono_literals;
namespace rt = sluice::reload_test;
namespace st = sluice::test;

namespace {

constexpr int kSwaps = 50;

size_t count_of(const std::string &text, const std::string &needle) {
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

struct SinkLine {
    int64_t batch;
    std::string version;
};

/// (partition, offset) -> every (batch, version) that wrote it, from the b<id>.txt files.
std::map<std::pair<int, int64_t>, std::vector<SinkLine>> read_sink(const rt::fs::path &dir) {
    std::map<std::pair<int, int64_t>, std::vector<SinkLine>> out;
    for (const auto &entry : rt::fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name.size() < 6 || name[0] != 'b' || entry.path().extension() != ".txt") continue;
        const int64_t batch = std::stoll(name.substr(1));
        std::istringstream in(rt::read_text(entry.path()));
        int partition;
        int64_t offset;
        std::string version;
        while (in >> partition >> offset >> version)
            out[{partition, offset}].push_back({batch, version});
    }
    return out;
}

TEST(HotReloadRun, FiftySwapsUnderLoadLoseAndDuplicateNothing) {
    rt::TempDir work("sluice-reload-run");
    rt::TempDir plugins("sluice-reload-run-plugins");
    const rt::fs::path out_dir = work.path() / "out";
    rt::fs::create_directory(out_dir);
    const rt::fs::path plugin_file = plugins.path() / "versioned.so";
    rt::deploy_by_rename(rt::build_file("v1"), plugin_file);

    st::MockBrokerProcess broker({{"reload", 4}});
    const std::string bootstrap = broker.bootstrap_servers();
    const std::string config = work.file("run.ini");
    st::write_text(config,
                   "log-level = info\n[plugin.versioned]\nout_dir = " + out_dir.string() + "\n");
    const std::string host_err = work.file("host.err");
    st::ChildProcess host(
        st::sluice_argv({"run", "--config", config, "--brokers", bootstrap, "--topics", "reload",
                         "--plugin-dir", plugins.path().string(), "--plugin", "versioned",
                         "--auto-offset-reset", "earliest", "--batch-interval", "40ms",
                         "--hot-reload-poll", "20ms", "-X", "fetch.wait.max.ms=10"}),
        {host_err, true});
    st::ChildProcess producer(st::sluice_argv({"produce", "--brokers", bootstrap, "--topic",
                                               "reload", "--count", "0", "--rate", "3000"}),
                              {work.file("produce.err"), true});

    // The first batch with records has gone through v1.
    ASSERT_TRUE(rt::wait_until([&] { return !read_sink(out_dir).empty(); }, 30s))
        << rt::read_text(host_err);

    const auto start = std::chrono::steady_clock::now();
    for (int swap = 1; swap <= kSwaps; ++swap) {
        // Alternate the deployment styles too: even swaps by rename, odd ones by plain copy.
        const auto build = rt::build_file(swap % 2 == 1 ? "v2" : "v1");
        if (swap % 4 == 3)
            rt::deploy_by_copy(build, plugin_file);
        else
            rt::deploy_by_rename(build, plugin_file);
        ASSERT_TRUE(rt::wait_until(
            [&] {
                return count_of(rt::read_text(host_err), "swapped in at the batch boundary") >=
                       static_cast<size_t>(swap);
            },
            10s))
            << "swap " << swap << " did not happen; host log:\n"
            << rt::read_text(host_err);
        ASSERT_TRUE(host.running()) << rt::read_text(host_err);
    }
    const double swap_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    auto produced = stop_gracefully(producer, 20s);
    ASSERT_TRUE(produced);
    ASSERT_EQ(produced->code, 0);

    // Let the host catch up with everything produced, then stop it.
    const auto marks = st::watermarks(bootstrap, "reload");
    int64_t total = 0;
    for (const auto &m : marks) total += m.high - std::max<int64_t>(m.low, 0);
    ASSERT_TRUE(rt::wait_until(
        [&] { return static_cast<int64_t>(read_sink(out_dir).size()) >= total; }, 30s))
        << rt::read_text(host_err);
    auto status = stop_gracefully(host, 20s);
    ASSERT_TRUE(status);
    EXPECT_EQ(status->code, 0) << rt::read_text(host_err);

    const std::string log = rt::read_text(host_err);
    EXPECT_EQ(count_of(log, "swapped in at the batch boundary"), static_cast<size_t>(kSwaps));
    EXPECT_EQ(count_of(log, "[error]"), 0u) << log;
    EXPECT_EQ(count_of(log, "rolling back"), 0u) << log;

    // Exactly once, and exactly what an independent consumer reads.
    const auto sink = read_sink(out_dir);
    std::map<std::string, size_t> by_version;
    for (const auto &[id, writes] : sink) {
        EXPECT_EQ(writes.size(), 1u) << "partition " << id.first << " offset " << id.second
                                     << " written " << writes.size() << " times";
        ++by_version[writes.front().version];
    }
    const auto consumed = st::consume_all(bootstrap, "reload");
    std::set<std::pair<int, int64_t>> expected;
    for (const auto &r : consumed) expected.insert({r.partition, r.offset});
    std::set<std::pair<int, int64_t>> got;
    for (const auto &[id, writes] : sink) got.insert(id);
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected) << "sink and topic differ";
    EXPECT_GT(by_version["v1"], 0u);
    EXPECT_GT(by_version["v2"], 0u);
    std::printf(
        "[ figures  ] %d swaps in %.1f s; %zu records (%zu by v1, %zu by v2), produced %lld\n",
        kSwaps, swap_seconds, got.size(), by_version["v1"], by_version["v2"],
        static_cast<long long>(total));
}

}  // namespace
