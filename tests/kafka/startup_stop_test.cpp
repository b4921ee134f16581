// SIGTERM while `sluice run` waits for the first metadata of brokers it cannot reach: the run
// ends at once with exit code 0 (kafka::StopWaits), in both modes, instead of waiting out the
// 30 s metadata timeout and failing with exit code 1 (direct mode, with group assignment too).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host_run.hpp"
#include "mock_broker_process.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

/// A loopback port nothing listens on: bound for a moment by the system's choice, then freed.
int refused_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0)
        throw std::runtime_error("cannot bind a loopback port");
    ::close(fd);
    return ntohs(addr.sin_port);
}

void stops_during_metadata_wait(const std::vector<std::string> &mode_args) {
    auto dir = temp_dir("sluice-startup-stop");
    const std::string log = dir.file("host.log");
    const std::string brokers = "127.0.0.1:" + std::to_string(refused_port());
    std::vector<std::string> args{"run",   "--brokers", brokers, "--topics",
                                  "never", "--plugin",  "noop"};
    args.insert(args.end(), mode_args.begin(), mode_args.end());
    ChildProcess host(sluice_argv(args), ChildProcess::Options{log, false});
    // In the wait: librdkafka has tried the broker and been refused.
    ASSERT_TRUE(wait_until(
        [&] { return read_file(log).find("Connection refused") != std::string::npos; }, 20s))
        << read_file(log);
    host.send_signal(SIGTERM);
    // Well under the 30 s metadata timeout, and a clean exit.
    ASSERT_TRUE(exits_cleanly(host, log, 10s));
    const std::string text = read_file(log);
    EXPECT_THAT(text, HasSubstr("stopped while waiting for the Kafka brokers '" + brokers +
                                "'; nothing was read"));
    EXPECT_THAT(text, ::testing::Not(HasSubstr("cannot get topic metadata")));
}

TEST(StartupStop, SigtermDuringTheFirstMetadataWaitStopsAtOnceInDirectMode) {
    stops_during_metadata_wait({});
}

TEST(StartupStop, SigtermDuringTheFirstMetadataWaitStopsAtOnceInReceiverMode) {
    stops_during_metadata_wait({"--mode", "receiver", "--group", "startup-stop"});
}

TEST(StartupStop, SigtermDuringTheFirstMetadataWaitStopsAtOnceWithGroupAssignment) {
    stops_during_metadata_wait({"--direct-assignment", "group", "--group", "startup-stop"});
}

// SIGTERM while the receiver's group forms (the consumer threads subscribed, no assignment
// yet): librdkafka 2.0.2 aborts in rd_kafka_sticky_assignor_state_destroy when such a member is
// destroyed between its JoinGroup answer and its first assignment; the consumer threads wait
// for that assignment before they close, so each stop is clean (exit 0).
TEST(StartupStop, SigtermWhileTheReceiversGroupFormsStopsCleanly) {
    MockBrokerProcess broker({{"forming", 2}});
    auto dir = temp_dir("sluice-forming-stop");
    for (int i = 0; i < 5; ++i) {
        const std::string log = dir.file("host" + std::to_string(i) + ".log");
        ChildProcess host(
            sluice_argv({"run", "--mode", "receiver", "--brokers", broker.bootstrap_servers(),
                         "--topics", "forming", "--group", "forming-" + std::to_string(i),
                         "--plugin", "noop", "-X", "fetch.wait.max.ms=10"}),
            ChildProcess::Options{log, false});
        ASSERT_TRUE(wait_until(
            [&] { return read_file(log).find("receiver mode on") != std::string::npos; }, 20s))
            << read_file(log);
        host.send_signal(SIGTERM);
        ASSERT_TRUE(exits_cleanly(host, log, 20s)) << "stop " << i;
    }
}

}  // namespace
}  // namespace sluice::test
