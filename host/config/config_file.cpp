// The --config INI file of `sluice run` read into a Layer: the option keys, the [kafka] section
// (or kafka.KEY lines) and the [plugin.NAME] sections, whose host keys are checked here.
#include <boost/program_options.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/secrets.hpp"
#include "config/error_policy.hpp"
#include "config/layer.hpp"
#include "config/plugin_keys.hpp"
#include "config/values.hpp"
#include "isolation/isolation_options.hpp"

namespace sluice::config::detail {

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace {

/// The whole file; `where` prefixes the error that says why it cannot be read.
std::string read_file(const std::string &file, const std::string &where) {
    std::error_code ec;
    std::ifstream in;
    // On Linux a directory opens fine and reads as nothing: check it first.
    if (!fs::is_directory(file, ec)) in.open(file);
    std::stringstream text;
    if (in.is_open()) text << in.rdbuf();
    if (!in.is_open() || !in) {
        const std::string why = !fs::exists(file, ec)        ? "no such file"
                                : fs::is_directory(file, ec) ? "it is a directory"
                                                             : "cannot be read";
        throw ConfigError(where + why + " (check the path given to --config)");
    }
    return text.str();
}

/// The [plugin.NAME] sections, longest first. Boost flattens "[plugin.a.b]\nk = v" to
/// "plugin.a.b.k", so the section names are read here first to split it back at the right dot;
/// unknown sections are refused here too.
std::vector<std::string> plugin_sections(const std::string &content, const std::string &where) {
    std::vector<std::string> sections;
    std::istringstream lines(content);
    std::string line;
    while (std::getline(lines, line)) {
        line = trim(line.substr(0, line.find('#')));
        if (line.size() < 2 || line.front() != '[' || line.back() != ']') continue;
        const std::string section = line.substr(1, line.size() - 2);
        if (section == "kafka") continue;
        if (section.rfind("plugin.", 0) == 0 && section.size() > 7 &&
            section.find_first_of(" \t") == std::string::npos) {
            sections.push_back(section);
            continue;
        }
        throw ConfigError(where + "unknown section '" + line +
                          "' (the sections are [kafka] and [plugin.NAME])");
    }
    std::sort(sections.begin(), sections.end(),
              [](const auto &a, const auto &b) { return a.size() > b.size(); });
    return sections;
}

/// The settings of `layer` whose values are secret, as the file names them.
std::vector<std::string> secret_settings(const Layer &layer) {
    std::vector<std::string> found;
    for (const auto &[name, values] : layer.values)
        if (is_secret_option(name)) found.push_back(name);
    for (const auto &[key, value] : layer.kafka)
        if (is_secret_key(key)) found.push_back("[kafka] " + key);
    for (const auto &[plugin, settings] : layer.plugin_config)
        for (const auto &[key, value] : settings)
            if (is_secret_key(key) || redact_inline_secrets(value) != value)
                found.push_back("[plugin." + plugin + "] " + key);
    return found;
}

/// A file holding secrets should be readable by its owner alone (as ssh and libpq ask of their
/// key and password files); a warning, not an error, so that a deployment keeps running.
void warn_if_secrets_are_exposed(Layer &layer, const std::string &file) {
    const std::vector<std::string> secrets = secret_settings(layer);
    if (secrets.empty()) return;
    std::error_code ec;
    const fs::perms perms = fs::status(file, ec).permissions();
    constexpr fs::perms kOthers = fs::perms::group_read | fs::perms::others_read;
    if (ec || (perms & kOthers) == fs::perms::none) return;
    std::string names;
    for (const std::string &s : secrets) names += (names.empty() ? "" : ", ") + s;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(perms & fs::perms::mask));
    layer.warnings.push_back(layer.source.where + "holds secrets (" + names +
                             ") and other users can read it (mode " + mode + "): chmod 600 " +
                             file);
}

}  // namespace

Layer read_config_file(const std::string &file) {
    Layer layer;
    layer.source.command_line = false;
    layer.source.where = "config file '" + file + "': ";
    layer.source.base_dir = fs::path(file).parent_path();
    const std::string &where = layer.source.where;
    const std::string content = read_file(file, where);
    const std::vector<std::string> sections = plugin_sections(content, where);

    po::parsed_options parsed(nullptr);
    try {
        std::istringstream stream(content);
        parsed = po::parse_config_file(stream, option_description(false), true);
    } catch (const po::invalid_config_file_syntax &e) {
        // Not e.what(): Boost substitutes the line into its message until no placeholder is
        // left, and a line holding "%invalid_line%" never ended (found by config_fuzz).
        throw ConfigError(where + "line '" + e.tokens() +
                          "' is not KEY = VALUE, a [section] or a # comment");
    } catch (const po::error &e) {
        throw ConfigError(where + e.what());
    }
    for (const po::option &opt : parsed.options) {
        const std::string &key = opt.string_key;
        const std::string value = opt.value.empty() ? "" : opt.value.front();
        if (!opt.unregistered) {
            layer.add_value(*find_option(key), value);
        } else if (key.rfind("kafka.", 0) == 0) {
            layer.add_kafka(key.substr(6), value, key);
        } else if (is_broker_alias(key)) {
            layer.broker_values.emplace_back(key, value);
        } else if (key.rfind("plugin.", 0) == 0) {
            std::string section;
            for (const std::string &s : sections)
                if (key.size() > s.size() + 1 && key.rfind(s + ".", 0) == 0) {
                    section = s;
                    break;
                }
            if (section.empty()) section = key.substr(0, key.find('.', 7));  // plugin.NAME.KEY
            if (section.size() + 1 >= key.size())
                throw ConfigError(where + "key '" + key +
                                  "': plugin settings go in a [plugin.NAME] section");
            const std::string plugin = section.substr(7), name = key.substr(section.size() + 1);
            const auto [it, inserted] = layer.plugin_config[plugin].emplace(name, value);
            if (!inserted && it->second != value)
                throw ConfigError(where + "[" + section + "] " + name + " given twice ('" +
                                  shown_setting(name, it->second) + "' and '" +
                                  shown_setting(name, value) + "'): give it once");
        } else if (const OptionSpec *spec = find_option(key); spec && spec->command_line_only()) {
            throw ConfigError(where + "'" + key + "' can only be given on the command line");
        } else {
            std::string hint = did_you_mean_option(key, false);
            if (hint.empty() && key.find('.') != std::string::npos)
                hint = " (librdkafka properties go in the [kafka] section or as kafka." + key + ")";
            throw ConfigError(where + "unknown key '" + key + "'" + hint);
        }
    }
    // The host's own keys of each [plugin.NAME] section (error policy): checked here, misspelt
    // ones too, so a bad value stops `sluice run --validate` and startup with one line.
    for (const auto &[plugin, settings] : layer.plugin_config) {
        check_host_key_spelling(plugin, settings, where);
        parse_error_policy(plugin, settings, where);
        isolation::parse_isolation_options(plugin, settings, where);
    }
    layer.resolve_broker_aliases();
    warn_if_secrets_are_exposed(layer, file);
    return layer;
}

}  // namespace sluice::config::detail
