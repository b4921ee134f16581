#pragma once
// What the consumer threads hand to the batch thread, in order: sealed blocks and the
// partition assignment changes between them.

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "common/types.hpp"
#include "wal/wal_format.hpp"

namespace sluice::receiver {

struct ReceiverItem {
    enum class Kind { block, assigned, revoked };
    Kind kind = Kind::block;
    std::unique_ptr<wal::Block> block;  // for block
    std::vector<TopicPartition> tps;    // for assigned / revoked
};

/// Lifecycle: owned by the receiver stream; pushed to by every consumer thread, drained by the
/// batch thread. Thread-safe.
class BlockQueue {
  public:
    void push(ReceiverItem item) {
        std::lock_guard lock(mutex_);
        if (item.block) {
            bytes_ += item.block->bytes();
            ++blocks_;
        }
        items_.push_back(std::move(item));
    }
    /// Everything queued, in push order.
    std::deque<ReceiverItem> take_all() {
        std::lock_guard lock(mutex_);
        bytes_ = 0;
        blocks_ = 0;
        return std::exchange(items_, {});
    }
    /// Bytes of the queued blocks (the in-memory backpressure measure).
    uint64_t bytes() const {
        std::lock_guard lock(mutex_);
        return bytes_;
    }
    /// Blocks queued (for the metrics).
    uint64_t blocks() const {
        std::lock_guard lock(mutex_);
        return blocks_;
    }

  private:
    mutable std::mutex mutex_;
    std::deque<ReceiverItem> items_;
    uint64_t bytes_ = 0;
    uint64_t blocks_ = 0;
};

}  // namespace sluice::receiver
