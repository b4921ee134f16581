#include "zk/legacy_layout.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace sluice::zk {

namespace {

/// A host that can be one entry of librdkafka's comma-separated bootstrap list: not empty, no
/// ',', whitespace or control character ("[::1]" stays as Kafka writes it).
bool plausible_host(std::string_view host) {
    return !host.empty() && std::all_of(host.begin(), host.end(), [](unsigned char ch) {
        return ch > ' ' && ch != ',' && ch != 0x7f;
    });
}

/// "host:port" when both are plausible and the port is 1 to 65535 in plain decimal.
std::optional<std::string> address_of(std::string_view host, std::string_view port) {
    int value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (!plausible_host(host) || ec != std::errc() || end != port.data() + port.size() ||
        value < 1 || value > 65535 || std::to_string(value) != port)
        return std::nullopt;
    return std::string(host) + ":" + std::string(port);
}

/// "PLAINTEXT://host:port" -> {"PLAINTEXT", "host:port"}; nullopt when it is not that shape.
std::optional<std::pair<std::string, std::string>> split_endpoint(const std::string &endpoint) {
    const auto sep = endpoint.find("://");
    if (sep == std::string::npos) return std::nullopt;
    const std::string_view rest = std::string_view(endpoint).substr(sep + 3);
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto address = address_of(rest.substr(0, colon), rest.substr(colon + 1));
    if (!address) return std::nullopt;
    return std::make_pair(endpoint.substr(0, sep), std::move(*address));
}

}  // namespace

std::optional<std::string> broker_address(const std::string &registration_json) {
    const nlohmann::json j = nlohmann::json::parse(registration_json, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    if (auto it = j.find("endpoints"); it != j.end() && it->is_array()) {
        std::optional<std::string> any;
        for (const auto &e : *it) {
            if (!e.is_string()) continue;
            const auto parts = split_endpoint(e.get<std::string>());
            if (!parts) continue;
            if (parts->first == "PLAINTEXT") return parts->second;
            if (!any) any = parts->second;
        }
        if (any) return any;
    }
    const auto host = j.find("host");
    const auto port = j.find("port");
    // (get<int>() of a port such as 2^32 + 9092 would wrap: the number is checked as written.)
    if (host != j.end() && host->is_string() && port != j.end() && port->is_number_integer())
        return address_of(host->get<std::string>(), port->dump());
    return std::nullopt;
}

std::optional<int64_t> parse_offset_text(const std::string &text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return std::nullopt;
    const auto last = text.find_last_not_of(" \t\r\n");
    int64_t value = -1;
    const char *begin = text.data() + first;
    const char *end = text.data() + last + 1;
    const auto [ptr, ec] = std::from_chars(begin, end, value);
    if (ec != std::errc() || ptr != end || value < 0) return std::nullopt;
    return value;
}

std::string discover_brokers(const ZkSettings &settings) {
    ZkClient client(settings);
    auto ids = client.children(LegacyPaths::kBrokerIds);
    // Numeric order, so the list is stable whatever order ZooKeeper lists them in.
    std::sort(ids.begin(), ids.end(), [](const std::string &a, const std::string &b) {
        return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    std::string joined;
    for (const auto &id : ids) {
        const std::string path = std::string(LegacyPaths::kBrokerIds) + "/" + id;
        const auto data = client.get(path);
        if (!data) continue;  // went away while we listed
        const auto address = broker_address(*data);
        if (!address) {
            spdlog::warn("ZooKeeper {}{}: no host/port or endpoint in '{}'; ignored",
                         client.chroot(), path, *data);
            continue;
        }
        spdlog::info("broker {} registered in ZooKeeper at {}", id, *address);
        joined += (joined.empty() ? "" : ",") + *address;
    }
    if (joined.empty())
        throw std::runtime_error("no Kafka broker is registered under " + client.chroot() +
                                 LegacyPaths::kBrokerIds + " in ZooKeeper '" + settings.connect +
                                 "': check the chroot (e.g. HOST:PORT/kafka) or give --brokers");
    return joined;
}

std::map<TopicPartition, int64_t> read_legacy_offsets(
    const ZkSettings &settings, const std::string &group,
    const std::vector<TopicPartition> &partitions) {
    ZkClient client(settings);
    std::map<TopicPartition, int64_t> out;
    for (const auto &tp : partitions) {
        const std::string path = LegacyPaths::offset(group, tp);
        const auto text = client.get(path);
        if (!text) continue;
        if (const auto offset = parse_offset_text(*text))
            out[tp] = *offset;
        else
            spdlog::warn("ZooKeeper {}{} holds '{}', not an offset; {} is not imported",
                         client.chroot(), path, *text, tp.to_string());
    }
    return out;
}

}  // namespace sluice::zk
