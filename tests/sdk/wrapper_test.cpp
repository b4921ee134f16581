// The C++ wrapper (sluice/plugin.hpp) seen from the host's side of the C ABI.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>

#include "test_host.hpp"

namespace sluice::testing {
namespace {

using ::testing::Contains;
using ::testing::Pair;

std::filesystem::path test_plugin(const std::string &name) {
    return std::filesystem::path(SDK_TEST_PLUGIN_DIR) / (name + ".so");
}

TestBatch one_record_batch() {
    TestBatch b;
    b.id = 7;
    b.records.push_back(TestRecord{.offset = 1, .value = "v"});
    return b;
}

TEST(Wrapper, DescriptorCarriesNameVersionAbiAndNoAbsentHooks) {
    LoadedPlugin p(test_plugin("wrapper_throw"));
    const sluice_plugin_t &d = p.descriptor();
    EXPECT_EQ(d.struct_size, sizeof(sluice_plugin_t));
    EXPECT_EQ(d.abi_major, SLUICE_ABI_MAJOR);
    EXPECT_EQ(d.abi_minor, SLUICE_ABI_MINOR);
    EXPECT_STREQ(d.name, "wrapper-throw");
    EXPECT_STREQ(d.version, "0.0.1");
    EXPECT_EQ(d.flags, 0u);
    EXPECT_NE(d.create, nullptr);
    EXPECT_NE(d.destroy, nullptr);
    EXPECT_NE(d.process_batch, nullptr);
    EXPECT_EQ(d.partitions_assigned, nullptr);
    EXPECT_EQ(d.partitions_revoked, nullptr);
    EXPECT_EQ(d.flush, nullptr);
    EXPECT_EQ(d.snapshot_state, nullptr);
    EXPECT_EQ(d.restore_state, nullptr);
    EXPECT_EQ(d.resume_offsets, nullptr);
}

TEST(Wrapper, PresentHooksAreAllSet) {
    LoadedPlugin p(test_plugin("wrapper_echo"));
    const sluice_plugin_t &d = p.descriptor();
    EXPECT_EQ(d.flags, SLUICE_PLUGIN_TRANSFORM);
    EXPECT_NE(d.partitions_assigned, nullptr);
    EXPECT_NE(d.partitions_revoked, nullptr);
    EXPECT_NE(d.flush, nullptr);
    EXPECT_NE(d.snapshot_state, nullptr);
    EXPECT_NE(d.restore_state, nullptr);
    EXPECT_NE(d.resume_offsets, nullptr);
}

struct ThrowCase {
    const char *mode;
    int32_t status;
    const char *message;
};

class WrapperThrows : public ::testing::TestWithParam<ThrowCase> {};

TEST_P(WrapperThrows, ExceptionBecomesStatusAndMessage) {
    LoadedPlugin p(test_plugin("wrapper_throw"));
    TestHost host;
    host.config["mode"] = GetParam().mode;
    TestInstance inst(p, host);
    inst.create_ok();
    TestBatch b = one_record_batch();
    CallResult r = inst.process(b);
    EXPECT_EQ(r.status, GetParam().status);
    EXPECT_EQ(r.message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Modes, WrapperThrows,
                         ::testing::Values(ThrowCase{"ok", SLUICE_OK, ""},
                                           ThrowCase{"retry", SLUICE_RETRY, "try again later"},
                                           ThrowCase{"skip", SLUICE_SKIP, "skip this one"},
                                           ThrowCase{"fatal", SLUICE_FATAL, "broken for good"},
                                           ThrowCase{"std", SLUICE_FATAL, "plain std exception"},
                                           ThrowCase{"int", SLUICE_FATAL,
                                                     "process threw an exception of unknown type"},
                                           ThrowCase{"status", SLUICE_RETRY,
                                                     "process returned retry without a message"}),
                         [](const auto &info) { return std::string(info.param.mode); });

TEST(Wrapper, LongMessageIsTruncatedAndTerminated) {
    LoadedPlugin p(test_plugin("wrapper_throw"));
    TestHost host;
    host.config["mode"] = "long";
    TestInstance inst(p, host);
    inst.create_ok();
    TestBatch b = one_record_batch();
    CallResult r = inst.process(b, 16);
    EXPECT_EQ(r.status, SLUICE_SKIP);
    EXPECT_EQ(r.message, std::string(15, 'y'));
    // No buffer at all must not crash either.
    EXPECT_EQ(inst.process(b, 0).status, SLUICE_SKIP);
}

TEST(Wrapper, ConstructorExceptionFailsCreateWithMessage) {
    LoadedPlugin p(test_plugin("wrapper_throw"));
    TestHost host;
    host.config["fail_create"] = "1";
    TestInstance inst(p, host);
    CallResult r = inst.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_EQ(r.message, "create failed on purpose");
    EXPECT_EQ(inst.raw(), nullptr);
}

TEST(Wrapper, EmitsRecordsWithNullEmptyAndHeadersPreservedAcrossStrides) {
    LoadedPlugin p(test_plugin("wrapper_echo"));
    TestHost host;
    TestInstance inst(p, host);
    inst.create_ok();
    TestBatch b;
    b.id = 3;
    b.flags = SLUICE_BATCH_REPLAY;
    b.ranges.push_back({"t", 0, 10, 13});
    b.records.push_back(
        TestRecord{.topic = "t",
                   .partition = 0,
                   .offset = 10,
                   .timestamp = 1700,
                   .timestamp_type = SLUICE_TIMESTAMP_CREATE_TIME,
                   .key = std::nullopt,
                   .value = std::string(""),
                   .headers = {{"h1", std::string("a\0b", 3)}, {"h2", std::nullopt}}});
    b.records.push_back(TestRecord{.offset = 11, .key = std::string(""), .value = std::nullopt});
    b.records.push_back(TestRecord{.topic = "passthrough", .offset = 12, .value = "same"});
    ASSERT_EQ(inst.process(b).status, SLUICE_OK);

    ASSERT_EQ(host.emitted.size(), 3u);
    TestRecord e0 = b.records[0];
    e0.value = "echo:";
    EXPECT_EQ(host.emitted[0], e0);
    TestRecord e1 = b.records[1];  // null value stays null, empty key stays empty
    EXPECT_EQ(host.emitted[1], e1);
    EXPECT_EQ(host.emitted[2], b.records[2]);
    EXPECT_EQ(host.metrics["records"], 3);
    EXPECT_EQ(host.metrics["last_batch"], 3);
    EXPECT_THAT(host.logs, Contains(Pair(SLUICE_LOG_DEBUG, "ranges t:0:3 replay")));

    inst.process(b);
    EXPECT_EQ(host.metrics["records"], 6);  // counter adds up
}

TEST(Wrapper, OlderRecordStructReadsMissingFieldsAsAbsent) {
    LoadedPlugin p(test_plugin("wrapper_echo"));
    TestHost host;
    TestInstance inst(p, host);
    inst.create_ok();
    TestBatch b;
    b.records.push_back(
        TestRecord{.offset = 5, .value = "v", .headers = {{"h", std::string("x")}}});
    // A host whose record struct ends before the headers.
    b.record_struct_size = offsetof(sluice_record_t, headers);
    ASSERT_EQ(inst.process(b).status, SLUICE_OK);
    ASSERT_EQ(host.emitted.size(), 1u);
    EXPECT_TRUE(host.emitted[0].headers.empty());
    EXPECT_EQ(host.emitted[0].value, "echo:v");
}

TEST(Wrapper, EmitOutsideProcessFails) {
    LoadedPlugin p(test_plugin("wrapper_echo"));
    TestHost host;
    TestInstance inst(p, host);
    inst.create_ok();
    TestBatch b = one_record_batch();
    // Call process_batch directly, with the host saying "not in process": emit returns FATAL.
    char err[256] = "";
    int32_t rc = p.descriptor().process_batch(inst.raw(), b.c(), err, sizeof err);
    EXPECT_EQ(rc, SLUICE_FATAL);
    EXPECT_THAT(std::string(err), ::testing::HasSubstr("refused an emitted record"));
}

TEST(Wrapper, HostWithoutOptionalFunctionsIsSafe) {
    LoadedPlugin p(test_plugin("wrapper_echo"));
    TestHost host;
    // An older host whose table ends after config_get: metric and emit are absent.
    host.mutable_api().struct_size = offsetof(sluice_host_api_t, metric);
    TestInstance inst(p, host);
    inst.create_ok();
    TestBatch b = one_record_batch();
    CallResult r = inst.process(b);
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_EQ(r.message, "this host offers no emit function");
    EXPECT_TRUE(host.metrics.empty());
}

TEST(Wrapper, HooksReachThePlugin) {
    LoadedPlugin p(test_plugin("wrapper_echo"));
    const sluice_plugin_t &d = p.descriptor();
    TestHost host;
    TestInstance inst(p, host);
    inst.create_ok();
    EXPECT_THAT(host.logs, Contains(Pair(SLUICE_LOG_INFO, "hello")));

    Padded<sluice_topic_partition_t> tps[2] = {};
    tps[0].value = {sizeof(sluice_topic_partition_t), "a", 1};
    tps[1].value = {sizeof(sluice_topic_partition_t), "b", 2};
    char err[128];
    EXPECT_EQ(d.partitions_assigned(inst.raw(), &tps[0].value, 2, sizeof tps[0], err, sizeof err),
              SLUICE_OK);
    EXPECT_EQ(d.partitions_revoked(inst.raw(), &tps[1].value, 1, sizeof tps[0], err, sizeof err),
              SLUICE_OK);
    TestBatch b = one_record_batch();
    EXPECT_EQ(d.flush(inst.raw(), b.c(), err, sizeof err), SLUICE_OK);
    EXPECT_THAT(host.logs, Contains(Pair(SLUICE_LOG_INFO, "assigned a:1")));
    EXPECT_THAT(host.logs, Contains(Pair(SLUICE_LOG_INFO, "assigned b:2")));
    EXPECT_THAT(host.logs, Contains(Pair(SLUICE_LOG_INFO, "revoked b:2")));
    EXPECT_THAT(host.logs, Contains(Pair(SLUICE_LOG_INFO, "flush 7")));

    ASSERT_EQ(inst.restore("abc").status, SLUICE_OK);
    std::string state;
    ASSERT_EQ(inst.snapshot(state).status, SLUICE_OK);
    EXPECT_EQ(state, "state:abc");

    std::vector<int64_t> offsets;
    ASSERT_EQ(inst.resume_offsets({{"known", 3}, {"other", 0}}, offsets).status, SLUICE_OK);
    EXPECT_EQ(offsets, (std::vector<int64_t>{103, -1}));  // pre-filled with -1 by the wrapper
}

}  // namespace
}  // namespace sluice::testing
