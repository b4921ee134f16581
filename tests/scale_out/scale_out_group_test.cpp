// direct-assignment=group on a standalone `sluice mock-broker`: a range planned by a host that
// dies (kill -9) is replayed by its successor with exactly the bounds in Kafka; a paused
// (SIGSTOP), then resumed (SIGCONT) host cannot overwrite the plans of the partitions' new
// owner; a graceful leave hands its partitions over done (nothing replayed); a topic matching
// a ^regex that appears while the hosts run is picked up.

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "metrics_http.hpp"
#include "mock_broker_process.hpp"
#include "receiver_helpers.hpp"
#include "scale_out_helpers.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

namespace {

std::vector<ConsumedRecord> read_partition_files(const std::string &dir, const std::string &topic,
                                                 int partitions) {
    std::vector<ConsumedRecord> all;
    for (int p = 0; p < partitions; ++p)
        for (auto &r : read_sink(dir + "/" + topic + "-" + std::to_string(p) + ".jsonl"))
            all.push_back(std::move(r));
    return all;
}

std::string file_sink_config(const TempDir &dir, const std::string &name) {
    const auto cfg = dir.file(name + ".ini");
    write_text(cfg, "[plugin.file-sink]\npath = " + dir.file("sink") + "\nper-partition = true\n");
    return cfg;
}

}  // namespace

TEST(GroupDirectMode, ARangePlannedByADeadHostIsReplayedWithTheSameBoundsByItsSuccessor) {
    constexpr int kPartitions = 4;
    constexpr int kRecords = 20000;
    MockBrokerProcess broker({{"handover", kPartitions}});
    auto dir = temp_dir("sluice-handover");
    std::filesystem::create_directories(dir.file("sink"));
    const auto cfg = file_sink_config(dir, "run");
    const auto args =
        group_host_args(broker.bootstrap_servers(), "handover", "replay", cfg, "file-sink");
    ChildProcess producer = start_producer(broker.bootstrap_servers(), "handover", kRecords, 2000,
                                           dir.file("producer.err"));

    // The host dies with a plan pending: tests/metrics' gate plugin, before file-sink, holds a
    // batch (its plans committed to Kafka, the sink not yet called) while the file `gate`
    // exists; kill -9 then, a random time into the hold.
    const std::string gate = dir.file("gate"), gated_cfg = dir.file("gated.ini");
    write_text(gated_cfg, read_file(cfg) + "[plugin.gate]\ngate = " + gate + "\n");
    auto gated =
        group_host_args(broker.bootstrap_servers(), "handover", "replay", gated_cfg, "gate");
    gated.insert(gated.end(), {"--plugin", "file-sink", "--plugin-dir", GATE_PLUGIN_DIR,
                               "--plugin-dir", SLUICE_BINARY_DIR "/plugin-dir"});
    const unsigned seed = test_seed();
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> extra_ms(0, 400);
    std::printf("handover: seed %u\n", seed);
    std::vector<KafkaPlan> plans;
    std::string dead_host;
    {
        const std::string log = dir.file("dead.err");
        ChildProcess host(gated, {log, true});
        ASSERT_TRUE(wait_until([&] { return count_lines(read_file(log), " records, ") >= 5; }, 40s))
            << read_file(log);
        const auto id = host_id(read_file(log));
        ASSERT_TRUE(id) << read_file(log);
        write_text(gate, "closed");
        ASSERT_TRUE(wait_until(
            [&] {
                plans = kafka_plans(broker.bootstrap_servers(), "replay", "handover", kPartitions);
                return std::any_of(plans.begin(), plans.end(), [&](const KafkaPlan &p) {
                    return p.pending() && p.host == *id;
                });
            },
            30s))
            << read_file(log);
        std::this_thread::sleep_for(std::chrono::milliseconds(extra_ms(rng)));
        host.send_signal(SIGKILL);
        ASSERT_TRUE(host.wait(10s));
        std::filesystem::remove(gate);
        plans = kafka_plans(broker.bootstrap_servers(), "replay", "handover", kPartitions);
        for (const auto &p : plans)
            if (p.pending() && p.host == *id) dead_host = *id;
    }
    ASSERT_FALSE(dead_host.empty()) << "the host held by the gate left no plan pending";
    std::printf("handover: host %s died with a plan pending\n", dead_host.c_str());

    // The successor replays each pending range with exactly the bounds in Kafka.
    const std::string log = dir.file("successor.err");
    ChildProcess successor(args, {log, true});
    for (int p = 0; p < kPartitions; ++p) {
        if (!plans[p].pending()) continue;
        const std::string line =
            "handover:" + std::to_string(p) + " [" + std::to_string(plans[p].offset) + ", " +
            std::to_string(plans[p].until) + "): planned by host " + plans[p].host +
            " in its batch " + std::to_string(plans[p].batch) + " and not done: replaying it";
        EXPECT_TRUE(wait_until([&] { return read_file(log).find(line) != std::string::npos; }, 40s))
            << "expected: " << line << "\n"
            << read_file(log);
        std::printf("handover: successor replays handover:%d [%lld, %lld) of batch %lld\n", p,
                    static_cast<long long>(plans[p].offset), static_cast<long long>(plans[p].until),
                    static_cast<long long>(plans[p].batch));
    }
    EXPECT_TRUE(
        wait_until([&] { return read_file(log).find(" (replay): ") != std::string::npos; }, 30s))
        << read_file(log);

    // Then it catches up, and the files hold each record once.
    ASSERT_TRUE(exits_cleanly(producer, dir.file("producer.err"), 60s));
    const auto expected = consume_all(broker.bootstrap_servers(), "handover");
    ASSERT_EQ(expected.size(), static_cast<size_t>(kRecords));
    EXPECT_TRUE(wait_until(
        [&] {
            return read_partition_files(dir.file("sink"), "handover", kPartitions).size() >=
                   expected.size();
        },
        60s));
    ASSERT_TRUE(stops_cleanly(successor, log));
    EXPECT_TRUE(
        exactly_once(read_partition_files(dir.file("sink"), "handover", kPartitions), expected));
    // The successor left every partition done at its end.
    for (const auto &p : kafka_plans(broker.bootstrap_servers(), "replay", "handover", kPartitions))
        EXPECT_FALSE(p.pending()) << p.offset << " planned until " << p.until;
}

