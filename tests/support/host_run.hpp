#pragma once
// Steps the end-to-end and robustness tests take with a `sluice run` child: stop it cleanly,
// kill it with SIGKILL at a chosen moment, run it until a condition holds and stop it, run it
// with I/O faults injected until it stops, check that what it wrote holds each record once.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "e2e_helpers.hpp"
#include "iofault_env.hpp"
#include "receiver_helpers.hpp"
#include "sluice_command.hpp"

namespace sluice::test {

/// Success when the child ends by itself within timeout with exit code 0; a failure says how
/// it ended and shows the log at log_path.
/// Use: ASSERT_TRUE(exits_cleanly(producer, log, 120s)).
inline ::testing::AssertionResult exits_cleanly(ChildProcess &child, const std::string &log_path,
                                                std::chrono::milliseconds timeout) {
    const auto status = child.wait(timeout);
    if (!status)
        return ::testing::AssertionFailure() << "still running after " << timeout.count() << " ms\n"
                                             << read_file(log_path);
    if (status->code != 0)
        return ::testing::AssertionFailure() << status->describe() << "\n" << read_file(log_path);
    return ::testing::AssertionSuccess();
}

/// One SIGTERM, then exits_cleanly(): the host exited with code 0 within timeout. The signal
/// waits (up to 10 s) for the host's first log line: a process still in exec has not yet
/// blocked its stop signals, and a SIGTERM then kills it, which is not what a test of a
/// graceful stop means to check. Use: ASSERT_TRUE(stops_cleanly(host, log)).
inline ::testing::AssertionResult stops_cleanly(
    ChildProcess &host, const std::string &log_path,
    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    wait_until([&] { return !read_file(log_path).empty() || !host.running(); },
               std::chrono::seconds(10));
    host.send_signal(SIGTERM);
    return exits_cleanly(host, log_path, timeout);
}

/// start_producer settings for the crash and failover tests: 200 ms producer batches. The mock
/// returns one producer batch per partition per fetch, and at these tests' rates (hundreds to a
/// few thousand records/s) librdkafka's 5 ms linger makes batches of one to a few records, so a
/// host catching up after a crash, and the tests' independent reader, would need a fetch per
/// record or two (under 1,000 records/s on a loaded machine: a final run of the 10-kill
/// receiver test once did not catch up in 120 s in CI).
inline const std::vector<std::string> kBatchedProducer = {"linger.ms=200"};

/// `sluice produce` of `count` records (8-byte keys) to topic at `rate` records/s, as a child
/// with its stderr in stderr_path (check its end with exits_cleanly()).
/// `settings`: librdkafka producer settings passed as `-X KEY=VALUE` (e.g. "linger.ms=200").
inline ChildProcess start_producer(const std::string &bootstrap, const std::string &topic,
                                   int count, int rate, const std::string &stderr_path,
                                   const std::vector<std::string> &settings = {}) {
    // clang-format off
    std::vector<std::string> args = {"produce", "--brokers", bootstrap, "--topic", topic,
                                     "--count", std::to_string(count),
                                     "--rate", std::to_string(rate), "--key-size", "8"};
    // clang-format on
    for (const auto &kv : settings) {
        args.emplace_back("-X");
        args.push_back(kv);
    }
    return ChildProcess(sluice_argv(args), {stderr_path, true});
}

/// The direct-mode command line of the kill -9 tests: `plugin` (configured by `config`) on
/// `topic` from its start, with a checkpoint, 100 ms batches of at most 700 records, and the
/// mock-cluster fetch wait of DESIGN.md.
inline std::vector<std::string> kill9_direct_args(const std::string &bootstrap,
                                                  const std::string &topic,
                                                  const std::string &config,
                                                  const std::string &plugin,
                                                  const std::string &checkpoint) {
    // clang-format off
    return {"run", "--brokers", bootstrap, "--topics", topic, "--config", config,
            "--plugin", plugin, "--checkpoint", checkpoint, "--auto-offset-reset", "earliest",
            "--batch-interval", "100ms", "--max-batch-records", "700",
            "-X", "fetch.wait.max.ms=10"};
    // clang-format on
}

/// One cycle of a kill -9 test: what became of a host started and killed with SIGKILL.
struct KilledRun {
    bool was_running = false;  // still running when the SIGKILL was due
    std::optional<ExitStatus> status;
    std::string log;  // its stderr

