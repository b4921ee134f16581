#pragma once
// Direct mode's reading (Spark's createDirectStream / KafkaRDD): parallel reads of exact
// offset ranges, and the metadata queries of kafka/metadata.hpp on the reader's own handle.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/data_loss_error.hpp"
#include "common/types.hpp"
#include "ingest/fetched_batch.hpp"
#include "kafka/metadata.hpp"

namespace sluice::kafka {
class BrokerWaker;
}

namespace sluice::ingest {

using Watermarks = kafka::Watermarks;

/// fetch() did not complete every range within its timeout.
class FetchTimeout : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// fetch() gave up because its stop flag became true.
class FetchAborted : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct ReaderSettings {
    std::string brokers;
    std::map<std::string, std::string> kafka;  // user's librdkafka settings, applied last
    std::string group;                         // may be empty (then no commits)
    int workers = 0;                           // 0 = min(partitions, 4)
};

/// How far fetch() has got, for the progress reports of a long batch.
struct FetchProgress {
    uint64_t records = 0;  // read so far
    uint64_t planned = 0;  // offsets in the ranges: the records to read, less compaction gaps
    size_t ranges_done = 0;
    size_t ranges = 0;
    std::chrono::milliseconds elapsed{0};
};
using FetchProgressFn = std::function<void(const FetchProgress &)>;

class WorkerPool;
struct PartitionReader;

/// Owns one librdkafka consumer handle (legacy per-partition consumer API:
/// each partition has its own queue, positioned explicitly) and the worker
/// threads that read ranges. Partitions stay started between batches, so
/// librdkafka prefetches the next batch while plugins run; messages read past
/// a range's end are kept for the next batch.
/// Lifecycle: made, used and destroyed on the batch thread (not thread-safe);
/// its workers are internal and joined in the destructor.
class DirectReader {
  public:
    explicit DirectReader(ReaderSettings settings);
    ~DirectReader();
    DirectReader(const DirectReader &) = delete;
    DirectReader &operator=(const DirectReader &) = delete;

    /// Topic names and "^regex" patterns -> sorted partitions. Throws when a
    /// named topic is unknown (after a bounded wait) or the brokers cannot be
    /// reached within `timeout`.
    std::vector<TopicPartition> partitions_for(const std::vector<std::string> &topics,
                                               std::chrono::milliseconds timeout);

    // The watermarks librdkafka learnt from its own fetch responses (no
    // request): only partitions whose reader is running and for which both
    // values are known. Cheap enough to call every batch.
    std::map<TopicPartition, Watermarks> cached_watermarks(const std::vector<TopicPartition> &tps);
    std::map<TopicPartition, Watermarks> query_watermarks(const std::vector<TopicPartition> &tps,
                                                          std::chrono::milliseconds timeout);

    /// First offset whose timestamp is >= ts_ms, per partition. Throws when the
    /// broker has no answer (-1, as librdkafka 2.0.2's mock always gives).
    std::map<TopicPartition, int64_t> offsets_for_timestamp(const std::vector<TopicPartition> &tps,
                                                            int64_t ts_ms,
                                                            std::chrono::milliseconds timeout);

    /// The group's committed offsets; partitions without one are absent. Empty
    /// without a group.
    std::map<TopicPartition, int64_t> committed_offsets(const std::vector<TopicPartition> &tps,
                                                        std::chrono::milliseconds timeout);

    /// Reads exactly the records of every range [from, until), one task per
    /// partition on the worker pool. A range is complete when its reader
    /// reaches until_offset, however many records it held. Throws
    /// DataLossError (a range's data is gone), FetchTimeout (after `timeout`)
    /// or FetchAborted (soon after `stop` becomes true). `progress`, when given, is called
    /// on the calling thread every `report_every` until the ranges are read.
    std::unique_ptr<FetchedBatch> fetch(
        const std::vector<OffsetRange> &ranges, std::chrono::milliseconds timeout,
        const std::atomic<bool> &stop, const FetchProgressFn &progress = {},
        std::chrono::milliseconds report_every = std::chrono::seconds(5));

    /// Starts the fetcher of every partition of `positions` that is not running, at its
    /// position, without waiting: from its first fetch response on, cached_watermarks() knows
    /// the partition, so planning asks the brokers nothing for it (issue 17: an idle
    /// partition is never read, so it would otherwise be asked for in every batch).
    void start(const std::map<TopicPartition, int64_t> &positions);

    /// Stops reading `tps` (their fetchers, prefetched records and positions go): a
    /// partition this host no longer owns (direct-assignment=group). A later range of one
    /// starts it again.
    void release(const std::vector<TopicPartition> &tps);

    /// Commits each range's until_offset to the group, synchronously. No-op
    /// without a group. Throws on error.
    void commit(const std::vector<OffsetRange> &ranges);

  private:
    PartitionReader &reader_for(const TopicPartition &tp);

    ReaderSettings settings_;
    std::shared_ptr<detail::KafkaClient> client_;
    std::map<TopicPartition, std::unique_ptr<PartitionReader>> readers_;
    std::unique_ptr<WorkerPool> pool_;
    std::unique_ptr<kafka::BrokerWaker> waker_;  // last: destroyed first, while client_ lives
};

}  // namespace sluice::ingest
