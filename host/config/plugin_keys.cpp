#include "config/plugin_keys.hpp"

#include <algorithm>

#include "config/error_policy.hpp"
#include "config/values.hpp"

namespace sluice::config {

const std::vector<std::string> &host_plugin_keys() {
    static const std::vector<std::string> keys{"on-error",          "max-retries", "retry-backoff",
                                               "dead-letter-topic", "isolation",   "batch-timeout",
                                               "memory-limit",      "max-crashes", "forbid-exec"};
    return keys;
}

void check_host_key_spelling(const std::string &plugin,
                             const std::map<std::string, std::string> &settings,
                             const std::string &where) {
    for (const auto &[key, value] : settings) {
        if (is_error_policy_key(key)) continue;
        const std::string near = detail::nearest(key, host_plugin_keys());
        if (near.empty()) continue;
        // A plugin cannot use a near-miss of a host key for its own settings: to the reader
        // of the file it looks like the host's key, and a typo would go unnoticed.
        throw ConfigError(where + "[plugin." + plugin + "] unknown key '" + key +
                          "' (did you mean '" + near + "'?): " + near +
                          " is one of the host's keys of a plugin section");
    }
}

std::string undeclared_key_problem(const std::string &plugin,
                                   const std::map<std::string, std::string> &settings,
                                   const std::vector<std::string> &declared) {
    for (const auto &[key, value] : settings) {
        if (is_error_policy_key(key) ||
            std::find(declared.begin(), declared.end(), key) != declared.end())
            continue;
        const std::string near = detail::nearest(key, declared);
        return "[plugin." + plugin + "] has the key '" + key +
               "', which the plugin does not declare" +
               (near.empty() ? std::string() : " (did you mean '" + near + "'?)");
    }
    return {};
}

}  // namespace sluice::config
