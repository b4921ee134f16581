// Broker faults injected through `sluice mock-broker`'s fault commands (its stdin), against a
// running `sluice run`: direct mode with file-sink must keep every record exactly once, receiver
// mode with the WAL must lose none, through one walk of faults against ONE broker (three mock
// brokers) and ONE host per mode: all brokers down 10 s, a burst of Fetch errors, OffsetCommit
// errors, a leader move of every partition, 200 ms RTT. The tally is checked after each fault;
// how long the host took to write new records after a fault ended is printed, not asserted.
// Then the dead-letter producer under Produce errors, and a receiver's graceful stop while its
// commits are refused. docs/reliability.md, "Broker faults".

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "e2e_helpers.hpp"
#include "host_run.hpp"
#include "mock_broker_process.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

using namespace sluice::test;
using namespace std::chrono_literals;

namespace {

constexpr int kBrokers = 3;
constexpr int kPartitions = 4;
const std::string kTopic = "faults";
// consume_all reads the whole topic after each fault: up to ~150,000 records, slow under ASan
// and TSan (hence the producer's 200 ms batches: the mock serves a producer batch a fetch).
constexpr std::chrono::seconds kReadTimeout{120};

MockBrokerProcess::Options broker_options(const std::string &stderr_path,
                                          std::vector<MockTopic> topics, int brokers) {
    MockBrokerProcess::Options o;
    o.brokers = brokers;
    o.topics = std::move(topics);
    o.stderr_path = stderr_path;
    o.fault_commands = true;
    o.log_level = "info";  // the end-of-input line is at info
    return o;
}

/// The leader of each partition of topic (index = partition), from a metadata request.
std::vector<int32_t> leaders(const std::string &bootstrap, const std::string &topic) {
    auto rk = detail::make_consumer(bootstrap);
    const rd_kafka_metadata_t *md = nullptr;
    const auto err = rd_kafka_metadata(rk.get(), 1, nullptr, &md, 10000);
    if (err) throw std::runtime_error(std::string("metadata: ") + rd_kafka_err2str(err));
    std::vector<int32_t> out;
    for (int t = 0; t < md->topic_cnt; ++t) {
        if (topic != md->topics[t].topic) continue;
        out.resize(static_cast<size_t>(md->topics[t].partition_cnt), -1);
        for (int p = 0; p < md->topics[t].partition_cnt; ++p)
            out[static_cast<size_t>(md->topics[t].partitions[p].id)] =
                md->topics[t].partitions[p].leader;
    }
    rd_kafka_metadata_destroy(md);
    return out;
}

std::uintmax_t size_of(const std::string &path) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(path, ec);
    return ec ? 0 : n;
}

/// One fault of the walk: inject, hold, recover (the fault's end). A fault without a hold
/// (a burst of errors, a leader move) has no end the test sees: the broker serves a burst at
/// the pace of the clients' requests, so its resume time counts from the injection.
struct Fault {
    std::string name;
    std::function<void()> inject;
    std::chrono::milliseconds hold{0};
    std::function<void()> recover = [] {};
};

