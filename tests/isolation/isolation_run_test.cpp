// Plugin isolation (isolation = process) end to end: the real `sluice run` against a standalone
// `sluice mock-broker`, the chain [crashy, file-sink] with crashy (plugins/crashy.c) in a worker
// process misbehaving on purpose: a segfault, an abort in create, a hang, an unbounded
// allocation, an exit, and kill -9 of the worker under load. The host must survive each, the
// file-sink downstream must hold every other record exactly once, and a dead-lettered poison
// record is read back by an independent consumer. No timing is asserted.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "metrics_http.hpp"
#include "mock_broker_suite.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

namespace {

constexpr int kRecords = 10;

class IsolationRun : public MockBrokerSuite<IsolationRun> {
  public:
    static std::vector<MockTopic> mock_topics() {
        return {{"seg", 1},    {"seg_dlq", 1}, {"create", 1},   {"hang", 1},
                {"alloc", 1},  {"exit", 1},    {"load", 2},     {"upper", 1},
                {"reload", 2}, {"exec", 1},    {"exec_open", 1}};
    }

  protected:
    void produce_plain(const std::string &topic) {
        std::vector<RecordToProduce> records;
        for (int i = 0; i < kRecords; ++i)
            records.push_back({0, "k" + std::to_string(i), "v" + std::to_string(i), {}});
        produce_records(bootstrap(), topic, records);
    }

    std::vector<std::string> argv(const std::string &topic, const std::string &crashy,
                                  std::optional<int> max_batches,
                                  const std::string &plugin = "crashy") {
        const std::string cfg = dir_.file(topic + ".ini");
        write_text(cfg, "log-level = info\n[plugin.file-sink]\npath = " + sink(topic) +
                            "\n[plugin." + plugin + "]\nisolation = process\n" + crashy + "\n");
        std::vector<std::string> args{"run",
                                      "--config",
                                      cfg,
                                      "--brokers",
                                      bootstrap(),
                                      "--topics",
                                      topic,
                                      "--group",
                                      "iso-" + topic,
                                      "--checkpoint",
                                      dir_.file(topic + ".ckpt"),
                                      "--auto-offset-reset",
                                      "earliest",
                                      "--plugin-dir",
                                      ISOLATION_PLUGIN_DIR,
                                      "--plugin-dir",
                                      SLUICE_PLUGIN_OUTPUT_DIR,
                                      "--plugin",
                                      plugin,
                                      "--plugin",
                                      "file-sink",
                                      "--hot-reload",
                                      "false",
                                      "--batch-interval",
                                      "100ms",
                                      "-X",
                                      "fetch.wait.max.ms=10"};
        if (max_batches) {
            args.push_back("--max-batches");
            args.push_back(std::to_string(*max_batches));
        }
        return args;
    }
    CommandResult run(const std::string &topic, const std::string &crashy,
                      const std::string &plugin = "crashy") {
        return run_sluice(argv(topic, crashy, 1, plugin), 60s);
    }

    std::string sink(const std::string &topic) const { return dir_.file(topic + ".jsonl"); }
    int64_t committed(const std::string &topic) const {
        return committed_offsets(bootstrap(), "iso-" + topic, topic, 1).at(0);
    }
    std::vector<std::string> sink_values(const std::string &topic) const {
        std::vector<std::string> out;
        if (!std::filesystem::exists(sink(topic))) return out;
        for (const auto &r : read_sink(sink(topic))) out.push_back(r.value.value_or("<null>"));
        return out;
    }
    static std::vector<std::string> values_but(int poison) {
        std::vector<std::string> out;
        for (int i = 0; i < kRecords; ++i)
            if (i != poison) out.push_back("v" + std::to_string(i));
        return out;
    }
    static size_t count(const std::string &text, const std::string &what) {
        size_t n = 0;
        for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
            ++n;
        return n;
    }
    static bool has(const std::string &text, const std::string &what) {
        return text.find(what) != std::string::npos;
    }

