// The installed SDK package: `cmake --install --component sdk`, then an out-of-tree
// project (samples/plugin-project) configured with CMAKE_PREFIX_PATH and built, and its
// plugin loaded with Boost.DLL and negotiated the way the host does.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "bundled_files.hpp"
#include "sdk_project.hpp"
#include "test_host.hpp"

namespace sluice::testing {
namespace {

namespace fs = std::filesystem;

class SdkPackageTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        const fs::path prefix = dir_->path() / "prefix";
        const fs::path build = dir_->path() / "build";
        const fs::path log = dir_->file("cmake.log");
        std::string failed = test::install_sdk(prefix, log);
        ASSERT_EQ(failed, "");
        failed = test::build_project(fs::path(SLUICE_SOURCE_DIR) / "samples/plugin-project", build,
                                     prefix, log);
        ASSERT_EQ(failed, "");
        plugin_path_ = new fs::path(build / "value-filter.so");
    }
    static void TearDownTestSuite() {
        delete plugin_path_;
        delete dir_;
    }

    static TempDir *dir_;
    static fs::path *plugin_path_;
};
TempDir *SdkPackageTest::dir_ = nullptr;
fs::path *SdkPackageTest::plugin_path_ = nullptr;

TEST_F(SdkPackageTest, InstallsHeadersAndCMakePackage) {
    const fs::path prefix = dir_->path() / "prefix";
    for (const char *file :
         {"include/sluice/sluice.h", "include/sluice/plugin.hpp",
          "lib/cmake/Sluice/SluiceConfig.cmake", "lib/cmake/Sluice/SluiceConfigVersion.cmake",
          "lib/cmake/Sluice/SluiceTargets.cmake", "lib/cmake/Sluice/SluicePlugin.cmake"}) {
        EXPECT_TRUE(fs::is_regular_file(prefix / file)) << file;
    }
    // Headers only: the sdk component must not drag in host binaries.
    EXPECT_FALSE(fs::exists(prefix / "bin"));
}

TEST_F(SdkPackageTest, BuiltPluginNegotiates) {
    ASSERT_TRUE(fs::is_regular_file(*plugin_path_));
    boost::dll::shared_library lib(
        *plugin_path_, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    ASSERT_TRUE(lib.has(SLUICE_PLUGIN_ENTRY_SYMBOL));
    auto &entry = lib.get<const sluice_plugin_t *(uint32_t, uint32_t)>(SLUICE_PLUGIN_ENTRY_SYMBOL);
    const sluice_plugin_t *d = entry(SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->abi_major, SLUICE_ABI_MAJOR);
    EXPECT_LE(d->abi_minor, SLUICE_ABI_MINOR);
    EXPECT_STREQ(d->name, "value-filter");
    EXPECT_STREQ(d->version, "1.0.0");
    EXPECT_EQ(d->flags, SLUICE_PLUGIN_TRANSFORM);
    EXPECT_EQ(d->flush, nullptr);  // the sample has no optional hooks but config_keys
    ASSERT_EQ(d->config_key_count, 2u);
    EXPECT_STREQ(d->config_keys[0].name, "contains");
    EXPECT_STREQ(d->config_keys[1].name, "invert");
}

TEST_F(SdkPackageTest, BuiltPluginProcessesABatch) {
    LoadedPlugin plugin(*plugin_path_);
    TestHost host;
    host.config["contains"] = "ERROR";
    TestInstance inst(plugin, host);
    inst.create_ok();
    TestBatch b;
    b.id = 1;
    b.ranges.push_back({"logs", 0, 0, 4});
    b.records = {TestRecord{.topic = "logs", .offset = 0, .value = "INFO fine"},
                 TestRecord{.topic = "logs", .offset = 1, .value = "ERROR disk"},
                 TestRecord{.topic = "logs", .offset = 2, .value = std::nullopt},
                 TestRecord{.topic = "logs",
                            .offset = 3,
                            .key = "k",
                            .value = "another ERROR",
                            .headers = {{"h", std::nullopt}}}};
    ASSERT_EQ(inst.process(b).status, SLUICE_OK);
    ASSERT_EQ(host.emitted.size(), 2u);
    EXPECT_EQ(host.emitted[0], b.records[1]);
    EXPECT_EQ(host.emitted[1], b.records[3]);
    EXPECT_EQ(host.metrics["records_dropped"], 2);

    TestHost unconfigured;
    TestInstance bad(plugin, unconfigured);
    CallResult r = bad.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_NE(r.message.find("contains is not set"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace sluice::testing
