#pragma once
// Fault commands of `sluice mock-broker`: one line each on its standard input while it serves,
// applied through librdkafka 2.0.2's mock fault-injection API and acknowledged with one line on
// standard error (docs/reliability.md, "Broker faults").
//
//   broker-down ID                  disconnect broker ID (-1: every broker), refuse new connections
//   broker-up ID                    accept connections again
//   request-errors API COUNT ERROR  the next COUNT requests of API (any broker) fail with ERROR
//   leader TOPIC PARTITION ID       broker ID (-1: none) leads the partition from now on
//   rtt ID MS                       broker ID (-1: every broker) answers MS ms late (0: no delay)

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>

#include "kafka/mock_cluster.hpp"

namespace sluice::kafka {

/// The accepted syntax, one command a line (for --help and every error acknowledgement).
extern const char *const kFaultCommandSyntax;

/// A line that is not a fault command; what() names the problem.
class FaultSyntaxError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct FaultCommand {
    enum class Kind { broker_down, broker_up, request_errors, leader, rtt } kind{};
    int32_t broker = 0;   // broker_down, broker_up, leader, rtt; -1: all (leader: no leader)
    int16_t api_key = 0;  // request_errors
    std::string api_name;
    int count = 0;  // request_errors
    rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
    std::string topic;  // leader
    int32_t partition = 0;
    int rtt_ms = 0;  // rtt

    /// The command in its canonical spelling (API and ERROR by name).
    std::string describe() const;
};

/// Parses one line (words separated by blanks). Checks the syntax and the ranges that need no
/// cluster; throws FaultSyntaxError.
FaultCommand parse_fault_command(const std::string &line);

/// Parses `line` and applies it to `cluster`; returns the acknowledgement without its newline:
/// "fault ok: CANONICAL COMMAND" or "fault error: WHY; SYNTAX". Thread: any (the mock API hands
/// each call to the cluster's own thread and waits for it).
std::string apply_fault_command(MockCluster &cluster, const std::string &line);

/// Reads fault commands from a file descriptor (standard input) on its own thread and writes
/// each acknowledgement to stderr as one write. End of input, a read error or a closed
/// descriptor ends the reading only; the cluster keeps serving.
/// Lifecycle: starts in the constructor; the destructor (the owner's thread, at shutdown) wakes
/// the reader through a pipe and joins it. Must be destroyed before the cluster.
class FaultCommandReader {
  public:
    FaultCommandReader(MockCluster &cluster, int fd);
    ~FaultCommandReader();
    FaultCommandReader(const FaultCommandReader &) = delete;
    FaultCommandReader &operator=(const FaultCommandReader &) = delete;

  private:
    void run();  // thread: fault-commands

    MockCluster &cluster_;
    int fd_;
    int wake_[2] = {-1, -1};  // written by the destructor to end poll()
    std::thread thread_;      // last: started once the members above are set
};

}  // namespace sluice::kafka
