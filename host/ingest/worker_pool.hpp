#pragma once
// A fixed pool of threads that run fetch tasks (one task per partition range).

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice::ingest {

/// Runs submitted tasks on its own threads, in submission order.
/// Lifecycle: owned by a DirectReader; grown and fed from the batch thread;
/// the destructor finishes the queued tasks and joins every thread.
class WorkerPool {
  public:
    WorkerPool() = default;
    ~WorkerPool();
    WorkerPool(const WorkerPool &) = delete;
    WorkerPool &operator=(const WorkerPool &) = delete;

    /// Starts threads until there are at least `count`. Batch thread.
    void ensure_threads(int count);
    size_t size() const { return threads_.size(); }

    /// Queues a task; a task must not throw. Batch thread.
    void submit(std::function<void()> task);

  private:
    void run();

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> tasks_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace sluice::ingest