TEST(GroupDirectMode, APausedThenResumedHostCannotOverwriteTheNewOwnersPlans) {
    constexpr int kPartitions = 4;
    MockBrokerProcess broker({{"zombie", kPartitions}});
    auto dir = temp_dir("sluice-zombie");
    // The chain is tests/metrics' gate plugin: it holds a batch while the file `gate` exists.
    const std::string gate = dir.file("gate");
    auto args_for = [&](const std::string &name, const std::string &gate_path) {
        const auto cfg = dir.file(name + ".ini");
        write_text(cfg, "[plugin.gate]\ngate = " + gate_path + "\n");
        auto args = group_host_args(broker.bootstrap_servers(), "zombie", "zombies", cfg, "gate");
        args.insert(args.end(), {"--plugin-dir", GATE_PLUGIN_DIR});
        return args;
    };
    ChildProcess producer =
        start_producer(broker.bootstrap_servers(), "zombie", 60000, 2000, dir.file("producer.err"));
    ChildProcess a(args_for("a", gate), {dir.file("a.err"), true});
    ChildProcess b(args_for("b", dir.file("no-gate")), {dir.file("b.err"), true});
    auto log_a = [&] { return read_file(dir.file("a.err")); };
    auto log_b = [&] { return read_file(dir.file("b.err")); };
    ASSERT_TRUE(wait_until(
        [&] {
            return !owned_partitions(log_a(), "zombie").empty() &&
                   !owned_partitions(log_b(), "zombie").empty() &&
                   count_lines(log_a(), " records, ") > 10 &&
                   count_lines(log_b(), " records, ") > 10;
        },
        60s))
        << log_a() << log_b();
    const std::string host_a = *host_id(log_a()), host_b = *host_id(log_b());

    // a holds a batch in its chain (its plan committed), and is paused there; b takes its
    // partitions once a's session expires, replays a's plan and plans them under its own name.
    write_text(gate, "closed");
    std::this_thread::sleep_for(1s);
    a.send_signal(SIGSTOP);
    const int64_t a_last = last_batch(log_a());
    const size_t a_lines = log_a().size();
    ASSERT_TRUE(wait_until(
        [&] {
            if (owned_partitions(log_b(), "zombie").size() != kPartitions) return false;
            for (const auto &p :
                 kafka_plans(broker.bootstrap_servers(), "zombies", "zombie", kPartitions))
                if (p.host != host_b) return false;
            return true;
        },
        40s))
        << log_b();
    std::printf("zombie: a (%s) paused in its batch %lld; b owns and planned all %d\n",
                host_a.c_str(), static_cast<long long>(a_last + 1), kPartitions);

    // Resumed, a finishes the batch it was in and commits it as done: the broker refuses the
    // commit of its old generation, so no plan of b is overwritten and no committed offset goes
    // back.
    std::vector<int64_t> seen;
    for (const auto &p : kafka_plans(broker.bootstrap_servers(), "zombies", "zombie", kPartitions))
        seen.push_back(p.offset);
    a.send_signal(SIGCONT);
    std::filesystem::remove(gate);
    size_t stale = 0, backwards = 0;
    const auto until = std::chrono::steady_clock::now() + 6s;
    while (std::chrono::steady_clock::now() < until) {
        const auto now = kafka_plans(broker.bootstrap_servers(), "zombies", "zombie", kPartitions);
        for (int p = 0; p < kPartitions; ++p) {
            // a's work of before the pause: batches up to the one it was paused in.
            if (now[p].host == host_a && now[p].batch <= a_last + 1) ++stale;
            if (now[p].offset < seen[p]) ++backwards;
            seen[p] = std::max(seen[p], now[p].offset);
        }
        std::this_thread::sleep_for(100ms);
    }
    const std::string after = log_a().substr(a_lines);
    const size_t refused = count_lines(after, "was not committed");
    const size_t lost = count_lines(after, "(lost: another member owns them now)");
    std::printf(
        "zombie: after SIGCONT a had %zu commits refused, %zu lost revocations; stale "
        "commits seen %zu, offsets gone back %zu\n",
        refused, lost, stale, backwards);
    if (const size_t at = after.find("was not committed"); at != std::string::npos) {
        const size_t begin = after.rfind('\n', at) + 1;
        std::printf("zombie: %s\n", after.substr(begin, after.find('\n', at) - begin).c_str());
    }
    EXPECT_EQ(stale, 0u) << after;
    EXPECT_EQ(backwards, 0u) << after;
    EXPECT_GT(refused, 0u) << after;
    EXPECT_GT(lost, 0u) << after;

    ASSERT_TRUE(exits_cleanly(producer, dir.file("producer.err"), 60s));
    EXPECT_TRUE(stops_cleanly(a, dir.file("a.err")));
    EXPECT_TRUE(stops_cleanly(b, dir.file("b.err")));
}

