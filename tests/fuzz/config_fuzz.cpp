// libFuzzer target for `sluice run`'s configuration (host/config): the --config INI file read
// (config_file.cpp: options, [kafka], [plugin.NAME] with their host keys), merged with a command
// line, every value parsed, and the whole checked (validate.cpp), by parse_run_args as
// `sluice run` and `--validate` call it.
//
// Input: the INI file, optionally followed by kArgsSeparator and command-line arguments after
// `run --config FILE`, one a line (at most kMaxArgs).
// ConfigError is the expected answer to a bad configuration; anything else (a crash, a
// sanitizer report, another exception, a hang) is a finding. Invariants:
//   - the error is one line, naming the file or the key;
//   - a configuration that parses is described (describe(), what --validate prints) as a file
//     that parses back to the same configuration and describes the same again, unless it holds
//     what describe() keeps out on purpose (redacted secrets, values a file cannot hold, a
//     control token given inline).

#include <spdlog/spdlog.h>

#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "fuzz_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace sluice::config;

constexpr std::string_view kArgsSeparator = "\n~~args~~\n";
constexpr size_t kMaxArgs = 16;

void check(bool ok, const std::string &what) {
    if (!ok) sluice::fuzz::broken("config_fuzz", what);
}

/// parse_run_args on `run ARGS...`; nullopt with the error checked when it refuses.
std::optional<ParsedRun> parse(const std::vector<std::string> &args) {
    std::vector<const char *> argv = {"run"};
    for (const auto &a : args) argv.push_back(a.c_str());
    try {
        return parse_run_args(static_cast<int>(argv.size()), argv.data());
    } catch (const ConfigError &e) {
        const std::string what = e.what();
        check(!what.empty() && what.find('\n') == std::string::npos,
              "a configuration error that is not one line: " + what);
        return std::nullopt;
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string_view input(reinterpret_cast<const char *>(data), size);
    const fs::path dir = sluice::fuzz::scratch_dir("config_fuzz");
    const auto parts = sluice::fuzz::split_parts(input, kArgsSeparator, 2);
    const fs::path file = dir / "run.ini";
    sluice::fuzz::write_file(file, parts[0]);
    std::vector<std::string> args = {"--config", file.string()};
    if (parts.size() == 2) {
        for (const auto arg : sluice::fuzz::split_parts(parts[1], "\n", kMaxArgs))
            args.emplace_back(arg);
    }
    const auto parsed = parse(args);
    if (!parsed || parsed->help) return 0;
    const RunConfig &cfg = parsed->config;

    const std::string text = describe(cfg);
    if (text.find("<redacted>") != std::string::npos ||
        text.find("cannot be written in a config file") != std::string::npos ||
        (!cfg.control_token.empty() && cfg.control_token_file.empty()))
        return 0;
    const fs::path described = dir / "described.ini";
    sluice::fuzz::write_file(described, text);
    std::optional<ParsedRun> again;
    try {
        again = parse({"--config", described.string()});
    } catch (const std::exception &e) {
        sluice::fuzz::broken("config_fuzz", std::string("describe()'s file throws: ") + e.what());
    }
    check(again.has_value(), "describe()'s file is refused:\n" + text);
    check(again->config == cfg, "describe()'s file reads back as another configuration:\n" + text);
    check(describe(again->config) == text, "describe() of the file read back differs:\n" + text);
    return 0;
}
