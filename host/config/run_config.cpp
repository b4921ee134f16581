// parse_run_args: the two sources, file then command line, applied to one RunConfig and
// checked as a whole.
#include "config/run_config.hpp"

#include <algorithm>

#include "config/layer.hpp"
#include "config/validate.hpp"

namespace sluice::config {

std::string_view to_string(Mode mode) {
    return mode == Mode::receiver ? "receiver" : "direct";
}

ParsedRun parse_run_args(int argc, const char *const argv[]) {
    ParsedRun out;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
    // Help first, so it works whatever else is missing or wrong.
    if (std::any_of(args.begin(), args.end(),
                    [](const std::string &a) { return a == "--help" || a == "-h"; })) {
        out.help = true;
        return out;
    }
    const detail::Layer command_line = detail::read_command_line(args);
    out.validate = command_line.validate;
    if (command_line.config_file) {
        const detail::Layer file = detail::read_config_file(*command_line.config_file);
        detail::apply_layer(out.config, file);
        out.warnings = file.warnings;
    }
    detail::apply_layer(out.config, command_line);
    detail::check_complete(out.config);
    return out;
}

}  // namespace sluice::config
