#pragma once
// Reading one offset range of one partition (direct mode): the per-partition reader state kept
// between batches, and the task a worker runs for each range during DirectReader::fetch.
// Internal to host/ingest.

#include <librdkafka/rdkafka.h>
#include <sluice/sluice.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/types.hpp"

namespace sluice::ingest {

/// One partition's reader: started once, then read range after range.
/// Lifecycle: owned by DirectReader; during fetch() only the worker reading
/// its range touches it, otherwise only the batch thread.
struct PartitionReader {
    TopicPartition tp;
    rd_kafka_topic_t *rkt = nullptr;  // owned by KafkaClient
    bool started = false;
    int64_t position = -1;    // where the next range must start to continue without a seek
    int64_t eof_offset = -1;  // log end last reported: every message below it has been pulled
    std::deque<rd_kafka_message_t *> carry;  // pulled past the last range's end, in order

    ~PartitionReader() { drop_carry(); }
    void drop_carry() {
        for (auto *m : carry) rd_kafka_message_destroy(m);
        carry.clear();
    }
};

/// The work of one range during one fetch(). Written by one worker, read by
/// the batch thread after the worker signalled completion.
struct RangeTask {
    enum class Outcome { kPending, kComplete, kAborted, kTimedOut, kDataLoss, kFailed };

    const OffsetRange *range = nullptr;
    PartitionReader *reader = nullptr;
    const char *topic_name = nullptr;
    sluice_record_t *slot_records = nullptr;  // slot_cap slots in the batch's array
    rd_kafka_message_t **slot_messages = nullptr;
    size_t slot_cap = 0;
    std::vector<sluice_record_t> overflow_records;  // records beyond slot_cap
    std::vector<rd_kafka_message_t *> overflow_messages;
    std::vector<std::unique_ptr<sluice_header_t[]>> headers;
    size_t count = 0;
    uint64_t bytes = 0;
    int64_t next = 0;                        // next offset wanted
    std::atomic<uint64_t> *taken = nullptr;  // `count`, published for fetch()'s progress reports

    Outcome outcome = Outcome::kPending;
    std::string error;
    int64_t loss_earliest = -1;

    /// Appends one message's record (a view into it) to the range's slots or overflow.
    void take(rd_kafka_message_t *m);

    template <typename F>
    void for_each_message(F &&f) const {
        for (size_t i = 0; i < std::min(count, slot_cap); ++i) f(slot_messages[i]);
        for (auto *m : overflow_messages) f(m);
    }
};

/// (Re)starts a partition's fetcher at `offset`, dropping what it held. Throws KafkaError.
void start_at(PartitionReader &pr, int64_t offset);

/// Reads one range until it is complete, `deadline` passes or `stop` is raised (t.outcome says
/// which). Worker thread; touches only its own PartitionReader.
void read_range(rd_kafka_t *rk, RangeTask &t, std::chrono::steady_clock::time_point deadline,
                const std::atomic<bool> &stop);

/// After a failed fetch: hands a range's records back to its reader so the retry does not read
/// them again, or forgets the reader's position when it can no longer be trusted.
void give_back(RangeTask &t);

}  // namespace sluice::ingest
