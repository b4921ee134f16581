#pragma once
// `sluice produce`'s work: writes verifiable records to a topic (the record format is at the
// top of load_generator.cpp) and prints a summary line. The command line is parsed by
// host/app/produce_command.cpp. Runs on the calling (main) thread, with librdkafka's own.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sluice::kafka {

/// A value holds a 20-digit sequence number and a space, so it is at least this long.
inline constexpr std::size_t kMinValueSize = 21;

struct ProduceOptions {
    std::string brokers;
    std::string topic;
    std::uint64_t count = 0;  // 0: until SIGINT/SIGTERM
    double rate = 0;          // records/s, 0: as fast as possible
    std::size_t value_size = 100;
    std::size_t key_size = 0;
    int headers = 0;
    std::string compression = "none";
    std::vector<std::pair<std::string, std::string>> kafka_settings;  // -X, in order
};

/// Produces `opts.count` records (acks=all, idempotent); SIGINT/SIGTERM stop it early. Prints
/// the summary line on stdout and errors on stderr. Returns the exit code: 0 when every record
/// sent was acknowledged, 1 when one failed or the brokers could not be reached, 2 when
/// librdkafka rejected a -X setting.
int produce(const ProduceOptions &opts);

}  // namespace sluice::kafka
