// wordcount: counts, top N per batch and in total, state hand-over.

#include <gtest/gtest.h>

#include "bundled_files.hpp"
#include "test_host.hpp"

namespace sluice::testing {
namespace {

TestBatch batch_of(int64_t id, std::vector<std::optional<std::string>> values) {
    TestBatch b;
    b.id = id;
    int64_t offset = 0;
    for (auto &v : values) b.records.push_back(TestRecord{.offset = offset++, .value = v});
    return b;
}

class WordCountTest : public ::testing::Test {
  protected:
    std::string output() const { return dir_.file("wc.txt"); }
    std::unique_ptr<TestInstance> make(TestHost &host, const std::string &top = "") {
        host.config["output"] = output();
        if (!top.empty()) host.config["top"] = top;
        auto inst = std::make_unique<TestInstance>(plugin_, host);
        inst->create_ok();
        return inst;
    }

    TempDir dir_;
    LoadedPlugin plugin_{bundled_plugin("wordcount")};
};

TEST_F(WordCountTest, PrintsTopWordsOfBatchAndTotals) {
    TestHost host;
    auto inst = make(host, "2");
    TestBatch b1 = batch_of(1, {"the quick  fox", "the\tlazy dog\n", std::nullopt, "", "fox the"});
    ASSERT_EQ(inst->process(b1).status, SLUICE_OK);
    TestBatch b2 = batch_of(2, {"dog dog Dog"});
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
    TestHost host;
    auto inst = make(host);
    std::string words;
    for (char c = 'a'; c <= 'l'; ++c) words += std::string(1, c) + " ";  // 12 distinct words
    TestBatch b = batch_of(1, {words});
    ASSERT_EQ(inst->process(b).status, SLUICE_OK);
    std::string text = read_file(output());
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1 + 10 + 10);
    EXPECT_NE(text.find("batch j 1\n"), std::string::npos);
    EXPECT_EQ(text.find("batch k 1\n"), std::string::npos);  // ties sorted by word
}

TEST_F(WordCountTest, StateHandOverCarriesRunningTotals) {
    TestHost host_a;
    auto a = make(host_a, "3");
    TestBatch b1 = batch_of(1, {"x y y z z z"});
    ASSERT_EQ(a->process(b1).status, SLUICE_OK);
    std::string state;
    ASSERT_EQ(a->snapshot(state).status, SLUICE_OK);
    a->destroy();

    std::filesystem::remove(output());
    TestHost host_b;
    auto b = make(host_b, "3");
    ASSERT_EQ(b->restore(state).status, SLUICE_OK);
    TestBatch b2 = batch_of(2, {"x x x x"});
    ASSERT_EQ(b->process(b2).status, SLUICE_OK);
    EXPECT_EQ(read_file(output()),
              "batch 2 words 4 distinct 1\n"
              "batch x 4\n"
              "total x 5\n"
              "total z 3\n"
              "total y 2\n");

    // And a fresh instance without the hand-over starts from zero.
    std::filesystem::remove(output());
    TestHost host_c;
    auto c = make(host_c, "3");
    ASSERT_EQ(c->process(b2).status, SLUICE_OK);
    EXPECT_NE(read_file(output()).find("total x 4\n"), std::string::npos);
}

TEST_F(WordCountTest, CorruptStateIsRefused) {
    TestHost host;
    auto inst = make(host);
    CallResult r = inst->restore("something else");
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_NE(r.message.find("not wordcount state"), std::string::npos) << r.message;
    r = inst->restore("sluice-wordcount-state 1\n12 word\nbad");
    EXPECT_EQ(r.status, SLUICE_FATAL);
}

TEST_F(WordCountTest, BadTopFailsCreate) {
    TestHost host;
    host.config["top"] = "ten";
    TestInstance inst(plugin_, host);
    CallResult r = inst.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_EQ(r.message, "config key 'top' is 'ten', not an integer: set it to a whole number");
}

}  // namespace
}  // namespace sluice::testing
