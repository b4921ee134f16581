// The plan record direct-assignment=group commits to Kafka as offset metadata
// (host/stream/plan_record.hpp): what a host writes is what its successor reads back.

#include "stream/plan_record.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

using namespace sluice::stream;
using ::testing::HasSubstr;

TEST(PlanRecord, APlanReadsBackWithItsBounds) {
    const std::string text = encode_plan({1200, 17, 1764633600000, "vm:4242:1"});
    EXPECT_EQ(text, R"({"sluice":"plan","v":1,"until":1200,"batch":17,"time":1764633600000,)"
                    R"("host":"vm:4242:1"})");
    const CommittedPlan c = decode_plan(text);
    EXPECT_EQ(c.kind, CommittedPlan::Kind::planned);
    EXPECT_EQ(c.plan.until_offset, 1200);
    EXPECT_EQ(c.plan.batch_id, 17);
    EXPECT_EQ(c.plan.batch_time_ms, 1764633600000);
    EXPECT_EQ(c.plan.host, "vm:4242:1");
}

TEST(PlanRecord, ADoneMarkReadsBackAsDone) {
    const CommittedPlan c = decode_plan(encode_done(17, "vm:4242:1"));
    EXPECT_EQ(c.kind, CommittedPlan::Kind::done);
    EXPECT_EQ(c.plan.batch_id, 17);
    EXPECT_EQ(c.plan.host, "vm:4242:1");
}

TEST(PlanRecord, AnotherConsumersMetadataIsAPlainPosition) {
    EXPECT_EQ(decode_plan("").kind, CommittedPlan::Kind::plain);
    EXPECT_EQ(decode_plan("committed by kafka-consumer-groups").kind, CommittedPlan::Kind::plain);
    EXPECT_EQ(decode_plan(R"({"app":"other"})").kind, CommittedPlan::Kind::plain);
    EXPECT_EQ(decode_plan("{not json").kind, CommittedPlan::Kind::plain);
}

TEST(PlanRecord, ANewerVersionIsOneClearError) {
    try {
        decode_plan(R"({"sluice":"plan","v":2,"until":1,"batch":1,"time":1,"host":"h"})");
        FAIL() << "a version 2 record was accepted";
    } catch (const std::runtime_error &e) {
        EXPECT_THAT(e.what(), HasSubstr("version 2, newer than this host's 1"));
        EXPECT_THAT(e.what(), HasSubstr("same sluice version on every host"));
    }
}

TEST(PlanRecord, ABrokenRecordNamesItself) {
    try {
        decode_plan(R"({"sluice":"plan","v":1,"batch":1,"host":"h"})");
        FAIL() << "a plan without until was accepted";
    } catch (const std::runtime_error &e) {
        EXPECT_THAT(e.what(), HasSubstr("is broken"));
    }
}

TEST(PlanRecord, ALongHostIsCutSoTheRecordStaysFarBelowKafkasLimit) {
    const std::string text = encode_plan({INT64_MAX, INT64_MAX, INT64_MAX, std::string(5000, 'h')});
    EXPECT_LT(text.size(), 400u);  // offset.metadata.max.bytes is 4,096 by default
    EXPECT_EQ(decode_plan(text).plan.host, std::string(200, 'h'));
}
