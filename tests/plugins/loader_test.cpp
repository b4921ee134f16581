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
#include "plugins/plugin_reloader.hpp"
#include "plugins/plugins_command.hpp"

namespace sluice::plugins {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::PluginDir;
using testing::TempDir;
namespace fs = std::filesystem;

// This host's ABI version as the messages spell it.
const std::string kHostAbi =
    std::to_string(SLUICE_ABI_MAJOR) + "." + std::to_string(SLUICE_ABI_MINOR);

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
    EXPECT_EQ(lib->abi_minor(), SLUICE_ABI_MINOR);
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
        AllOf(HasSubstr("exports no sluice_plugin_entry symbol"),
              HasSubstr("add one SLUICE_PLUGIN(Class, \"name\", \"version\", \"description\", "
                        "flags) line"),
              HasSubstr("sluice_add_plugin")));
}

TEST_F(LoaderTest, AbiMajorMismatchNamesBothVersions) {
    EXPECT_THAT(load_error("loader_bad_major"),
                HasSubstr("built for Sluice ABI 2.0, this host speaks " + kHostAbi +
                          "; rebuild the plugin against this SDK"));
}

TEST_F(LoaderTest, NewerMinorIsRefused) {
    EXPECT_THAT(load_error("loader_bad_minor"),
                HasSubstr("built for Sluice ABI 1." + std::to_string(SLUICE_ABI_MINOR + 1) +
                          ", this host speaks " + kHostAbi + "; use a newer sluice"));
}

TEST_F(LoaderTest, EntryReturningNullIsARefusal) {
    EXPECT_THAT(load_error("loader_bad_refuse"),
                HasSubstr("the plugin refused this host (its entry returned no descriptor for "
                          "Sluice ABI " +
                          kHostAbi + ")"));
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

TEST_F(LoaderTest, SymlinkOutOfThePluginDirectoryIsRefused) {
    TempDir open_dir;
    fs::path real = dir_.copy("loader_recorder", open_dir.path());
    fs::permissions(open_dir.path(), fs::perms(0777));
    fs::create_symlink(real, dir_.path() / "linked.so");
    std::string what = load_error("linked");
    EXPECT_THAT(what, HasSubstr("outside its plugin directory"));  // tests/security: the rest
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

// ------------------------------------------------------------------ declared config keys

TEST_F(LoaderTest, DeclaredConfigKeysAreCopiedFromTheLibrary) {
    auto lib = loader_.load("loader_keys_declared");
    ASSERT_TRUE(lib->config_keys().has_value());
    const auto &keys = *lib->config_keys();
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].name, "top");
    EXPECT_STREQ(config_type_name(keys[0].type), "int");
    EXPECT_EQ(keys[0].default_value, std::optional<std::string>("10"));
    EXPECT_EQ(keys[0].description, "how many to print");
    EXPECT_EQ(keys[1].name, "output");
    EXPECT_STREQ(config_type_name(keys[1].type), "path");
    EXPECT_EQ(keys[1].default_value, std::nullopt);

    // A plugin without the member (ABI 1.0) or with a NULL table does not declare its keys.
    EXPECT_FALSE(loader_.load("loader_keys_old_abi")->config_keys().has_value());
    EXPECT_FALSE(loader_.load("loader_recorder")->config_keys().has_value());
    // A non-NULL empty table declares "no keys".
    auto none = loader_.load("loader_keys_none");
    ASSERT_TRUE(none->config_keys().has_value());
    EXPECT_TRUE(none->config_keys()->empty());
}

TEST_F(LoaderTest, UndeclaredKeyOfADeclaringPluginIsRefusedBeforeCreate) {
    auto lib = loader_.load("loader_keys_declared");
    const std::string file = (dir_.path() / "loader_keys_declared.so").string();
    std::string what = error_of("loader_keys_declared", [&] {
        PluginInstance inst(lib, {{"tpo", "3"}});
    });
    EXPECT_THAT(what, AllOf(HasSubstr("(" + file +
                                      "): [plugin.loader_keys_declared] has the key "
                                      "'tpo', which the plugin does not declare (did you mean "
                                      "'top'?)"),
                            HasSubstr("its keys are top, output"), Not(HasSubstr("create"))));
    // Declared keys and the host's own keys are accepted.
    EXPECT_NO_THROW(
        PluginInstance(lib, {{"top", "3"}, {"output", "/tmp/x"}, {"on-error", "skip"}}));

    // A key far from every declared one gets no suggestion.
    what = error_of("loader_keys_declared", [&] { PluginInstance inst(lib, {{"colour", "x"}}); });
    EXPECT_THAT(what, AllOf(HasSubstr("has the key 'colour'"), Not(HasSubstr("did you mean"))));

    what = error_of("loader_keys_none", [&] {
        PluginInstance inst(loader_.load("loader_keys_none"), {{"top", "3"}});
    });
    EXPECT_THAT(what, HasSubstr("it takes no settings: remove the key"));

    // Without a declaration any key reaches the plugin, as before.
    EXPECT_NO_THROW(PluginInstance(loader_.load("loader_keys_old_abi"), {{"tpo", "3"}}));
}

