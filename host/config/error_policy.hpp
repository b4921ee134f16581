#pragma once
// A plugin's error policy: the reserved keys of its [plugin.NAME] section (on-error, max-retries,
// retry-backoff, dead-letter-topic). Header-only so both the config parser (which validates
// them) and the batch runner (which applies them) read them the same way.

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "config/plugin_keys.hpp"
#include "config/run_config.hpp"

namespace sluice::config {

/// What the host does with a batch a plugin gave up on (see docs/plugins.md, "Errors").
enum class OnError { retry, skip, dead_letter, stop };

struct ErrorPolicy {
    OnError on_error = OnError::stop;
    int max_retries = 3;                           // re-runs after SLUICE_RETRY
    std::chrono::milliseconds retry_backoff{100};  // before the first re-run; doubles each time
    std::string dead_letter_topic;                 // on-error = dead-letter only
    static constexpr std::chrono::milliseconds kMaxBackoff{30000};
    static constexpr int kMaxRetriesLimit = 1000;

    /// The wait before re-run number `attempt` (1-based): backoff * 2^(attempt-1), capped.
    std::chrono::milliseconds backoff_before(int attempt) const {
        auto wait = retry_backoff;
        for (int i = 1; i < attempt && wait < kMaxBackoff; ++i) wait *= 2;
        return std::min(wait, kMaxBackoff);
    }
};

inline const char *on_error_name(OnError e) {
    switch (e) {
        case OnError::retry:
            return "retry";
        case OnError::skip:
            return "skip";
        case OnError::dead_letter:
            return "dead-letter";
        case OnError::stop:
            break;
    }
    return "stop";
}

/// The keys of a [plugin.NAME] section that belong to the host: the error policy's and the
/// isolation keys (host/isolation/isolation_options.hpp).
inline bool is_error_policy_key(std::string_view key) {
    const auto &keys = host_plugin_keys();
    return std::find(keys.begin(), keys.end(), key) != keys.end();
}

/// Reads the reserved keys of plugin `plugin`'s section. `where` prefixes every error (e.g. the
/// config file). Throws ConfigError, one line naming the key, the section and the fix.
inline ErrorPolicy parse_error_policy(const std::string &plugin,
                                      const std::map<std::string, std::string> &settings,
                                      const std::string &where = "") {
    const std::string section = "[plugin." + plugin + "] ";
    const auto fail = [&](const std::string &key, const std::string &why) {
        throw ConfigError(where + section + key + ": " + why);
    };
    const auto get = [&](const char *key) -> const std::string * {
        auto it = settings.find(key);
        return it == settings.end() ? nullptr : &it->second;
    };
    ErrorPolicy policy;
    if (const std::string *v = get("on-error")) {
        if (*v == "retry") {
            policy.on_error = OnError::retry;
        } else if (*v == "skip") {
            policy.on_error = OnError::skip;
        } else if (*v == "dead-letter") {
            policy.on_error = OnError::dead_letter;
        } else if (*v == "stop") {
            policy.on_error = OnError::stop;
        } else {
            fail("on-error", "'" + *v +
                                 "' is not a policy: write one of retry, skip, dead-letter, stop "
                                 "(e.g. on-error = dead-letter)");
        }
    }
    if (const std::string *v = get("max-retries")) {
        size_t used = 0;
        long n = -1;
        try {
            n = std::stol(*v, &used);
        } catch (const std::exception &) {
            used = 0;
        }
        if (used != v->size() || v->empty() || n < 0 || n > ErrorPolicy::kMaxRetriesLimit)
            fail("max-retries", "'" + *v + "' is not a whole number from 0 to " +
                                    std::to_string(ErrorPolicy::kMaxRetriesLimit) +
                                    " (e.g. max-retries = 3)");
        policy.max_retries = static_cast<int>(n);
    }
    if (const std::string *v = get("retry-backoff")) {
        try {
            policy.retry_backoff = parse_duration(*v, "retry-backoff");
        } catch (const ConfigError &) {
            fail("retry-backoff", "'" + *v +
                                      "' is not a duration: write a number with a unit, e.g. "
                                      "retry-backoff = 100ms (it doubles each retry, up to 30s)");
        }
        if (policy.retry_backoff > ErrorPolicy::kMaxBackoff)
            fail("retry-backoff", "'" + *v + "' is more than the 30s cap: give at most 30s");
    }
    const std::string *topic = get("dead-letter-topic");
    if (topic && policy.on_error != OnError::dead_letter)
        fail("dead-letter-topic", "given, but on-error is " +
                                      std::string(on_error_name(policy.on_error)) +
                                      ": add on-error = dead-letter, or remove dead-letter-topic");
    if (policy.on_error == OnError::dead_letter) {
        const std::string name = topic ? *topic : plugin + ".dead-letter";
        const std::string *v = &name;
        const bool legal = !v->empty() && v->size() <= 249 && *v != "." && *v != ".." &&
                           std::all_of(v->begin(), v->end(), [](char c) {
                               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
                           });
        if (!legal)
            fail("dead-letter-topic", "'" + *v +
                                          "' is not a Kafka topic name: use 1 to 249 of "
                                          "a-z A-Z 0-9 . _ - (e.g. dead-letter-topic = " +
                                          "sluice.dead-letter)");
        policy.dead_letter_topic = name;
    }
    return policy;
}

}  // namespace sluice::config
