// The `sluice` binary: one entry point, one subcommand per job.
#include <cstdio>
#include <cstring>
#include <string>

#include "app/commands.hpp"
#include "common/batch_allocator.hpp"
#include "sluice/sluice.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "unknown"
#endif

namespace {

const char *const kUsage =
    "Sluice " SLUICE_VERSION
    " - a native micro-batch stream processing host for Apache Kafka\n"
    "\n"
    "Usage: sluice <command> [options]\n"
    "\n"
    "Commands:\n"
    "  run          read Kafka in micro-batches and hand each batch to a chain of plugins\n"
    "  produce      write test records to a topic (load generator)\n"
    "  mock-broker  serve librdkafka's mock Kafka cluster on loopback until SIGTERM\n"
    "  plugins      list the plugin files of a directory, their versions and whether they load\n"
    "  wal          inspect a receiver-mode write-ahead log (segments, blocks, pending replay)\n"
    "  new-plugin   write a new plugin project (CMake, the plugin class, its test, a config)\n"
    "  replay       run one batch of a checkpoint or WAL through a plugin again, for debugging\n"
    "  status       a running host on one terminal screen (rates, delays, lag, plugins)\n"
    "\n"
    "  sluice <command> --help   explains each command's options\n"
    "  sluice --version          prints the version and the plugin ABI version\n"
    "\n"
    "Try it:  sluice run --brokers embedded --topics demo --plugin print-offsets\n";

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    const std::string command = argv[1];
    if (command == "--help" || command == "-h" || command == "help") {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (command == "--version" || command == "version") {
        std::printf("sluice %s (plugin ABI %d.%d)\n", SLUICE_VERSION, SLUICE_ABI_MAJOR,
                    SLUICE_ABI_MINOR);
        return 0;
    }
    if (command == "run") {
        sluice::tune_allocator_for_batches();  // before any thread: the whole run holds batches
        return sluice::app::run_command(argc - 1, argv + 1);
    }
    if (command == "produce") return sluice::app::produce_command(argc - 1, argv + 1);
    if (command == "mock-broker") return sluice::app::mock_broker_command(argc - 1, argv + 1);
    if (command == "plugins") return sluice::app::plugins_command(argc - 1, argv + 1);
    if (command == "wal") return sluice::app::wal_command(argc - 1, argv + 1);
    if (command == "new-plugin") return sluice::app::new_plugin_command(argc - 1, argv + 1);
    if (command == "status") return sluice::app::status_command(argc - 1, argv + 1);
    if (command == "replay") return sluice::app::replay_command(argc - 1, argv + 1);
    // Hidden: started by the host for a plugin with isolation = process.
    if (command == "plugin-worker") return sluice::app::plugin_worker_command(argc - 1, argv + 1);
    std::fprintf(stderr,
                 "sluice: unknown command '%s' (commands: run, produce, mock-broker, plugins, wal, "
                 "new-plugin, status, replay; "
                 "see sluice "
                 "--help)\n",
                 command.c_str());
    return 2;
}