/// The walk both modes take, on a broker and a host that already run, with a producer
/// writing to kTopic throughout. After each fault: the time from its end (or injection) to the
/// sink's next growth (printed), then every record in the topic so far must reach the sink (missing
/// 0); duplicates are counted, and must be 0 when `exactly_once` (direct mode).
void walk_faults(MockBrokerProcess &broker, const std::string &broker_log, ChildProcess &host,
                 const std::string &host_log, const std::string &sink, bool exactly_once,
                 const char *mode) {
    const auto ok = [&](const std::string &command) {
        std::string ack;
        try {
            ack = broker.fault(command);
        } catch (const std::exception &e) {
            const auto status = broker.process().wait(0ms);
            FAIL() << e.what() << "; the broker "
                   << (status ? status->describe() : std::string("still runs")) << "\n"
                   << read_file(broker_log);
        }
        ASSERT_EQ(ack, "fault ok: " + command) << ack;
    };
    std::vector<Fault> faults;
    faults.push_back(
        {"all brokers down 10 s", [&] { ok("broker-down -1"); }, 10s, [&] { ok("broker-up -1"); }});
    faults.push_back({"a burst of Fetch errors",
                      [&] {
                          ok("request-errors Fetch 30 NOT_LEADER_FOR_PARTITION");
                          ok("request-errors Fetch 5 _TRANSPORT");
                      },
                      0ms});
    faults.push_back({"OffsetCommit errors",
                      [&] { ok("request-errors OffsetCommit 10 NOT_COORDINATOR"); }, 0ms});
    faults.push_back({"a leader move of every partition",
                      [&] {
                          const auto now = leaders(broker.bootstrap_servers(), kTopic);
                          ASSERT_EQ(now.size(), static_cast<size_t>(kPartitions));
                          for (int p = 0; p < kPartitions; ++p)
                              ok("leader " + kTopic + " " + std::to_string(p) + " " +
                                 std::to_string(now[static_cast<size_t>(p)] % kBrokers + 1));
                          const auto moved = leaders(broker.bootstrap_servers(), kTopic);
                          for (int p = 0; p < kPartitions; ++p)
                              EXPECT_NE(moved[static_cast<size_t>(p)], now[static_cast<size_t>(p)])
                                  << "partition " << p;
                      },
                      0ms});
    faults.push_back({"200 ms RTT", [&] { ok("rtt -1 200"); }, 6s, [&] { ok("rtt -1 0"); }});

    for (const Fault &fault : faults) {
        SCOPED_TRACE(fault.name);
        ASSERT_NO_FATAL_FAILURE(fault.inject());
        std::this_thread::sleep_for(fault.hold);
        ASSERT_NO_FATAL_FAILURE(fault.recover());
        const auto ended = std::chrono::steady_clock::now();
        const auto before = size_of(sink);
        // A fresh client's records (it connects at once, where the running producer may still
        // wait out its reconnect backoff): the host has something new to read. On its own
        // thread, so that the sink is watched meanwhile.
        std::string marker_error;
        std::thread marker([&] {
            try {
                produce_numbered(broker.bootstrap_servers(), kTopic, kPartitions, 0, 1);
            } catch (const std::exception &e) {
                marker_error = e.what();
            }
        });
        const bool grew = wait_until([&] { return size_of(sink) > before; }, 60s);
        const auto resumed = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - ended);
        marker.join();
        ASSERT_EQ(marker_error, "");
        ASSERT_TRUE(grew) << "no new record in the sink within 60 s of the fault's end\n"
                          << read_file(host_log);
        ASSERT_TRUE(host.running()) << read_file(host_log);

        const auto expected =
            consume_all(broker.bootstrap_servers(), kTopic, std::nullopt, kReadTimeout);
        Tally t;
        const bool caught_up = wait_until(
            [&] {
                t = tally(read_sink(sink), expected);
                if (t.missing == 0) return true;
                std::this_thread::sleep_for(500ms);
                return false;
            },
            90s);
        std::printf(
            "broker faults, %s mode, %s: new records %lld ms after the fault %s; "
            "%zu records so far: %zu missing, %zu duplicated\n",
            mode, fault.name.c_str(), static_cast<long long>(resumed.count()),
            fault.hold.count() > 0 ? "ended" : "was injected", expected.size(), t.missing,
            t.duplicated);
        std::fflush(stdout);
        EXPECT_TRUE(caught_up) << t.missing << " of " << expected.size() << " missing\n"
                               << read_file(host_log);
        EXPECT_EQ(t.wrong_value, 0u);
        if (exactly_once) {
            EXPECT_EQ(t.duplicated, 0u);
        }
        if (::testing::Test::HasFatalFailure()) return;
    }
}

/// After the walk: the producer stops, the host catches up and stops cleanly.
void finish(MockBrokerProcess &broker, ChildProcess &producer, ChildProcess &host,
            const std::string &host_log, const std::string &sink, bool once) {
    producer.send_signal(SIGKILL);
    producer.wait(10s);
    const auto expected =
        consume_all(broker.bootstrap_servers(), kTopic, std::nullopt, kReadTimeout);
    EXPECT_TRUE(wait_until(
        [&] {
            if (tally(read_sink(sink), expected).missing == 0) return true;
            std::this_thread::sleep_for(500ms);
            return false;
        },
        60s))
        << read_file(host_log);
    ASSERT_TRUE(stops_cleanly(host, host_log));
    const Tally t = tally(read_sink(sink), expected);
    std::printf("broker faults, end: %zu records: %zu missing, %zu duplicated\n", expected.size(),
                t.missing, t.duplicated);
    EXPECT_EQ(t.missing, 0u);
    EXPECT_EQ(t.wrong_value, 0u);
    if (once) {
        EXPECT_TRUE(exactly_once(read_sink(sink), expected));
    }
}

}  // namespace