TEST(GroupDirectMode, ATopicMatchingThePatternThatAppearsWhileRunningIsPickedUp) {
    MockBrokerProcess broker({{"disc-a", 2}});
    auto dir = temp_dir("sluice-discover");
    std::filesystem::create_directories(dir.file("sink"));
    const auto cfg = file_sink_config(dir, "run");
    const std::string log = dir.file("host.err");
    ChildProcess host(
        group_host_args(broker.bootstrap_servers(), "^disc-.*", "discover", cfg, "file-sink"),
        {log, true});
    ASSERT_TRUE(
        wait_until([&] { return owned_partitions(read_file(log), "disc-a").size() == 2; }, 40s))
        << read_file(log);
    // The mock creates a topic on first use, with 4 partitions.
    produce_numbered(broker.bootstrap_servers(), "disc-b", 4, 0, 50);
    EXPECT_TRUE(wait_until(
        [&] {
            return owned_partitions(read_file(log), "disc-b").size() == 4 &&
                   read_partition_files(dir.file("sink"), "disc-b", 4).size() == 200;
        },
        40s))
        << read_file(log);
    ASSERT_TRUE(stops_cleanly(host, log));
    EXPECT_TRUE(exactly_once(read_partition_files(dir.file("sink"), "disc-b", 4),
                             consume_all(broker.bootstrap_servers(), "disc-b")));
}