    TempDir dir_ = temp_dir("sluice-isolation");
};

std::optional<std::string> header(const ConsumedRecord &r, const std::string &name) {
    for (const auto &h : r.headers)
        if (h.name == name) return h.value;
    return std::nullopt;
}

/// Whether `pid` has exited and waits to be reaped.
bool zombie(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');  // "PID (COMM) STATE ..."
    return paren == std::string::npos || stat.compare(paren + 1, 3, " Z ") == 0;
}

/// The process ids of `pid`'s living children (any of its threads may have forked them): a
/// worker killed but not yet reaped by the host is left out.
std::vector<pid_t> children_of(pid_t pid) {
    std::vector<pid_t> out;
    std::error_code ec;
    const std::string task = "/proc/" + std::to_string(pid) + "/task";
    for (const auto &t : std::filesystem::directory_iterator(task, ec)) {
        std::ifstream in(t.path() / "children");
        pid_t child = 0;
        while (in >> child)
            if (!zombie(child)) out.push_back(child);
    }
    return out;
}

/// crashy's worker deaths and restarts, from /metrics and then from /status (-1 when absent).
struct WorkerCounts {
    double metrics_crashes = -1, metrics_restarts = -1, status_crashes = -1, status_restarts = -1;
};

WorkerCounts worker_counts(int port) {
    WorkerCounts out;
    if (port == 0) return out;
    if (const auto metrics = http_get("127.0.0.1", port, "/metrics")) {
        for (const auto &[sample, value] : parse_samples(metrics->body)) {
            if (sample.rfind("sluice_plugin_custom{", 0) != 0 ||
                sample.find("plugin=\"crashy\"") == std::string::npos)
                continue;
            if (sample.find("name=\"isolation_worker_crashes\"") != std::string::npos)
                out.metrics_crashes = value;
            if (sample.find("name=\"isolation_worker_restarts\"") != std::string::npos)
                out.metrics_restarts = value;
        }
    }
    if (const auto status = http_get("127.0.0.1", port, "/status")) {
        const nlohmann::json parsed = nlohmann::json::parse(status->body);
        for (const auto &p : parsed.at("plugins")) {
            if (p.at("name") != "crashy") continue;
            out.status_crashes = p.at("custom").value("isolation_worker_crashes", -1.0);
            out.status_restarts = p.at("custom").value("isolation_worker_restarts", -1.0);
        }
    }
    return out;
}

}  // namespace

TEST_F(IsolationRun, SegfaultOnOneRecordDeadLettersOnlyThatRecord) {
    produce_plain("seg");
    auto r = run("seg",
                 "crash-on = v4\nmax-crashes = 2\non-error = dead-letter\n"
                 "dead-letter-topic = seg_dlq");
    ASSERT_EQ(r.status.code, 0) << r.err;
    // The crash is logged with the signal and the plugin's last lines; the batch is bisected.
    EXPECT_TRUE(has(r.err, "was killed by SIGSEGV")) << r.err;
    EXPECT_TRUE(has(r.err, "its last log lines: ")) << r.err;
    EXPECT_TRUE(has(r.err, "crashy: the record at offset 4 is poison: segv")) << r.err;
    EXPECT_TRUE(has(r.err, "the record seg/0@4 of batch 0 kills its worker")) << r.err;
    EXPECT_TRUE(has(r.err, "without its 1 poison record(s), the rest of the batch processed"))
        << r.err;
    // Downstream got every other record once; the batch is committed.
    EXPECT_EQ(sink_values("seg"), values_but(4));
    EXPECT_EQ(committed("seg"), kRecords);

    auto dead = consume_all(bootstrap(), "seg_dlq");
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0].value, "v4");
    EXPECT_EQ(dead[0].key, "k4");
    EXPECT_EQ(header(dead[0], "sluice.plugin"), "crashy");
    EXPECT_EQ(header(dead[0], "sluice.offset"), "4");
    const std::string error = header(dead[0], "sluice.error").value_or("");
    EXPECT_TRUE(has(error, "SIGSEGV")) << error;
    EXPECT_TRUE(has(error, "the other 9 records of the batch were processed")) << error;
}

