#pragma once
// What counts as a secret in a setting, for everything the host prints, logs or serves
// (docs/security.md): --validate's configuration, a rejected setting's error line.

#include <regex>
#include <string>

namespace sluice {

/// A setting whose whole value is secret: a key naming a password or secret (sasl.password,
/// ssl.key.password, sasl.oauthbearer.client.secret, a plugin's own api-secret...), a PEM
/// private key, or the OAuth configuration.
inline bool is_secret_key(const std::string &key) {
    static const std::regex secret("password|secret|ssl\\.key\\.pem|oauthbearer\\.config",
                                   std::regex::icase);
    return std::regex_search(key, secret);
}

/// sluice run's own options whose value is secret.
inline bool is_secret_option(const std::string &name) {
    return name == "control-token" || name == "zookeeper-auth";
}

/// `value` with a password inside it replaced by <redacted>: a libpq conninfo's password=...
/// (quoted or not) and a URI's user:PASSWORD@ (postgres-sink's conninfo, a plugin's connection
/// string).
inline std::string redact_inline_secrets(const std::string &value) {
    static const std::regex keyword(R"((password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]+))",
                                    std::regex::icase);
    static const std::regex uri(R"((://[^/:@\s]*:)[^@/\s]*@)");
    return std::regex_replace(std::regex_replace(value, keyword, "$1<redacted>"), uri,
                              "$1<redacted>@");
}

/// The value of setting `key` as it may be shown.
inline std::string shown_setting(const std::string &key, const std::string &value) {
    return is_secret_key(key) ? "<redacted>" : redact_inline_secrets(value);
}

}  // namespace sluice
