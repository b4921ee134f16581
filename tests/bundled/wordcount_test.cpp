// wordcount: counts, top N per batch and in total, state hand-over. Through the SDK's test kit.

#include <gtest/gtest.h>
#include <sluice/testing.hpp>

#include <memory>

#include "bundled_files.hpp"
#include "bundled_plugin.hpp"

namespace sluice::testing {
namespace {

Batch batch_of(int64_t id, std::vector<std::optional<std::string>> values) {
    Batch b(id);
    for (auto &v : values) b.add("t", 0, v);
    return b;
}

class WordCountTest : public ::testing::Test {
  protected:
    std::string output() const { return dir_.file("wc.txt"); }
    std::unique_ptr<Instance> make(const std::string &top = "") {
        auto inst = std::make_unique<Instance>(plugin_);
        inst->config()["output"] = output();
        if (!top.empty()) inst->config()["top"] = top;
        inst->create_ok();
        return inst;
    }

    TempDir dir_;
    Plugin plugin_{bundled_plugin_file("wordcount")};
};

TEST_F(WordCountTest, PrintsTopWordsOfBatchAndTotals) {
    auto inst = make("2");
    Batch b1 = batch_of(1, {"the quick  fox", "the\tlazy dog\n", std::nullopt, "", "fox the"});
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
    Batch b2 = batch_of(2, {"dog dog Dog"});
    ASSERT_EQ(inst->process(b2).status, SLUICE_OK);
    EXPECT_EQ(read_file(output()),
              "batch 1 words 8 distinct 5\n"
              "batch the 3\n"
              "batch fox 2\n"
              "total the 3\n"
              "total fox 2\n"
              "batch 2 words 3 distinct 2\n"
              "batch dog 2\n"
              "batch Dog 1\n"
              "total dog 3\n"
              "total the 3\n");
}

TEST_F(WordCountTest, DefaultTopIsTen) {
    auto inst = make();
    std::string words;
    for (char c = 'a'; c <= 'l'; ++c) words += std::string(1, c) + " ";  // 12 distinct words
    Batch b = batch_of(1, {words});
    ASSERT_EQ(inst->process(b).status, SLUICE_OK);
    std::string text = read_file(output());
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1 + 10 + 10);
    EXPECT_NE(text.find("batch j 1\n"), std::string::npos);
    EXPECT_EQ(text.find("batch k 1\n"), std::string::npos);  // ties sorted by word
}

TEST_F(WordCountTest, StateHandOverCarriesRunningTotals) {
    auto a = make("3");
    Batch b1 = batch_of(1, {"x y y z z z"});
    ASSERT_EQ(a->process(b1).status, SLUICE_OK);
    std::filesystem::remove(output());
    auto b = make("3");
    ASSERT_TRUE(plugin_.has_state_hooks());
    ASSERT_EQ(hand_over(*a, *b).status, SLUICE_OK);
    a->destroy();

    Batch b2 = batch_of(2, {"x x x x"});
    ASSERT_EQ(b->process(b2).status, SLUICE_OK);
    EXPECT_EQ(read_file(output()),
              "batch 2 words 4 distinct 1\n"
              "batch x 4\n"
              "total x 5\n"
              "total z 3\n"
              "total y 2\n");

    // And a fresh instance without the hand-over starts from zero.
    std::filesystem::remove(output());
    auto c = make("3");
    ASSERT_EQ(c->process(b2).status, SLUICE_OK);
    EXPECT_NE(read_file(output()).find("total x 4\n"), std::string::npos);
}

TEST_F(WordCountTest, CorruptStateIsRefused) {
    auto inst = make();
    Result r = inst->restore("something else");
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_NE(r.message.find("not wordcount state"), std::string::npos) << r.message;
    r = inst->restore("sluice-wordcount-state 1\n12 word\nbad");
    EXPECT_EQ(r.status, SLUICE_FATAL);
}

TEST_F(WordCountTest, BadTopFailsCreate) {
    Instance inst(plugin_, {{"top", "ten"}});
    Result r = inst.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_EQ(r.message, "config key 'top' is 'ten', not an integer: set it to a whole number");
}

}  // namespace
}  // namespace sluice::testing
