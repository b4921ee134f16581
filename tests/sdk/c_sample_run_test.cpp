// samples/c-plugin (redact, plain C11) in a real `sluice run` against `sluice mock-broker`: the
// host loads it from its plugin directory, it masks the digits of every value it reads from
// Kafka, and the bundled file-sink after it stores exactly the masked records, once each.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "e2e_helpers.hpp"
#include "mock_broker_suite.hpp"
#include "sluice_command.hpp"
#include "temp_dir.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

class CSampleRun : public MockBrokerSuite<CSampleRun> {
  public:
    static std::vector<MockTopic> mock_topics() { return {{"payments", 2}}; }
};

TEST_F(CSampleRun, MasksWhatItReadsFromKafkaForTheNextPlugin) {
    std::vector<RecordToProduce> records;
    for (int i = 0; i < 50; ++i)
        records.push_back({i % 2,
                           "customer-" + std::to_string(i),
                           "card 4111-" + std::to_string(1000 + i) + " ok",
                           {{"trace", "t-1"}}});
    records.push_back({0, std::nullopt, std::nullopt, {}});   // a null value stays null
    records.push_back({1, std::nullopt, std::string(), {}});  // an empty one stays empty
    produce_records(bootstrap(), "payments", records);

    TempDir dir(temp_dir("sluice-c-sample-run"));
    const std::string sink = dir.file("sink.jsonl"), config = dir.file("run.ini");
    write_text(config, "[plugin.redact]\nmask = *\n[plugin.file-sink]\npath = " + sink + "\n");
    const CommandResult r = run_sluice({"run",
                                        "--config",
                                        config,
                                        "--brokers",
                                        bootstrap(),
                                        "--topics",
                                        "payments",
                                        "--plugin-dir",
                                        C_SAMPLE_PLUGIN_DIR,
                                        "--plugin-dir",
                                        SLUICE_PLUGIN_OUTPUT_DIR,
                                        "--plugin",
                                        "redact",
                                        "--plugin",
                                        "file-sink",
                                        "--auto-offset-reset",
                                        "earliest",
                                        "--batch-interval",
                                        "100ms",
                                        "--max-batches",
                                        "3",
                                        "-X",
                                        "fetch.wait.max.ms=10"},
                                       60s);
    ASSERT_EQ(r.status.code, 0) << r.err;
    EXPECT_NE(r.err.find("loaded plugin 'redact' (redact 1.0.0, ABI 1.1)"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("[plugin redact] masking digits with '*'"), std::string::npos) << r.err;

    const std::vector<ConsumedRecord> stored = read_sink(sink);
    const std::vector<ConsumedRecord> in_kafka = consume_all(bootstrap(), "payments");
    ASSERT_EQ(stored.size(), records.size());
    ASSERT_EQ(in_kafka.size(), records.size());
    std::map<std::tuple<std::string, int32_t, int64_t>, const ConsumedRecord *> by_id;
    for (const ConsumedRecord &s : stored) {
        EXPECT_TRUE(by_id.emplace(record_id(s), &s).second) << "stored twice: offset " << s.offset;
    }
    for (const ConsumedRecord &k : in_kafka) {
        auto it = by_id.find(record_id(k));
        ASSERT_NE(it, by_id.end()) << "missing " << k.partition << "@" << k.offset;
        const ConsumedRecord &s = *it->second;
        std::optional<std::string> masked = k.value;
        if (masked) {
            for (char &c : *masked)
                if (c >= '0' && c <= '9') c = '*';
        }
        EXPECT_EQ(s.value, masked) << k.partition << "@" << k.offset;
        EXPECT_EQ(s.key, k.key);  // keys and headers pass through unmasked
        ASSERT_EQ(s.headers.size(), k.headers.size());
        for (size_t h = 0; h < k.headers.size(); ++h) {
            EXPECT_EQ(s.headers[h].name, k.headers[h].name);
            EXPECT_EQ(s.headers[h].value, k.headers[h].value);
        }
    }
    int masked_cards = 0;
    for (const ConsumedRecord &s : stored)
        masked_cards += s.value && s.value->find("card ****-**** ok") != std::string::npos;
    EXPECT_EQ(masked_cards, 50);
}

}  // namespace
}  // namespace sluice::test
