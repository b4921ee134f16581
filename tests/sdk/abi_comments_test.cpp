// sluice.h documents, on every function of the ABI (host API members, plugin descriptor members,
// and the function types), the thread it runs or may be called on: the rule of the header's
// preamble. A function added without its "Thread:" note fails here.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string header() {
    std::ifstream in(std::string(SLUICE_SOURCE_DIR) + "/sdk/include/sluice/sluice.h");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

/// The doc comment (/** ... */) that ends right before `at`, or "".
std::string comment_before(const std::string &text, size_t at) {
    const size_t end = text.rfind("*/", at);
    if (end == std::string::npos) return "";
    // Only blank space between the comment and the declaration.
    for (size_t i = end + 2; i < at; ++i)
        if (text[i] != ' ' && text[i] != '\n') return "";
    const size_t start = text.rfind("/**", end);
    return start == std::string::npos ? "" : text.substr(start, end - start);
}

TEST(AbiComments, EveryFunctionNamesItsThread) {
    const std::string text = header();
    ASSERT_FALSE(text.empty());
    // Members `ret (*name)(...)` and typedefs `typedef ret (*name)(...)`.
    const std::regex function(
        R"(\n[ \t]*(typedef\s+)?[A-Za-z_][A-Za-z0-9_ \*]*\(\*\s*(\w+)\)\s*\()");
    std::vector<std::string> missing;
    size_t found = 0;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), function);
         it != std::sregex_iterator(); ++it) {
        ++found;
        const size_t at = static_cast<size_t>(it->position()) + 1;
        const std::string comment = comment_before(text, at);
        if (comment.find("Thread:") == std::string::npos) missing.push_back((*it)[2]);
    }
    EXPECT_GE(found, 13u) << "the parser no longer finds the ABI's functions";
    std::string names;
    for (const auto &m : missing) names += " " + m;
    EXPECT_TRUE(missing.empty()) << "functions of sluice.h without a thread note:" << names;
}

}  // namespace
