#pragma once
// The keys of a [plugin.NAME] section: the host's own (error policy, isolation) and, for a plugin
// that declares its keys (ABI 1.1), the plugin's. Shared by the config parser, the loader and
// `sluice run --validate`, so a misspelled key is named the same way wherever it is caught.

#include <map>
#include <string>
#include <vector>

namespace sluice::config {

/// The keys of every [plugin.NAME] section that the host reads itself (config/error_policy.hpp).
const std::vector<std::string> &host_plugin_keys();

/// Refuses a key of plugin `plugin`'s section that is not a host key but is close to one
/// ("on-eror"), with "did you mean". `where` prefixes the error (e.g. the config file).
/// Throws ConfigError.
void check_host_key_spelling(const std::string &plugin,
                             const std::map<std::string, std::string> &settings,
                             const std::string &where = "");

/// For a plugin that declares its keys: the first key of `settings` that is neither a host key
/// nor one of `declared`, as one line ("[plugin.NAME] has the key 'tpo', which the plugin does
/// not declare (did you mean 'top'?)"); "" when every key is known.
std::string undeclared_key_problem(const std::string &plugin,
                                   const std::map<std::string, std::string> &settings,
                                   const std::vector<std::string> &declared);

}  // namespace sluice::config
