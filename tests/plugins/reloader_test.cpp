// PluginReloader with its watcher thread: new files deployed by rename or by plain copy are
// staged, loaded and swapped; broken ones leave the running generation in place and say why.

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_loader.hpp"
#include "reload_test_support.hpp"

using namespace sluice::plugins;
using namespace sluice::reload_test;
using namespace std::chrono_literals;

namespace {

class Reloader : public ::testing::Test {
  protected:
    void SetUp() override { deploy_by_rename(build_file("v1"), plugin_file_); }

    /// A chain with plugin "versioned" (v1) and hot reload on.
    std::unique_ptr<PluginChain> make_chain(ReloaderOptions options = fast()) {
        auto chain = std::make_unique<PluginChain>();
        chain->enable_hot_reload(loader_, options);
        chain->add(std::make_unique<PluginInstance>(
            chain->load(loader_, "versioned"), std::map<std::string, std::string>{{"log", log_}}));
        return chain;
    }
    static ReloaderOptions fast() {
        ReloaderOptions o;
        o.poll_interval = 50ms;
        return o;
    }
    /// Runs one-record batches until slot 0 serves `version` (true) or 10 s pass.
    bool run_until_version(PluginChain &chain, const std::string &version) {
        return wait_until([&] {
            EXPECT_TRUE(chain.process(TestBatch(next_id_++, {"r"}).get()).ok());
            return chain.instances()[0]->library().descriptor().version == version &&
                   !chain.on_probation(0);
        });
    }
    std::string serving(PluginChain &chain) {
        return chain.instances()[0]->library().descriptor().version;
    }