TEST(FaultCommands, EachLineIsAcknowledgedAndEndOfInputKeepsServing) {
    auto dir = temp_dir("sluice-faultcmd");
    MockBrokerProcess broker(broker_options(dir.file("broker.err"), {{"cmd", 2}}, 2));
    EXPECT_EQ(broker.fault("broker-down 2"), "fault ok: broker-down 2");
    EXPECT_EQ(broker.fault("broker-up 2"), "fault ok: broker-up 2");
    EXPECT_EQ(broker.fault("request-errors fetch 3 not_leader_for_partition"),
              "fault ok: request-errors Fetch 3 NOT_LEADER_FOR_PARTITION");
    EXPECT_EQ(broker.fault("request-errors OffsetCommit 2 16"),
              "fault ok: request-errors OffsetCommit 2 NOT_COORDINATOR");
    EXPECT_EQ(broker.fault("leader cmd 1 1"), "fault ok: leader cmd 1 1");
    EXPECT_EQ(leaders(broker.bootstrap_servers(), "cmd").at(1), 1);
    EXPECT_EQ(broker.fault("rtt 1 0"), "fault ok: rtt 1 0");
    const std::string syntax =
        "use broker-down ID | broker-up ID | request-errors API COUNT ERROR | leader TOPIC "
        "PARTITION ID | rtt ID MS";
    EXPECT_EQ(broker.fault("broker-down 3"),
              "fault error: 'broker-down 3': there is no broker 3: the brokers are 1 to 2 (-1: "
              "all); " +
                  syntax);
    EXPECT_EQ(broker.fault("request-errors Fetsh 1 _TRANSPORT"),
              "fault error: 'request-errors Fetsh 1 _TRANSPORT': API 'Fetsh' is not one of "
              "Produce, Fetch, ListOffsets, Metadata, OffsetCommit, OffsetFetch, "
              "FindCoordinator, JoinGroup, Heartbeat, LeaveGroup, SyncGroup, ApiVersions, "
              "InitProducerId; " +
                  syntax);
    EXPECT_NE(broker.fault("request-errors Fetch 1 NO_SUCH_ERROR")
                  .find("error 'NO_SUCH_ERROR' is not a librdkafka error name"),
              std::string::npos);
    EXPECT_NE(broker.fault("leader other 0 1").find("topic 'other' was not created with --topic"),
              std::string::npos);
    EXPECT_NE(broker.fault("leader cmd 2 1").find("topic 'cmd' has partitions 0 to 1"),
              std::string::npos);
    EXPECT_NE(broker.fault("rtt 1").find("'rtt' takes 2 argument(s): rtt ID MS"),
              std::string::npos);
    EXPECT_NE(broker.fault("brokerdown 1").find("unknown command 'brokerdown'"), std::string::npos);
    // End of input leaves the broker serving.
    broker.close_stdin();
    ASSERT_TRUE(wait_until(
        [&] {
            return read_file(dir.file("broker.err")).find("end of standard input") !=
                   std::string::npos;
        },
        10s))
        << read_file(dir.file("broker.err"));
    EXPECT_TRUE(broker.process().running());
    EXPECT_EQ(partition_count(broker.bootstrap_servers(), "cmd"), 2);
    EXPECT_EQ(broker.stop().code, 0) << read_file(dir.file("broker.err"));
}

