// noop: processes anything, emits nothing, asks for no empty batches.

#include <gtest/gtest.h>

#include "test_host.hpp"

namespace sluice::testing {
namespace {

TEST(Noop, ProcessesABatchAndEmitsNothing) {
    LoadedPlugin p(bundled_plugin("noop"));
    EXPECT_STREQ(p.descriptor().name, "noop");
    EXPECT_EQ(p.descriptor().flags, 0u);
    TestHost host;
    TestInstance inst(p, host);
    inst.create_ok();
    TestBatch b;
    for (int i = 0; i < 1000; ++i) {
        b.records.push_back(TestRecord{.offset = i, .value = std::string(100, 'x')});
    }
    b.records.push_back(TestRecord{.offset = 1000, .value = std::nullopt});
    EXPECT_EQ(inst.process(b).status, SLUICE_OK);
    EXPECT_TRUE(host.emitted.empty());
}

}  // namespace
}  // namespace sluice::testing
