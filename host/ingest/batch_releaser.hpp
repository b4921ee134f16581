#pragma once
// Gives a finished batch's messages back to librdkafka off the batch thread.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "ingest/fetched_batch.hpp"

namespace sluice::ingest {

/// Destroying a batch (one rd_kafka_message_destroy per record, freeing fetch
/// buffers another thread allocated) costs 0.3-1 us a record: more than
/// reading it. Done on the batch thread, it would stall the next batch; here
/// it overlaps with it. One batch is released at a time: release() waits for
/// the previous one, so at most two batches are in memory.
/// Lifecycle: owned by the batch loop; its thread is joined (after finishing
/// the batch it holds) in the destructor.
class BatchReleaser {
  public:
    BatchReleaser() : thread_([this] { loop(); }) {}
    ~BatchReleaser() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        changed_.notify_all();
        thread_.join();
    }
    BatchReleaser(const BatchReleaser &) = delete;
    BatchReleaser &operator=(const BatchReleaser &) = delete;

    /// Batch thread: hands over a batch whose views nobody uses any more.
    void release(std::unique_ptr<FetchedBatch> batch) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [this] { return !pending_; });
        pending_ = std::move(batch);
        lock.unlock();
        changed_.notify_all();
    }

  private:
    void loop() {
        std::unique_lock lock(mutex_);
        while (true) {
            changed_.wait(lock, [this] { return stopping_ || pending_; });
            if (!pending_) return;  // stopping, nothing left
            // Destroy outside the lock, then make room for the next one.
            std::unique_ptr<FetchedBatch> batch = std::move(pending_);
            lock.unlock();
            batch.reset();
            lock.lock();
            pending_.reset();
            changed_.notify_all();
        }
    }

    std::mutex mutex_;
    std::condition_variable changed_;
    std::unique_ptr<FetchedBatch> pending_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace sluice::ingest
