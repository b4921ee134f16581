#include "markdown_blocks.hpp"

#include <algorithm>
#include <cctype>
#include <regex>
#include <sstream>

namespace sluice::test::docs {

namespace {

std::string trim(const std::string &s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

bool is_cpp(const std::string &language) {
    return language == "cpp" || language == "c++" || language == "cxx" || language == "cc";
}

}  // namespace

std::vector<Block> fenced_blocks(const std::string &file, const std::string &markdown) {
    static const std::regex marker(R"(^<!--\s*not-compiled:\s*(.*\S)\s*-->$)");
    std::vector<Block> blocks;
    std::istringstream in(markdown);
    std::string line, last_text;  // last_text: the last non-blank line outside a block
    bool inside = false;
    Block current;
    for (int n = 1; std::getline(in, line); ++n) {
        if (!inside) {
            if (line.rfind("```", 0) == 0) {
                inside = true;
                current = Block{};
                current.file = file;
                current.line = n;
                std::string info = trim(line.substr(3));
                current.language = info.substr(0, info.find_first_of(" \t{"));
                std::transform(current.language.begin(), current.language.end(),
                               current.language.begin(),
                               [](unsigned char c) { return std::tolower(c); });
                std::smatch m;
                const std::string previous = trim(last_text);
                if (std::regex_match(previous, m, marker)) current.not_compiled = m[1];
            } else if (!trim(line).empty()) {
                last_text = line;
            }
        } else if (trim(line) == "```") {
            inside = false;
            blocks.push_back(current);
            last_text.clear();
        } else {
            current.code += line + "\n";
        }
    }
    return blocks;
}

Kind classify(const Block &block, std::string *problem) {
    const std::string where = block.file + ":" + std::to_string(block.line) + ": ";
    const std::string mark =
        "; mark it with <!-- not-compiled: why --> on the line before it if "
        "it is not meant to be built";
    const bool has_plugin = block.code.find("SLUICE_PLUGIN(") != std::string::npos;
    if (!block.not_compiled.empty()) return Kind::skipped;
    if (is_cpp(block.language)) {
        if (has_plugin) return Kind::plugin;
        *problem = where + "a ```" + block.language +
                   " block without SLUICE_PLUGIN(...) is not a whole plugin" + mark;
        return Kind::other;
    }
    if (block.language == "cmake") {
        if (block.code.find("cmake_minimum_required(") == std::string::npos ||
            block.code.find("project(") == std::string::npos) {
            *problem =
                where + "a CMake project needs cmake_minimum_required(...) and project(...)" + mark;
        }
        return Kind::cmake;
    }
    if (has_plugin && block.code.find("#include") != std::string::npos)
        *problem = where + "a plugin in a ```" + block.language +
                   " block: label it ```cpp so it is built" + mark;
    return Kind::other;
}

std::vector<std::string> plugin_sources(const std::string &cmake) {
    std::vector<std::string> out;
    static const std::regex call(R"(sluice_add_plugin\s*\(([^)]*)\))");
    for (auto it = std::sregex_iterator(cmake.begin(), cmake.end(), call);
         it != std::sregex_iterator(); ++it) {
        std::istringstream words((*it)[1].str());
        bool sources = false;
        for (std::string w; words >> w;) {
            if (w == "SOURCES") {
                sources = true;
            } else if (w == "OUTPUT_DIRECTORY") {
                sources = false;
            } else if (sources) {
                out.push_back(w);
            }
        }
    }
    return out;
}

std::string plugin_name(const std::string &cpp) {
    static const std::regex macro(
        R"re(SLUICE_PLUGIN\(\s*[A-Za-z_:][A-Za-z0-9_:]*\s*,\s*"([^"]*)")re");
    std::smatch m;
    return std::regex_search(cpp, m, macro) ? m[1].str() : std::string();
}

}  // namespace sluice::test::docs
