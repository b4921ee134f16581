// The SDK's test kit (sluice/testing.hpp) itself: it refuses what the host's loader refuses, with
// the same reasons; batches reach the plugin as built (null and empty values, headers,
// timestamps, ranges, the replay flag); logs, metrics and emitted records are captured; the
// optional hooks and the hot-reload hand-over are called as the host calls them.

#include <gtest/gtest.h>
#include <sluice/testing.hpp>

#include <sstream>
#include <string>

namespace sluice::testing {
namespace {

std::string loader_plugin(const std::string &name) {
    return std::string(LOADER_TEST_PLUGIN_DIR) + "/loader_" + name + ".so";
}
std::string echo_plugin() {
    return std::string(SDK_TEST_PLUGIN_DIR) + "/wrapper_echo.so";
}

// The message of the LoadError that loading `file` throws ("" when it loads).
std::string load_error(const std::string &file) {
    try {
        Plugin p(file);
    } catch (const LoadError &e) {
        return e.what();
    }
    return "";
}

TEST(TestingKit, RefusesWhatTheHostRefuses) {
    const struct {
        const char *build;
        const char *reason;
    } cases[] = {
        {"bad_no_entry", "exports no sluice_plugin_entry symbol"},
        {"bad_major", "built for Sluice ABI 2.0, this host speaks 1."},
        {"bad_minor", "this host speaks 1."},
        {"bad_refuse", "the plugin refused this host"},
        {"bad_tiny", "too small to hold an ABI version"},
        {"bad_short", "bytes ABI 1.0 requires"},
        {"bad_no_process", "lacks required functions: process_batch"},
        {"bad_undefined", "sluice_test_symbol_nobody_defines"},
        {"keys_host", "declares the config key 'on-error', which is the host's own"},
    };
    for (const auto &c : cases) {
        const std::string file = loader_plugin(c.build);
        const std::string error = load_error(file);
        EXPECT_NE(error.find(c.reason), std::string::npos) << c.build << ": " << error;
        EXPECT_NE(error.find(file), std::string::npos) << error;  // names the file
    }
    EXPECT_NE(load_error("/nonexistent/x.so").find("cannot be loaded"), std::string::npos);
    EXPECT_EQ(load_error(loader_plugin("bad_minimal")), "");
}

TEST(TestingKit, ReadsTheDescriptorByItsStructSize) {
    Plugin minimal(loader_plugin("bad_minimal"));  // ends at process_batch; flush lies beyond
    EXPECT_FALSE(minimal.has_flush());
    Instance inst(minimal);
    inst.create_ok();
    Batch b(1);
    EXPECT_TRUE(inst.flush(b).ok());  // absent hook: OK, nothing called
}

TEST(TestingKit, DeclaredKeysAreCheckedBeforeCreate) {
    Plugin keys(loader_plugin("keys_declared"));
    ASSERT_TRUE(keys.config_keys().has_value());
    ASSERT_EQ(keys.config_keys()->size(), 2u);
    EXPECT_EQ((*keys.config_keys())[0].name, "top");
    EXPECT_EQ((*keys.config_keys())[0].default_value, std::optional<std::string>("10"));
    Instance good(keys, {{"top", "3"}, {"on-error", "skip"}});  // the host's own keys pass
    EXPECT_TRUE(good.create().ok());
    Instance bad(keys, {{"tpo", "3"}});
    const Result r = bad.create();
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_EQ(r.message,
              "[plugin.keys] has the key 'tpo', which the plugin does not declare (did you mean "
              "'top'?)");  // the host's words
    Instance far(keys, {{"colour", "red"}});
    EXPECT_EQ(far.create().message,
              "[plugin.keys] has the key 'colour', which the plugin does not declare");
    EXPECT_FALSE(bad.created());
    Plugin none(loader_plugin("keys_none"));  // declares that it takes no keys
    ASSERT_TRUE(none.config_keys().has_value());
    EXPECT_TRUE(none.config_keys()->empty());
    Plugin old_abi(loader_plugin("keys_old_abi"));  // the table lies beyond its struct_size
    EXPECT_FALSE(old_abi.config_keys().has_value());
}

TEST(TestingKit, BatchesArriveAsBuiltAndEmitsAreCaptured) {
    Plugin echo(echo_plugin());
    EXPECT_EQ(echo.name(), "wrapper-echo");
    EXPECT_TRUE(echo.is_transform());
    Instance inst(echo);
    inst.create_ok();
    EXPECT_TRUE(inst.logged("hello"));  // the constructor's log line

    Batch b(7, 1700000000000);
    b.add("events", 0, "a", "k1").add("events", 0, "").add("events", 0, std::nullopt);
    b.add(Record{.topic = "events",
                 .partition = 1,
                 .offset = 40,
                 .timestamp_ms = 1700000000123,
                 .timestamp_type = SLUICE_TIMESTAMP_CREATE_TIME,
                 .key = "",
                 .value = "v",
                 .headers = {{"trace", "t1"}, {"empty", ""}, {"null", std::nullopt}}});
    b.add(Record{.topic = "passthrough", .offset = 5, .value = "same"});
    b.range("idle", 0, 9, 9).replay();
    ASSERT_EQ(b.ranges().size(), 4u);
    EXPECT_EQ(b.ranges()[0].until_offset, 3);  // add() grows its partition's range
    EXPECT_EQ(b.ranges()[1].from_offset, 40);
    EXPECT_EQ(b.ranges()[1].until_offset, 41);

    ASSERT_TRUE(inst.process(b).ok());
    ASSERT_EQ(inst.emitted().size(), 5u);
    Record first = b.records()[0];
    first.value = "echo:a";
    EXPECT_EQ(inst.emitted()[0], first);
    EXPECT_EQ(inst.emitted()[1].value, std::optional<std::string>("echo:"));
    EXPECT_EQ(inst.emitted()[2].value, std::nullopt);  // null stays null
    Record fourth = b.records()[3];
    fourth.value = "echo:v";
    EXPECT_EQ(inst.emitted()[3], fourth);  // key "", timestamp and all three headers
    EXPECT_EQ(inst.emitted()[4], b.records()[4]);
    EXPECT_TRUE(inst.logged("ranges events:0:3 events:1:1 passthrough:0:1 idle:0:0 replay"));
    EXPECT_EQ(inst.metric("records"), 5);
    EXPECT_EQ(inst.metric("last_batch"), 7);
    EXPECT_EQ(inst.metric("absent"), std::nullopt);

    Batch next(8);
    next.add("events", 0, "b");
    ASSERT_TRUE(inst.process(next).ok());
    EXPECT_EQ(inst.emitted().size(), 1u);     // only the last call's
    EXPECT_EQ(inst.metric("records"), 6);     // counters add up
    EXPECT_EQ(inst.metric("last_batch"), 8);  // gauges keep the last value
    EXPECT_FALSE(inst.logged("ranges events:0:1 replay"));
    EXPECT_EQ(inst.batches(), 2u);
}

TEST(TestingKit, HooksAndHandOver) {
    Plugin echo(echo_plugin());
    Instance old_gen(echo);
    old_gen.create_ok();
    ASSERT_TRUE(old_gen.assign({{"events", 0}, {"events", 3}}).ok());
    ASSERT_TRUE(old_gen.revoke({{"events", 3}}).ok());
    Batch b(4);
    ASSERT_TRUE(old_gen.flush(b).ok());
    EXPECT_TRUE(old_gen.logged("assigned events:0"));
    EXPECT_TRUE(old_gen.logged("assigned events:3"));
    EXPECT_TRUE(old_gen.logged("revoked events:3"));
    EXPECT_TRUE(old_gen.logged("flush 4"));

    std::vector<int64_t> offsets;
    ASSERT_TRUE(old_gen.resume_offsets({{"known", 2}, {"other", 0}}, offsets).ok());
    EXPECT_EQ(offsets, (std::vector<int64_t>{102, -1}));

    ASSERT_TRUE(echo.has_state_hooks());
    Instance new_gen(echo);
    new_gen.create_ok();
    ASSERT_TRUE(hand_over(old_gen, new_gen).ok());
    std::string state;
    ASSERT_TRUE(new_gen.snapshot(state).ok());
    EXPECT_EQ(state, "state:state:");  // the new generation restored the old one's snapshot
}

TEST(TestingKit, EmitsOfASinkAreDroppedWithTheHostsWarning) {
    Plugin plain(loader_plugin("upper_plain"));  // emits, but is not a transform
    EXPECT_FALSE(plain.is_transform());
    Instance inst(plain);
    inst.create_ok();
    Batch b(1);
    b.add("t", 0, "x").add("t", 0, "y");
    ASSERT_TRUE(inst.process(b).ok());
    EXPECT_TRUE(inst.emitted().empty());
    EXPECT_TRUE(inst.logged("host: emits records but does not declare SLUICE_PLUGIN_TRANSFORM"));
}

TEST(TestingKit, CallsBeforeCreateAndMustSucceedHelpers) {
    Plugin echo(echo_plugin());
    Instance inst(echo);
    Batch b(1);
    const Result r = inst.process(b);
    EXPECT_EQ(r.status, SLUICE_FATAL);
    EXPECT_EQ(r.message, "process_batch called before a successful create()");
    std::ostringstream shown;
    shown << r;
    EXPECT_EQ(shown.str(), "SLUICE_FATAL: process_batch called before a successful create()");
    EXPECT_THROW(inst.process_ok(b), CallError);
    inst.create_ok();
    EXPECT_NO_THROW(inst.process_ok(b));
}

}  // namespace
}  // namespace sluice::testing
