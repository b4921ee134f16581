#pragma once
// The subcommands of the `sluice` binary, one file each (host/app/<name>_command.cpp): each
// parses its command line and calls the library that does the work. argv[0] is the
// subcommand's name; each returns the process exit code (2 for a usage error). Main thread.

namespace sluice::app {

int run_command(int argc, char **argv);          // sluice run: stream/ (exit codes: exit_codes.hpp)
int produce_command(int argc, char **argv);      // sluice produce: kafka/load_generator.hpp
int mock_broker_command(int argc, char **argv);  // sluice mock-broker: kafka/mock_cluster.hpp
int plugins_command(int argc, char **argv);      // sluice plugins: plugins/plugins_command.hpp
int wal_command(int argc, char **argv);          // sluice wal inspect: wal/wal_inspect.hpp
int new_plugin_command(int argc, char **argv);   // sluice new-plugin: sdk/templates/plugin
int status_command(int argc, char **argv);       // sluice status: a host's /status on a screen
int replay_command(int argc, char **argv);       // sluice replay: replay/replay_run.hpp
// Hidden: sluice plugin-worker, started by the host for isolation = process (isolation/).
int plugin_worker_command(int argc, char **argv);

}  // namespace sluice::app
