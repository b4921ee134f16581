#pragma once
// ChildProcess: runs a program for a test, with its stdout captured through a
// pipe. Header-only; needs only POSIX.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::test {

/// How a child ended: exit code, or the signal that killed it.
struct ExitStatus {
    int code = -1;   // exit code when the child exited, else -1
    int signal = 0;  // terminating signal when it was killed, else 0

    bool exited() const { return signal == 0; }
    std::string describe() const {
        return exited() ? "exited with code " + std::to_string(code)
                        : std::string("killed by signal ") + std::to_string(signal) + " (" +
                              ::strsignal(signal) + ")";
    }
};

/// A child process started with fork/exec.
/// Lifecycle: the constructor starts it (throws if exec fails); wait() reaps it;
/// the destructor kills it with SIGKILL and reaps it if it is still running, so no
/// zombie or stray process outlives the object. The child also gets SIGKILL if the
/// test process dies (PR_SET_PDEATHSIG). Used from one (test) thread.
class ChildProcess {
  public:
    struct Options {
        std::string stderr_path;  // empty: inherit the test's stderr; else truncate and write here
        bool capture_stdout = true;         // false: inherit the test's stdout
        std::vector<std::string> env = {};  // "NAME=VALUE" set in the child, over the test's own
    };

    explicit ChildProcess(std::vector<std::string> argv)
        : ChildProcess(std::move(argv), Options{}) {}

    ChildProcess(std::vector<std::string> argv, Options options) : argv_(std::move(argv)) {
        if (argv_.empty()) throw std::invalid_argument("ChildProcess: empty argv");
        // Everything the child needs is prepared before fork: between fork and exec
        // only async-signal-safe calls are allowed (librdkafka threads may exist).
        std::vector<char *> cargv;
        for (auto &arg : argv_) cargv.push_back(arg.data());
        cargv.push_back(nullptr);
        std::vector<std::string> env_strings = child_environment(options.env);
        std::vector<char *> cenv;
        for (auto &entry : env_strings) cenv.push_back(entry.data());
        cenv.push_back(nullptr);

        int out_pipe[2] = {-1, -1};
        if (options.capture_stdout && ::pipe2(out_pipe, O_CLOEXEC) != 0)
            throw std::runtime_error(std::string("ChildProcess: pipe2: ") + std::strerror(errno));
        int err_fd = -1;
        if (!options.stderr_path.empty()) {
            err_fd =
                ::open(options.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (err_fd < 0) {
                close_fd(out_pipe[0]);
                close_fd(out_pipe[1]);
                throw std::runtime_error("ChildProcess: cannot open '" + options.stderr_path +
                                         "': " + std::strerror(errno));
            }
        }
        int exec_pipe[2];  // reports an exec failure; closed by a successful exec
        if (::pipe2(exec_pipe, O_CLOEXEC) != 0)
            throw std::runtime_error(std::string("ChildProcess: pipe2: ") + std::strerror(errno));
        const pid_t parent = ::getpid();

        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
            // Do not inherit a blocked or ignored stop signal from the test.
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::signal(SIGTERM, SIG_DFL);
            ::signal(SIGINT, SIG_DFL);
            ::signal(SIGPIPE, SIG_DFL);
            if (out_pipe[1] >= 0) ::dup2(out_pipe[1], STDOUT_FILENO);
            if (err_fd >= 0) ::dup2(err_fd, STDERR_FILENO);
            ::execve(cargv[0], cargv.data(), cenv.data());
            const int e = errno;
            [[maybe_unused]] auto n = ::write(exec_pipe[1], &e, sizeof e);
            ::_exit(127);
        }
        close_fd(exec_pipe[1]);
        close_fd(out_pipe[1]);
        close_fd(err_fd);
        out_fd_ = out_pipe[0];

        int exec_errno = 0;
        ssize_t n;
        do {
            n = ::read(exec_pipe[0], &exec_errno, sizeof exec_errno);
        } while (n < 0 && errno == EINTR);
        close_fd(exec_pipe[0]);
        if (n > 0) {
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
            close_fd(out_fd_);
            throw std::runtime_error("ChildProcess: cannot run '" + argv_[0] +
                                     "': " + std::strerror(exec_errno));
        }
    }

