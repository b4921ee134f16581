// describe(): the effective configuration as a config file, one table row at a time (each
// row's show function), then the [kafka] and [plugin.NAME] sections.
#include "common/secrets.hpp"
#include "config/options.hpp"
#include "config/values.hpp"

namespace sluice::config {

void detail::Describer::line(std::string_view key, const std::string &value) {
    // The INI reader cuts a line at '#' and trims keys and values: such a key (-X a#b=1) or
    // value is shown, but commented out rather than silently changed.
    const auto unwritable = [](std::string_view text) {
        return text.find_first_of("#\r\n") != std::string_view::npos || text != trim(text);
    };
    if (unwritable(key) || unwritable(value))
        out_ << "# " << key << ": this key or value cannot be written in a config file ('#' "
             << "starts a comment, spaces around it are trimmed): give it on the command line\n# ";
    out_ << key << " =" << (value.empty() ? "" : " ") << value << "\n";
}

void detail::Describer::comment(const std::string &text) {
    out_ << "# " << text << "\n";
}

void detail::Describer::section(const std::string &name) {
    out_ << "\n[" << name << "]\n";
}

std::string describe(const RunConfig &cfg) {
    detail::Describer out;
    out.comment("The effective configuration of sluice run; run it with: sluice run --config FILE");
    for (const detail::OptionSpec &spec : detail::options()) {
        if (spec.command_line_only()) continue;
        // Receiver-mode keys mean nothing in direct mode, where they must keep their defaults.
        if (spec.group == detail::Group::Receiver && cfg.mode != Mode::receiver) continue;
        spec.show(cfg, out, spec.name);
    }
    const auto section = [&out](const std::string &name,
                                const std::map<std::string, std::string> &settings) {
        out.section(name);
        for (const auto &[key, value] : settings) out.line(key, shown_setting(key, value));
    };
    if (!cfg.kafka.empty()) section("kafka", cfg.kafka);
    for (const auto &[plugin, settings] : cfg.plugin_config) section("plugin." + plugin, settings);
    return out.text();
}

}  // namespace sluice::config
