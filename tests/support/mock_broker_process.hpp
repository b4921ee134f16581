#pragma once
// MockBrokerProcess: `sluice mock-broker` as a child process, for tests that need
// a broker outside their own process (kill -9 tests, other clients, benchmarks).

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
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
        // true: the broker's stdin is a pipe that fault() writes to (its acknowledgements are
        // read from stderr_path, which must be set); false: stdin is inherited.
        bool fault_commands = false;
    };

    explicit MockBrokerProcess(std::vector<MockTopic> topics = {}, int brokers = 1)
        : MockBrokerProcess(make_options(std::move(topics), brokers)) {}

    explicit MockBrokerProcess(const Options &options)
        : stdin_(options),
          process_(make_argv(options), ChildProcess::Options{options.stderr_path, true}),
          stderr_path_(options.stderr_path) {
        stdin_.spawned();
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

    /// Writes one fault command (kafka/mock_faults.hpp) to the broker's stdin and returns its
    /// acknowledgement line from stderr ("fault ok: ..." or "fault error: ..."); throws when
    /// none comes within timeout. Needs Options::fault_commands.
    std::string fault(const std::string &command,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
        if (stdin_.write_fd < 0)
            throw std::logic_error("MockBrokerProcess::fault needs Options::fault_commands");
        const std::string line = command + "\n";
        // A socket, not a pipe: a broker that died gives EPIPE here, not SIGPIPE to the test.
        if (::send(stdin_.write_fd, line.data(), line.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(line.size()))
            throw std::runtime_error("cannot write to the broker's stdin: " +
                                     std::string(std::strerror(errno)));
        std::optional<std::string> ack;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!ack && std::chrono::steady_clock::now() < deadline) {
            const std::string err = read_file(stderr_path_);
            for (size_t at = acks_read_; !ack && at < err.size();) {
                const size_t nl = err.find('\n', at);
                if (nl == std::string::npos) break;
                const std::string text = err.substr(at, nl - at);
                at = acks_read_ = nl + 1;
                if (text.rfind("fault ok: ", 0) == 0 || text.rfind("fault error: ", 0) == 0)
                    ack = text;
            }
            if (!ack) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (!ack)
            throw std::runtime_error("sluice mock-broker did not acknowledge '" + command + "'");
        return *ack;
    }

    /// Closes the broker's stdin (end of input: it keeps serving).
    void close_stdin() { stdin_.close_write(); }

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

    // With Options::fault_commands, a socket pair's end stands on the test's fd 0 while the child
    // is spawned (ChildProcess passes its own stdin on), then fd 0 is put back.
    struct StdinPipe {
        int write_fd = -1, saved_fd = -1, read_fd = -1;
        explicit StdinPipe(const Options &options) {
            if (!options.fault_commands) return;
            if (options.stderr_path.empty())
                throw std::logic_error("MockBrokerProcess: fault_commands needs stderr_path");
            int fds[2];
            if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
                throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
            read_fd = fds[0];
            write_fd = fds[1];
            saved_fd = ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
            ::dup2(read_fd, STDIN_FILENO);  // not close-on-exec: the child inherits it
        }
        void spawned() {
            if (read_fd < 0) return;
            if (saved_fd >= 0) {
                ::dup2(saved_fd, STDIN_FILENO);
                ::close(saved_fd);
            } else {
                ::close(STDIN_FILENO);
            }
            ::close(read_fd);
            saved_fd = read_fd = -1;
        }
        void close_write() {
            if (write_fd >= 0) ::close(write_fd);
            write_fd = -1;
        }
        ~StdinPipe() {
            spawned();
            close_write();
        }
    };

    StdinPipe stdin_;  // before process_: in place while it is spawned
    ChildProcess process_;
    std::string stderr_path_;
    size_t acks_read_ = 0;  // of stderr_path_, the bytes fault() has looked through
    std::string bootstrap_servers_;
};

}  // namespace sluice::test
