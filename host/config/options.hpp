#pragma once
// The option table of `sluice run`: one row per key, as data. Both sources (command_line.cpp,
// config_file.cpp) read their values through it, and help.cpp and describe.cpp walk it, so a
// key added here is parsed, listed by --help and shown by --validate without another edit.

#include <boost/program_options/options_description.hpp>

#include <filesystem>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/run_config.hpp"

namespace sluice::config::detail {

enum class Arity { Scalar, List, Switch };

/// The groups of --help, in the order they are printed (help.cpp explains each).
enum class Group { General, Kafka, Direct, Receiver, Checkpoint, Plugins, Logging, Monitoring };

/// Where values came from: names keys in errors and anchors relative paths.
struct Source {
    bool command_line = true;
    std::string where;               // "" or "config file 'F': ", prefixed to every error
    std::filesystem::path base_dir;  // a file's relative paths are relative to the file

    std::string label(std::string_view key) const {
        return command_line ? "--" + std::string(key) : where + std::string(key);
    }
};

/// The lines of describe(): an INI file that parse_run_args accepts back.
class Describer {
  public:
    /// `key = value`; commented out, with the reason, when a config file cannot hold the value.
    void line(std::string_view key, const std::string &value);
    /// `# text`: a value that is absent, or one that must not be read back.
    void comment(const std::string &text);
    /// A blank line, then `[name]`.
    void section(const std::string &name);
    std::string text() const { return out_.str(); }

  private:
    std::ostringstream out_;
};

/// Sets one RunConfig field from all the values one source gave for its key (exactly one for
/// a Scalar). Throws ConfigError starting with `label`.
using Apply = void (*)(RunConfig &, const std::vector<std::string> &values,
                       const std::string &label, const Source &);

/// Writes the field of `key` for describe().
using Show = void (*)(const RunConfig &, Describer &, std::string_view key);

struct OptionSpec {
    const char *name;        // long name = config-file key
    const char *short_name;  // "" if none
    Arity arity;
    Group group;
    const char *value_name;
    Apply apply;  // nullptr: a command-line-only switch the parser reads itself
    Show show;    // nullptr exactly when apply is
    const char *help;

    bool command_line_only() const { return apply == nullptr; }
};

/// Every option, in --help order.
std::span<const OptionSpec> options();

const OptionSpec *find_option(std::string_view name);

/// bootstrap.servers and metadata.broker.list: other names of --brokers.
bool is_broker_alias(std::string_view key);

/// " (did you mean 'NAME'?)" for the option nearest to `word` among those of the command line
/// (spelt --NAME) or of the file; "" when none is near.
std::string did_you_mean_option(const std::string &word, bool command_line);

/// The options for Boost.Program_options: all of them for the command line, the file's
/// otherwise.
boost::program_options::options_description option_description(bool command_line);
void add_option(boost::program_options::options_description &desc, const OptionSpec &spec);

}  // namespace sluice::config::detail
