// The command line of `sluice run` read into a Layer (Boost.Program_options), with the hints
// that turn Boost's errors and common slips into a fix.
#include <boost/program_options.hpp>

#include "config/layer.hpp"
#include "config/values.hpp"

namespace sluice::config::detail {

namespace {

namespace po = boost::program_options;

[[noreturn]] void unknown_option(const std::string &token) {
    const std::string name = token.substr(0, token.find('='));
    std::string bare = name;
    bare.erase(0, bare.find_first_not_of('-'));
    if (is_broker_alias(bare))
        throw ConfigError("unknown option '" + name + "' (did you mean '--brokers'?)");
    std::string hint = did_you_mean_option(name, true);
    if (hint.empty() && bare.find('.') != std::string::npos)
        hint = " (librdkafka properties are given as -X " + bare + "=VALUE)";
    throw ConfigError("unknown option '" + name + "'" + hint);
}

}  // namespace

Layer read_command_line(std::vector<std::string> args) {
    Layer layer;
    // --kafka.KEY=VALUE is -X KEY=VALUE, mirroring the file's kafka.KEY = VALUE.
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i].rfind("--kafka.", 0) != 0) continue;
        if (args[i].find('=') == std::string::npos)
            throw ConfigError("option '" + args[i] + "': write --kafka.KEY=VALUE or -X KEY=VALUE");
        args[i] = args[i].substr(8);
        args.insert(args.begin() + static_cast<std::ptrdiff_t>(i), "-X");
        ++i;
    }
    po::parsed_options parsed(nullptr);
    try {
        parsed = po::command_line_parser(args)
                     .options(option_description(true))
                     .style(po::command_line_style::default_style &
                            ~po::command_line_style::allow_guessing)
                     .allow_unregistered()
                     .run();
    } catch (const po::error &e) {
        // Boost names the short-only option -X as "--X".
        std::string message = e.what();
        if (const size_t at = message.find("'--X'"); at != std::string::npos)
            message.replace(at, 5, "'-X'");
        throw ConfigError(message);
    }
    for (const po::option &opt : parsed.options) {
        const std::string token = opt.original_tokens.empty() ? "" : opt.original_tokens[0];
        if (opt.unregistered && !opt.string_key.empty()) unknown_option(token);
        if (opt.position_key >= 0 || opt.string_key.empty()) {
            std::string hint = " (options start with --; see sluice run --help)";
            if (token.rfind("kafka.", 0) == 0)
                hint = " (write --" + token + " or -X " + token.substr(6) + ")";
            else if (token.size() > 4 && token.substr(token.size() - 4) == ".ini")
                hint = " (did you mean --config " + token + "?)";
            throw ConfigError("unexpected argument '" + token + "'" + hint);
        }
        const std::string &key = opt.string_key;
        const std::string value = opt.value.empty() ? "" : opt.value.front();
        // Boost takes the next token as the value even if it is a long option: "--group --plugin
        // p" would silently make "--plugin" the group.
        if (opt.original_tokens.size() == 2 && value.rfind("--", 0) == 0) {
            const std::string name = value.substr(2, value.find('=') - 2);
            if (find_option(name))
                throw ConfigError("option '" + token + "' has no value ('" + value +
                                  "' is the next option)");
        }
        if (key == "-X") {
            const size_t eq = value.find('=');
            if (eq == std::string::npos)
                throw ConfigError("-X '" + value + "': write -X KEY=VALUE");
            const std::string name = trim(value.substr(0, eq));
            layer.add_kafka(name, value.substr(eq + 1), "-X " + name);
        } else if (key == "validate") {
            layer.validate = true;
        } else if (key == "config") {
            if (layer.config_file && *layer.config_file != value)
                throw ConfigError("--config given twice ('" + *layer.config_file + "' and '" +
                                  value + "'): give one file");
            layer.config_file = value;
        } else if (const OptionSpec *spec = find_option(key); spec && !spec->command_line_only()) {
            layer.add_value(*spec, value);
        }
    }
    layer.resolve_broker_aliases();
    return layer;
}

}  // namespace sluice::config::detail
