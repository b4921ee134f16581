// samples/c-plugin (redact.c, C11, no C++), built by this project, loaded and run through the
// host's own loader and instance (host/plugins: permissions, ELF checks, dlopen, negotiation,
// declared keys, create, process_batch, emit copies, the hand-over): the proof that the ABI
// serves C authors.

#include <gtest/gtest.h>
#include <sluice/testing.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plugins/plugin_error.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_loader.hpp"

namespace sluice::plugins {
namespace {

// The emitted records of `inst`'s last process_batch, owned.
std::vector<testing::Record> emitted(const PluginInstance &inst, const sluice_batch_t &source) {
    const sluice_batch_t out = inst.emitted_batch(source);
    std::vector<testing::Record> records;
    for (size_t i = 0; i < out.record_count; ++i) {
        const sluice_record_t &r = out.records[i];
        testing::Record rec;
        rec.topic = r.topic;
        rec.partition = r.partition;
        rec.offset = r.offset;
        rec.timestamp_ms = r.timestamp_ms;
        rec.timestamp_type = r.timestamp_type;
        if (r.key) rec.key = std::string(static_cast<const char *>(r.key), r.key_len);
        if (r.value) rec.value = std::string(static_cast<const char *>(r.value), r.value_len);
        for (size_t h = 0; h < r.header_count; ++h) {
            const sluice_header_t &hd = r.headers[h];
            std::optional<std::string> v;
            if (hd.value) v = std::string(static_cast<const char *>(hd.value), hd.value_len);
            rec.headers.push_back({hd.name, v});
        }
        records.push_back(std::move(rec));
    }
    return records;
}

class CSample : public ::testing::Test {
  protected:
    PluginLoader loader_{{C_SAMPLE_PLUGIN_DIR}};
};

TEST_F(CSample, NegotiatesAndDeclaresItsKey) {
    auto lib = loader_.load("redact");
    const sluice_plugin_t &d = lib->descriptor();
    EXPECT_STREQ(d.name, "redact");
    EXPECT_EQ(d.abi_major, SLUICE_ABI_MAJOR);
    EXPECT_EQ(d.abi_minor, SLUICE_ABI_MINOR);
    EXPECT_EQ(d.flags, SLUICE_PLUGIN_TRANSFORM);
    EXPECT_EQ(d.flush, nullptr);  // absent hooks are NULL
    EXPECT_NE(d.snapshot_state, nullptr);
    ASSERT_TRUE(lib->config_keys().has_value());
    ASSERT_EQ(lib->config_keys()->size(), 1u);
    EXPECT_EQ(lib->config_keys()->at(0).name, "mask");
    EXPECT_EQ(lib->config_keys()->at(0).default_value, std::optional<std::string>("#"));
}

TEST_F(CSample, MasksDigitsAndPassesEverythingElseOn) {
    auto lib = loader_.load("redact");
    PluginInstance inst(lib, {{"mask", "*"}});
    testing::Batch batch(3, 1700000000000);
    batch.add("payments", 0, "card 4111-1111 ok", "customer-42")
        .add("payments", 0, std::nullopt)
        .add("payments", 1, "");
    batch.add(testing::Record{.topic = "payments",
                              .partition = 1,
                              .offset = 1,
                              .timestamp_ms = 1700000000500,
                              .timestamp_type = SLUICE_TIMESTAMP_CREATE_TIME,
                              .value = "no digits",
                              .headers = {{"trace", "t-7"}, {"null", std::nullopt}}});
    const sluice_batch_t &view = batch.view();
    const ChainResult r = inst.process_batch(view);
    ASSERT_TRUE(r.ok()) << r.message;

    const auto out = emitted(inst, view);
    ASSERT_EQ(out.size(), 4u);
    testing::Record first = batch.records()[0];
    first.value = "card ****-**** ok";  // the key keeps its digits: only values are masked
    EXPECT_EQ(out[0], first);
    EXPECT_EQ(out[1], batch.records()[1]);  // a null value stays null
    EXPECT_EQ(out[2], batch.records()[2]);  // an empty one stays empty
    EXPECT_EQ(out[3], batch.records()[3]);  // timestamp and headers pass through
    EXPECT_EQ(inst.metrics().custom.at("digits_masked"), 8);
}

TEST_F(CSample, RefusesABadMaskAndAnUndeclaredKey) {
    auto lib = loader_.load("redact");
    try {
        PluginInstance inst(lib, {{"mask", "**"}});
        FAIL() << "a two-character mask was accepted";
    } catch (const PluginError &e) {
        EXPECT_NE(std::string(e.what()).find("mask must be one character"), std::string::npos)
            << e.what();
    }
    try {
        PluginInstance inst(lib, {{"mask", "*"}, {"msak", "*"}});
        FAIL() << "an undeclared key was accepted";
    } catch (const PluginError &e) {
        EXPECT_NE(std::string(e.what()).find("'msak'"), std::string::npos) << e.what();
    }
}

TEST_F(CSample, HandsItsCountToTheNextGeneration) {
    auto lib = loader_.load("redact");
    PluginInstance old_generation(lib, {});
    testing::Batch batch(1);
    batch.add("t", 0, "12345");
    ASSERT_TRUE(old_generation.process_batch(batch.view()).ok());
    EXPECT_EQ(emitted(old_generation, batch.view())[0].value, std::optional<std::string>("#####"));
    ASSERT_TRUE(old_generation.has_state_hooks());
    std::string state;
    ASSERT_TRUE(old_generation.snapshot_state(&state).ok());
    EXPECT_EQ(state, "5");
    PluginInstance new_generation(lib, {});
    ASSERT_TRUE(new_generation.restore_state(state).ok());
    std::string again;
    ASSERT_TRUE(new_generation.snapshot_state(&again).ok());
    EXPECT_EQ(again, "5");
    EXPECT_EQ(new_generation.restore_state("five").status, SLUICE_FATAL);
}

std::string output_of(const std::string &command) {
    std::unique_ptr<FILE, int (*)(FILE *)> pipe(popen((command + " 2>&1").c_str(), "r"), pclose);
    std::string out;
    char buf[256];
    while (pipe && fgets(buf, sizeof buf, pipe.get()) != nullptr) out += buf;
    return out;
}

TEST_F(CSample, IsPureC) {
    // Nothing of libstdc++ is linked in, so a C author needs no C++ toolchain or runtime.
    const std::string so = C_SAMPLE_PLUGIN_DIR "/redact.so";
    const std::string out = output_of("ldd '" + so + "'");
    EXPECT_NE(out.find("libc.so"), std::string::npos) << out;
    if (out.find("libubsan") == std::string::npos) {
        EXPECT_EQ(out.find("libstdc++"), std::string::npos) << out;
    } else {
        // The asan preset links UBSan's runtime into everything, and it needs libstdc++ itself:
        // there, what the plugin asks for is what it names.
        const std::string needed = output_of("readelf -d '" + so + "'");
        EXPECT_NE(needed.find("[libc.so"), std::string::npos) << needed;
        EXPECT_EQ(needed.find("libstdc++"), std::string::npos) << needed;
    }
}

}  // namespace
}  // namespace sluice::plugins
