// noop: processes anything, emits nothing, asks for no empty batches. Through the SDK's test kit.

#include <gtest/gtest.h>
#include <sluice/testing.hpp>

#include "bundled_plugin.hpp"

namespace sluice::testing {
namespace {

TEST(Noop, ProcessesABatchAndEmitsNothing) {
    Plugin p(bundled_plugin_file("noop"));
    EXPECT_EQ(p.name(), "noop");
    EXPECT_EQ(p.descriptor().flags, 0u);
    EXPECT_FALSE(p.wants_empty_batches());
    Instance inst(p);
    inst.create_ok();
    Batch b;
    for (int i = 0; i < 1000; ++i) b.add("t", 0, std::string(100, 'x'));
    b.add("t", 0, std::nullopt);
    EXPECT_EQ(inst.process(b).status, SLUICE_OK);
    EXPECT_TRUE(inst.emitted().empty());
    EXPECT_TRUE(inst.logs().empty());
}

}  // namespace
}  // namespace sluice::testing
