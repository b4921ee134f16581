// file-sink's encoding threads (see batch_encoder.hpp).

#include <pthread.h>

#include <system_error>

#include "batch_encoder.hpp"

namespace file_sink {

EncodePool::EncodePool(unsigned threads) : threads_(threads < 1 ? 1 : threads) {}

void EncodePool::start_workers() {
    started_ = true;
    try {
        for (unsigned i = 1; i < threads_; ++i) {
            workers_.emplace_back([this] { worker(); });
            ::pthread_setname_np(workers_.back().native_handle(), "fsink-encode");
        }
    } catch (const std::system_error &) {
        // No more threads now: the batch thread encodes what the others do not (help()).
    }
}

EncodePool::~EncodePool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (std::thread &t : workers_) t.join();
}

void EncodePool::start_erased(std::size_t count, void *ctx, Fn fn) {
    if (!started_) start_workers();
    {
        // A worker that woke too late for the last job may still be looking at it.
        std::unique_lock<std::mutex> lock(mutex_);
        idle_.wait(lock, [this] { return active_ == 0; });
        ctx_ = ctx;
        fn_ = fn;
        count_ = count;
        next_.store(0, std::memory_order_relaxed);
        ++generation_;
    }
    wake_.notify_all();
}

bool EncodePool::help() {
    const std::size_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= count_) return false;
    fn_(ctx_, i);
    return true;
}

void EncodePool::finish(bool cancel) {
    if (cancel) next_.store(count_, std::memory_order_relaxed);
    // Every task is taken (or dropped); those taken by workers are done once no worker is
    // inside the job.
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [this] { return active_ == 0; });
}

void EncodePool::worker() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        void *ctx = ctx_;
        Fn fn = fn_;
        const std::size_t count = count_;
        ++active_;
        lock.unlock();
        for (std::size_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < count;) {
            fn(ctx, i);
        }
        lock.lock();
        if (--active_ == 0) idle_.notify_all();
    }
}

}  // namespace file_sink
