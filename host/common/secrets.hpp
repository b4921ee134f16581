#pragma once
// What counts as a secret in a setting, for everything the host prints, logs or serves
// (docs/security.md): --validate's configuration, a rejected setting's error line.

#include <cctype>
#include <regex>
#include <string>
#include <string_view>

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

namespace secrets_detail {

inline bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/// Where the password value starting at `at` ends: after a whole single-quoted string (with
/// backslash escapes), else after the run of non-space characters; `at` when there is none.
inline size_t password_end(const std::string &s, size_t at) {
    if (at < s.size() && s[at] == '\'') {
        for (size_t i = at + 1; i < s.size(); ++i) {
            if (s[i] == '\'') return i + 1;
            if (s[i] == '\\') {
                if (i + 1 >= s.size() || s[i + 1] == '\n' || s[i + 1] == '\r') break;
                ++i;
            }
        }
    }
    size_t end = at;
    while (end < s.size() && !is_space(s[end])) ++end;
    return end;
}

}  // namespace secrets_detail

/// `value` with a password inside it replaced by <redacted>: a libpq conninfo's password=...
/// (quoted or not) and a URI's user:PASSWORD@ (postgres-sink's conninfo, a plugin's connection
/// string). One pass each, not std::regex: libstdc++ matches recursively, one frame per
/// character, and a long value overflowed the stack (config_fuzz).
inline std::string redact_inline_secrets(const std::string &value) {
    using secrets_detail::is_space;
    constexpr std::string_view kKeyword = "password";
    std::string keyword_done;
    size_t copied = 0;
    for (size_t i = 0; i + kKeyword.size() <= value.size(); ++i) {
        size_t at = i;
        while (at - i < kKeyword.size() &&
               std::tolower(static_cast<unsigned char>(value[at])) == kKeyword[at - i])
            ++at;
        if (at - i < kKeyword.size()) continue;
        while (at < value.size() && is_space(value[at])) ++at;
        if (at >= value.size() || value[at] != '=') continue;
        ++at;
        while (at < value.size() && is_space(value[at])) ++at;
        const size_t end = secrets_detail::password_end(value, at);
        if (end == at) continue;
        keyword_done.append(value, copied, at - copied).append("<redacted>");
        copied = end;
        i = end - 1;
    }
    keyword_done.append(value, copied);

    // ://USER:PASSWORD@ (no '/', ':', '@' or space in USER; no '/', '@' or space in PASSWORD).
    const auto stops = [](char c, bool colon) {
        return is_space(c) || c == '/' || c == '@' || (colon && c == ':');
    };
    std::string out;
    copied = 0;
    for (size_t p = keyword_done.find("://"); p != std::string::npos;
         p = keyword_done.find("://", p + 1)) {
        size_t at = p + 3;
        while (at < keyword_done.size() && !stops(keyword_done[at], true)) ++at;
        if (at >= keyword_done.size() || keyword_done[at] != ':') continue;
        const size_t password = ++at;
        while (at < keyword_done.size() && !stops(keyword_done[at], false)) ++at;
        if (at >= keyword_done.size() || keyword_done[at] != '@') continue;
        out.append(keyword_done, copied, password - copied).append("<redacted>@");
        copied = at + 1;
        p = at;
    }
    return out.append(keyword_done, copied);
}

/// The value of setting `key` as it may be shown.
inline std::string shown_setting(const std::string &key, const std::string &value) {
    return is_secret_key(key) ? "<redacted>" : redact_inline_secrets(value);
}

}  // namespace sluice
