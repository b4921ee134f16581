#pragma once
// A latency histogram with fixed buckets (seconds) that suit batch intervals from 10 ms to
// minutes, for Prometheus histograms: the batch loop and the plugin instances observe, the
// metrics snapshot copies. A plain value; not thread-safe.

#include <array>
#include <cstddef>
#include <cstdint>

namespace sluice {

class Histogram {
  public:
    /// Upper bounds (le) of the buckets, seconds; a last, implicit one is +Inf.
    static constexpr std::array<double, 16> kBounds = {
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};

    void observe(double seconds) {
        size_t i = 0;
        while (i < kBounds.size() && seconds > kBounds[i]) ++i;
        ++counts_[i];
        sum_ += seconds;
        ++count_;
    }
    /// Observations <= kBounds[i] (i < kBounds.size()), or all of them (i == kBounds.size()).
    uint64_t cumulative(size_t i) const {
        uint64_t n = 0;
        for (size_t j = 0; j <= i && j < counts_.size(); ++j) n += counts_[j];
        return n;
    }
    double sum() const { return sum_; }
    uint64_t count() const { return count_; }

  private:
    std::array<uint64_t, kBounds.size() + 1> counts_{};
    double sum_ = 0;
    uint64_t count_ = 0;
};

}  // namespace sluice
