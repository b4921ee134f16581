// The metrics-address key of `sluice run`: command line, config file, --validate output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "config/run_config.hpp"
#include "temp_dir.hpp"

namespace sluice::config {
namespace {

using ::testing::HasSubstr;

RunConfig parse(std::vector<std::string> extra) {
    std::vector<std::string> args = {"run", "--brokers", "b:9092", "--topics",
                                     "t",   "--plugin",  "noop"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<const char *> argv;
    for (const auto &a : args) argv.push_back(a.c_str());
    return parse_run_args(static_cast<int>(argv.size()), argv.data()).config;
}

TEST(MetricsAddressKey, OffByDefaultAndReadFromBothSources) {
    EXPECT_EQ(parse({}).metrics_address, "");
    EXPECT_EQ(parse({"--metrics-address", "127.0.0.1:0"}).metrics_address, "127.0.0.1:0");
    EXPECT_EQ(parse({"--metrics-address", " [::1]:9100 "}).metrics_address, "[::1]:9100");

    auto dir = test::temp_dir("sluice-metrics-cfg");
    std::ofstream(dir.file("m.ini")) << "metrics-address = 0.0.0.0:9100\n";
    EXPECT_EQ(parse({"--config", dir.file("m.ini")}).metrics_address, "0.0.0.0:9100");
    // The command line wins over the file.
    EXPECT_EQ(
        parse({"--config", dir.file("m.ini"), "--metrics-address", "127.0.0.1:1"}).metrics_address,
        "127.0.0.1:1");
}

TEST(MetricsAddressKey, ABadAddressIsOneLineNamingTheKey) {
    for (const char *bad : {"9100", "host:99999", "::1:9100"}) {
        SCOPED_TRACE(bad);
        try {
            parse({"--metrics-address", bad});
            ADD_FAILURE() << "accepted";
        } catch (const ConfigError &e) {
            const std::string what = e.what();
            EXPECT_THAT(what, ::testing::StartsWith("--metrics-address: '"));
            EXPECT_THAT(what, HasSubstr("write HOST:PORT"));
            EXPECT_EQ(what.find('\n'), std::string::npos);
        }
    }
}

TEST(MetricsAddressKey, DescribeAndHelpShowIt) {
    EXPECT_THAT(describe(parse({})), HasSubstr("# metrics-address: none\n"));
    const RunConfig on = parse({"--metrics-address", "127.0.0.1:9100"});
    const std::string text = describe(on);
    EXPECT_THAT(text, HasSubstr("metrics-address = 127.0.0.1:9100\n"));
    auto dir = test::temp_dir("sluice-metrics-cfg");
    std::ofstream(dir.file("d.ini")) << text;
    EXPECT_EQ(parse({"--config", dir.file("d.ini")}), on);  // round-trips
    const std::string help = run_help();
    EXPECT_THAT(help, HasSubstr("\nMonitoring:\n"));
    EXPECT_THAT(help, HasSubstr("--metrics-address HOST:PORT"));
    EXPECT_LT(help.find("\nMonitoring:\n"), help.find("\nExamples:\n"));
}

}  // namespace
}  // namespace sluice::config