TEST(BrokerFaults, DirectModeKeepsEveryRecordExactlyOnce) {
    auto dir = temp_dir("sluice-faults-direct");
    MockBrokerProcess broker(
        broker_options(dir.file("broker.err"), {{kTopic, kPartitions}}, kBrokers));
    const auto sink = dir.file("sink.jsonl"), cfg = dir.file("run.ini"), log = dir.file("host.err");
    write_text(cfg, "[plugin.file-sink]\npath = " + sink + "\n");
    auto producer = start_producer(broker.bootstrap_servers(), kTopic, 200000, 1000,
                                   dir.file("producer.err"), kBatchedProducer);
    auto args =
        kill9_direct_args(broker.bootstrap_servers(), kTopic, cfg, "file-sink", dir.file("ckpt"));
    args.insert(args.end(), {"--group", "faults-direct"});
    ChildProcess host(sluice_argv(args), {log, true});
    ASSERT_TRUE(wait_until([&] { return read_sink(sink).size() >= 1000; }, 60s)) << read_file(log);
    walk_faults(broker, dir.file("broker.err"), host, log, sink, true, "direct");
    if (HasFatalFailure()) return;
    finish(broker, producer, host, log, sink, true);
}

TEST(BrokerFaults, ReceiverModeWithTheWalLosesNothing) {
    auto dir = temp_dir("sluice-faults-receiver");
    MockBrokerProcess broker(
        broker_options(dir.file("broker.err"), {{kTopic, kPartitions}}, kBrokers));
    const auto sink = dir.file("sink.jsonl"), cfg = dir.file("run.ini"), log = dir.file("host.err");
    write_text(cfg, "[plugin.file-sink]\npath = " + sink + "\n");
    auto producer = start_producer(broker.bootstrap_servers(), kTopic, 200000, 1000,
                                   dir.file("producer.err"), kBatchedProducer);
    ReceiverArgs run{.brokers = broker.bootstrap_servers(),
                     .topics = kTopic + ":2",
                     .group = "faults-receiver",
                     .plugins = {"file-sink"},
                     .config = cfg,
                     .wal_dir = dir.file("wal")};
    ChildProcess host(sluice_argv(run.args()), {log, true});
    ASSERT_TRUE(wait_until([&] { return read_sink(sink).size() >= 1000; }, 60s)) << read_file(log);
    walk_faults(broker, dir.file("broker.err"), host, log, sink, false, "receiver");
    if (HasFatalFailure()) return;
    finish(broker, producer, host, log, sink, false);
}

// on-error = dead-letter while the broker fails Produce requests: the dead-letter producer
// retries (idempotent, acks=all) and the batch is committed only once every dead letter is
// acknowledged; each is written once.
TEST(BrokerFaults, DeadLetterKeepsTheBatchUncommittedUntilItsRecordsAreAcked) {
    constexpr int kRecords = 5;
    auto dir = temp_dir("sluice-faults-dlq");
    MockBrokerProcess broker(
        broker_options(dir.file("broker.err"), {{"dl_in", 1}, {"dl_out", 1}}, 1));
    produce_numbered(broker.bootstrap_servers(), "dl_in", 1, 0, kRecords);
    ASSERT_EQ(broker.fault("request-errors Produce 25 NOT_LEADER_FOR_PARTITION"),
              "fault ok: request-errors Produce 25 NOT_LEADER_FOR_PARTITION");
    const auto cfg = dir.file("run.ini"), log = dir.file("host.err");
    write_text(cfg, "log-level = info\n[plugin.file-sink]\npath = " + dir.file("sink.jsonl") +
                        "\n[plugin.flaky]\nfail = skip\non-error = dead-letter\n"
                        "dead-letter-topic = dl_out\n");
    ChildProcess host(sluice_argv({"run",
                                   "--config",
                                   cfg,
                                   "--brokers",
                                   broker.bootstrap_servers(),
                                   "--topics",
                                   "dl_in",
                                   "--group",
                                   "faults-dlq",
                                   "--checkpoint",
                                   dir.file("ckpt"),
                                   "--auto-offset-reset",
                                   "earliest",
                                   "--plugin-dir",
                                   FLAKY_PLUGIN_DIR,
                                   "--plugin-dir",
                                   SLUICE_PLUGIN_OUTPUT_DIR,
                                   "--plugin",
                                   "flaky",
                                   "--plugin",
                                   "file-sink",
                                   "--hot-reload",
                                   "false",
                                   "--batch-interval",
                                   "100ms",
                                   "--max-batches",
                                   "1",
                                   "-X",
                                   "fetch.wait.max.ms=10"}),
                      {log, true});
    // Whenever the batch's commit is visible, every dead letter is already in dl_out (the
    // commit is read first, so a commit made after the check cannot pass unseen).
    int uncommitted_checks = 0, committed_checks = 0;
    const auto started = std::chrono::steady_clock::now();
    auto committed_at = started;
    while (host.running()) {
        const int64_t committed =
            committed_offsets(broker.bootstrap_servers(), "faults-dlq", "dl_in", 1).at(0);
        const int64_t dead = watermarks(broker.bootstrap_servers(), "dl_out").at(0).high;
        if (committed >= 0) {
            if (committed_checks++ == 0) committed_at = std::chrono::steady_clock::now();
            EXPECT_EQ(committed, kRecords);
            EXPECT_EQ(dead, kRecords) << "the batch was committed before its dead letters";
        } else {
            ++uncommitted_checks;
        }
        std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(exits_cleanly(host, log, 10s));
    const std::string text = read_file(log);
    EXPECT_NE(text.find("dead-lettered its 5 records to 'dl_out'"), std::string::npos) << text;
    EXPECT_EQ(committed_offsets(broker.bootstrap_servers(), "faults-dlq", "dl_in", 1).at(0),
              kRecords);
    const auto dead = consume_all(broker.bootstrap_servers(), "dl_out");
    EXPECT_EQ(dead.size(), static_cast<size_t>(kRecords)) << "each dead letter once";
    std::printf(
        "broker faults, dead letters under 25 Produce errors: %d checks saw the batch "
        "uncommitted, %d committed (first %lld ms after the start)\n",
        uncommitted_checks, committed_checks,
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(committed_at - started).count()));
}

