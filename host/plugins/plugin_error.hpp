#pragma once
// The one exception type of the plugin subsystem.

#include <filesystem>
#include <stdexcept>
#include <string>

namespace sluice::plugins {

/// A plugin could not be found, loaded, negotiated or created. what() is one line:
/// "plugin 'NAME' (PATH): PROBLEM; WAY OUT".
class PluginError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// Builds a PluginError in the one-line format above. `where` is usually the file's path.
inline PluginError plugin_error(const std::string &name, const std::string &where,
                                const std::string &problem, const std::string &way_out) {
    return PluginError("plugin '" + name + "' (" + where + "): " + problem + "; " + way_out);
}

}  // namespace sluice::plugins
