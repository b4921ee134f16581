// Scale-out: two `sluice run --mode receiver` processes in one consumer group split the
// partitions; kill -9 of one moves its partitions to the other; restarted on its own WAL it
// replays what it had stored, so with the WAL on nothing is lost.

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "mock_broker_process.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

namespace {

size_t owned_now(const std::string &log) {
    size_t n = 0;
    for (const auto &[thread, set] : read_ownership(log).now) n += set.size();
    return n;
}

}  // namespace

TEST(ScaleOutReceiver, TwoProcessesSplitThePartitionsAndAKilledOnesMoveWithoutLoss) {
    constexpr int kRecords = 24000;
    MockBrokerProcess broker({{"rscale", 4}});
    auto dir = temp_dir("sluice-scale");
    auto args_for = [&](const std::string &name) {
        const auto cfg = dir.file(name + ".ini");
        write_text(cfg, "[plugin.file-sink]\npath = " + dir.file(name + ".jsonl") +
                            "\n[plugin.print-offsets]\noutput = " + dir.file(name + ".ranges") +
                            "\n");
        ReceiverArgs run{.brokers = broker.bootstrap_servers(),
                         .topics = "rscale",
                         .group = "scale",
                         .plugins = {"print-offsets", "file-sink"},
                         .config = cfg,
                         .wal_dir = dir.file(name + "-wal")};
        run.session_timeout_ms = 3000;  // the mock keeps a killed member until it expires
        run.heartbeat_interval_ms = 500;
        return sluice_argv(run.args());
    };

    auto producer = start_producer(broker.bootstrap_servers(), "rscale", kRecords, 1000,
                                   dir.file("producer.err"), kBatchedProducer);

    // One member first: the mock holds the first join of an empty group for 3 s and expires
    // members whose JoinGroup waits longer than their session, never answering it.
    auto a = std::make_unique<ChildProcess>(args_for("a"),
                                            ChildProcess::Options{dir.file("a.err"), true});
    ASSERT_TRUE(wait_until([&] { return owned_now(read_file(dir.file("a.err"))) > 0; }, 60s))
        << read_file(dir.file("a.err"));
    auto b = std::make_unique<ChildProcess>(args_for("b"),
                                            ChildProcess::Options{dir.file("b.err"), true});
    // Both members hold partitions at the same time: the group split them.
    ASSERT_TRUE(wait_until(
        [&] {
            return owned_now(read_file(dir.file("a.err"))) > 0 &&
                   owned_now(read_file(dir.file("b.err"))) > 0;
        },
        60s))
        << read_file(dir.file("a.err")) << read_file(dir.file("b.err"));
    const size_t a_before = owned_now(read_file(dir.file("a.err")));
    const size_t b_before = owned_now(read_file(dir.file("b.err")));
    std::printf("scale-out: a owns %zu, b owns %zu partitions\n", a_before, b_before);
    EXPECT_EQ(a_before + b_before, 4u);
    // Let b process (and store) something before it dies.
    ASSERT_TRUE(wait_until([&] { return !read_sink(dir.file("b.jsonl")).empty(); }, 30s));
    std::this_thread::sleep_for(1s);

    b->send_signal(SIGKILL);
    ASSERT_TRUE(b->wait(10s));
    b.reset();
    // Its partitions move to a once the group notices (session timeout).
    ASSERT_TRUE(wait_until([&] { return owned_now(read_file(dir.file("a.err"))) == 4; }, 60s))
        << read_file(dir.file("a.err"));
    std::printf("scale-out: after kill -9 of b, a owns 4 partitions\n");

    // b comes back on its own WAL: what it had stored but not processed is replayed, then it
    // rejoins the group.
    b = std::make_unique<ChildProcess>(args_for("b"),
                                       ChildProcess::Options{dir.file("b2.err"), true});
    ASSERT_TRUE(exits_cleanly(producer, dir.file("producer.err"), 120s));
    const auto expected = consume_all(broker.bootstrap_servers(), "rscale");
    ASSERT_EQ(expected.size(), static_cast<size_t>(kRecords));
    auto union_of_sinks = [&] {
        auto all = read_sink(dir.file("a.jsonl"));
        const auto more = read_sink(dir.file("b.jsonl"));
        all.insert(all.end(), more.begin(), more.end());
        return all;
    };
    ASSERT_TRUE(wait_until([&] { return tally(union_of_sinks(), expected).missing == 0; }, 90s))
        << read_file(dir.file("a.err")) << read_file(dir.file("b2.err"));
    a->send_signal(SIGTERM);
    b->send_signal(SIGTERM);
    auto sa = a->wait(30s), sb = b->wait(30s);
    ASSERT_TRUE(sa && sb);
    EXPECT_EQ(sa->code, 0) << read_file(dir.file("a.err"));
    EXPECT_EQ(sb->code, 0) << read_file(dir.file("b2.err"));

    const Tally t = tally(union_of_sinks(), expected);
    std::printf(
        "scale-out: produced %zu, written %zu (a %zu, b %zu), missing %zu, duplicated %zu\n",
        expected.size(), union_of_sinks().size(), read_sink(dir.file("a.jsonl")).size(),
        read_sink(dir.file("b.jsonl")).size(), t.missing, t.duplicated);
    EXPECT_EQ(t.missing, 0u);
    EXPECT_EQ(t.wrong_value, 0u);
}