TEST_F(LoaderTest, DeclaringAHostKeyIsRefusedAtLoad) {
    EXPECT_THAT(load_error("loader_keys_host"),
                HasSubstr("it declares the config key 'on-error', which is the host's own"));
}

// ------------------------------------------------------------------ sluice run --validate

TEST_F(LoaderTest, ValidateReportsWhatARunWouldRefuse) {
    const std::vector<fs::path> dirs{dir_.path()};
    EXPECT_TRUE(check_chain_plugins(dirs, {"loader_recorder", "loader_keys_declared"},
                                    {{"loader_keys_declared", {{"top", "1"}}}})
                    .problems.empty());

    const auto problems =
        check_chain_plugins(
            dirs, {"nope", "loader_bad_major", "loader_keys_declared", "loader_recorder"},
            {{"loader_keys_declared", {{"outptu", "x"}}}, {"loader_recorder", {{"any", "thing"}}}})
            .problems;
    ASSERT_EQ(problems.size(), 3u) << ::testing::PrintToString(problems);
    EXPECT_THAT(problems[0], AllOf(HasSubstr("plugin 'nope'"), HasSubstr("no nope.so")));
    EXPECT_THAT(problems[1], HasSubstr("built for Sluice ABI 2.0, this host speaks " + kHostAbi));
    EXPECT_THAT(problems[2], HasSubstr("has the key 'outptu', which the plugin does not declare "
                                       "(did you mean 'output'?)"));
}

// ------------------------------------------------------------------ staged copies

TEST_F(LoaderTest, AStagedCopyIsNamedByItsDeployedFile) {
    TempDir staging;
    const fs::path deployed = dir_.path() / "x.so";
    dir_.copy("loader_bad_major", dir_.path(), "x.so");
    const fs::path staged = dir_.copy("loader_bad_major", staging.path(), "x.gen2.so");
    std::string what = error_of("x", [&] { loader_.load_file("x", staged, deployed); });
    EXPECT_THAT(what, AllOf(HasSubstr("plugin 'x' (" + deployed.string() + "): built for"),
                            Not(HasSubstr(staging.path().string()))));

    const fs::path good = dir_.copy("loader_recorder", staging.path(), "y.gen1.so");
    auto lib = loader_.load_file("y", good, dir_.path() / "loader_recorder.so");
    EXPECT_EQ(lib->path(), fs::canonical(good));
    EXPECT_EQ(lib->deployed_path(), dir_.path() / "loader_recorder.so");
    what = error_of("y", [&] { PluginInstance inst(lib, {{"fail_create", "no"}}); });
    EXPECT_THAT(what, AllOf(HasSubstr("(" + (dir_.path() / "loader_recorder.so").string() + ")"),
                            Not(HasSubstr(staging.path().string()))));
}

TEST_F(LoaderTest, StagedCopiesAreNumberedPerPlugin) {
    // Each plugin's first generation is NAME.gen1.so, whatever else the reloader staged before,
    // so the number in the file name is the generation the chain logs.
    TempDir staging;
    ReloaderOptions options;
    options.staging_parent = staging.path();
    PluginReloader reloader(PluginLoader({dir_.path()}), options);
    auto a = reloader.load("loader_recorder");
    auto b = reloader.load("loader_upper");
    EXPECT_EQ(a->path().filename(), "loader_recorder.gen1.so");
    EXPECT_EQ(b->path().filename(), "loader_upper.gen1.so");
    EXPECT_EQ(b->deployed_path(), dir_.path() / "loader_upper.so");
}

}  // namespace
}  // namespace sluice::plugins
