#pragma once
// What one source of `sluice run`'s configuration said, before merging: the command line
// (command_line.cpp) and the --config file (config_file.cpp) each read into a Layer, and
// parse_run_args applies the file's layer, then the command line's, to one RunConfig.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/options.hpp"
#include "config/run_config.hpp"

namespace sluice::config::detail {

struct Layer {
    Source source;
    std::map<std::string, std::vector<std::string>> values;  // option name -> values in order
    std::map<std::string, std::string> kafka;
    std::map<std::string, std::map<std::string, std::string>> plugin_config;
    std::vector<std::pair<std::string, std::string>> broker_values;  // (how it was named, value)
    std::optional<std::string> config_file;
    bool validate = false;
    std::vector<std::string> warnings;  // one line each, for the user (ParsedRun::warnings)

    /// A Scalar given twice with two values is an error; a List collects its values.
    void add_value(const OptionSpec &spec, const std::string &value);
    /// One librdkafka property; `label` is how it was given (-X KEY, kafka.KEY).
    void add_kafka(const std::string &key, const std::string &value, const std::string &label);
    /// bootstrap.servers / metadata.broker.list are the brokers option under other names:
    /// folds them in, refusing two different values from this one source.
    void resolve_broker_aliases();
};

/// `sluice run`'s arguments after "run". Throws ConfigError.
Layer read_command_line(std::vector<std::string> args);

/// The INI file of --config; relative paths are relative to its directory. Throws ConfigError
/// prefixed with "config file 'FILE': ".
Layer read_config_file(const std::string &file);

/// Sets every key the layer gave, key by key, over what `cfg` holds.
void apply_layer(RunConfig &cfg, const Layer &layer);

}  // namespace sluice::config::detail
