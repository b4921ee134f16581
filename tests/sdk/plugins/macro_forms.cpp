// SLUICE_PLUGIN(...) as the docs write it (no ';') and as many plugins do (with ';'), built with
// -Wpedantic -Werror by tests/sdk/CMakeLists.txt: both forms must compile cleanly.
#include <sluice/plugin.hpp>

class Forms {
  public:
    void process(const sluice::Batch &) {}
};

#if MACRO_WITH_SEMICOLON
SLUICE_PLUGIN(Forms, "macro-with-semicolon", "1", "SLUICE_PLUGIN(...);", 0);
#else
SLUICE_PLUGIN(Forms, "macro-without-semicolon", "1", "SLUICE_PLUGIN(...)", 0)
#endif
// A declaration after the macro, so the form without ';' is not just at the end of the file.
namespace {
[[maybe_unused]] constexpr int kAfterTheMacro = 1;
}
