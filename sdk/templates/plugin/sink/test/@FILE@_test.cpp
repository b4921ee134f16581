// Tests of @NAME@ through the real plugin ABI: sluice/testing.hpp loads the built @NAME@.so the
// way the host does (dlopen, sluice_plugin_entry, the ABI negotiation), feeds it batches and
// captures what it logs, counts and writes. PLUGIN_FILE is set by CMakeLists.txt.

#include <gtest/gtest.h>
#include <unistd.h>
#include <sluice/testing.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace st = sluice::testing;

namespace {

std::string read_file(const std::filesystem::path &file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

class @CLASS@Test : public ::testing::Test {
  protected:
    void SetUp() override { std::filesystem::remove(output_); }
    void TearDown() override { std::filesystem::remove(output_); }

    st::Plugin plugin_{PLUGIN_FILE};
    std::filesystem::path output_ = std::filesystem::temp_directory_path() /
                                    ("@FILE@_test." + std::to_string(::getpid()) + ".txt");
};

TEST_F(@CLASS@Test, LoadsAsASink) {
    EXPECT_EQ(plugin_.name(), "@NAME@");
    EXPECT_FALSE(plugin_.is_transform());
    EXPECT_TRUE(plugin_.has_state_hooks());
    ASSERT_TRUE(plugin_.config_keys().has_value());
    EXPECT_EQ(plugin_.config_keys()->at(0).name, "output");
}

TEST_F(@CLASS@Test, WritesOneLinePerRecord) {
    st::Instance inst(plugin_, {{"output", output_.string()}});
    inst.create_ok();
    st::Batch batch(1);
    batch.add("events", 0, "hello").add("events", 0, std::nullopt).add("events", 1, "");
    ASSERT_TRUE(inst.process(batch).ok());
    ASSERT_TRUE(inst.flush(batch).ok());
    EXPECT_EQ(read_file(output_), "events 0 0 hello\nevents 0 1 (null)\nevents 1 0 \n");
    EXPECT_EQ(inst.metric("records_written"), 3);
    EXPECT_EQ(inst.metric("last_flushed_batch"), 1);
}

TEST_F(@CLASS@Test, SaysWhenABatchIsAReplay) {
    st::Instance inst(plugin_, {{"output", output_.string()}});
    inst.create_ok();
    st::Batch batch(7);
    batch.add("events", 2, "again").replay();
    ASSERT_TRUE(inst.process(batch).ok());
    EXPECT_TRUE(inst.logged("batch 7 is a replay"));
}

TEST_F(@CLASS@Test, HandsItsCountToTheNextGeneration) {
    st::Instance old_generation(plugin_, {{"output", output_.string()}});
    old_generation.create_ok();
    st::Batch batch(1);
    batch.add("events", 0, "a").add("events", 0, "b");
    ASSERT_TRUE(old_generation.process(batch).ok());
    st::Instance new_generation(plugin_, {{"output", output_.string()}});
    new_generation.create_ok();
    ASSERT_TRUE(st::hand_over(old_generation, new_generation).ok());
    EXPECT_TRUE(new_generation.logged("took over from the previous generation: 2 records"));
    EXPECT_EQ(new_generation.restore("not a number").status, SLUICE_FATAL);
}

TEST_F(@CLASS@Test, RefusesABadConfiguration) {
    st::Instance misspelt(plugin_, {{"outptu", output_.string()}});
    st::Result r = misspelt.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_NE(r.message.find("'outptu'"), std::string::npos) << r;

    st::Instance unwritable(plugin_, {{"output", "/nonexistent/dir/out.txt"}});
    r = unwritable.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_NE(r.message.find("cannot open output file"), std::string::npos) << r;
}

}  // namespace
