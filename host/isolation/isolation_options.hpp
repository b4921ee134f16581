#pragma once
// The isolation keys of a [plugin.NAME] section: isolation, batch-timeout, memory-limit,
// max-crashes, forbid-exec (docs/isolation.md). Header-only, so the config check (host/config) and
// the chain setup read them the same way.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "config/run_config.hpp"
#include "config/values.hpp"

namespace sluice::isolation {

struct IsolationOptions {
    bool process = false;                            // isolation = process (else in-process)
    std::chrono::milliseconds batch_timeout{60000};  // per call to the worker; 0 = none
    uint64_t memory_limit = 0;                       // RLIMIT_AS of the worker; 0 = none
    int max_crashes = 3;       // crashes of one batch in a row before on-error applies
    bool forbid_exec = false;  // a seccomp filter refuses execve/execveat in the worker
    static constexpr int kMaxCrashesLimit = 100;
    static constexpr uint64_t kMinMemoryLimit = 64ULL << 20;  // below this nothing even loads
};

/// Whether `key` is one of the isolation keys.
inline bool is_isolation_key(const std::string &key) {
    return key == "isolation" || key == "batch-timeout" || key == "memory-limit" ||
           key == "max-crashes" || key == "forbid-exec";
}

/// Reads plugin `plugin`'s isolation keys from its settings. `where` prefixes every error.
/// Throws config::ConfigError: one line naming the key, the section and the fix; the other
/// keys need isolation = process.
inline IsolationOptions parse_isolation_options(const std::string &plugin,
                                                const std::map<std::string, std::string> &settings,
                                                const std::string &where = "") {
    const std::string section = where + "[plugin." + plugin + "] ";
    const auto fail = [&](const std::string &key, const std::string &why) {
        throw config::ConfigError(section + key + ": " + why);
    };
    const auto get = [&](const char *key) -> const std::string * {
        auto it = settings.find(key);
        return it == settings.end() ? nullptr : &it->second;
    };
    IsolationOptions o;
    if (const std::string *v = get("isolation")) {
        if (*v == "process") {
            o.process = true;
        } else if (*v != "in-process") {
            fail("isolation", "'" + *v +
                                  "' is not a mode: write in-process (the default) or process "
                                  "(e.g. isolation = process)");
        }
    }
    for (const char *key : {"batch-timeout", "memory-limit", "max-crashes", "forbid-exec"}) {
        if (get(key) && !o.process)
            fail(key,
                 "given, but the plugin runs in-process: add isolation = process, or "
                 "remove " +
                     std::string(key));
    }
    if (const std::string *v = get("batch-timeout")) {
        try {
            o.batch_timeout = config::parse_duration(*v, "batch-timeout");
        } catch (const config::ConfigError &) {
            fail("batch-timeout", "'" + *v +
                                      "' is not a duration: write a number with a unit, e.g. "
                                      "batch-timeout = 30s (0 = no limit)");
        }
    }
    if (const std::string *v = get("memory-limit")) {
        if (*v != "0") {
            try {
                o.memory_limit = config::detail::parse_size(*v, "memory-limit");
            } catch (const config::ConfigError &) {
                fail("memory-limit", "'" + *v +
                                         "' is not a size: write e.g. memory-limit = 512MiB "
                                         "(0 = no limit)");
            }
            if (o.memory_limit < IsolationOptions::kMinMemoryLimit)
                fail("memory-limit", "'" + *v +
                                         "' is below 64MiB, too little for the worker to load "
                                         "at all: give at least 64MiB");
        }
    }
    if (const std::string *v = get("max-crashes")) {
        long n = -1;
        size_t used = 0;
        try {
            n = std::stol(*v, &used);
        } catch (const std::exception &) {
            used = 0;
        }
        if (v->empty() || used != v->size() || n < 1 || n > IsolationOptions::kMaxCrashesLimit)
            fail("max-crashes", "'" + *v + "' is not a whole number from 1 to " +
                                    std::to_string(IsolationOptions::kMaxCrashesLimit) +
                                    " (e.g. max-crashes = 3)");
        o.max_crashes = static_cast<int>(n);
    }
    if (const std::string *v = get("forbid-exec")) {
        if (*v == "true") {
            o.forbid_exec = true;
        } else if (*v != "false") {
            fail("forbid-exec", "'" + *v + "' is not true or false (e.g. forbid-exec = true)");
        }
    }
    return o;
}

}  // namespace sluice::isolation
