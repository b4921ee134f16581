#pragma once
// MockBrokerProcess: `sluice mock-broker` as a child process, for tests that need
// a broker outside their own process (kill -9 tests, other clients, benchmarks).

#include <signal.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "sluice_command.hpp"

namespace sluice::test {

/// A topic to create in the mock cluster.
struct MockTopic {
    std::string name;
    int partitions = 4;
};

/// Lifecycle: the constructor starts `sluice mock-broker` and waits for its
/// `bootstrap.servers=` line (throws if it does not come within the timeout);
/// stop() or the destructor ends it with SIGTERM (SIGKILL if it does not exit).
/// Used from one (test) thread.
class MockBrokerProcess {
  public:
    struct Options {
        int brokers = 1;
        std::vector<MockTopic> topics;
        std::string stderr_path;  // empty: inherit the test's stderr
        std::string log_level = "warn";
        std::chrono::milliseconds startup_timeout{15000};
    };

    explicit MockBrokerProcess(std::vector<MockTopic> topics = {}, int brokers = 1)
        : MockBrokerProcess(make_options(std::move(topics), brokers)) {}

    explicit MockBrokerProcess(const Options &options)
        : process_(make_argv(options), ChildProcess::Options{options.stderr_path, true}) {
        const auto line = process_.read_line(options.startup_timeout);
        const std::string prefix = "bootstrap.servers=";
        if (!line || line->rfind(prefix, 0) != 0) {
            const auto status = process_.wait(std::chrono::milliseconds(0));
            throw std::runtime_error(
                "sluice mock-broker did not print its bootstrap.servers line (got '" +
                line.value_or("<nothing>") + "', " +
                (status ? status->describe() : std::string("still running")) + ")");
        }
        bootstrap_servers_ = line->substr(prefix.size());
    }

    ~MockBrokerProcess() {
        try {
            stop();
        } catch (...) {
            // ChildProcess's destructor kills it if stop failed.
        }
    }

    MockBrokerProcess(const MockBrokerProcess &) = delete;
    MockBrokerProcess &operator=(const MockBrokerProcess &) = delete;

    /// "127.0.0.1:PORT,..." as printed by the broker.
    const std::string &bootstrap_servers() const { return bootstrap_servers_; }

    ChildProcess &process() { return process_; }

    /// SIGTERM, then wait; SIGKILL when it has not exited within timeout.
    ExitStatus stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
        if (auto status = stop_gracefully(process_, timeout)) return *status;
        process_.send_signal(SIGKILL);
        return process_.wait(std::chrono::milliseconds(10000)).value_or(ExitStatus{});
    }

  private:
    static Options make_options(std::vector<MockTopic> topics, int brokers) {
        Options options;
        options.brokers = brokers;
        options.topics = std::move(topics);
        return options;
    }

    static std::vector<std::string> make_argv(const Options &options) {
        std::vector<std::string> argv = {sluice_binary(), "mock-broker",
                                         "--brokers",     std::to_string(options.brokers),
                                         "--log-level",   options.log_level};
        for (const auto &topic : options.topics) {
            argv.push_back("--topic");
            argv.push_back(topic.name + ":" + std::to_string(topic.partitions));
        }
        return argv;
    }

    ChildProcess process_;
    std::string bootstrap_servers_;
};

}  // namespace sluice::test
