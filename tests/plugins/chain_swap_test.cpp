// PluginChain's side of hot reload, driven by hand (no watcher thread): swap at the batch
// boundary, state and partition hand-over, rollback on a fatal first batch.

#include <gtest/gtest.h>

#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_loader.hpp"
#include "reload_test_support.hpp"

using namespace sluice::plugins;
using namespace sluice::reload_test;

namespace {

class ChainSwap : public ::testing::Test {
  protected:
    /// Loads build `build` as plugin "versioned" from its own private copy (a fresh path, as
    /// staging would give it), logging to log_.
    std::unique_ptr<PluginInstance> make(const std::string &build) {
        fs::path copy = dir_.path() / ("versioned." + std::to_string(++copies_) + ".so");
        fs::copy_file(build_file(build), copy);
        fs::permissions(copy, fs::perms(0755));
        auto lib = loader_.load_file("versioned", copy);
        return std::make_unique<PluginInstance>(lib,
                                                std::map<std::string, std::string>{{"log", log_}});
    }
    bool logged(const std::string &line) const { return contains_line(log_, line); }

    TempDir dir_;
    PluginLoader loader_{{dir_.path()}};
    std::string log_ = dir_.file("log.txt");
    int copies_ = 0;
};

TEST_F(ChainSwap, SwapsAtTheNextBatchAndHandsTheStateOver) {
    PluginChain chain;
    chain.add(make("v1"));
    std::vector<SwapEvent> events;
    chain.set_swap_listener([&](const SwapEvent &e) { events.push_back(e); });
    ASSERT_TRUE(chain.process(TestBatch(0, {"a", "b", "c"}).get()).ok());

    EXPECT_EQ(chain.offer_replacement(0, make("v2")), nullptr);
    // Offered but not yet swapped: nothing changes before the next batch.
    EXPECT_EQ(chain.generation(0), 1u);
    EXPECT_FALSE(logged("v2 restore seen=3"));

    ASSERT_TRUE(chain.process(TestBatch(1, {"d", "e"}).get()).ok());
    EXPECT_EQ(chain.generation(0), 2u);
    EXPECT_FALSE(chain.on_probation(0));
    EXPECT_TRUE(logged("v2 restore seen=3"));
    EXPECT_TRUE(logged("v2 batch 1 records 2 seen 5"));
    EXPECT_FALSE(logged("v1 batch 1 records 2 seen 5"));
    EXPECT_TRUE(logged("v1 destroy"));  // retired once v2 passed its first batch
    EXPECT_EQ(chain.instances()[0]->library().descriptor().version, std::string("2"));

    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].kind, SwapEvent::Kind::swapped);
    EXPECT_EQ(events[0].generation, 2u);
    EXPECT_EQ(events[1].kind, SwapEvent::Kind::confirmed);
    EXPECT_LT(events[0].pause_ms, 50.0);
}

TEST_F(ChainSwap, NewGenerationGetsTheCurrentAssignmentBeforeItsFirstBatch) {
    PluginChain chain;
    chain.add(make("v1"));
    ASSERT_TRUE(chain.partitions_assigned({{"t", 0}, {"t", 1}, {"t", 2}}).ok());
    ASSERT_TRUE(chain.partitions_revoked({{"t", 2}}).ok());
    chain.offer_replacement(0, make("v2"));
    ASSERT_TRUE(chain.process(TestBatch(0, {"x"}).get()).ok());
    auto lines = read_lines(log_);
    auto assigned = std::find(lines.begin(), lines.end(), "v2 assigned 2");
    auto first_batch = std::find(lines.begin(), lines.end(), "v2 batch 0 records 1 seen 1");
    ASSERT_NE(assigned, lines.end());
    ASSERT_NE(first_batch, lines.end());
    EXPECT_LT(assigned, first_batch);
}