    TempDir plugins_{"sluice-reload-plugins"};
    TempDir work_;
    fs::path plugin_file_ = plugins_.path() / "versioned.so";
    PluginLoader loader_{{plugins_.path()}};
    std::string log_ = work_.file("log.txt");
    int64_t next_id_ = 0;
};

TEST_F(Reloader, AtomicRenameIsStagedLoadedAndSwappedIn) {
    auto chain = make_chain();
    ASSERT_TRUE(chain->process(TestBatch(next_id_++, {"a", "b"}).get()).ok());
    const fs::path staging = chain->reloader()->staging_dir();
    EXPECT_EQ(fs::status(staging).permissions() & fs::perms::all, fs::perms(0700));
    // The running code is a staged copy, not the deployed file.
    EXPECT_EQ(chain->instances()[0]->library().path().parent_path(), staging);

    deploy_by_rename(build_file("v2"), plugin_file_);
    ASSERT_TRUE(run_until_version(*chain, "2"));
    EXPECT_EQ(chain->generation(0), 2u);
    EXPECT_NE(read_text(log_).find("v2 restore seen="), std::string::npos);
    EXPECT_EQ(chain->reloader()->stats().offered, 1u);
    EXPECT_EQ(chain->reloader()->stats().failed, 0u);
    // The old generation is destroyed off the batch thread, and its staged file is gone.
    EXPECT_TRUE(wait_until([&] { return contains_line(log_, "v1 destroy"); }));
    EXPECT_TRUE(fs::is_empty(staging));

    // And back.
    deploy_by_rename(build_file("v1"), plugin_file_);
    ASSERT_TRUE(run_until_version(*chain, "1"));
    EXPECT_EQ(chain->generation(0), 3u);
}

TEST_F(Reloader, PlainCopyInPlaceIsDebouncedUntilTheFileIsComplete) {
    ReloaderOptions options;
    options.poll_interval = 400ms;
    auto chain = make_chain(options);
    ASSERT_TRUE(chain->process(TestBatch(next_id_++, {"a"}).get()).ok());
    // Overwrite the same inode in two steps, as a slow `cp` does; the half-written state is
    // shorter-lived than the settle time, so it must never be loaded.
    const std::string bytes = read_text(build_file("v2"));
    deploy_by_copy(build_file("v2"), plugin_file_, bytes.size() / 2);
    std::this_thread::sleep_for(50ms);  // the copier being slow, not synchronisation
    deploy_by_copy(build_file("v2"), plugin_file_);
    ASSERT_TRUE(run_until_version(*chain, "2"));
    EXPECT_EQ(chain->reloader()->stats().failed, 0u);
    EXPECT_EQ(chain->reloader()->stats().offered, 1u);
}

struct BrokenCase {
    std::string label;
    std::function<void(const fs::path &)> deploy;
    std::string reason;  // part of the logged error line
};

TEST_F(Reloader, BrokenReplacementsKeepTheRunningGenerationAndAreLogged) {
    LogCapture capture;
    auto chain = make_chain();
    ASSERT_TRUE(chain->process(TestBatch(next_id_++, {"a"}).get()).ok());
    const std::vector<BrokenCase> cases{
        {"wrong ABI major",
         [](const fs::path &to) { deploy_by_rename(build_file("broken_major"), to); },
         "built for Sluice ABI " + std::to_string(SLUICE_ABI_MAJOR + 1) + "." +
             std::to_string(SLUICE_ABI_MINOR) + ", this host speaks " +
             std::to_string(SLUICE_ABI_MAJOR) + "." + std::to_string(SLUICE_ABI_MINOR)},
        {"missing entry symbol",
         [](const fs::path &to) { deploy_by_rename(build_file("broken_entry"), to); },
         "exports no sluice_plugin_entry symbol"},
        {"create fails",
         [](const fs::path &to) { deploy_by_rename(build_file("broken_create"), to); },
         "create failed: v4 refuses to start"},
        {"truncated file",
         [](const fs::path &to) {
             deploy_by_copy(build_file("v2"), to, read_text(build_file("v2")).size() / 3);
         },
         "is truncated or corrupt"},
        {"not a library",
         [](const fs::path &to) { std::ofstream(to, std::ios::trunc) << "#!/bin/sh\necho hi\n"; },
         "no ELF header"},
    };
    uint64_t failed = 0;
    for (const auto &c : cases) {
        SCOPED_TRACE(c.label);
        c.deploy(plugin_file_);
        ++failed;
        ASSERT_TRUE(wait_until([&] { return chain->reloader()->stats().failed == failed; }));
        EXPECT_EQ(capture.errors_containing(c.reason), 1u) << capture.all();
        EXPECT_EQ(capture.errors_containing("the running generation stays"), failed);
        ASSERT_TRUE(chain->process(TestBatch(next_id_++, {"b"}).get()).ok());
        EXPECT_EQ(serving(*chain), "1");
        EXPECT_EQ(chain->generation(0), 1u);
    }
    EXPECT_EQ(chain->reloader()->stats().offered, 0u);
    // A good version after all that is taken.
    deploy_by_rename(build_file("v2"), plugin_file_);
    ASSERT_TRUE(run_until_version(*chain, "2"));
    // v1's count of every batch it served came along.
    const std::string log = read_text(log_);
    const auto at = log.find("v2 restore seen=");
    ASSERT_NE(at, std::string::npos);
    EXPECT_GE(std::stoul(log.substr(at + 16)), cases.size() + 1);
}

TEST_F(Reloader, FatalFirstBatchOfADeployedVersionRollsBack) {
    LogCapture capture;  // before the chain: it must outlive the reloader thread that logs
    auto chain = make_chain();
    std::vector<SwapEvent> events;
    chain->set_swap_listener([&](const SwapEvent &e) { events.push_back(e); });
    ASSERT_TRUE(chain->process(TestBatch(next_id_++, {"a"}).get()).ok());
    deploy_by_rename(build_file("broken_fatal"), plugin_file_);
    ASSERT_TRUE(wait_until([&] {
        EXPECT_TRUE(chain->process(TestBatch(next_id_++, {"r"}).get()).ok());
        return !events.empty() && events.back().kind == SwapEvent::Kind::rolled_back;
    }));
    EXPECT_EQ(serving(*chain), "1");
    // The broken file is not tried again while it stays as it is.
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(chain->process(TestBatch(next_id_++, {"r"}).get()).ok());
    EXPECT_EQ(chain->reloader()->stats().offered, 1u);
    EXPECT_EQ(chain->generation(0), 1u);

    // The rolled-back deployment used number 2 up: the next one is generation 3, and the log,
    // the swap event and the staged file all say so.
    deploy_by_rename(build_file("v2"), plugin_file_);
    ASSERT_TRUE(run_until_version(*chain, "2"));
    EXPECT_EQ(chain->generation(0), 3u);
    EXPECT_EQ(chain->instances()[0]->library().path().filename(), "versioned.gen3.so");
    EXPECT_EQ(events.back().generation, 3u);
    EXPECT_NE(capture.all().find("plugin 'versioned' generation 3 swapped in"), std::string::npos)
        << capture.all();
}

TEST_F(Reloader, PollingFallbackAndRescan) {
    ReloaderOptions options = fast();
    options.use_inotify = false;
    auto chain = make_chain(options);
    ASSERT_TRUE(chain->process(TestBatch(next_id_++, {"a"}).get()).ok());
    deploy_by_rename(build_file("v2"), plugin_file_);
    ASSERT_TRUE(run_until_version(*chain, "2"));

    // A version that failed is retried only on a rescan (SIGHUP) or when the file changes.
    deploy_by_rename(build_file("broken_create"), plugin_file_);
    ASSERT_TRUE(wait_until([&] { return chain->reloader()->stats().failed == 1; }));
    PluginReloader::rescan_all();
    ASSERT_TRUE(wait_until([&] { return chain->reloader()->stats().failed == 2; }));
    EXPECT_EQ(serving(*chain), "2");
}

TEST_F(Reloader, OldGenerationsDoNotPileUp) {
    auto chain = make_chain();
    const std::string staging = chain->reloader()->staging_dir().string();
    for (int i = 0; i < 6; ++i) {
        deploy_by_rename(build_file(i % 2 == 0 ? "v2" : "v1"), plugin_file_);
        ASSERT_TRUE(run_until_version(*chain, i % 2 == 0 ? "2" : "1")) << "swap " << i;
    }
    EXPECT_EQ(chain->generation(0), 7u);
    // Every retired generation is unmapped: only the serving one is left in our maps.
    ASSERT_TRUE(wait_until([&] {
        std::set<std::string> mapped;
        std::ifstream maps("/proc/self/maps");
        for (std::string line; std::getline(maps, line);) {
            auto at = line.find(staging);
            if (at != std::string::npos) mapped.insert(line.substr(at));
        }
        return mapped.size() == 1;
    }));
}

}  // namespace

TEST_F(Reloader, StagingDirectoriesOfDeadHostsAreRemovedAtStart) {
    TempDir parent{"sluice-staging-parent"};
    // A pid that cannot be running: above the kernel's pid_max limit (2^22).
    const fs::path dead = parent.path() / "sluice-staging-99999999-abcdef";
    const fs::path alive =
        parent.path() / ("sluice-staging-" + std::to_string(::getpid()) + "-abcdef");
    const fs::path foreign = parent.path() / "sluice-staging-notapid";
    for (const auto &dir : {dead, alive, foreign}) fs::create_directories(dir / "sub");
    ReloaderOptions options = fast();
    options.staging_parent = parent.path();
    auto chain = make_chain(options);
    EXPECT_FALSE(fs::exists(dead)) << "left behind by a host that is gone";
    EXPECT_TRUE(fs::exists(alive)) << "its owner (this process) is running";
    EXPECT_TRUE(fs::exists(foreign)) << "not named by a host";
    const std::string own = chain->reloader()->staging_dir().filename().string();
    EXPECT_EQ(own.rfind("sluice-staging-" + std::to_string(::getpid()) + "-", 0), 0u) << own;
}
