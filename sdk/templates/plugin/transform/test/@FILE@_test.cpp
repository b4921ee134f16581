// Tests of @NAME@ through the real plugin ABI: sluice/testing.hpp loads the built @NAME@.so the
// way the host does (dlopen, sluice_plugin_entry, the ABI negotiation), feeds it batches and
// captures what it logs, counts and emits. PLUGIN_FILE is set by CMakeLists.txt.

#include <gtest/gtest.h>
#include <sluice/testing.hpp>

#include <string>

namespace st = sluice::testing;

namespace {

class @CLASS@Test : public ::testing::Test {
  protected:
    st::Plugin plugin_{PLUGIN_FILE};
};

TEST_F(@CLASS@Test, LoadsAsATransform) {
    EXPECT_EQ(plugin_.name(), "@NAME@");
    EXPECT_TRUE(plugin_.is_transform());
    EXPECT_TRUE(plugin_.has_state_hooks());
    ASSERT_TRUE(plugin_.config_keys().has_value());
    EXPECT_EQ(plugin_.config_keys()->at(0).name, "drop");
}

TEST_F(@CLASS@Test, DropsByValueAndTagsTheRest) {
    st::Instance inst(plugin_, {{"drop", "debug, trace"}});
    inst.create_ok();
    st::Batch batch(1);
    batch.add("logs", 0, "error: disk full", "host-1")
        .add("logs", 0, "debug: tick")
        .add("logs", 0, std::nullopt)  // a null value is kept
        .add("logs", 1, "");           // an empty one too
    ASSERT_TRUE(inst.process(batch).ok());

    ASSERT_EQ(inst.emitted().size(), 3u);
    st::Record expected = batch.records()[0];
    expected.headers.push_back({"seen-by", "@NAME@"});
    EXPECT_EQ(inst.emitted()[0], expected);
    EXPECT_EQ(inst.emitted()[1].value, std::nullopt);
    EXPECT_EQ(inst.emitted()[2].value, std::optional<std::string>(""));
    EXPECT_EQ(inst.metric("records_dropped"), 1);
    EXPECT_EQ(inst.metric("records_passed"), 3);
}

TEST_F(@CLASS@Test, WithoutDropPassesEverything) {
    st::Instance inst(plugin_);
    inst.create_ok();
    st::Batch batch(1);
    batch.add("logs", 0, "debug: tick").replay();
    ASSERT_TRUE(inst.process(batch).ok());
    EXPECT_EQ(inst.emitted().size(), 1u);
    EXPECT_TRUE(inst.logged("batch 1 is a replay"));
}

TEST_F(@CLASS@Test, HandsItsCountToTheNextGeneration) {
    st::Instance old_generation(plugin_, {{"drop", "x"}});
    old_generation.create_ok();
    st::Batch batch(1);
    batch.add("logs", 0, "x").add("logs", 0, "xx").add("logs", 0, "y");
    ASSERT_TRUE(old_generation.process(batch).ok());
    st::Instance new_generation(plugin_, {{"drop", "x"}});
    new_generation.create_ok();
    ASSERT_TRUE(st::hand_over(old_generation, new_generation).ok());
    EXPECT_TRUE(new_generation.logged("took over from the previous generation: 2 dropped"));
    EXPECT_EQ(new_generation.restore("not a number").status, SLUICE_FATAL);
}

TEST_F(@CLASS@Test, RefusesAnUndeclaredKey) {
    st::Instance inst(plugin_, {{"dorp", "x"}});
    const st::Result r = inst.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_NE(r.message.find("'dorp'"), std::string::npos) << r;
}

}  // namespace
