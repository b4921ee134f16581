#pragma once
// Exit codes of `sluice run` (the table in docs/direct-mode.md). The run loop, the BatchRunner
// and the app return them.

namespace sluice::stream {

enum ExitCode : int {
    kExitOk = 0,
    kExitFailure = 1,    // a plugin failed fatally, or Kafka/checkpoint/WAL trouble
    kExitUsage = 2,      // bad flags or config
    kExitDataLoss = 3,   // fail-on-data-loss tripped
    kExitAbandoned = 4,  // the batch in flight did not finish within shutdown-timeout
};

}  // namespace sluice::stream