TEST_F(IsolationRun, AbortInCreateStopsTheStartWithOneLine) {
    produce_plain("create");
    auto r = run("create", "create = abort\nmax-crashes = 2");
    EXPECT_TRUE(r.status.exited()) << r.status.describe();  // the host itself did not crash
    EXPECT_NE(r.status.code, 0);
    EXPECT_TRUE(has(r.err, "its worker died 2 times in create")) << r.err;
    EXPECT_TRUE(has(r.err, "SIGABRT")) << r.err;
    EXPECT_TRUE(has(r.err, "crashy: create = abort, aborting in create")) << r.err;
    EXPECT_TRUE(sink_values("create").empty());
}

TEST_F(IsolationRun, HangIsKilledAtBatchTimeoutAndSkipped) {
    produce_plain("hang");
    auto r = run("hang",
                 "crash-on = v2\nhow = hang\nbatch-timeout = 300ms\nmax-crashes = 1\n"
                 "on-error = skip");
    ASSERT_EQ(r.status.code, 0) << r.err;
    EXPECT_TRUE(has(r.err, "did not answer within batch-timeout = 300 ms and was killed")) << r.err;
    EXPECT_EQ(sink_values("hang"), values_but(2));
    EXPECT_EQ(committed("hang"), kRecords);
}

TEST_F(IsolationRun, UnboundedAllocationIsReportedAsOutOfMemory) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    // The sanitizers reserve terabytes of shadow address space at start: under RLIMIT_AS the
    // worker could not map anything more, plugin or not.
    GTEST_SKIP() << "memory-limit (RLIMIT_AS) cannot be tested under ASan or TSan";
#endif
    produce_plain("alloc");
    auto r = run("alloc",
                 "crash-on = v7\nhow = alloc\nmemory-limit = 128MiB\nmax-crashes = 1\n"
                 "on-error = skip");
    ASSERT_EQ(r.status.code, 0) << r.err;
    EXPECT_TRUE(has(r.err, "out of memory (memory-limit = 134217728 bytes)")) << r.err;
    EXPECT_EQ(sink_values("alloc"), values_but(7));
    EXPECT_EQ(committed("alloc"), kRecords);
}

TEST_F(IsolationRun, ExitUnderStopPolicyStopsWithoutCommitting) {
    produce_plain("exit");
    auto r = run("exit", "crash-on = v0\nhow = exit\nmax-crashes = 2");  // on-error = stop
    EXPECT_TRUE(r.status.exited()) << r.status.describe();
    EXPECT_NE(r.status.code, 0) << r.err;
    EXPECT_TRUE(has(r.err, "exited with status 7")) << r.err;
    EXPECT_TRUE(has(r.err, "stopping without committing the batch")) << r.err;
    EXPECT_LT(committed("exit"), 0);  // nothing committed
    EXPECT_TRUE(sink_values("exit").empty());
}

// forbid-exec = true: exec fails with EPERM in the worker, and the plugin goes on. Without it,
// the same call replaces the worker by /bin/true, whose exit the host handles as a death.
TEST_F(IsolationRun, ForbidExecMakesExecFailInTheWorker) {
    produce_plain("exec");
    auto r = run("exec", "crash-on = v3\nhow = exec\nforbid-exec = true");
    ASSERT_EQ(r.status.code, 0) << r.err;
    EXPECT_TRUE(has(r.err, "crashy: exec refused: Operation not permitted")) << r.err;
    EXPECT_FALSE(has(r.err, "its worker")) << r.err;  // no death reported
    EXPECT_EQ(sink_values("exec"), values_but(-1));
    EXPECT_EQ(committed("exec"), kRecords);

    produce_plain("exec_open");
    r = run("exec_open", "crash-on = v3\nhow = exec\nmax-crashes = 1\non-error = skip");
    ASSERT_EQ(r.status.code, 0) << r.err;
    EXPECT_TRUE(has(r.err, "exited with status 0")) << r.err;
    EXPECT_FALSE(has(r.err, "exec refused")) << r.err;
    EXPECT_EQ(sink_values("exec_open"), values_but(3));
}

