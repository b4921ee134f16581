#pragma once
// Reading what postgres-sink wrote back as records, to compare with an independent consumer
// of the topic (tests/support/kafka_helpers.hpp consume_all, receiver_helpers.hpp tally).

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "e2e_helpers.hpp"
#include "postgres_server.hpp"

namespace sluice::test {

inline std::optional<std::string> from_hex(const std::optional<std::string> &hex) {
    if (!hex) return std::nullopt;
    std::string out;
    out.reserve(hex->size() / 2);
    for (size_t i = 0; i + 1 < hex->size(); i += 2)
        out += static_cast<char>(std::stoi(hex->substr(i, 2), nullptr, 16));
    return out;
}

/// Every row of `table` (default column names), in (topic, partition, offset) order.
inline std::vector<ConsumedRecord> read_table(PgClient &client, const std::string &table) {
    std::vector<ConsumedRecord> out;
    for (const PgRow &row :
         client.query("SELECT topic, partition, \"offset\", \"timestamp\", encode(key, 'hex'), "
                      "encode(value, 'hex'), headers::text FROM \"" +
                      table + "\" ORDER BY topic, partition, \"offset\"")) {
        ConsumedRecord r;
        r.topic = *row[0];
        r.partition = std::stoi(*row[1]);
        r.offset = std::stoll(*row[2]);
        r.timestamp = row[3] ? std::stoll(*row[3]) : -1;
        r.key = from_hex(row[4]);
        r.value = from_hex(row[5]);
        for (const auto &h : nlohmann::json::parse(*row[6]))
            r.headers.push_back({h.at(0).get<std::string>(), decode_base64_or_null(h.at(1))});
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace sluice::test
