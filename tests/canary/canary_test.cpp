// Canary generations of a transform: NAME.canary.so beside NAME.so shadows the serving
// generation of a real chain (hot reload on, the real loader and reloader thread), is compared
// batch by batch, and is promoted or rejected; the chain's output is the serving generation's
// throughout.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "metrics/collect.hpp"
#include "metrics/prometheus.hpp"
#include "metrics/status_json.hpp"
#include "plugins/canary.hpp"
#include "plugins/plugin_chain.hpp"
#include "plugins/plugin_loader.hpp"
#include "reload_test_support.hpp"

namespace sluice::plugins {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using reload_test::deploy_by_rename;
using reload_test::LogCapture;
using reload_test::TestBatch;
using reload_test::wait_until;
using ::testing::HasSubstr;

fs::path tagger(const std::string &build) {
    return fs::path(CANARY_TEST_PLUGIN_DIR) / ("canary_tagger_" + build + ".so");
}

class Canary : public ::testing::Test {
  protected:
    void SetUp() override {
        deploy_by_rename(tagger("v1"), dir_.path() / "tagger.so");
        ReloaderOptions options;
        options.poll_interval = 20ms;
        options.canary_batches = 3;
        chain_.enable_hot_reload(loader_, options);
        chain_.add(std::make_unique<PluginInstance>(chain_.load(loader_, "tagger"),
                                                    std::map<std::string, std::string>{}));
        ASSERT_TRUE(chain_.partitions_assigned({{"t", 0}}).ok());
        run({"a", "b"});  // starts the reloader's thread
    }

    /// One batch through the chain; checks that what it passes on is the serving generation's.
    ChainResult run(std::vector<std::string> values) {
        TestBatch batch(next_id_++, values, 0, offset_);
        offset_ += static_cast<int64_t>(values.size());
        ChainResult r = chain_.process(batch.get());
        if (r.ok()) {
            const auto out = chain_.instances()[0]->emitted_batch(batch.get());
            EXPECT_EQ(out.record_count, values.size());
            const auto *records = static_cast<const sluice_record_t *>(out.records);
            for (size_t i = 0; i < out.record_count && i < values.size(); ++i)
                EXPECT_EQ(
                    std::string(static_cast<const char *>(records[i].value), records[i].value_len),
                    values[i])
                    << "the chain passed on something else than the serving generation's output";
        }
        return r;
    }

    CanaryStatus status() {
        const auto all = chain_.canary()->status();
        return all.empty() ? CanaryStatus{} : all.front();
    }

    /// Deploys `build` as tagger.canary.so and waits until the chain took it (a batch runs every
    /// 5 ms meanwhile, as a host's would).
    void deploy_canary(const std::string &build) {
        deploy_by_rename(tagger(build), dir_.path() / "tagger.canary.so");
        ASSERT_TRUE(wait_until([&] {
            run({"a"});
            return status().state == CanaryStatus::State::shadowing;
        })) << logs_.all();
    }

    std::string serving_version() { return chain_.instances()[0]->library().descriptor().version; }