TEST(GroupDirectMode, AGracefulLeaveHandsItsPartitionsOverDoneSoNothingIsReplayed) {
    constexpr int kPartitions = 4;
    MockBrokerProcess broker({{"leave", kPartitions}});
    auto dir = temp_dir("sluice-leave");
    std::filesystem::create_directories(dir.file("sink"));
    const auto cfg = file_sink_config(dir, "run");
    const auto args =
        group_host_args(broker.bootstrap_servers(), "leave", "leavers", cfg, "file-sink");
    ChildProcess producer =
        start_producer(broker.bootstrap_servers(), "leave", 16000, 2000, dir.file("producer.err"));
    ChildProcess a(args, {dir.file("a.err"), true});
    ChildProcess b(args, {dir.file("b.err"), true});
    auto log_a = [&] { return read_file(dir.file("a.err")); };
    auto log_b = [&] { return read_file(dir.file("b.err")); };
    ASSERT_TRUE(wait_until(
        [&] {
            return !owned_partitions(log_a(), "leave").empty() &&
                   !owned_partitions(log_b(), "leave").empty() &&
                   count_lines(log_a(), " records, ") > 10;
        },
        60s))
        << log_a() << log_b();
    const std::string host_a = *host_id(log_a());
    const std::set<int> a_owned = owned_partitions(log_a(), "leave");

    // SIGTERM in the middle of the load: a finishes its batch, marks it done and leaves.
    ASSERT_TRUE(stops_cleanly(a, dir.file("a.err")));
    for (const auto &p : kafka_plans(broker.bootstrap_servers(), "leavers", "leave", kPartitions)) {
        if (p.host == host_a) {
            EXPECT_EQ(p.kind, "done") << "a left a plan behind";
        }
    }
    ASSERT_TRUE(
        wait_until([&] { return owned_partitions(log_b(), "leave").size() == kPartitions; }, 30s))
        << log_b();
    // b starts each of a's partitions where a's done mark says, replaying nothing.
    for (const int p : a_owned)
        EXPECT_NE(log_b().find("start leave:" + std::to_string(p) + " at offset"),
                  std::string::npos)
            << log_b();
    EXPECT_EQ(count_lines(log_b(), "and not done: replaying it"), 0u) << log_b();
    std::printf("leave: a handed %zu partitions over, b replayed nothing\n", a_owned.size());

    ASSERT_TRUE(exits_cleanly(producer, dir.file("producer.err"), 60s));
    const auto expected = consume_all(broker.bootstrap_servers(), "leave");
    EXPECT_TRUE(wait_until(
        [&] {
            return read_partition_files(dir.file("sink"), "leave", kPartitions).size() >=
                   expected.size();
        },
        60s));
    ASSERT_TRUE(stops_cleanly(b, dir.file("b.err")));
    EXPECT_TRUE(
        exactly_once(read_partition_files(dir.file("sink"), "leave", kPartitions), expected));
}

// A host that gives partitions up to a new member stops reporting them: its /status lists
// only what it owns (their lag is the new owner's to report, not a number frozen here).
TEST(GroupDirectMode, AHostThatGivesPartitionsUpStopsReportingThem) {
    constexpr int kPartitions = 4;
    MockBrokerProcess broker({{"shown", kPartitions}});
    auto dir = temp_dir("sluice-shown");
    std::filesystem::create_directories(dir.file("sink"));
    const auto cfg = file_sink_config(dir, "run");
    auto args = group_host_args(broker.bootstrap_servers(), "shown", "shown", cfg, "file-sink");
    produce_numbered(broker.bootstrap_servers(), "shown", kPartitions, 0, 50);
    auto first_args = args;
    first_args.insert(first_args.end(), {"--metrics-address", "127.0.0.1:0"});
    const std::string log_a = dir.file("a.err"), log_b = dir.file("b.err");
    ChildProcess a(first_args, {log_a, true});
    const auto reported = [&] {
        std::set<int> out;
        const int port = logged_metrics_port(log_a);
        const auto response = port ? http_get("127.0.0.1", port, "/status") : std::nullopt;
        if (!response) return out;
        const auto j = nlohmann::json::parse(response->body, nullptr, false);
        if (j.is_discarded() || !j.contains("partitions")) return out;
        for (const auto &p : j["partitions"])
            if (p["topic"] == "shown") out.insert(p["partition"].get<int>());
        return out;
    };
    const std::set<int> all{0, 1, 2, 3};
    ASSERT_TRUE(wait_until([&] { return reported() == all; }, 40s)) << read_file(log_a);

    ChildProcess b(args, {log_b, true});
    ASSERT_TRUE(wait_until(
        [&] {
            const auto owned = owned_partitions(read_file(log_a), "shown");
            return !owned_partitions(read_file(log_b), "shown").empty() && owned.size() < 4 &&
                   reported() == owned;
        },
        40s))
        << "a reports " << reported().size() << " partitions\n"
        << read_file(log_a) << read_file(log_b);
    std::printf("shown: a owns and reports %zu of %d partitions after b joined\n",
                owned_partitions(read_file(log_a), "shown").size(), kPartitions);
    EXPECT_TRUE(stops_cleanly(b, log_b));
    EXPECT_TRUE(stops_cleanly(a, log_a));
}