// kill -9 of the worker 20 times at random moments while records arrive: the host restarts it
// and redelivers each batch; the sink downstream ends with every record exactly once.
TEST_F(IsolationRun, KillNineOfTheWorkerUnderLoadLosesAndDuplicatesNothing) {
    const int kKills = soak_cycles(20);
    constexpr int kAtLeastPerPartition = 1500, kStep = 75;
    const std::string log = dir_.file("load.log");
    std::vector<std::string> args = argv("load", "sleep-ms = 20\nmax-crashes = 10", std::nullopt);
    args.insert(args.end(), {"--metrics-address", "127.0.0.1:0"});
    ChildProcess host(sluice_argv(args), {log, true});
    std::mt19937 random(11);
    int kills = 0;
    int produced = 0;
    // Bounded, not timed: under the sanitizers a worker takes far longer to start again.
    const auto deadline = std::chrono::steady_clock::now() + kKills * 6s;
    while (kills < kKills && std::chrono::steady_clock::now() < deadline) {
        // Records every round: the host notices a dead worker at its next call, which a batch
        // without records does not make.
        produce_numbered(bootstrap(), "load", 2, produced, produced + kStep);
        produced += kStep;
        std::this_thread::sleep_for(std::chrono::milliseconds(50 + random() % 250));
        // Each kill after the host has finished a batch since the last one: a random killer
        // faster than a worker's restart (under the sanitizers) would otherwise hit one batch
        // max-crashes times, which is the poison-batch case, not this one. Only a living
        // worker is killed (children_of leaves out one killed but not yet reaped).
        const size_t before = count(read_file(log), " records, ");
        for (pid_t worker : children_of(host.pid()))
            if (::kill(worker, SIGKILL) == 0) ++kills;
        wait_until([&] { return count(read_file(log), " records, ") > before; }, 30s);
    }
    ASSERT_EQ(kills, kKills) << read_file(log);
    if (produced < kAtLeastPerPartition) {
        produce_numbered(bootstrap(), "load", 2, produced, kAtLeastPerPartition);
        produced = kAtLeastPerPartition;
    }
    const auto expected = consume_all(bootstrap(), "load", 2);
    ASSERT_EQ(expected.size(), 2u * static_cast<size_t>(produced));
    const bool all = wait_until(
        [&] {
            return std::filesystem::exists(sink("load")) &&
                   read_sink(sink("load")).size() >= expected.size();
        },
        60s);
    // The worker's deaths and restarts as an operator sees them, in /metrics and /status.
    const WorkerCounts counted = worker_counts(logged_metrics_port(log));
    const auto status = stop_gracefully(host);
    const std::string err = read_file(log);
    ASSERT_TRUE(all) << err;
    ASSERT_TRUE(status && status->code == 0) << err;
    EXPECT_TRUE(exactly_once(read_sink(sink("load")), expected)) << err;
    std::printf("isolation kill -9: %d kills, /metrics crashes %.0f restarts %.0f\n", kills,
                counted.metrics_crashes, counted.metrics_restarts);
    // Each kill was of a living worker, and a new one lives only once the host saw the last
    // one die: every kill is counted, but the last one's death may not be noticed yet (the
    // host notices it at its next call). /status, read after /metrics, shows at least as many.
    EXPECT_GE(counted.metrics_crashes, kills - 1);
    EXPECT_LE(counted.metrics_crashes, kills);
    EXPECT_GE(counted.metrics_restarts, kills - 1);
    EXPECT_GE(counted.status_crashes, counted.metrics_crashes);
    EXPECT_GE(counted.status_restarts, counted.metrics_restarts);
    EXPECT_TRUE(has(err, "was killed by SIGKILL")) << err;
    EXPECT_FALSE(has(err, "bisecting")) << err;  // max-crashes = 10 was never reached
}

