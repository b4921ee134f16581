// Test plugin for the error policy: fails on purpose, then passes. [plugin.flaky] keys:
//   fail = ok | retry | skip | fatal | unknown   what a failing call returns (default ok)
//   fail-times = N                               fail the first N calls, then succeed
//                                                (default: every call fails)
// The message names the call number, so tests can see which attempt a log line is about.

#include <sluice/plugin.hpp>

#include <cstdint>
#include <string>

namespace {

class Flaky {
  public:
    explicit Flaky(sluice::Host &host)
        : mode_(host.config_or("fail", "ok")),
          fail_times_(std::stoll(host.config_or("fail-times", "-1"))) {}

    sluice::Status process(const sluice::Batch &) {
        ++calls_;
        if (mode_ == "ok" || (fail_times_ >= 0 && calls_ > fail_times_)) return sluice::Status::ok;
        const std::string why = "flaky call " + std::to_string(calls_) + " fails with " + mode_;
        if (mode_ == "retry") throw sluice::Retry(why);
        if (mode_ == "skip") throw sluice::Skip(why);
        if (mode_ == "fatal") throw sluice::Fatal(why);
        return static_cast<sluice::Status>(77);  // "unknown": a code the ABI does not know
    }

  private:
    std::string mode_;
    int64_t fail_times_;
    int64_t calls_ = 0;
};

}  // namespace

SLUICE_PLUGIN(Flaky, "flaky", "0.0.1", "fails on purpose for error-policy tests", 0);
