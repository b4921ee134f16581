// Every plugin and CMake example of README.md and docs/*.md is built against the installed SDK,
// so a documented example cannot stop compiling unnoticed: C++ plugins (```cpp blocks with
// SLUICE_PLUGIN) with C++17 and C++20 under -Wall -Wextra -Wpedantic -Werror, then loaded and
// negotiated; CMake projects (```cmake blocks) configured and built as written, with the source
// files they name taken from the plugin example before them in the same file. Blocks that are
// not whole examples are marked <!-- not-compiled: why --> and listed, never skipped silently.

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sluice/sluice.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "markdown_blocks.hpp"
#include "sdk_project.hpp"
#include "temp_dir.hpp"

namespace sluice::test::docs {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

/// The documentation's examples, in file order.
struct Examples {
    std::vector<Block> plugins;
    struct CMakeProject {
        Block block;
        const Block *sources = nullptr;  // the plugin example before it in the same file
    };
    std::vector<CMakeProject> cmake;
    std::vector<Block> skipped;
    std::vector<std::string> problems;
    std::vector<std::string> files;
};

Examples collect() {
    const fs::path root = SLUICE_SOURCE_DIR;
    std::vector<fs::path> files{root / "README.md"};
    std::vector<fs::path> docs;
    for (const auto &entry : fs::directory_iterator(root / "docs"))
        if (entry.path().extension() == ".md") docs.push_back(entry.path());
    std::sort(docs.begin(), docs.end());
    files.insert(files.end(), docs.begin(), docs.end());

    Examples out;
    out.plugins.reserve(64);  // cmake[].sources points into it
    for (const fs::path &file : files) {
        const std::string name = fs::relative(file, root).string();
        out.files.push_back(name);
        const Block *last_plugin = nullptr;
        for (const Block &block : fenced_blocks(name, read_text(file))) {
            std::string problem;
            switch (classify(block, &problem)) {
                case Kind::plugin:
                    out.plugins.push_back(block);
                    last_plugin = &out.plugins.back();
                    break;
                case Kind::cmake:
                    out.cmake.push_back({block, last_plugin});
                    break;
                case Kind::skipped:
                    out.skipped.push_back(block);
                    break;
                case Kind::other:
                    break;
            }
            if (!problem.empty()) out.problems.push_back(problem);
        }
    }
    return out;
}

void write_text(const fs::path &file, const std::string &text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
}

/// dlopen + entry + negotiation, as the host does; "" when it loads, else why not.
std::string load_problem(const fs::path &so, const std::string &expected_name) {
    void *h = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) return std::string("dlopen: ") + dlerror();
    std::string problem;
    auto entry = reinterpret_cast<sluice_plugin_entry_fn>(dlsym(h, SLUICE_PLUGIN_ENTRY_SYMBOL));
    const sluice_plugin_t *d = entry ? entry(SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR) : nullptr;
    if (d == nullptr) {
        problem = "no descriptor from " SLUICE_PLUGIN_ENTRY_SYMBOL;
    } else if (d->abi_major != SLUICE_ABI_MAJOR || d->abi_minor > SLUICE_ABI_MINOR) {
        problem =
            "built for ABI " + std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor);
    } else if (!expected_name.empty() && (d->name == nullptr || d->name != expected_name)) {
        problem = "its name is not '" + expected_name + "'";
    }
    dlclose(h);
    return problem;
}

std::string where(const Block &b) {
    return b.file + ":" + std::to_string(b.line);
}

// ------------------------------------------------------------------ the extractor

TEST(DocsBlocks, TheExtractorFindsExamplesAndHonoursMarks) {
    const std::string md =
        "text\n"
        "```cpp\n#include <sluice/plugin.hpp>\nSLUICE_PLUGIN(A, \"a\", \"1\", \"d\", 0)\n```\n"
        "<!-- not-compiled: a fragment -->\n\n"
        "```cpp\nhost.log(x);\n```\n"
        "```cpp\nhost.log(y);\n```\n"
        "```cmake\ncmake_minimum_required(VERSION 3.20)\nproject(p)\n"
        "sluice_add_plugin(a SOURCES a.cpp b.cpp)\n```\n"
        "```cmake\nfind_package(Sluice)\n```\n"
        "```\n#include <sluice/plugin.hpp>\nSLUICE_PLUGIN(B, \"b\", \"1\", \"d\", 0)\n```\n"
        "```sh\ncmake --build b\n```\n";
    const auto blocks = fenced_blocks("x.md", md);
    ASSERT_EQ(blocks.size(), 7u);
    std::vector<std::string> problems(blocks.size());
    std::vector<Kind> kinds;
    for (size_t i = 0; i < blocks.size(); ++i) kinds.push_back(classify(blocks[i], &problems[i]));
    EXPECT_EQ(kinds, (std::vector<Kind>{Kind::plugin, Kind::skipped, Kind::other, Kind::cmake,
                                        Kind::cmake, Kind::other, Kind::other}));
    EXPECT_EQ(blocks[0].line, 2);
    EXPECT_EQ(plugin_name(blocks[0].code), "a");
    EXPECT_EQ(blocks[1].not_compiled, "a fragment");
    EXPECT_EQ(problems[1], "");
    // An unmarked fragment is an error, not silently skipped.
    EXPECT_THAT(problems[2], HasSubstr("x.md:11: a ```cpp block without SLUICE_PLUGIN(...)"));
    EXPECT_THAT(problems[2], HasSubstr("<!-- not-compiled: why -->"));
    EXPECT_EQ(problems[3], "");
    EXPECT_EQ(plugin_sources(blocks[3].code), (std::vector<std::string>{"a.cpp", "b.cpp"}));
    EXPECT_THAT(problems[4], HasSubstr("needs cmake_minimum_required(...) and project(...)"));
    EXPECT_THAT(problems[5], HasSubstr("label it ```cpp"));
    EXPECT_EQ(problems[6], "");
}

