#pragma once
// The Kafka-side subcommands of the `sluice` binary. argv[0] is the subcommand name.

namespace sluice::kafka {

/// `sluice produce`: load generator. Returns the process exit code.
int produce_main(int argc, char **argv);

/// `sluice mock-broker`: librdkafka's mock cluster as a standalone process.
int mock_broker_main(int argc, char **argv);

}  // namespace sluice::kafka
