// Writes the seed corpus of config_fuzz: the annotated host/config/example.ini, and files
// written by describe() (what --validate prints) for direct, receiver and group-assigned
// configurations with [kafka] and [plugin.NAME] sections, some with a command line after them.
// Usage: config_fuzz_seeds OUTDIR

#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "fuzz_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace sluice::config;

const std::string kArgs = "\n~~args~~\n";

std::string described(const std::vector<std::string> &args) {
    std::vector<const char *> argv = {"run"};
    for (const auto &a : args) argv.push_back(a.c_str());
    return describe(parse_run_args(static_cast<int>(argv.size()), argv.data()).config);
}

}  // namespace

int main(int argc, char **argv) {
    const std::string example =
        sluice::fuzz::read_file(fs::path(SLUICE_SOURCE_DIR) / "host/config/example.ini");
    const fs::path scratch = fs::temp_directory_path() / "sluice-config-fuzz-seeds.ini";
    sluice::fuzz::write_file(scratch, example);
    const std::string example_described = described({"--config", scratch.string()});
    fs::remove(scratch);
    return sluice::fuzz::write_seeds(
        argc, argv, "config_fuzz",
        {{"example-ini", example},
         {"example-described", example_described},
         {"direct-described",
          described({"--brokers", "k1:9092,k2:9092", "--topics", "a,^b{1,2}-.*", "--group", "g",
                     "--plugin", "file-sink", "--checkpoint", "/var/lib/sluice/cp",
                     "--from-offsets", "a:0=1,a:2=3", "--max-batch-bytes", "64MiB", "-X",
                     "acks=all", "--metrics-address", "127.0.0.1:9108"})},
         {"receiver-described",
          described({"--mode", "receiver", "--brokers", "k1:9092", "--topics", "events:3,clicks",
                     "--group", "g", "--plugin", "p", "--wal-dir", "/var/lib/sluice/wal",
                     "--wal-fsync", "25ms", "--receiver-commit", "stored"})},
         {"group-described",
          described({"--brokers", "k1:9092", "--topics", "t", "--group", "g", "--plugin", "p",
                     "--direct-assignment", "group", "--backpressure", "true",
                     "--backpressure-initial-rate", "500"})},
         {"sections-and-args",
          "brokers = k1:9092\ntopics = t\nplugin = p\n[kafka]\nclient.id = x\n"
          "[plugin.p]\non-error = skip\nisolation = process\nmax-crashes = 5\npath = out.jsonl\n" +
              kArgs + "--mode\nreceiver\n--group\ng\n-X\nfetch.wait.max.ms=50"},
         {"zookeeper",
          "zookeeper = zk1:2181/kafka\ntopics = t\nplugin = p\ngroup = g\n"
          "start-from-zookeeper = true\n" +
              kArgs + "--validate"}});
}