    /// The SIGKILL ended it (it had not exited by itself).
    bool killed() const { return was_running && status && status->signal == SIGKILL; }
    std::string describe() const {
        return (status ? status->describe() : std::string("still running after SIGKILL")) + "\n" +
               log;
    }
};

/// Starts `argv` with its stderr to log_path, lets it run for `life`, then kills it with
/// SIGKILL (when it is still running) and reaps it.
inline KilledRun run_then_kill9(const std::vector<std::string> &argv, const std::string &log_path,
                                std::chrono::milliseconds life) {
    KilledRun run;
    ChildProcess host(argv, {log_path, true});
    std::this_thread::sleep_for(life);
    run.was_running = host.running();
    if (run.was_running) host.send_signal(SIGKILL);
    run.status = host.wait(std::chrono::seconds(10));
    run.log = read_file(log_path);
    return run;
}

/// The seed of a randomized crash test: SLUICE_TEST_SEED (a whole number) when set, to run again
/// the kill moments of a failed run (the tests print their seed), else a random one.
inline unsigned test_seed() {
    if (const char *v = std::getenv("SLUICE_TEST_SEED"); v != nullptr && *v != '\0')
        return static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    return std::random_device{}();
}

/// How many kill -9 cycles a crash test runs: `in_ci`, unless SLUICE_SOAK_CYCLES (a whole
/// number above 0) says otherwise, as scripts/soak.sh does. The tests scale their load with it.
inline int soak_cycles(int in_ci) {
    const char *v = std::getenv("SLUICE_SOAK_CYCLES");
    const int n = v != nullptr ? std::atoi(v) : 0;
    return n > 0 ? n : in_ci;
}

/// Starts `argv` (stderr to log_path, `env` over the test's), waits until `done` holds, then
/// stops it cleanly (stops_cleanly). A failure names which step failed and shows the log.
/// Use: ASSERT_TRUE(run_until(args, log, [&] { ... }, 60s)).
inline ::testing::AssertionResult run_until(const std::vector<std::string> &argv,
                                            const std::string &log_path,
                                            const std::function<bool()> &done,
                                            std::chrono::milliseconds timeout,
                                            std::vector<std::string> env = {}) {
    ChildProcess host(argv, {log_path, true, std::move(env)});
    if (!wait_until(done, timeout))
        return ::testing::AssertionFailure() << "not done within " << timeout.count() << " ms\n"
                                             << read_file(log_path);
    return stops_cleanly(host, log_path);
}

/// Starts `argv` (stderr to log_path) with the I/O faults `rules` injected (iofault_env: each
/// fault fired is a line in fired_path) and waits for it to stop by itself. nullopt: still
/// running after timeout (it is then killed).
inline std::optional<ExitStatus> run_until_stopped_by_fault(
    const std::vector<std::string> &argv, const std::string &rules, const std::string &log_path,
    const std::string &fired_path, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    ChildProcess host(argv, {log_path, true, iofault_env(rules, fired_path)});
    return host.wait(timeout);
}

/// Every record of `expected` is in `written` exactly once and with its value (tally()).
/// Use: EXPECT_TRUE(exactly_once(read_sink(sink), consume_all(bootstrap, topic))).
inline ::testing::AssertionResult exactly_once(const std::vector<ConsumedRecord> &written,
                                               const std::vector<ConsumedRecord> &expected) {
    const Tally t = tally(written, expected);
    if (t.missing == 0 && t.duplicated == 0 && t.wrong_value == 0)
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "of " << expected.size() << " records, " << t.missing << " missing, " << t.duplicated
           << " duplicated, " << t.wrong_value << " with another value";
}

}  // namespace sluice::test
