#pragma once
// The metric names docs/grafana-dashboard.json queries, for the tests that check them against
// what sluice serves.

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>

namespace sluice::test {

/// Every sluice_* name in the dashboard's target expressions (histograms as _bucket).
inline std::set<std::string> dashboard_metrics() {
    std::ifstream in(std::string(SLUICE_SOURCE_DIR) + "/docs/grafana-dashboard.json");
    if (!in) throw std::runtime_error("cannot read docs/grafana-dashboard.json");
    const nlohmann::json dashboard = nlohmann::json::parse(in);
    std::set<std::string> names;
    const std::regex metric("sluice_[a-z_]+");
    for (const auto &panel : dashboard.at("panels")) {
        if (!panel.contains("targets")) continue;
        for (const auto &target : panel.at("targets")) {
            const std::string expr = target.at("expr");
            for (auto it = std::sregex_iterator(expr.begin(), expr.end(), metric);
                 it != std::sregex_iterator(); ++it)
                names.insert(it->str());
        }
    }
    return names;
}

/// Families a direct-mode run without --zookeeper does not serve.
inline bool only_in_receiver_or_mirror_runs(const std::string &name) {
    for (const char *prefix : {"sluice_receiver_", "sluice_wal_", "sluice_zookeeper_mirror_"})
        if (name.rfind(prefix, 0) == 0) return true;
    return false;
}

}  // namespace sluice::test
