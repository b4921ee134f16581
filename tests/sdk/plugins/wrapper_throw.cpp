// Test plugin for the C++ wrapper, built as C++17: no optional hooks (their
// descriptor pointers must stay NULL); `[plugin] mode` picks how process fails.

#include <sluice/plugin.hpp>

#include <stdexcept>
#include <string>

static_assert(__cplusplus < 202002L, "this test plugin must be built as C++17");

namespace {

class Thrower {
  public:
    explicit Thrower(sluice::Host &host) : mode_(host.config_or("mode", "ok")) {
        if (host.config("fail_create")) throw std::runtime_error("create failed on purpose");
    }

    sluice::Status process(const sluice::Batch &) {
        if (mode_ == "retry") throw sluice::Retry("try again later");
        if (mode_ == "skip") throw sluice::Skip("skip this one");
        if (mode_ == "fatal") throw sluice::Fatal("broken for good");
        if (mode_ == "std") throw std::invalid_argument("plain std exception");
        if (mode_ == "int") throw 42;
        if (mode_ == "status") return sluice::Status::retry;
        if (mode_ == "long") throw sluice::Skip(std::string(1000, 'y'));
        return sluice::Status::ok;
    }

  private:
    std::string mode_;
};

}  // namespace

SLUICE_PLUGIN(Thrower, "wrapper-throw", "0.0.1", "throws on demand", 0);
