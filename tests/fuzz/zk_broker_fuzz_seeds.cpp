// Writes the seed corpus of zk_broker_fuzz: broker registrations as Kafka's brokers write them
// under /brokers/ids/<id> (versions 1 to 5: host/port only, endpoints, several listeners,
// listener names that are not PLAINTEXT), each followed by a legacy offset node's text.
// Usage: zk_broker_fuzz_seeds OUTDIR

#include "fuzz_support.hpp"

int main(int argc, char **argv) {
    const std::string sep = "\n~~offset~~\n";
    return sluice::fuzz::write_seeds(
        argc, argv, "zk_broker_fuzz",
        {{"v1-host-port",
          "{\"jmx_port\":-1,\"timestamp\":\"1\",\"host\":\"k1\",\"version\":1,"
          "\"port\":9092}" +
              sep + "1234"},
         {"v4-endpoints",
          "{\"listener_security_protocol_map\":{\"PLAINTEXT\":\"PLAINTEXT\"},\"endpoints\":["
          "\"PLAINTEXT://broker-0.example:9092\"],\"jmx_port\":-1,\"host\":\"broker-0.example\","
          "\"timestamp\":\"1700000000000\",\"port\":9092,\"version\":4}" +
              sep + " 42\n"},
         {"v5-two-listeners",
          "{\"features\":{},\"listener_security_protocol_map\":{\"INTERNAL\":\"SSL\",\"PLAINTEXT\":"
          "\"PLAINTEXT\"},\"endpoints\":[\"INTERNAL://10.0.0.1:9093\",\"PLAINTEXT://"
          "10.0.0.1:9092\"],\"jmx_port\":9999,\"host\":null,\"timestamp\":\"1\",\"port\":-1,"
          "\"version\":5}" +
              sep + "0"},
         {"sasl-only",
          "{\"endpoints\":[\"SASL_SSL://[::1]:9094\"],\"host\":null,\"port\":-1,\"version\":4}" +
              sep + "-1"},
         {"empty-object", "{}" + sep + "9223372036854775807"},
         {"not-json", "k1:9092" + sep + "12x"}});
}
