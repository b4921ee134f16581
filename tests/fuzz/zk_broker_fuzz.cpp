// libFuzzer target for the ZooKeeper readers (host/zk/legacy_layout): broker_address on a
// broker registration (the JSON under /brokers/ids/<id>, which discover_brokers joins into
// librdkafka's bootstrap list) and parse_offset_text on a legacy offset node.
//
// Input: the registration, optionally followed by kSeparator and an offset node's text.
// Invariants:
//   - an address is HOST:PORT: a host without ',', whitespace or control characters (it is one
//     entry of a comma-separated bootstrap list) and a port from 1 to 65535, the port the JSON
//     gave (an endpoint's, or "port");
//   - an offset read is the whole number written, never negative.

#include <spdlog/spdlog.h>

#include <charconv>
#include <string>

#include "fuzz_support.hpp"
#include "zk/legacy_layout.hpp"

namespace {

constexpr std::string_view kSeparator = "\n~~offset~~\n";

void check(bool ok, const std::string &what) {
    if (!ok) sluice::fuzz::broken("zk_broker_fuzz", what);
}

void check_address(const std::string &json, const std::string &address) {
    const size_t colon = address.rfind(':');
    check(colon != std::string::npos && colon > 0,
          "address '" + address + "' has no HOST:PORT, from " + json);
    const std::string host = address.substr(0, colon), port = address.substr(colon + 1);
    for (const unsigned char ch : host)
        check(ch > ' ' && ch != ',' && ch != 0x7f,
              "host of '" + address + "' cannot be one entry of a bootstrap list, from " + json);
    int value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    check(ec == std::errc() && end == port.data() + port.size() && value >= 1 && value <= 65535 &&
              std::to_string(value) == port,
          "port of '" + address + "' is not 1 to 65535, from " + json);
    check(json.find(port) != std::string::npos, "port of '" + address + "' is not in " + json);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string_view input(reinterpret_cast<const char *>(data), size);
    const auto parts = sluice::fuzz::split_parts(input, kSeparator, 2);
    const std::string json(parts[0]);
    if (const auto address = sluice::zk::broker_address(json)) check_address(json, *address);
    if (parts.size() == 2) {
        const std::string text(parts[1]);
        if (const auto offset = sluice::zk::parse_offset_text(text)) {
            check(*offset >= 0, "a negative offset from '" + text + "'");
            check(text.find(std::to_string(*offset)) != std::string::npos,
                  "offset " + std::to_string(*offset) + " is not what '" + text + "' says");
        }
    }
    return 0;
}
