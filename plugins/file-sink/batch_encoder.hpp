#pragma once
// file-sink encodes a batch's lines on several threads: the records are cut into consecutive
// chunks, each encoded into its own buffer (json_lines.hpp), and the batch thread hands the
// chunks to the file in record order as they are done (so writing one overlaps encoding the
// next), so that the file holds the same bytes as one thread would write.

#include <sluice/plugin.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "json_lines.hpp"

namespace file_sink {

/// Threads that run the tasks of one job at a time; the caller may run some too (help()).
///
/// Lifecycle: owned by the plugin instance; the first start() starts threads - 1 workers (so
/// an instance that never gets a batch large enough to cut starts none; when the system has
/// no thread to give, the caller runs the tasks itself), the destructor stops and joins them.
/// Threads: start(), help() and finish() from one thread at a time (the batch thread); the
/// workers run a job's tasks between its start() and finish().
/// Tasks must not throw (BatchEncoder's catch everything and hand it to the batch thread).
class EncodePool {
  public:
    /// `threads`: how many threads may run a job, the caller included (at least 1).
    explicit EncodePool(unsigned threads);
    ~EncodePool();
    EncodePool(const EncodePool &) = delete;
    EncodePool &operator=(const EncodePool &) = delete;

    unsigned threads() const { return threads_; }

    /// Starts a job: the workers run task(i) for i in [0, count), taking them in ascending
    /// order. `task` must outlive finish().
    template <class Task>
    void start(std::size_t count, Task &task) {
        start_erased(count, &task, [](void *t, std::size_t i) { (*static_cast<Task *>(t))(i); });
    }
    /// Runs the next task nobody has taken yet on the calling thread; false when none is left.
    bool help();
    /// Ends the job: with `cancel`, the tasks nobody has taken are dropped; waits until no
    /// worker is inside a task of it.
    void finish(bool cancel);

  private:
    using Fn = void (*)(void *, std::size_t);
    void start_erased(std::size_t count, void *ctx, Fn fn);
    void start_workers();
    void worker();

    const unsigned threads_;
    bool started_ = false;

    std::mutex mutex_;
    std::condition_variable wake_;  // a new job, or stop
    std::condition_variable idle_;  // active_ dropped to 0
    // The current job (written under mutex_ while active_ == 0).
    void *ctx_ = nullptr;
    Fn fn_ = nullptr;
    std::size_t count_ = 0;
    std::atomic<std::size_t> next_{0};
    uint64_t generation_ = 0;
    unsigned active_ = 0;  // workers inside a job
    bool stop_ = false;
    std::vector<std::thread> workers_;
};

/// The next offset of one partition that a chunk's written records reach.
struct Run {
    std::string_view topic;  // the host's, valid during the batch call
    int32_t partition = 0;
    int64_t next = 0;
};

/// One chunk's output. Buffers are kept for the next batch.
struct Chunk {
    LineBuffer lines;
    TopicCache topic;
    std::vector<Run> runs;  // one per stretch of written records of one partition
    uint64_t written = 0;
    uint64_t skipped = 0;
    std::exception_ptr error;       // what encoding it threw (std::bad_alloc)
    std::atomic<uint64_t> done{0};  // the job number once encoded
};

/// Encodes the records of a batch into chunks and hands them over in order. Lifecycle and
/// threads: as EncodePool's; encode() on the batch thread.
class BatchEncoder {
  public:
    explicit BatchEncoder(unsigned threads) : pool_(threads) {}

    /// Encodes every record of `records` (a random-access range of sluice::Record) whose
    /// offset is not below stored_next(topic, partition) (an std::optional<int64_t>: the next
    /// offset already in the file; those below were written by an earlier run of the batch),
    /// and calls consume(const Chunk &) for each chunk, in record order, on this thread, as
    /// soon as it is done. stored_next is called concurrently from several threads. What
    /// consume throws ends encode() (the chunks still being encoded are waited for).
    template <class Records, class StoredNext, class Consume>
    void encode(const Records &records, const StoredNext &stored_next, Consume &&consume) {
        const std::size_t n = records.size();
        // Small batches on this thread alone; else chunks of about kChunk records, so that
        // the first is written while the next ones are encoded.
        std::size_t tasks = 1;
        if (pool_.threads() > 1 && n >= 2 * kChunk) {
            tasks = std::min<std::size_t>(n / kChunk, kMaxChunks);
        }
        while (chunks_.size() < tasks) chunks_.push_back(std::make_unique<Chunk>());
        const uint64_t job = ++job_;
        auto task = [&](std::size_t t) {
            Chunk &c = *chunks_[t];
            try {
                encode_chunk(c, records, stored_next, n * t / tasks, n * (t + 1) / tasks);
            } catch (...) {
                c.error = std::current_exception();
            }
            c.done.store(job, std::memory_order_release);
            c.done.notify_one();
        };
        if (tasks == 1) {
            task(0);
            if (chunks_[0]->error) std::rethrow_exception(chunks_[0]->error);
            consume(std::as_const(*chunks_[0]));
            return;
        }
        pool_.start(tasks, task);
        struct Finish {
            EncodePool &pool;
            bool cancel = true;
            ~Finish() { pool.finish(cancel); }
        } finish{pool_};
        for (std::size_t t = 0; t < tasks; ++t) {
            Chunk &c = *chunks_[t];
            // Not encoded yet: encode a later chunk meanwhile, or wait when all are taken.
            for (uint64_t seen; (seen = c.done.load(std::memory_order_acquire)) != job;) {
                if (!pool_.help()) c.done.wait(seen, std::memory_order_acquire);
            }
            if (c.error) std::rethrow_exception(c.error);
            consume(std::as_const(c));
        }
        finish.cancel = false;
    }

  private:
    static constexpr std::size_t kChunk = 4096;
    static constexpr std::size_t kMaxChunks = 64;

    template <class Records, class StoredNext>
    static void encode_chunk(Chunk &c, const Records &records, const StoredNext &stored_next,
                             std::size_t from, std::size_t until) {
        c.lines.clear();
        c.runs.clear();
        c.written = c.skipped = 0;
        c.error = nullptr;
        std::string_view topic;
        int32_t partition = 0;
        bool same = false;
        std::optional<int64_t> stored;
        Run *run = nullptr;
        for (std::size_t i = from; i < until; ++i) {
            const sluice::Record &record = records[i];
            const std::string_view rt = record.topic();
            if (!same || record.partition() != partition || rt != topic) {
                topic = rt;
                partition = record.partition();
                stored = stored_next(topic, partition);
                run = nullptr;
                same = true;
            }
            if (stored && record.offset() < *stored) {
                ++c.skipped;
                continue;
            }
            append_line(c.lines, record, c.topic);
            ++c.written;
            if (run == nullptr) {
                c.runs.push_back(Run{topic, partition, record.offset() + 1});
                run = &c.runs.back();
            } else {
                run->next = std::max(run->next, record.offset() + 1);
            }
        }
    }

    EncodePool pool_;
    std::vector<std::unique_ptr<Chunk>> chunks_;
    uint64_t job_ = 0;
};

}  // namespace file_sink