TEST_F(ChainSwap, FatalFirstBatchRollsBackAndRedeliversTheBatch) {
    LogCapture capture;
    PluginChain chain;
    chain.add(make("v1"));
    std::vector<SwapEvent> events;
    chain.set_swap_listener([&](const SwapEvent &e) { events.push_back(e); });
    ASSERT_TRUE(chain.process(TestBatch(0, {"a"}).get()).ok());

    chain.offer_replacement(0, make("broken_fatal"));  // VERSION 3
    ChainResult r = chain.process(TestBatch(1, {"b", "c"}).get());
    EXPECT_TRUE(r.ok()) << r.message;
    EXPECT_TRUE(logged("v3 restore seen=1"));
    EXPECT_TRUE(logged("v3 batch 1 records 2 seen 3"));
    EXPECT_TRUE(logged("v3 destroy"));
    // v1 got the same batch, with its own state untouched by v3's attempt.
    EXPECT_TRUE(logged("v1 batch 1 records 2 seen 3"));
    EXPECT_FALSE(logged("v1 destroy"));
    EXPECT_EQ(chain.generation(0), 1u);
    EXPECT_FALSE(chain.on_probation(0));
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].kind, SwapEvent::Kind::rolled_back);
    EXPECT_EQ(events[1].reason, "v3 is broken");
    EXPECT_NE(capture.all().find("rolling back to generation 1"), std::string::npos);

    // It keeps serving, and a good version can still come after the broken one.
    ASSERT_TRUE(chain.process(TestBatch(2, {"d"}).get()).ok());
    EXPECT_TRUE(logged("v1 batch 2 records 1 seen 4"));
    chain.offer_replacement(0, make("v2"));
    ASSERT_TRUE(chain.process(TestBatch(3, {"e"}).get()).ok());
    EXPECT_TRUE(logged("v2 batch 3 records 1 seen 5"));
    EXPECT_EQ(chain.generation(0), 2u);
}

TEST_F(ChainSwap, FatalOfAProvenGenerationIsReturned) {
    PluginChain chain;
    chain.add(make("broken_fatal"));  // the first generation has nothing to roll back to
    ChainResult r = chain.process(TestBatch(0, {"a"}).get());
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_EQ(r.message, "v3 is broken");
}

TEST_F(ChainSwap, ALaterOfferReplacesOneThatWasNotSwappedInYet) {
    PluginChain chain;
    chain.add(make("v1"));
    EXPECT_EQ(chain.offer_replacement(0, make("v2")), nullptr);
    auto displaced = chain.offer_replacement(0, make("broken_fatal"));
    ASSERT_NE(displaced, nullptr);
    EXPECT_EQ(displaced->library().descriptor().version, std::string("2"));
    displaced.reset();
    EXPECT_TRUE(logged("v2 destroy"));
    // Offered for a slot that does not exist: handed back.
    EXPECT_NE(chain.offer_replacement(5, make("v2")), nullptr);
}

TEST_F(ChainSwap, ReplacementOfAnUnprovenGenerationKeepsTheProvenOneForRollback) {
    PluginChain chain;
    chain.add(make("v1"));
    // v2 is swapped in by a batch it is not called for (empty), so it stays on probation.
    chain.offer_replacement(0, make("v2"));
    ASSERT_TRUE(chain.process(TestBatch(0, {}).get()).ok());
    EXPECT_TRUE(chain.on_probation(0));
    EXPECT_EQ(chain.generation(0), 2u);
    chain.offer_replacement(0, make("broken_fatal"));
    ASSERT_TRUE(chain.process(TestBatch(1, {"a"}).get()).ok());
    // Rolled back past the unproven v2 to v1, the last generation that worked.
    EXPECT_TRUE(logged("v2 destroy"));
    EXPECT_TRUE(logged("v1 batch 1 records 1 seen 1"));
    EXPECT_EQ(chain.instances()[0]->library().descriptor().version, std::string("1"));
}

TEST_F(ChainSwap, WordcountTotalsSurviveAReload) {
    // The bundled wordcount, loaded twice through the reloader's staging (two generations of
    // one file).
    TempDir plugins;
    fs::copy_file(fs::path(SLUICE_PLUGIN_OUTPUT_DIR) / "wordcount.so",
                  plugins.path() / "wordcount.so");
    fs::permissions(plugins.path() / "wordcount.so", fs::perms(0755));
    PluginLoader loader({plugins.path()});
    const std::string out = dir_.file("wc.txt");
    const std::map<std::string, std::string> config{{"output", out}, {"top", "3"}};

    PluginChain chain;
    chain.enable_hot_reload(loader);
    chain.add(std::make_unique<PluginInstance>(chain.load(loader, "wordcount"), config));
    ASSERT_TRUE(chain.process(TestBatch(0, {"a b a", "c"}).get()).ok());
    auto second = chain.reloader()->load("wordcount");
    EXPECT_NE(second->path(), chain.instances()[0]->library().path());  // a staged copy each
    chain.offer_replacement(0, std::make_unique<PluginInstance>(second, config));
    ASSERT_TRUE(chain.process(TestBatch(1, {"a"}).get()).ok());
    EXPECT_EQ(chain.generation(0), 2u);
    EXPECT_TRUE(contains_line(out, "total a 3")) << read_text(out);
    EXPECT_TRUE(contains_line(out, "total b 1")) << read_text(out);
}

}  // namespace
