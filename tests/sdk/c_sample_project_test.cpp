// samples/c-plugin as a C author builds it: a C-only CMake project (LANGUAGES C, C11) against the
// SDK installed into a scratch prefix; the result exports only sluice_plugin_entry and the host's
// loader lists it as loadable (sluice plugins DIR).

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "sdk_project.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

namespace sluice::test {
namespace {

namespace fs = std::filesystem;

TEST(CSampleProject, BuildsAsCAloneAgainstTheInstalledSdk) {
    TempDir dir(temp_dir("sluice-c-sample"));
    const fs::path prefix = dir.path() / "prefix", build = dir.path() / "build";
    ASSERT_EQ(install_sdk(prefix, dir.path() / "install.log"), "");
    ASSERT_EQ(build_project(fs::path(SLUICE_SOURCE_DIR) / "samples/c-plugin", build, prefix,
                            dir.path() / "cmake.log",
                            "-DCMAKE_C_FLAGS='-Wall -Wextra -Wpedantic -Werror'"),
              "");
    const std::string cache = read_text(build / "CMakeCache.txt");
    EXPECT_EQ(cache.find("CMAKE_CXX_COMPILER_LOADED"), std::string::npos);  // C only
    const fs::path log = dir.path() / "nm.log";
    ASSERT_EQ(run_logged("nm -D --defined-only " + shell_quote(build / "redact.so"), log), 0);
    const std::string symbols = read_text(log);
    EXPECT_NE(symbols.find(" T sluice_plugin_entry"), std::string::npos) << symbols;
    EXPECT_EQ(std::count(symbols.begin(), symbols.end(), '\n'), 1) << symbols;

    fs::permissions(build, fs::perms::group_write | fs::perms::others_write,
                    fs::perm_options::remove);
    const CommandResult r = run_sluice({"plugins", build.string()});
    EXPECT_EQ(r.status.code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("name=redact version=1.0.0 abi=1.1 loads=yes transform"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("mask (string, default #)"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace sluice::test
