// PluginLoader and PluginInstance: every error path against a real small .so.

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <fstream>

#include "loader_test_support.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_loader.hpp"

namespace sluice::plugins {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::PluginDir;
using testing::TempDir;
namespace fs = std::filesystem;

// Runs `fn`, expects a PluginError, and returns its what() after checking it is one line that
// names the plugin.
template <typename Fn>
std::string error_of(const std::string &name, Fn fn) {
    try {
        fn();
    } catch (const PluginError &e) {
        std::string what = e.what();
        EXPECT_THAT(what, HasSubstr("plugin '" + name + "' ("));
        EXPECT_EQ(what.find('\n'), std::string::npos) << what;
        return what;
    }
    ADD_FAILURE() << "no PluginError for " << name;
    return {};
}

class LoaderTest : public ::testing::Test {
  protected:
    PluginDir dir_;
    PluginLoader loader_{{dir_.path()}};

    std::string load_error(const std::string &name) {
        return error_of(name, [&] { loader_.load(name); });
    }
};

TEST_F(LoaderTest, LoadsAndNegotiatesAGoodPlugin) {
    auto lib = loader_.load("loader_recorder");
    EXPECT_EQ(lib->name(), "loader_recorder");
    EXPECT_EQ(lib->path(), fs::canonical(dir_.path() / "loader_recorder.so"));
    EXPECT_EQ(lib->abi_major(), 1u);
    EXPECT_EQ(lib->abi_minor(), 0u);
    EXPECT_STREQ(lib->descriptor().name, "recorder");
    EXPECT_EQ(lib->descriptor().struct_size, sizeof(sluice_plugin_t));
    EXPECT_NE(lib->descriptor().flush, nullptr);
    EXPECT_NE(lib->descriptor().resume_offsets, nullptr);
}

TEST_F(LoaderTest, ResolvesNameThenLibNameInDirectoryOrder) {
    TempDir first, second;
    PluginLoader loader({first.path(), second.path()});
    dir_.copy("loader_recorder", second.path(), "libx.so");
    EXPECT_EQ(loader.resolve("x"), second.path() / "libx.so");
    dir_.copy("loader_recorder", second.path(), "x.so");
    EXPECT_EQ(loader.resolve("x"), second.path() / "x.so");  // NAME.so before libNAME.so
    dir_.copy("loader_recorder", first.path(), "libx.so");
    EXPECT_EQ(loader.resolve("x"), first.path() / "libx.so");  // earlier directory first
}

TEST_F(LoaderTest, MissingPluginListsTheDirectoriesSearched) {
    TempDir other;
    PluginLoader loader({dir_.path(), other.path()});
    std::string what = error_of("nope", [&] { loader.resolve("nope"); });
    EXPECT_THAT(what, AllOf(HasSubstr("no nope.so or libnope.so"), HasSubstr(dir_.path().string()),
                            HasSubstr(other.path().string()), HasSubstr("--plugin-dir")));
}

TEST_F(LoaderTest, MissingExplicitFile) {
    std::string what =
        error_of("gone", [&] { loader_.load_file("gone", dir_.path() / "gone.so"); });
    EXPECT_THAT(what, HasSubstr("does not exist"));
}

TEST_F(LoaderTest, NameWithPathSeparatorIsRefused) {
    std::string what = error_of("../evil", [&] { loader_.load("../evil"); });
    EXPECT_THAT(what, HasSubstr("may not be empty or contain '/'"));
}

TEST_F(LoaderTest, TextFileIsNotASharedLibrary) {
    std::ofstream(dir_.path() / "x.so") << "I am not an ELF file\n";
    fs::permissions(dir_.path() / "x.so", fs::perms(0644));
    EXPECT_THAT(load_error("x"), HasSubstr("is not a shared library (no ELF header)"));
}

TEST_F(LoaderTest, DirectoryIsNotARegularFile) {
    fs::create_directory(dir_.path() / "d.so");
    fs::permissions(dir_.path() / "d.so", fs::perms(0755));
    EXPECT_THAT(load_error("d"), HasSubstr("is not a regular file"));
}

TEST_F(LoaderTest, NoEntrySymbol) {
    EXPECT_THAT(
        load_error("loader_bad_no_entry"),
        AllOf(HasSubstr("exports no sluice_plugin_entry symbol"), HasSubstr("sluice_add_plugin")));
}

TEST_F(LoaderTest, AbiMajorMismatchNamesBothVersions) {
    EXPECT_THAT(load_error("loader_bad_major"),
                HasSubstr("built for Sluice ABI 2.0, this host speaks 1.0; rebuild the plugin "
                          "against this SDK"));
}

TEST_F(LoaderTest, NewerMinorIsRefused) {
    EXPECT_THAT(load_error("loader_bad_minor"),
                HasSubstr("built for Sluice ABI 1.1, this host speaks 1.0; use a newer sluice"));
}

TEST_F(LoaderTest, EntryReturningNullIsARefusal) {
    EXPECT_THAT(load_error("loader_bad_refuse"),
                HasSubstr("the plugin refused this host (its entry returned no descriptor for "
                          "Sluice ABI 1.0)"));
}

TEST_F(LoaderTest, DescriptorTooSmall) {
    EXPECT_THAT(load_error("loader_bad_tiny"), HasSubstr("struct_size 8, too small"));
    EXPECT_THAT(
        load_error("loader_bad_short"),
        AllOf(HasSubstr("struct_size " + std::to_string(offsetof(sluice_plugin_t, process_batch))),
              HasSubstr("ABI 1.0 requires")));
}

TEST_F(LoaderTest, MissingRequiredFunction) {
    EXPECT_THAT(load_error("loader_bad_no_process"),
                HasSubstr("lacks required functions: process_batch"));
}

TEST_F(LoaderTest, UnresolvedSymbolGivesTheDynamicLinkersReason) {
    EXPECT_THAT(load_error("loader_bad_undefined"),
                AllOf(HasSubstr("cannot be loaded"),
                      HasSubstr("undefined symbol: sluice_test_symbol_nobody_defines")));
}

TEST_F(LoaderTest, MembersBeyondStructSizeReadAsAbsent) {
    // The minimal plugin sets flush in its static struct, but past its struct_size.
    auto lib = loader_.load("loader_bad_minimal");
    EXPECT_EQ(lib->descriptor().struct_size, offsetof(sluice_plugin_t, partitions_assigned));
    EXPECT_NE(lib->descriptor().process_batch, nullptr);
    EXPECT_EQ(lib->descriptor().flush, nullptr);
    EXPECT_EQ(lib->descriptor().resume_offsets, nullptr);
    PluginInstance inst(lib, {});
    sluice_batch_t batch{};
    batch.struct_size = sizeof batch;
    EXPECT_TRUE(inst.flush(batch).ok());  // the flush beyond struct_size would return FATAL
}

TEST_F(LoaderTest, FileWritableByGroupOrOthersIsRefused) {
    for (auto mode : {fs::perms(0775), fs::perms(0757)}) {
        fs::path file = dir_.path() / "loader_recorder.so";
        fs::permissions(file, mode);
        std::string what = load_error("loader_recorder");
        EXPECT_THAT(what, AllOf(HasSubstr("writable by group or others"),
                                HasSubstr("chmod go-w " + file.string())));
    }
}

TEST_F(LoaderTest, DirectoryWritableByGroupOrOthersIsRefused) {
    TempDir open_dir;
    dir_.copy("loader_recorder", open_dir.path());
    fs::permissions(open_dir.path(), fs::perms(0770));
    PluginLoader loader({open_dir.path()});
    std::string what = error_of("loader_recorder", [&] { loader.load("loader_recorder"); });
    EXPECT_THAT(what, AllOf(HasSubstr("its directory " + open_dir.path().string()),
                            HasSubstr("chmod go-w " + open_dir.path().string())));
    fs::permissions(open_dir.path(), fs::perms(0700));
    EXPECT_NO_THROW(loader.load("loader_recorder"));
}

TEST_F(LoaderTest, SymlinkIntoAnOpenDirectoryIsRefused) {
    TempDir open_dir;
    fs::path real = dir_.copy("loader_recorder", open_dir.path());
    fs::permissions(open_dir.path(), fs::perms(0777));
    fs::create_symlink(real, dir_.path() / "linked.so");
    std::string what = load_error("linked");
    EXPECT_THAT(what, HasSubstr("chmod go-w " + open_dir.path().string()));
}

TEST_F(LoaderTest, CreateFailureCarriesThePluginsMessage) {
    auto lib = loader_.load("loader_recorder");
    std::string what = error_of("loader_recorder", [&] {
        PluginInstance inst(lib, {{"fail_create", "bucket 'raw' does not exist"}});
    });
    EXPECT_THAT(what, AllOf(HasSubstr("create failed: bucket 'raw' does not exist"),
                            HasSubstr("[plugin.loader_recorder]")));
}

TEST_F(LoaderTest, HostApiLogIsTaggedWithThePluginName) {
    auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
    auto previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", ring));
    { PluginInstance inst(loader_.load("loader_recorder"), {}); }
    spdlog::set_default_logger(previous);
    auto lines = ring->last_formatted();
    bool found = false;
    for (const auto &l : lines)
        found |= l.find("[plugin loader_recorder] recorder created") != l.npos;
    EXPECT_TRUE(found) << ::testing::PrintToString(lines);
}

TEST_F(LoaderTest, EmitOutsideProcessBatchIsFatal) {
    TempDir out;
    fs::path dump = out.path() / "dump";
    PluginInstance inst(loader_.load("loader_recorder"),
                        {{"dump_path", dump.string()}, {"emit_in_create", "1"}});
    EXPECT_THAT(
        testing::read_lines(dump),
        ::testing::ElementsAre("create", "emit_in_create rc=" + std::to_string(SLUICE_FATAL)));
}

TEST_F(LoaderTest, StateIsHandedFromOneGenerationToTheNext) {
    TempDir out;
    auto lib = loader_.load("loader_recorder");
    PluginInstance old_gen(lib, {});
    ASSERT_TRUE(old_gen.has_state_hooks());
    sluice_record_t recs[3] = {};
    for (auto &r : recs) r.struct_size = sizeof r;
    sluice_batch_t batch{};
    batch.struct_size = sizeof batch;
    batch.records = recs;
    batch.record_count = 3;
    batch.record_stride = sizeof recs[0];
    ASSERT_TRUE(old_gen.process_batch(batch).ok());
    std::string state;
    ASSERT_TRUE(old_gen.snapshot_state(&state).ok());
    EXPECT_EQ(state, "seen=3");

    fs::path dump = out.path() / "dump";
    PluginInstance new_gen(lib, {{"dump_path", dump.string()}});
    ASSERT_TRUE(new_gen.restore_state(state).ok());
    EXPECT_THAT(testing::read_lines(dump), ::testing::ElementsAre("create", "restore seen=3"));

    PluginInstance no_hooks(loader_.load("loader_bad_minimal"), {});
    EXPECT_FALSE(no_hooks.has_state_hooks());
    std::string none;
    EXPECT_TRUE(no_hooks.snapshot_state(&none).ok());
    EXPECT_TRUE(none.empty());
    EXPECT_TRUE(no_hooks.restore_state("x").ok());
}

// dlopen(RTLD_NOLOAD) answers whether the dynamic linker still has the file mapped.
bool is_mapped(const fs::path &file) {
    void *h = dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (h != nullptr) dlclose(h);
    return h != nullptr;
}

TEST_F(LoaderTest, LibraryIsUnloadedOnlyAfterItsLastInstance) {
    auto lib = loader_.load("loader_upper");
    const fs::path file = lib->path();
    std::weak_ptr<PluginLibrary> weak = lib;
    auto a = std::make_unique<PluginInstance>(lib, std::map<std::string, std::string>{});
    auto b = std::make_unique<PluginInstance>(lib, std::map<std::string, std::string>{});
    lib.reset();
    EXPECT_EQ(&a->library(), &b->library());

    a.reset();
    ASSERT_FALSE(weak.expired());
    EXPECT_TRUE(is_mapped(file));
    // b's code and descriptor are still there: it still works.
    sluice_record_t rec{};
    rec.struct_size = sizeof rec;
    rec.topic = "t";
    rec.value = "abc";
    rec.value_len = 3;
    sluice_batch_t batch{};
    batch.struct_size = sizeof batch;
    batch.records = &rec;
    batch.record_count = 1;
    batch.record_stride = sizeof rec;
    ASSERT_TRUE(b->process_batch(batch).ok());
    sluice_batch_t out = b->emitted_batch(batch);
    ASSERT_EQ(out.record_count, 1u);
    EXPECT_EQ(std::string(static_cast<const char *>(out.records[0].value), 3), "ABC");

    b.reset();
    EXPECT_TRUE(weak.expired());
    EXPECT_FALSE(is_mapped(file));
}

}  // namespace
}  // namespace sluice::plugins