    LogCapture logs_;  // before the chain (its thread logs), destroyed after it
    reload_test::TempDir dir_{"sluice-canary"};
    PluginLoader loader_{{dir_.path()}};
    PluginChain chain_;
    int64_t next_id_ = 0;
    int64_t offset_ = 0;
};

TEST_F(Canary, AgreeingCanaryIsPromotedAfterItsBatchesAndThenServes) {
    deploy_canary("same");
    int batches = 0;
    while (status().state == CanaryStatus::State::shadowing && batches < 20) {
        ASSERT_TRUE(run({"a", "x", "boom"}).ok());
        ++batches;
    }
    const auto st = status();
    ASSERT_EQ(st.state, CanaryStatus::State::promoted) << st.report << logs_.all();
    EXPECT_EQ(st.agreed, 3u);
    EXPECT_EQ(st.promoted_total, 1u);
    EXPECT_THAT(st.report, HasSubstr("agreed with generation 1 on 3 batches"));
    EXPECT_EQ(serving_version(), "1") << "promotion takes effect at the next batch boundary";
    ASSERT_TRUE(run({"c"}).ok());
    EXPECT_EQ(serving_version(), "2");
    EXPECT_GT(chain_.generation(0), 1u);
    EXPECT_THAT(logs_.all(), HasSubstr("canary of plugin 'tagger'"));
    EXPECT_THAT(logs_.all(), HasSubstr("promoted"));
    EXPECT_THAT(logs_.all(), HasSubstr("took over")) << "the serving state was handed over";
}

TEST_F(Canary, DifferingOutputRejectsItAndTheServingGenerationStays) {
    deploy_canary("differs");
    ASSERT_TRUE(run({"a", "b"}).ok());  // the canary starts from the serving state here
    ASSERT_TRUE(run({"a", "b"}).ok());  // compared: equal
    ASSERT_TRUE(run({"a", "x"}).ok());  // compared: record 1 differs
    const auto st = status();
    ASSERT_EQ(st.state, CanaryStatus::State::rejected) << logs_.all();
    EXPECT_THAT(st.report, HasSubstr("emitted record 1 differs: value: serving \"x\", canary "
                                     "\"X\""));
    EXPECT_EQ(st.rejected_total, 1u);
    EXPECT_EQ(logs_.errors_containing("canary of plugin 'tagger'"), 1u) << logs_.all();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(run({"x"}).ok());
    EXPECT_EQ(serving_version(), "1");
    EXPECT_EQ(chain_.generation(0), 1u);
    EXPECT_EQ(status().state, CanaryStatus::State::rejected) << "offered again";

    // What /status and /metrics show of it.
    metrics::RunSnapshot snapshot;
    metrics::fill_plugins(snapshot, chain_);
    const auto json = metrics::status_json(snapshot);
    const auto &canary = json["plugins"][0]["canary"];
    EXPECT_EQ(canary["state"], "rejected");
    EXPECT_EQ(canary["rejected"], 1);
    EXPECT_THAT(canary["file"].get<std::string>(), HasSubstr("tagger.canary.so"));
    EXPECT_THAT(canary["report"].get<std::string>(), HasSubstr("emitted record 1 differs"));
    const std::string text = metrics::render_prometheus(snapshot);
    EXPECT_THAT(text, HasSubstr("sluice_plugin_canaries_total{plugin=\"tagger\",slot=\"0\",result="
                                "\"rejected\"} 1"));
    EXPECT_THAT(text, HasSubstr("sluice_plugin_canary_shadowing{plugin=\"tagger\",slot=\"0\"} 0"));
}

TEST_F(Canary, AnErrorOfTheCanaryRejectsIt) {
    deploy_canary("error");
    ASSERT_TRUE(run({"a"}).ok());
    ASSERT_TRUE(run({"a", "boom"}).ok()) << "the serving generation's result is the chain's";
    const auto st = status();
    ASSERT_EQ(st.state, CanaryStatus::State::rejected) << logs_.all();
    EXPECT_THAT(st.report, HasSubstr("the serving generation returned OK, the canary FATAL "
                                     "(cannot tag offset"));
    EXPECT_EQ(serving_version(), "1");
    EXPECT_EQ(chain_.generation(0), 1u);
}

TEST_F(Canary, PromotionOnRequestDoesNotWaitForTheBatches) {
    EXPECT_EQ(CanaryShadow::promote_all(), "no canary is in shadow: nothing to promote");
    deploy_canary("same");
    // POST /control/promote's way in: every chain's canaries in shadow.
    EXPECT_EQ(CanaryShadow::promote_all(), "promoting the canary of tagger at the next batch");
    ASSERT_TRUE(run({"a"}).ok());
    EXPECT_EQ(status().state, CanaryStatus::State::promoted);
    EXPECT_THAT(status().report, HasSubstr("on request"));
    ASSERT_TRUE(run({"a"}).ok());
    EXPECT_EQ(serving_version(), "2");
    EXPECT_FALSE(chain_.canary()->promote(0)) << "nothing in shadow any more";
}

TEST_F(Canary, ACanaryOfAnotherKindIsRejectedWithOneLine) {
    // A sink's build as the canary of a transform: neither a shadow nor a slice can compare them.
    deploy_by_rename(tagger("sink"), dir_.path() / "tagger.canary.so");
    ASSERT_TRUE(wait_until([&] {
        run({"a"});
        return status().state == CanaryStatus::State::rejected;
    })) << logs_.all();
    EXPECT_THAT(status().report, HasSubstr("it is a sink, generation 1 a transform"));
    EXPECT_EQ(logs_.errors_containing("canary of plugin 'tagger'"), 1u) << logs_.all();
    ASSERT_TRUE(run({"a"}).ok());
    EXPECT_EQ(serving_version(), "1");
}

}  // namespace
}  // namespace sluice::plugins