    ~ChildProcess() {
        if (pid_ > 0 && !status_) {
            ::kill(pid_, SIGKILL);
            int raw;
            while (::waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {
            }
        }
        close_fd(out_fd_);
    }

    ChildProcess(const ChildProcess &) = delete;
    ChildProcess &operator=(const ChildProcess &) = delete;

    pid_t pid() const { return pid_; }

    /// The next line of stdout without its '\n'; nullopt on timeout, or at end
    /// of output (a last line without '\n' is returned first).
    std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
                std::string line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                return line;
            }
            if (out_eof_) {
                if (buffer_.empty()) return std::nullopt;
                std::string line;
                line.swap(buffer_);
                return line;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            pump_stdout(static_cast<int>(left.count()));
        }
    }

    /// All remaining stdout until the child closes it; nullopt on timeout.
    std::optional<std::string> read_all(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!out_eof_) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            pump_stdout(static_cast<int>(left.count()));
        }
        std::string all;
        all.swap(buffer_);
        return all;
    }

    void send_signal(int sig) {
        if (pid_ > 0 && !status_) ::kill(pid_, sig);
    }

    /// Waits for the child to end; nullopt if it is still running after timeout.
    /// Keeps draining stdout meanwhile (into the buffer read_line/read_all use), so a
    /// child writing much output cannot block on a full pipe.
    std::optional<ExitStatus> wait(std::chrono::milliseconds timeout) {
        if (status_) return status_;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            int raw = 0;
            const pid_t r = ::waitpid(pid_, &raw, WNOHANG);
            if (r == pid_) {
                ExitStatus st;
                if (WIFEXITED(raw)) st.code = WEXITSTATUS(raw);
                if (WIFSIGNALED(raw)) st.signal = WTERMSIG(raw);
                status_ = st;
                return status_;
            }
            if (r < 0 && errno != EINTR)
                throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            // No pidfd on every kernel: check again every few ms, reading stdout
            // in the meantime.
            const int slice = static_cast<int>(std::min<long>(left.count(), 5));
            if (out_fd_ >= 0 && !out_eof_)
                pump_stdout(slice);
            else
                ::poll(nullptr, 0, slice);
        }
    }

    bool running() { return !wait(std::chrono::milliseconds(0)).has_value(); }

  private:
    /// The test's environment with `extra` ("NAME=VALUE") set over it.
    static std::vector<std::string> child_environment(const std::vector<std::string> &extra) {
        std::vector<std::string> out;
        auto overridden = [&](const std::string &entry) {
            const std::string name = entry.substr(0, entry.find('=') + 1);
            for (const auto &e : extra)
                if (e.compare(0, name.size(), name) == 0) return true;
            return false;
        };
        for (char **e = environ; e && *e; ++e)
            if (!overridden(*e)) out.emplace_back(*e);
        out.insert(out.end(), extra.begin(), extra.end());
        return out;
    }

    static void close_fd(int &fd) {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }

    // Reads what stdout has within timeout_ms into buffer_.
    void pump_stdout(int timeout_ms) {
        if (out_fd_ < 0 || out_eof_) {
            out_eof_ = true;
            return;
        }
        pollfd pfd{out_fd_, POLLIN, 0};
        const int ready = ::poll(&pfd, 1, timeout_ms);
        if (ready <= 0) return;  // timeout or EINTR: the caller checks its deadline
        char chunk[4096];
        const ssize_t n = ::read(out_fd_, chunk, sizeof chunk);
        if (n > 0)
            buffer_.append(chunk, static_cast<std::size_t>(n));
        else if (n == 0 || (errno != EINTR && errno != EAGAIN))
            out_eof_ = true;
    }

    std::vector<std::string> argv_;
    pid_t pid_ = -1;
    int out_fd_ = -1;
    bool out_eof_ = false;
    std::string buffer_;  // stdout read but not yet returned
    std::optional<ExitStatus> status_;
};

/// Stops the child as an operator does: one SIGTERM (a second would abandon the batch in
/// flight), then waits up to timeout for it to end. nullopt: still running after timeout.
inline std::optional<ExitStatus> stop_gracefully(
    ChildProcess &child, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    child.send_signal(SIGTERM);
    return child.wait(timeout);
}

}  // namespace sluice::test
