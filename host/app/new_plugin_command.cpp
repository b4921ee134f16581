// `sluice new-plugin NAME`: writes an out-of-tree plugin project from the templates of
// sdk/templates/plugin, embedded in the binary at build time (sdk/templates/embed.cmake).
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "app/commands.hpp"
#include "app/usage.hpp"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "unknown"
#endif

namespace sluice::app {

namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;

struct TemplateFile {
    const char *path;  // "common/...", "sink/..." or "transform/...", with @NAME@ / @FILE@
    const unsigned char *data;
    std::size_t size;
};
#include "plugin_templates.inc"  // kTemplateFiles, generated from sdk/templates/plugin

constexpr const char *kUsage =
    "Usage: sluice new-plugin NAME [--kind sink|transform] [--dir DIR]\n"
    "\n"
    "Writes a new plugin project, built out of tree against the installed Sluice SDK:\n"
    "  CMakeLists.txt        find_package(Sluice), sluice_add_plugin(NAME ...), the test\n"
    "  src/FILE.cpp          the plugin class: process() and every optional hook (flush,\n"
    "                        partitions_assigned/revoked, snapshot_state/restore_state for\n"
    "                        hot reload, resume_offsets, config_keys), each commented\n"
    "  test/FILE_test.cpp    GoogleTest tests that load the built NAME.so through the real\n"
    "                        plugin ABI with the SDK's test kit, sluice/testing.hpp\n"
    "  NAME.ini              an example sluice run --config file\n"
    "  README.md             the commands to build, test, run and hot-reload it\n"
    "(FILE is NAME with '-' as '_'.) The project builds and its tests pass as generated:\n"
    "\n"
    "  sluice new-plugin my-filter --kind transform\n"
    "  cd my-filter\n"
    "  cmake -S . -B build -DCMAKE_PREFIX_PATH=<the SDK's prefix> -DCMAKE_BUILD_TYPE=Release\n"
    "  cmake --build build && ctest --test-dir build\n"
    "\n"
    "Options:\n"
    "  NAME                the plugin's name: lower-case letters, digits and '-', starting\n"
    "                      with a letter (the host loads it as NAME.so: --plugin NAME)\n"
    "  --kind KIND         sink (default): writes records somewhere, the next plugin sees its\n"
    "                      input; transform: passes on only what it emits\n"
    "  --dir DIR           where to write the project (default: ./NAME); must not exist or\n"
    "                      be empty\n"
    "  -h, --help          print this help and exit\n"
    "\n"
    "The tutorial, docs/writing-plugins.md, goes from here to a tested plugin hot-reloaded on\n"
    "a running host.\n";

/// Why `name` cannot be a plugin name, or "".
std::string name_problem(const std::string &name) {
    const std::string rule =
        "use lower-case letters, digits and '-', starting with a letter (e.g. my-filter)";
    if (name.empty()) return "the plugin name is empty: " + rule;
    if (name.size() > 64)
        return "'" + name + "' is longer than 64 characters: choose a shorter name";
    bool valid = name[0] >= 'a' && name[0] <= 'z';
    for (char c : name)
        valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
    if (!valid) return "'" + name + "' is not a plugin name: " + rule;
    if (name.back() == '-') return "'" + name + "' ends with '-': " + rule;
    for (const char *reserved : {"all", "clean", "help", "install", "test", "package"}) {
        if (name == reserved)
            return "'" + name +
                   "' is the name of a CMake target the project already has: choose "
                   "another name";
    }
    return {};
}

/// my-filter -> MyFilter (the class), my_filter (the file names).
std::string class_name(const std::string &name) {
    std::string out;
    bool upper = true;
    for (char c : name) {
        if (c == '-') {
            upper = true;
            continue;
        }
        out += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
        upper = false;
    }
    return out;
}
std::string file_name(std::string name) {
    for (char &c : name)
        if (c == '-') c = '_';
    return name;
}

/// "0.1.0" -> "0.1": the SDK package accepts only the same minor (SameMinorVersion).
std::string sdk_version() {
    const std::string v = SLUICE_VERSION;
    const auto first = v.find('.');
    const auto second = first == std::string::npos ? first : v.find('.', first + 1);
    return second == std::string::npos ? v : v.substr(0, second);
}

std::string replace_all(std::string text,
                        const std::vector<std::pair<std::string, std::string>> &vars) {
    for (const auto &[key, value] : vars) {
        for (std::size_t at = text.find(key); at != std::string::npos;
             at = text.find(key, at + value.size())) {
            text.replace(at, key.size(), value);
        }
    }
    return text;
}

/// The installed SDK next to this binary (<prefix>/bin/sluice and
/// <prefix>/lib/cmake/Sluice), or "" when there is none.
std::string installed_sdk_prefix() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    const fs::path prefix = exe.parent_path().parent_path();
    if (fs::exists(prefix / "lib/cmake/Sluice/SluiceConfig.cmake", ec)) return prefix.string();
    return {};
}

