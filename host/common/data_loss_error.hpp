#pragma once
// The one error for "the records a batch needs are gone from Kafka" (retention, or the mock's
// 5 MiB per-partition limit). Thrown by the direct-mode planner (a position below the low
// watermark) and by the reader (a range vanished while it was read); the run loop ends the run
// with exit code 3 (stream::kExitDataLoss) unless fail-on-data-loss=false.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "common/types.hpp"

namespace sluice {

class DataLossError : public std::runtime_error {
  public:
    /// `message`: the whole line, naming the partition, the offsets and the way out.
    DataLossError(TopicPartition tp_, int64_t requested_, int64_t earliest_,
                  const std::string &message)
        : std::runtime_error(message),
          tp(std::move(tp_)),
          requested(requested_),
          earliest(earliest_) {}

    TopicPartition tp;
    int64_t requested = -1;  // the first offset the batch needed
    int64_t earliest = -1;   // the low watermark when the loss was seen (-1: unknown)
};

}  // namespace sluice