// A graceful stop while the group refuses commits (the mock answers the next 80 OffsetCommits
// with REBALANCE_IN_PROGRESS, as while a rebalance runs): the consumer thread keeps serving the
// group and retrying, so the offsets of what it processed are committed before it leaves.
// Before, it gave up after 2 s at the stop and 2 s in the revoke (about 40 tries) and a restart
// read the whole run again.
TEST(BrokerFaults, ReceiverStopLandsItsLastCommitThroughRefusals) {
    constexpr int kRecords = 400;
    auto dir = temp_dir("sluice-faults-stop");
    MockBrokerProcess broker(broker_options(dir.file("broker.err"), {{"rstop", 2}}, 1));
    const auto sink = dir.file("sink.jsonl"), cfg = dir.file("run.ini"), log = dir.file("host.err");
    write_text(cfg, "[plugin.file-sink]\npath = " + sink + "\n");
    ReceiverArgs run{.brokers = broker.bootstrap_servers(),
                     .topics = "rstop",
                     .group = "faults-stop",
                     .plugins = {"file-sink"},
                     .config = cfg,
                     .wal_dir = dir.file("wal")};
    ChildProcess host(sluice_argv(run.args()), {log, true});
    ASSERT_TRUE(
        wait_until([&] { return read_file(log).find("assigned rstop") != std::string::npos; }, 60s))
        << read_file(log);
    ASSERT_EQ(broker.fault("request-errors OffsetCommit 80 REBALANCE_IN_PROGRESS"),
              "fault ok: request-errors OffsetCommit 80 REBALANCE_IN_PROGRESS");
    produce_numbered(broker.bootstrap_servers(), "rstop", 2, 0, kRecords / 2);
    ASSERT_TRUE(wait_until([&] { return read_sink(sink).size() >= kRecords; }, 60s))
        << read_file(log);
    const auto stop_at = std::chrono::steady_clock::now();
    const auto status = stop_gracefully(host, 60s);
    ASSERT_TRUE(status) << read_file(log);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - stop_at);
    const std::string text = read_file(log);
    EXPECT_EQ(status->code, 0) << text;
    EXPECT_EQ(text.find("did not land before the stop"), std::string::npos) << text;
    const auto committed = committed_offsets(broker.bootstrap_servers(), "faults-stop", "rstop", 2);
    for (int p = 0; p < 2; ++p)
        EXPECT_EQ(committed[p], kRecords / 2) << "rstop/" << p << "\n" << text;
    std::printf(
        "broker faults, stop under 80 refused commits: stopped in %lld ms, committed %lld, %lld\n",
        static_cast<long long>(took.count()), static_cast<long long>(committed[0]),
        static_cast<long long>(committed[1]));
}
