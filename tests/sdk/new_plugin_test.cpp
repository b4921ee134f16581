// `sluice new-plugin`: the generated project, for each kind, configures and builds against the
// SDK installed from this build (cmake --install --component sdk into a scratch prefix), its
// generated test passes as generated, and the host's own loader accepts the plugin (sluice
// plugins DIR). Bad input is refused with one line and writes nothing.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sdk_project.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

namespace sluice::test {
namespace {

namespace fs = std::filesystem;

class NewPluginTest : public ::testing::TestWithParam<const char *> {
  protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir(temp_dir("sluice-new-plugin"));
        ASSERT_EQ(install_sdk(dir_->path() / "prefix", dir_->path() / "install.log"), "");
    }
    static void TearDownTestSuite() { delete dir_; }
    static TempDir *dir_;
};
TempDir *NewPluginTest::dir_ = nullptr;

TEST_P(NewPluginTest, GeneratedProjectBuildsAndItsTestPasses) {
    const std::string kind = GetParam();
    const std::string name = "my-" + kind;
    const fs::path project = dir_->path() / kind;
    CommandResult r = run_sluice({"new-plugin", name, "--kind", kind, "--dir", project.string()});
    ASSERT_EQ(r.status.code, 0) << r.err;
    EXPECT_NE(r.out.find("Created the " + kind + " plugin project '" + name + "'"),
              std::string::npos)
        << r.out;
    for (const std::string &file :
         std::vector<std::string>{"CMakeLists.txt", "README.md", name + ".ini",
                                  "src/my_" + kind + ".cpp", "test/my_" + kind + "_test.cpp"}) {
        EXPECT_TRUE(fs::is_regular_file(project / file)) << file;
        EXPECT_NE(r.out.find((project / file).string()), std::string::npos) << r.out;
    }
    const std::string source = read_text(project / ("src/my_" + kind + ".cpp"));
    EXPECT_EQ(source.find('@'), std::string::npos) << "a placeholder was left in the source";
    for (const char *hook :
         {"process(", "flush(", "partitions_assigned(", "partitions_revoked(", "snapshot_state(",
          "restore_state(", "resume_offsets(", "config_keys()"}) {
        EXPECT_NE(source.find(hook), std::string::npos) << hook;
    }
    const std::string cmake = read_text(project / "CMakeLists.txt");
    EXPECT_NE(cmake.find("find_package(Sluice"), std::string::npos);
    EXPECT_NE(cmake.find("sluice_add_plugin(" + name), std::string::npos);
    EXPECT_NE(cmake.find("find_package(GTest"), std::string::npos);

    const fs::path build = project / "build";
    ASSERT_EQ(build_project(project, build, dir_->path() / "prefix", project / "cmake.log",
                            "-DCMAKE_CXX_FLAGS='-Wall -Wextra -Werror'"),
              "");
    const fs::path test_log = project / "test.log";
    EXPECT_EQ(run_logged(shell_quote(build / ("my_" + kind + "_test")), test_log), 0)
        << read_text(test_log);
    EXPECT_NE(read_text(test_log).find("[  PASSED  ] 5 tests."), std::string::npos)
        << read_text(test_log);

    // Deployed as its README says, the host's own loader (permissions, ELF, dlopen, negotiation)
    // lists it as loadable, and the example config passes --validate (which loads the chain and
    // checks the plugin's section against its declared keys).
    const fs::path deploy = project / "deploy";
    fs::create_directories(deploy);
    fs::permissions(deploy, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                fs::perms::others_read | fs::perms::others_exec);
    fs::copy_file(build / (name + ".so"), deploy / (name + ".so"));
    r = run_sluice({"plugins", deploy.string()});
    EXPECT_EQ(r.status.code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("name=" + name + " version=0.1.0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(kind == "sink" ? "output (path)" : "drop (string)"), std::string::npos)
        << r.out;
    r = run_sluice({"run", "--config", (project / (name + ".ini")).string(), "--validate"});
    EXPECT_EQ(r.status.code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("[plugin." + name + "]"), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(Kinds, NewPluginTest, ::testing::Values("sink", "transform"));

TEST(NewPluginCommand, RefusesBadInputWithOneLine) {
    TempDir dir(temp_dir("sluice-new-plugin-bad"));
    const fs::path full = dir.path() / "full";
    fs::create_directories(full);
    std::ofstream(full / "keep.txt") << "mine";
    const struct {
        std::vector<std::string> args;
        const char *error;
    } cases[] = {
        {{"new-plugin"}, "give the plugin's name"},
        {{"new-plugin", "My_Filter"}, "'My_Filter' is not a plugin name: use lower-case letters"},
        {{"new-plugin", "9lives"}, "'9lives' is not a plugin name"},
        {{"new-plugin", "filter-"}, "ends with '-'"},
        {{"new-plugin", "test"}, "CMake target"},
        {{"new-plugin", "x", "--kind", "source"}, "--kind 'source' is unknown: use sink"},
        {{"new-plugin", "x", "--dir", full.string()}, "exists and is not empty"},
        {{"new-plugin", "x", "--dir", (full / "keep.txt").string()}, "is not a directory"},
        {{"new-plugin", "x", "--frobnicate"}, "(see sluice new-plugin --help)"},
    };
    for (const auto &c : cases) {
        const CommandResult r = run_sluice(c.args);
        EXPECT_EQ(r.status.code, 2) << c.error << ": " << r.err;
        EXPECT_NE(r.err.find("sluice new-plugin: "), std::string::npos) << r.err;
        EXPECT_NE(r.err.find(c.error), std::string::npos) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
    EXPECT_EQ(read_text(full / "keep.txt"), "mine");
    EXPECT_EQ(std::distance(fs::directory_iterator(full), fs::directory_iterator()), 1);
    EXPECT_FALSE(fs::exists("x"));  // nothing written in the working directory either
}

TEST(NewPluginCommand, HelpTeachesTheProject) {
    const CommandResult r = run_sluice({"new-plugin", "--help"});
    EXPECT_EQ(r.status.code, 0);
    for (const char *text :
         {"Usage: sluice new-plugin NAME", "--kind", "--dir", "sluice_add_plugin",
          "sluice/testing.hpp", "ctest --test-dir build", "docs/writing-plugins.md"}) {
        EXPECT_NE(r.out.find(text), std::string::npos) << text;
    }
}

}  // namespace
}  // namespace sluice::test