// An isolated transform: what it emits comes back through shared memory, in order, with its
// header, to file-sink; its poison record is left out and the rest of its output passed on.
TEST_F(IsolationRun, TransformEmitsThroughSharedMemoryAndItsPoisonIsLeftOut) {
    produce_plain("upper");
    auto r = run("upper", "crash-on = v5\nmax-crashes = 1\non-error = skip", "crashy_upper");
    ASSERT_EQ(r.status.code, 0) << r.err;
    std::vector<std::string> want;
    for (int i = 0; i < kRecords; ++i)
        if (i != 5) want.push_back("V" + std::to_string(i));
    EXPECT_EQ(sink_values("upper"), want);
    for (const auto &rec : read_sink(sink("upper"))) {
        EXPECT_EQ(header(rec, "crashy"), "upper");
        EXPECT_EQ(rec.key, "k" + rec.value->substr(1));
    }
    EXPECT_EQ(committed("upper"), kRecords);
}

// Hot reload of an isolated plugin: each new version is created in a new worker and swapped in
// at a batch boundary while records keep arriving; the sink downstream ends with each once.
TEST_F(IsolationRun, HotReloadsOfAnIsolatedPluginLoseAndDuplicateNothing) {
    constexpr int kReloads = 50;
    constexpr int kPerPartition = 1000;
    // A private plugin directory the test deploys new versions into (mode 0755: the loader
    // refuses a group- or world-writable one).
    const std::string plugins = dir_.file("deploy");
    std::filesystem::create_directory(plugins);
    std::filesystem::permissions(plugins, std::filesystem::perms(0755));
    const std::string built = std::string(ISOLATION_PLUGIN_DIR) + "/crashy.so";
    // Version n: the built file with n appended (a different file and hash, the same code).
    const auto deploy = [&](int n) {
        const std::string next = plugins + "/.crashy.next";
        std::filesystem::copy_file(built, next, std::filesystem::copy_options::overwrite_existing);
        std::ofstream(next, std::ios::app) << "version " << n << "\n";
        std::filesystem::permissions(next, std::filesystem::perms(0644));
        std::filesystem::rename(next, plugins + "/crashy.so");
    };
    deploy(0);
    auto args = argv("reload", "sleep-ms = 5", std::nullopt);
    for (auto &a : args)
        if (a == ISOLATION_PLUGIN_DIR) a = plugins;
    for (auto &a : args)
        if (a == "false") a = "true";  // --hot-reload true
    args.insert(args.end(), {"--hot-reload-poll", "50ms"});
    const std::string log = dir_.file("reload.log");
    ChildProcess host(sluice_argv(args), {log, true});
    const auto swaps = [&] { return count(read_file(log), "swapped in at the batch boundary"); };
    // The reloader takes its baseline when it starts watching (at the first batch): a file
    // replaced before that is not seen as new.
    ASSERT_TRUE(wait_until([&] { return has(read_file(log), "hot reload: watching"); }, 30s))
        << read_file(log);
    int produced = 0;
    for (int n = 1; n <= kReloads; ++n) {
        if (produced < kPerPartition) {
            produce_numbered(bootstrap(), "reload", 2, produced, produced + 20);
            produced += 20;
        }
        deploy(n);
        ASSERT_TRUE(wait_until([&] { return swaps() >= static_cast<size_t>(n); }, 20s))
            << "reload " << n << " not swapped in: " << read_file(log);
    }
    if (produced < kPerPartition)
        produce_numbered(bootstrap(), "reload", 2, produced, kPerPartition);
    const auto expected = consume_all(bootstrap(), "reload", 2);
    ASSERT_EQ(expected.size(), 2u * kPerPartition);
    const bool all = wait_until(
        [&] {
            return std::filesystem::exists(sink("reload")) &&
                   read_sink(sink("reload")).size() >= expected.size();
        },
        60s);
    const auto status = stop_gracefully(host);
    const std::string err = read_file(log);
    ASSERT_TRUE(all) << err;
    ASSERT_TRUE(status && status->code == 0) << err;
    EXPECT_TRUE(exactly_once(read_sink(sink("reload")), expected)) << err;
    EXPECT_FALSE(has(err, "was killed by")) << err;  // no worker died on the way
    EXPECT_FALSE(has(err, "rolled back")) << err;
    EXPECT_TRUE(children_of(host.pid()).empty());  // every worker is gone with the host
}
