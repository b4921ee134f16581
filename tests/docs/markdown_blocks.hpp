#pragma once
// The fenced code blocks of a Markdown file, and which of them are examples the docs test builds.

#include <string>
#include <vector>

namespace sluice::test::docs {

/// One fenced block (``` at the start of a line, closed by a line of ``` alone).
struct Block {
    std::string file;          // for messages
    int line = 0;              // of the opening fence, 1-based
    std::string language;      // the info string's first word, lower case ("" when none)
    std::string code;          // the lines between the fences
    std::string not_compiled;  // the reason of a <!-- not-compiled: REASON --> before it, or ""
};

std::vector<Block> fenced_blocks(const std::string &file, const std::string &markdown);

enum class Kind {
    plugin,   // a C++ plugin: built with the SDK and loaded
    cmake,    // a CMake project: configured and built against the installed SDK
    skipped,  // marked not-compiled
    other,    // another language, not an example of the SDK
};

/// What the docs test does with `block`. A C++ block that is not a whole plugin, a CMake block
/// without cmake_minimum_required or project, or a plugin in a block not labelled cpp is an
/// error unless marked: `problem` says which and how to mark it.
Kind classify(const Block &block, std::string *problem);

/// The file names after SOURCES in a CMake block's sluice_add_plugin(...).
std::vector<std::string> plugin_sources(const std::string &cmake);

/// The name given to SLUICE_PLUGIN(Class, "name", ...), or "".
std::string plugin_name(const std::string &cpp);

}  // namespace sluice::test::docs
