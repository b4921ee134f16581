// What hot reload remembers: outcomes counted by result with the serving and the last refused
// file (hash, version, reason) for /status, and, across restarts, the hashes of refused
// versions plus a copy of the last good one, served at the next start instead of a refused file.

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_loader.hpp"
#include "plugins/plugin_state_store.hpp"
#include "plugins/sha256.hpp"
#include "reload_test_support.hpp"

using namespace sluice::plugins;
using namespace sluice::reload_test;
using namespace std::chrono_literals;

namespace {

std::string file_sha256(const fs::path &file) {
    return sha256_hex(read_text(file));
}

TEST(Sha256, KnownVectorsAndChunking) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    EXPECT_EQ(sha256_hex(two_blocks),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    // Fed in odd pieces, the same digest.
    const std::string million(1000000, 'a');
    Sha256 h;
    for (size_t at = 0; at < million.size(); at += 77)
        h.update(million.data() + at, std::min<size_t>(77, million.size() - at));
    EXPECT_EQ(h.hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(PluginRecord, KeepsOneEntryPerHashNewestLastAndAtMostSixteen) {
    PluginRecord r;
    for (int i = 0; i < 20; ++i)
        r.add_refused({{"f", "", "h" + std::to_string(i), i}, "rejected", ""});
    ASSERT_EQ(r.refused.size(), PluginRecord::kMaxRefused);
    EXPECT_EQ(r.refused.front().file.sha256, "h4");
    r.add_refused({{"f", "", "h10", 99}, "rolled_back", "again"});
    EXPECT_EQ(r.refused.back().file.time_ms, 99);
    EXPECT_EQ(r.refused.size(), PluginRecord::kMaxRefused);
    EXPECT_TRUE(r.forget_refused("h10"));
    EXPECT_EQ(r.find_refused("h10"), nullptr);
    EXPECT_NE(r.find_refused("h11"), nullptr);
}

TEST(DefaultStateDir, LivesWithTheCheckpointElseInTheUsersStateDirectory) {
    EXPECT_EQ(default_state_dir("/var/lib/job", {"/opt/plugins"}),
              fs::path("/var/lib/job/plugin-state"));
    ::setenv("XDG_STATE_HOME", "/xdg", 1);
    const fs::path a = default_state_dir({}, {"/opt/plugins"});
    EXPECT_EQ(a.parent_path(), fs::path("/xdg/sluice/plugin-state"));
    EXPECT_NE(a, default_state_dir({}, {"/opt/other"}));  // one record per plugin directory set
    ::unsetenv("XDG_STATE_HOME");
}

class ReloadState : public ::testing::Test {
  protected:
    void SetUp() override { deploy_by_rename(build_file("v1"), plugin_file_); }

    std::unique_ptr<PluginChain> make_chain() {
        ReloaderOptions o;
        o.poll_interval = 50ms;
        o.state_dir = state_dir_;
        auto chain = std::make_unique<PluginChain>();
        chain->enable_hot_reload(loader_, o);
        chain->add(std::make_unique<PluginInstance>(
            chain->load(loader_, "versioned"), std::map<std::string, std::string>{{"log", log_}}));
        return chain;
    }
    bool ok(PluginChain &chain) { return chain.process(TestBatch(next_id_++, {"r"}).get()).ok(); }
    std::string serving(PluginChain &chain) {
        return chain.instances()[0]->library().descriptor().version;
    }
    /// Deploys `build` and runs batches until `done` holds for the status.
    bool deploy_and_run(PluginChain &chain, const std::string &build,
                        const std::function<bool(const ReloadStatus &)> &done) {
        deploy_by_rename(build_file(build), plugin_file_);
        return wait_until([&] {
            EXPECT_TRUE(ok(chain));
            return done(*chain.reload_status(0));
        });
    }
    nlohmann::json record() const {
        return nlohmann::json::parse(read_text(state_dir_ / "versioned.json"));
    }

    TempDir plugins_{"sluice-reload-plugins"};
    TempDir work_;
    fs::path plugin_file_ = plugins_.path() / "versioned.so";
    fs::path state_dir_ = work_.path() / "checkpoint" / "plugin-state";
    PluginLoader loader_{{plugins_.path()}};
    std::string log_ = work_.file("log.txt");
    int64_t next_id_ = 0;
};

TEST_F(ReloadState, OutcomesAreCountedByResultWithTheServingAndTheRefusedFile) {
    auto chain = make_chain();
    ASSERT_TRUE(ok(*chain));
    ReloadStatus st = *chain->reload_status(0);
    ASSERT_TRUE(st.serving);
    EXPECT_EQ(st.serving->file, plugin_file_.string());
    EXPECT_EQ(st.serving->version, "1");
    EXPECT_EQ(st.serving->sha256, file_sha256(build_file("v1")));
    EXPECT_FALSE(st.last_refused);

    ASSERT_TRUE(deploy_and_run(*chain, "v2", [](const ReloadStatus &s) { return s.swapped == 1; }));
    ASSERT_TRUE(deploy_and_run(*chain, "broken_fatal",
                               [](const ReloadStatus &s) { return s.rolled_back == 1; }));
    ASSERT_TRUE(deploy_and_run(*chain, "broken_create",
                               [](const ReloadStatus &s) { return s.rejected == 1; }));
    st = *chain->reload_status(0);
    EXPECT_EQ(st.swapped, 1u);
    EXPECT_EQ(st.rolled_back, 1u);
    EXPECT_EQ(st.rejected, 1u);
    EXPECT_EQ(serving(*chain), "2");
    EXPECT_EQ(st.serving->version, "2");
    EXPECT_EQ(st.serving->sha256, file_sha256(build_file("v2")));
    ASSERT_TRUE(st.last_refused);
    EXPECT_EQ(st.last_refused->result, "rejected");
    EXPECT_EQ(st.last_refused->file.version, "4");
    EXPECT_EQ(st.last_refused->file.sha256, file_sha256(build_file("broken_create")));
    EXPECT_NE(st.last_refused->reason.find("v4 refuses to start"), std::string::npos)
        << st.last_refused->reason;
    EXPECT_GT(st.last_refused->file.time_ms, 0);

    // Both refused hashes are recorded, with a copy of the version serving (v2).
    ASSERT_TRUE(wait_until([&] {
        return fs::exists(state_dir_ / "versioned.json") && record()["refused"].size() == 2 &&
               !record()["good"].is_null();
    }));
    const auto r = record();
    EXPECT_EQ(r["refused"][0]["sha256"], file_sha256(build_file("broken_fatal")));
    EXPECT_EQ(r["refused"][0]["result"], "rolled_back");
    EXPECT_EQ(r["refused"][1]["result"], "rejected");
    EXPECT_EQ(r["good"]["sha256"], file_sha256(build_file("v2")));
    EXPECT_EQ(file_sha256(state_dir_ / "versioned.good.so"), file_sha256(build_file("v2")));
    EXPECT_EQ(fs::status(state_dir_).permissions() & fs::perms::all, fs::perms(0700));
}

TEST_F(ReloadState, NothingIsWrittenWhileNothingIsRefused) {
    auto chain = make_chain();
    ASSERT_TRUE(ok(*chain));
    ASSERT_TRUE(deploy_and_run(*chain, "v2", [](const ReloadStatus &s) { return s.swapped == 1; }));
    chain.reset();  // the reloader has done all it had queued
    EXPECT_FALSE(fs::exists(state_dir_));
}

TEST_F(ReloadState, ARestartServesTheKeptCopyInsteadOfARolledBackFile) {
    {
        auto chain = make_chain();
        ASSERT_TRUE(ok(*chain));
        ASSERT_TRUE(deploy_and_run(*chain, "broken_fatal",
                                   [](const ReloadStatus &s) { return s.rolled_back == 1; }));
        EXPECT_EQ(serving(*chain), "1");
    }  // stopped right after the rollback: what it queued is written before it goes
    ASSERT_TRUE(fs::exists(state_dir_ / "versioned.good.so"));

    LogCapture capture;
    auto chain = make_chain();  // the broken file is still deployed
    EXPECT_EQ(serving(*chain), "1");
    ASSERT_TRUE(ok(*chain));
    ASSERT_TRUE(ok(*chain));
    const ReloadStatus st = *chain->reload_status(0);
    EXPECT_EQ(st.serving->file, (state_dir_ / "versioned.good.so").string());
    EXPECT_EQ(st.serving->sha256, file_sha256(build_file("v1")));
    ASSERT_TRUE(st.last_refused);
    EXPECT_EQ(st.last_refused->result, "rolled_back");
    EXPECT_EQ(st.last_refused->file.sha256, file_sha256(build_file("broken_fatal")));
    // One warning naming the deployed file and the copy served instead.
    size_t warnings = 0;
    for (const auto &line : capture.lines())
        if (line.find("[warning]") != std::string::npos &&
            line.find(plugin_file_.string()) != std::string::npos &&
            line.find((state_dir_ / "versioned.good.so").string()) != std::string::npos)
            ++warnings;
    EXPECT_EQ(warnings, 1u) << capture.all();
    // The refused file is not tried again by itself...
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(ok(*chain));
    EXPECT_EQ(chain->reloader()->stats().offered, 0u);
    // ...and a fixed file is taken as usual.
    ASSERT_TRUE(deploy_and_run(*chain, "v2", [](const ReloadStatus &s) { return s.swapped == 1; }));
    EXPECT_EQ(serving(*chain), "2");
}

TEST_F(ReloadState, AKeptCopyThatIsNotTheRecordedVersionIsNotServed) {
    {
        auto chain = make_chain();
        ASSERT_TRUE(ok(*chain));
        ASSERT_TRUE(deploy_and_run(*chain, "broken_fatal",
                                   [](const ReloadStatus &s) { return s.rolled_back == 1; }));
    }
    // Something else wrote the copy: it is not what passed a batch, so it does not serve.
    deploy_by_rename(build_file("v2"), state_dir_ / "versioned.good.so");
    fs::permissions(state_dir_ / "versioned.good.so", fs::perms(0700));
    LogCapture capture;
    auto chain = make_chain();
    EXPECT_EQ(serving(*chain), "3");  // the deployed file, as without a kept copy
    EXPECT_NE(capture.all().find("cannot serve: its content is not the version recorded"),
              std::string::npos)
        << capture.all();
}

TEST_F(ReloadState, SighupTriesTheRefusedFileAgainAndTheKeptCopyFollowsTheGoodVersions) {
    {
        auto chain = make_chain();
        ASSERT_TRUE(ok(*chain));
        ASSERT_TRUE(deploy_and_run(*chain, "broken_create",
                                   [](const ReloadStatus &s) { return s.rejected == 1; }));
    }
    ASSERT_EQ(record()["refused"].size(), 1u);
    // A restart serves the kept copy; SIGHUP tries the deployed file, refused again here.
    auto chain = make_chain();
    EXPECT_EQ(chain->reload_status(0)->serving->file, (state_dir_ / "versioned.good.so").string());
    ASSERT_TRUE(ok(*chain));
    PluginReloader::rescan_all();
    ASSERT_TRUE(wait_until([&] { return chain->reloader()->stats().failed == 1; }));
    // Once something was refused, the kept copy follows every version that passes a batch.
    ASSERT_TRUE(deploy_and_run(*chain, "v2", [](const ReloadStatus &s) { return s.swapped == 1; }));
    ASSERT_TRUE(wait_until([&] { return record()["good"]["version"] == "2"; }));
    EXPECT_EQ(record()["refused"].size(), 1u);  // broken_create stays refused
}

}  // namespace