TEST(DocsBlocks, EveryCodeExampleIsBuiltOrMarked) {
    const Examples ex = collect();
    EXPECT_THAT(ex.problems, ::testing::IsEmpty());
    // The README's plugin and docs/plugins.md's plugin and CMake project at least: an extractor
    // that finds nothing must not pass.
    EXPECT_GE(ex.plugins.size(), 2u);
    EXPECT_GE(ex.cmake.size(), 1u);
    for (const auto &p : ex.cmake)
        EXPECT_NE(p.sources, nullptr)
            << where(p.block) << ": a CMake example needs a plugin example before it in the same "
            << "file (its SOURCES)";
    for (const Block &b : ex.skipped)
        std::printf("not compiled: %s (%s): %s\n", where(b).c_str(), b.language.c_str(),
                    b.not_compiled.c_str());
}

// ------------------------------------------------------------------ building them

class DocsExamples : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir(temp_dir("sluice-docs"));
        const std::string failed = install_sdk(prefix(), dir_->path() / "install.log");
        ASSERT_EQ(failed, "");
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }
    static fs::path prefix() { return dir_->path() / "prefix"; }

    static TempDir *dir_;
};
TempDir *DocsExamples::dir_ = nullptr;

TEST_F(DocsExamples, EveryPluginExampleBuildsWithCxx17And20AndLoads) {
    const Examples ex = collect();
    ASSERT_FALSE(ex.plugins.empty());
    const fs::path src = dir_->path() / "plugins";
    std::string cmake =
        "cmake_minimum_required(VERSION 3.20)\nproject(doc_plugins LANGUAGES CXX)\n"
        "find_package(Sluice 0.1 REQUIRED)\n";
    for (size_t i = 0; i < ex.plugins.size(); ++i) {
        const std::string file = "example" + std::to_string(i) + ".cpp";
        write_text(src / file, ex.plugins[i].code);
        for (const char *standard : {"17", "20"}) {
            const std::string target = "example" + std::to_string(i) + "_cxx" + standard;
            cmake += "sluice_add_plugin(" + target + " SOURCES " + file + ")\n" +
                     "set_target_properties(" + target + " PROPERTIES CXX_STANDARD " + standard +
                     " CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)\n" + "target_compile_options(" +
                     target + " PRIVATE -Wall -Wextra -Wpedantic -Werror)\n";
        }
    }
    write_text(src / "CMakeLists.txt", cmake);
    const fs::path build = dir_->path() / "plugins-build";
    std::string failed = build_project(src, build, prefix(), dir_->path() / "plugins.log");
    if (!failed.empty()) {
        for (size_t i = 0; i < ex.plugins.size(); ++i)
            failed += "\nexample" + std::to_string(i) + ".cpp is " + where(ex.plugins[i]);
    }
    ASSERT_EQ(failed, "");
    for (size_t i = 0; i < ex.plugins.size(); ++i)
        for (const char *standard : {"17", "20"}) {
            const fs::path so = build / ("example" + std::to_string(i) + "_cxx" + standard + ".so");
            EXPECT_EQ(load_problem(so, plugin_name(ex.plugins[i].code)), "")
                << where(ex.plugins[i]) << " built with C++" << standard;
        }
}

TEST_F(DocsExamples, EveryCMakeExampleBuildsAsWritten) {
    const Examples ex = collect();
    ASSERT_FALSE(ex.cmake.empty());
    for (size_t i = 0; i < ex.cmake.size(); ++i) {
        const auto &project = ex.cmake[i];
        SCOPED_TRACE(where(project.block));
        ASSERT_NE(project.sources, nullptr);
        const fs::path src = dir_->path() / ("cmake" + std::to_string(i));
        write_text(src / "CMakeLists.txt", project.block.code);
        const auto sources = plugin_sources(project.block.code);
        ASSERT_FALSE(sources.empty()) << "no sluice_add_plugin(NAME SOURCES ...)";
        for (const std::string &file : sources) write_text(src / file, project.sources->code);
        const fs::path build = dir_->path() / ("cmake" + std::to_string(i) + "-build");
        ASSERT_EQ(build_project(src, build, prefix(), dir_->path() / "cmake.log",
                                "'-DCMAKE_CXX_FLAGS=-Wall -Wextra -Wpedantic -Werror'"),
                  "");
        int built = 0;
        for (const auto &entry : fs::directory_iterator(build)) {
            if (entry.path().extension() != ".so") continue;
            ++built;
            EXPECT_EQ(load_problem(entry.path(), plugin_name(project.sources->code)), "")
                << entry.path();
        }
        EXPECT_GE(built, 1) << "no NAME.so in " << build;
    }
}

}  // namespace
}  // namespace sluice::test::docs
