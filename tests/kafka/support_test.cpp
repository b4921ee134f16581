// The shared test helpers must themselves be right: exit codes, signals, line
// reading, cleanup. Uses /bin/sh only.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "child_process.hpp"
#include "temp_dir.hpp"

using namespace std::chrono_literals;
using sluice::test::ChildProcess;

namespace {

bool process_exists(pid_t pid) {
    return ::kill(pid, 0) == 0;
}

TEST(ChildProcess, ReadsLinesAndExitCode) {
    ChildProcess child({"/bin/sh", "-c", "echo first; echo second; printf tail; exit 3"});
    EXPECT_EQ(child.read_line(5s).value_or("<none>"), "first");
    EXPECT_EQ(child.read_line(5s).value_or("<none>"), "second");
    EXPECT_EQ(child.read_line(5s).value_or("<none>"), "tail");
    EXPECT_FALSE(child.read_line(1s).has_value());
    const auto status = child.wait(5s);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->exited());
    EXPECT_EQ(status->code, 3);
}

TEST(ChildProcess, ReadLineTimesOutWhileChildIsSilent) {
    ChildProcess child({"/bin/sh", "-c", "exec sleep 30"});
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(child.read_line(200ms).has_value());
    EXPECT_GE(std::chrono::steady_clock::now() - start, 190ms);
    EXPECT_FALSE(child.wait(0ms).has_value());
    EXPECT_TRUE(child.running());
}

TEST(ChildProcess, SignalEndsChildAndIsReported) {
    ChildProcess child({"/bin/sh", "-c", "echo ready; exec sleep 30"});
    ASSERT_EQ(child.read_line(5s).value_or("<none>"), "ready");
    child.send_signal(SIGTERM);
    const auto status = child.wait(5s);
    ASSERT_TRUE(status.has_value());
    EXPECT_FALSE(status->exited());
    EXPECT_EQ(status->signal, SIGTERM) << status->describe();
}

TEST(ChildProcess, DestructorKillsAndReapsARunningChild) {
    pid_t pid;
    {
        ChildProcess child({"/bin/sh", "-c", "exec sleep 30"});
        pid = child.pid();
        ASSERT_TRUE(process_exists(pid));
    }
    // Reaped: not even a zombie remains, and it is no longer our child.
    EXPECT_FALSE(process_exists(pid));
    EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
}

TEST(ChildProcess, StderrGoesToTheFileAndLargeStdoutDoesNotBlock) {
    auto dir = sluice::test::temp_dir();
    const std::string err_file = dir.file("err.txt");
    // 1 MiB on stdout is more than a pipe holds: wait() must keep draining it.
    ChildProcess child({"/bin/sh", "-c", "echo oops >&2; head -c 1048576 /dev/zero; exit 0"},
                       ChildProcess::Options{err_file, true});
    const auto status = child.wait(10s);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(status->code, 0);
    EXPECT_EQ(child.read_all(1s).value_or("").size(), 1048576u);
    std::ifstream in(err_file);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "oops");
}

TEST(ChildProcess, MissingProgramThrows) {
    EXPECT_THROW(ChildProcess({"/nonexistent/program"}), std::runtime_error);
}

TEST(TempDir, IsFreshAndRemovedWithItsContents) {
    std::filesystem::path path;
    {
        auto dir = sluice::test::temp_dir("sluice-support-test");
        path = dir.path();
        ASSERT_TRUE(std::filesystem::is_directory(path));
        EXPECT_TRUE(std::filesystem::is_empty(path));
        std::filesystem::create_directories(path / "a" / "b");
        std::ofstream(path / "a" / "b" / "f") << "x";
        auto other = sluice::test::temp_dir("sluice-support-test");
        EXPECT_NE(other.path(), path);
    }
    EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
