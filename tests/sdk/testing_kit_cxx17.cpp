// Built as C++17 with -Wall -Wextra -Wpedantic -Werror (tests/sdk/CMakeLists.txt): the test kit
// compiles for the oldest standard the SDK supports. A compile error here fails the build.

#include <sluice/testing.hpp>

namespace {

[[maybe_unused]] int use_the_kit(const std::string &file) {
    namespace st = sluice::testing;
    st::Plugin plugin(file);
    st::Instance inst(plugin, {{"key", "value"}});
    inst.create_ok();
    st::Record r;
    r.topic = "events";
    r.value = "v";
    r.headers.push_back({"h", std::nullopt});
    st::Batch batch(1, 2);
    batch.add("events", 0, "a", "k").add(r).range("idle", 0, 5, 5).replay();
    st::Result result = inst.process(batch);
    std::vector<int64_t> offsets;
    inst.flush(batch);
    inst.assign({{"events", 0}});
    inst.revoke({{"events", 0}});
    inst.resume_offsets({{"events", 0}}, offsets);
    st::Instance next(plugin);
    next.create_ok();
    st::hand_over(inst, next);
    return result.ok() && inst.logged("x") && inst.metric("m").has_value() &&
                   !inst.emitted().empty()
               ? 0
               : 1;
}

}  // namespace