struct Options {
    std::string name;
    std::string kind = "sink";
    std::string dir;
};

bool parse(int argc, char **argv, Options &o) {
    po::options_description visible;
    visible.add_options()("help,h", "")("kind", po::value(&o.kind))("dir", po::value(&o.dir));
    po::options_description all;
    all.add(visible).add_options()("name", po::value(&o.name));
    po::positional_options_description positional;
    positional.add("name", 1);
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    if (vm.count("help")) {
        std::fputs(kUsage, stdout);
        return false;
    }
    po::notify(vm);
    if (o.name.empty())
        throw UsageError(
            "give the plugin's name, e.g. sluice new-plugin my-filter (see sluice "
            "new-plugin --help)");
    if (std::string problem = name_problem(o.name); !problem.empty()) throw UsageError(problem);
    if (o.kind != "sink" && o.kind != "transform")
        throw UsageError("--kind '" + o.kind +
                         "' is unknown: use sink (writes records out) or transform (passes on "
                         "what it emits)");
    if (o.dir.empty()) o.dir = o.name;
    std::error_code ec;
    const fs::file_status st = fs::status(o.dir, ec);
    if (fs::exists(st)) {
        if (!fs::is_directory(st))
            throw UsageError(o.dir + " exists and is not a directory: choose another --dir");
        if (!fs::is_empty(o.dir, ec))
            throw UsageError(o.dir +
                             " exists and is not empty: choose another --dir, or remove it first");
    }
    return true;
}

}  // namespace

int new_plugin_command(int argc, char **argv) {
    Options o;
    if (auto code = parse_command_line("new-plugin", [&] { return parse(argc, argv, o); }))
        return *code;

    const bool sink = o.kind == "sink";
    const std::vector<std::pair<std::string, std::string>> vars = {
        {"@NAME@", o.name},
        {"@CLASS@", class_name(o.name)},
        {"@FILE@", file_name(o.name)},
        {"@KIND@", o.kind},
        {"@SDK_VERSION@", sdk_version()},
        {"@SLUICE_VERSION@", SLUICE_VERSION},
        {"@SUMMARY@", sink ? "It appends each record to a file, one line per record."
                           : "It drops records whose value contains a configured word and tags "
                             "the rest with a header."},
        {"@CONFIG_EXAMPLE@",
         sink ? "output = " + o.name + ".out   # a plugin's paths are relative to where sluice runs"
              : "drop = debug, trace\n# A transform passes its records on: add a sink after it "
                "(plugin = ... above)."},
    };
    const std::string common = "common/", kind = o.kind + "/";
    const fs::path root = o.dir;
    std::vector<fs::path> written;
    try {
        for (const TemplateFile &t : kTemplateFiles) {
            const std::string_view path(t.path);
            std::string_view rest;
            if (path.substr(0, common.size()) == common) {
                rest = path.substr(common.size());
            } else if (path.substr(0, kind.size()) == kind) {
                rest = path.substr(kind.size());
            } else {
                continue;
            }
            const fs::path file = root / replace_all(std::string(rest), vars);
            fs::create_directories(file.parent_path());
            const std::string text =
                replace_all(std::string(reinterpret_cast<const char *>(t.data), t.size), vars);
            std::ofstream out(file, std::ios::binary | std::ios::trunc);
            out << text;
            out.close();
            if (!out) throw std::runtime_error("cannot write " + file.string());
            written.push_back(file);
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "sluice new-plugin: %s: check that %s is writable\n", e.what(),
                     o.dir.c_str());
        return 1;
    }

    const std::string prefix = installed_sdk_prefix();
    std::printf("Created the %s plugin project '%s' in %s:\n", o.kind.c_str(), o.name.c_str(),
                o.dir.c_str());
    for (const fs::path &f : written) std::printf("  %s\n", f.string().c_str());
    std::printf(
        "Build and test it:\n"
        "  cd %s\n"
        "  cmake -S . -B build -DCMAKE_PREFIX_PATH=%s -DCMAKE_BUILD_TYPE=Release\n"
        "  cmake --build build && ctest --test-dir build\n"
        "then see its README.md to run it.\n",
        o.dir.c_str(), prefix.empty() ? "<the Sluice SDK's prefix>" : prefix.c_str());
    return 0;
}

}  // namespace sluice::app
