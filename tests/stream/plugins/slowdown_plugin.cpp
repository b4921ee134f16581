// Test plugin for backpressure: takes a fixed time per record, and becomes `factor` times
// slower after a number of batches with records. [plugin.slowdown] keys:
//   us-per-record = N    microseconds per record before the slowdown (default 100)
//   slower-after = N     batches with records before the slowdown (default 0 = never slower)
//   factor = N           how much slower it becomes (default 5)
// One sleep per batch (records x microseconds), so the time is the batch's, not per call.

#include <sluice/plugin.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace {

class Slowdown {
  public:
    explicit Slowdown(sluice::Host &host)
        : us_per_record_(std::stoll(host.config_or("us-per-record", "100"))),
          slower_after_(std::stoll(host.config_or("slower-after", "0"))),
          factor_(std::stoll(host.config_or("factor", "5"))) {}

    sluice::Status process(const sluice::Batch &batch) {
        if (batch.empty()) return sluice::Status::ok;
        ++batches_;
        const bool slow = slower_after_ > 0 && batches_ > slower_after_;
        const int64_t us =
            static_cast<int64_t>(batch.size()) * us_per_record_ * (slow ? factor_ : 1);
        std::this_thread::sleep_for(std::chrono::microseconds(us));
        return sluice::Status::ok;
    }

  private:
    int64_t us_per_record_;
    int64_t slower_after_;
    int64_t factor_;
    int64_t batches_ = 0;
};

}  // namespace

SLUICE_PLUGIN(Slowdown, "slowdown", "0.0.1",
              "takes a fixed time per record, slower after N batches (backpressure tests)", 0);
