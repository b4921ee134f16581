#include "ingest/direct_reader.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "ingest/worker_pool.hpp"
#include "kafka/broker_waker.hpp"
#include "kafka/kafka_conf.hpp"
#include "kafka/metadata.hpp"
#include "kafka/reserved_settings.hpp"

namespace sluice::ingest {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace detail {

/// The consumer handle and its topic handles. Shared by the DirectReader and
/// every FetchedBatch, whose messages must be destroyed before the handle.
struct KafkaClient {
    rd_kafka_t *rk = nullptr;
    std::map<std::string, rd_kafka_topic_t *> topics;  // batch thread only

    // The slot arrays of the last destroyed batch, reused by the next fetch:
    // fresh pages cost a page fault each (~20 us on a VM), ~0.4 us per record.
    std::mutex spare_mutex;
    std::unique_ptr<sluice_record_t[]> spare_records;
    std::unique_ptr<rd_kafka_message_t *[]> spare_messages;
    size_t spare_capacity = 0;

    ~KafkaClient() {
        for (auto &[name, rkt] : topics) rd_kafka_topic_destroy(rkt);
        // No subscription and no auto-commit: closing the consumer has nothing
        // to do, and skipping it avoids waiting on an absent coordinator.
        if (rk) rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }

    rd_kafka_topic_t *topic(const std::string &name) {
        auto it = topics.find(name);
        if (it != topics.end()) return it->second;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, name.c_str(), nullptr);
        if (!rkt)
            throw kafka::KafkaError("cannot open topic '" + name +
                                    "': " + rd_kafka_err2str(rd_kafka_last_error()));
        topics.emplace(name, rkt);
        return rkt;
    }
};

}  // namespace detail

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

namespace {

// How long one consume call may block: bounds how late a stop is seen.
constexpr int kPollSliceMs = 20;
constexpr int64_t kPullMax = 4096;
// Records slots allocated up front for one batch (untouched pages cost nothing);
// beyond it a range spills into a growing vector.
constexpr int64_t kSlotBudget = int64_t{4} << 20;
constexpr int kDataLossWatermarkTimeoutMs = 5000;

int remaining_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<int64_t>(left, 0, INT32_MAX));
}

bool is_data_loss(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
           err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE;
}

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

    void take(rd_kafka_message_t *m) {
        sluice_record_t rec;
        rec.struct_size = sizeof rec;
        rec.topic = topic_name;
        rec.partition = m->partition;
        rec.offset = m->offset;
        rd_kafka_timestamp_type_t ts_type;
        rec.timestamp_ms = rd_kafka_message_timestamp(m, &ts_type);
        rec.timestamp_type = static_cast<int32_t>(ts_type);
        rec.key = m->key;
        rec.key_len = m->key_len;
        rec.value = m->payload;
        rec.value_len = m->len;
        rec.headers = nullptr;
        rec.header_count = 0;
        rec.header_stride = sizeof(sluice_header_t);
        // Parsing is lazy in librdkafka: a message without headers answers
        // NOENT without work.
        rd_kafka_headers_t *hdrs = nullptr;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
            const size_t n = rd_kafka_header_cnt(hdrs);
            if (n > 0) {
                auto array = std::make_unique<sluice_header_t[]>(n);
                for (size_t i = 0; i < n; ++i) {
                    const char *name = nullptr;
                    const void *value = nullptr;
                    size_t size = 0;
                    rd_kafka_header_get_all(hdrs, i, &name, &value, &size);
                    array[i] = {sizeof(sluice_header_t), name, value, size};
                }
                rec.headers = array.get();
                rec.header_count = n;
                headers.push_back(std::move(array));
            }
        }
        if (count < slot_cap) {
            slot_records[count] = rec;
            slot_messages[count] = m;
        } else {
            overflow_records.push_back(rec);
            overflow_messages.push_back(m);
        }
        ++count;
        bytes += m->key_len + m->len;
        next = m->offset + 1;
    }

    template <typename F>
    void for_each_message(F &&f) const {
        for (size_t i = 0; i < std::min(count, slot_cap); ++i) f(slot_messages[i]);
        for (auto *m : overflow_messages) f(m);
    }
};

/// (Re)starts a partition's fetcher at `offset`, dropping what it held.
void start_at(PartitionReader &pr, int64_t offset) {
    pr.drop_carry();
    pr.eof_offset = -1;
    pr.position = -1;
    if (pr.started) {
        if (rd_kafka_consume_stop(pr.rkt, pr.tp.partition) == -1)
            spdlog::warn("kafka: stopping the reader of {} failed: {}", pr.tp.to_string(),
                         rd_kafka_err2str(rd_kafka_last_error()));
        pr.started = false;
    }
    if (rd_kafka_consume_start(pr.rkt, pr.tp.partition, offset) == -1)
        throw kafka::KafkaError("cannot start reading " + pr.tp.to_string() + " at offset " +
                                std::to_string(offset) + ": " +
                                rd_kafka_err2str(rd_kafka_last_error()));
    pr.started = true;
    pr.position = offset;
}

/// Reads one range. Worker thread; touches only its own PartitionReader.
void read_range(rd_kafka_t *rk, RangeTask &t, Clock::time_point deadline,
                const std::atomic<bool> &stop) {
    PartitionReader &pr = *t.reader;
    const int64_t from = t.range->from_offset, until = t.range->until_offset;
    try {
        if (!pr.started || pr.position != from) {
            if (pr.started)
                spdlog::debug("{}: seeking from offset {} to {}", pr.tp.to_string(), pr.position,
                              from);
            start_at(pr, from);
        }
    } catch (const std::exception &e) {
        t.outcome = RangeTask::Outcome::kFailed;
        t.error = e.what();
        return;
    }
    t.next = from;
    bool complete = false;
    while (!pr.carry.empty()) {
        rd_kafka_message_t *m = pr.carry.front();
        if (m->offset >= until) {
            complete = true;
            break;
        }
        pr.carry.pop_front();
        t.take(m);
    }
    if (t.next >= until || pr.eof_offset >= until) complete = true;

    rd_kafka_message_t *pulled[kPullMax];
    while (!complete) {
        if (stop.load(std::memory_order_relaxed)) {
            t.outcome = RangeTask::Outcome::kAborted;
            return;
        }
        const int left = remaining_ms(deadline);
        if (left <= 0) {
            t.outcome = RangeTask::Outcome::kTimedOut;
            return;
        }
        // Ask for no more than the range still needs: the call returns as
        // soon as it has that many (it otherwise waits out its timeout).
        const auto want = static_cast<size_t>(std::clamp<int64_t>(until - t.next, 1, kPullMax));
        const ssize_t n = rd_kafka_consume_batch(pr.rkt, pr.tp.partition,
                                                 std::min(left, kPollSliceMs), pulled, want);
        if (n < 0) {
            t.outcome = RangeTask::Outcome::kFailed;
            t.error = std::string("reading ") + pr.tp.to_string() + ": " +
                      rd_kafka_err2str(rd_kafka_last_error());
            return;
        }
        for (ssize_t i = 0; i < n; ++i) {
            rd_kafka_message_t *m = pulled[i];
            if (m->err) {
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    pr.eof_offset = m->offset;
                    if (m->offset >= until) complete = true;
                } else if (is_data_loss(m->err) && t.outcome == RangeTask::Outcome::kPending) {
                    t.outcome = RangeTask::Outcome::kDataLoss;
                    t.error = rd_kafka_message_errstr(m);
                } else if (!is_data_loss(m->err)) {
                    spdlog::warn("kafka: reading {}: {}", pr.tp.to_string(),
                                 rd_kafka_message_errstr(m));
                }
                rd_kafka_message_destroy(m);
                continue;
            }
            if (complete || m->offset >= until) {
                complete = true;
                pr.carry.push_back(m);
            } else if (m->offset < t.next) {
                rd_kafka_message_destroy(m);  // already seen: never expected, but harmless
            } else {
                t.take(m);
                if (t.next >= until) complete = true;
            }
        }
        t.taken->store(t.count, std::memory_order_relaxed);
        if (t.outcome == RangeTask::Outcome::kDataLoss) {
            int64_t low = -1, high = -1;
            if (rd_kafka_query_watermark_offsets(rk, pr.tp.topic.c_str(), pr.tp.partition, &low,
                                                 &high, kDataLossWatermarkTimeoutMs) ==
                RD_KAFKA_RESP_ERR_NO_ERROR)
                t.loss_earliest = low;
            return;
        }
    }
    pr.position = until;
    t.outcome = RangeTask::Outcome::kComplete;
}

/// After a failed fetch: hands a range's records back to its reader so the
/// retry does not read them again, or forgets the reader's position when it
/// can no longer be trusted.
void give_back(RangeTask &t) {
    PartitionReader &pr = *t.reader;
    if (t.outcome == RangeTask::Outcome::kDataLoss || t.outcome == RangeTask::Outcome::kFailed ||
        t.outcome == RangeTask::Outcome::kPending) {
        t.for_each_message([](rd_kafka_message_t *m) { rd_kafka_message_destroy(m); });
        pr.drop_carry();
        pr.position = -1;  // the next fetch repositions it
        pr.eof_offset = -1;
        return;
    }
    std::vector<rd_kafka_message_t *> taken;
    taken.reserve(t.count);
    t.for_each_message([&](rd_kafka_message_t *m) { taken.push_back(m); });
    pr.carry.insert(pr.carry.begin(), taken.begin(), taken.end());
    pr.position = t.range->from_offset;
}

/// A range's records vanished while it was read: reading on would silently skip data.
DataLossError range_data_loss(const TopicPartition &tp, int64_t requested, int64_t earliest,
                              const std::string &detail) {
    return DataLossError(
        tp, requested, earliest,
        "data of kafka partition " + tp.to_string() + " is gone: offset " +
            std::to_string(requested) + " was requested but the earliest offset in the log is " +
            (earliest >= 0 ? std::to_string(earliest) : std::string("unknown")) + " (" + detail +
            "; retention, or the mock broker's 5 MiB per-partition limit, removed it): restart "
            "from an available offset (--auto-offset-reset earliest, --from-offsets) or set "
            "fail-on-data-loss=false to skip lost ranges");
}

}  // namespace

FetchedBatch::~FetchedBatch() {
    for (size_t i = 0; i < record_count_; ++i) rd_kafka_message_destroy(messages_[i]);
    if (client_ && records_ && capacity_ > 0) {
        std::lock_guard lock(client_->spare_mutex);
        if (capacity_ >= client_->spare_capacity) {
            client_->spare_records = std::move(records_);
            client_->spare_messages = std::move(messages_);
            client_->spare_capacity = capacity_;
        }
    }
}

DirectReader::DirectReader(ReaderSettings settings)
    : settings_(std::move(settings)), pool_(std::make_unique<WorkerPool>()) {
    if (settings_.brokers.empty()) throw kafka::KafkaError("no Kafka brokers given: set --brokers");
    kafka::ConfPtr conf(rd_kafka_conf_new());
    const std::vector<std::pair<std::string, std::string>> defaults = {
        {"bootstrap.servers", settings_.brokers},
        {"client.id", "sluice-direct"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        // A range whose data is gone must be reported, not silently reset.
        {"auto.offset.reset", "error"},
        // Reaching the log end completes a range whose last offsets hold no
        // record (compaction, transaction markers).
        {"enable.partition.eof", "true"},
        // The mock holds an empty fetch for the whole wait; 10 ms keeps
        // batches prompt (a real cluster's users may raise it).
        {"fetch.wait.max.ms", "10"},
    };
    for (const auto &[key, value] : defaults) kafka::set_conf(conf.get(), key, value);
    if (!settings_.group.empty()) kafka::set_conf(conf.get(), "group.id", settings_.group);
    // The user's settings may tune the client, never the guarantees (the config validation
    // refuses these too; this keeps a reader built any other way honest).
    for (const auto &[key, value] : settings_.kafka) {
        if (auto error = kafka::direct_reserved_error(key, value)) throw kafka::KafkaError(*error);
        kafka::set_conf(conf.get(), key, value);
    }
    rd_kafka_conf_set_log_cb(conf.get(), kafka::log_to_spdlog);
    rd_kafka_conf_set_error_cb(conf.get(), kafka::warn_on_error);

    client_ = std::make_shared<detail::KafkaClient>();
    client_->rk = kafka::make_handle(RD_KAFKA_CONSUMER, std::move(conf)).release();
    waker_ = std::make_unique<kafka::BrokerWaker>(client_->rk);
}

DirectReader::~DirectReader() {
    waker_.reset();
    pool_.reset();  // joins the workers; no fetch is running (same thread)
    for (auto &[tp, pr] : readers_) {
        if (pr->started) rd_kafka_consume_stop(pr->rkt, tp.partition);
        pr->drop_carry();
    }
    readers_.clear();
    // client_ is released last; outstanding FetchedBatches keep it alive.
}

PartitionReader &DirectReader::reader_for(const TopicPartition &tp) {
    auto &slot = readers_[tp];
    if (!slot) {
        slot = std::make_unique<PartitionReader>();
        slot->tp = tp;
        slot->rkt = client_->topic(tp.topic);
    }
    return *slot;
}

std::vector<TopicPartition> DirectReader::partitions_for(const std::vector<std::string> &topics,
                                                         milliseconds timeout) {
    rd_kafka_poll(client_->rk, 0);
    return kafka::partitions_for(client_->rk, settings_.brokers, topics, timeout);
}

std::map<TopicPartition, Watermarks> DirectReader::cached_watermarks(
    const std::vector<TopicPartition> &tps) {
    std::map<TopicPartition, Watermarks> out;
    for (const auto &tp : tps) {
        auto it = readers_.find(tp);
        if (it == readers_.end() || !it->second || !it->second->started) continue;
        Watermarks w;
        if (rd_kafka_get_watermark_offsets(client_->rk, tp.topic.c_str(), tp.partition, &w.low,
                                           &w.high) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            w.low >= 0 && w.high >= 0)
            out[tp] = w;
    }
    return out;
}

std::map<TopicPartition, Watermarks> DirectReader::query_watermarks(
    const std::vector<TopicPartition> &tps, milliseconds timeout) {
    rd_kafka_poll(client_->rk, 0);
    return kafka::query_watermarks(client_->rk, settings_.brokers, tps, timeout);
}

std::map<TopicPartition, int64_t> DirectReader::offsets_for_timestamp(
    const std::vector<TopicPartition> &tps, int64_t ts_ms, milliseconds timeout) {
    rd_kafka_poll(client_->rk, 0);
    return kafka::offsets_for_timestamp(client_->rk, tps, ts_ms, timeout);
}

std::map<TopicPartition, int64_t> DirectReader::committed_offsets(
    const std::vector<TopicPartition> &tps, milliseconds timeout) {
    rd_kafka_poll(client_->rk, 0);
    return kafka::committed_offsets(client_->rk, settings_.brokers, settings_.group, tps, timeout);
}

void DirectReader::commit(const std::vector<OffsetRange> &ranges) {
    rd_kafka_poll(client_->rk, 0);
    kafka::commit_offsets(client_->rk, settings_.group, ranges);
}

std::unique_ptr<FetchedBatch> DirectReader::fetch(const std::vector<OffsetRange> &ranges,
                                                  milliseconds timeout,
                                                  const std::atomic<bool> &stop,
                                                  const FetchProgressFn &progress,
                                                  milliseconds report_every) {
    const auto started = Clock::now();
    rd_kafka_poll(client_->rk, 0);
    const auto deadline = Clock::now() + timeout;
    std::vector<RangeTask> tasks;
    std::set<TopicPartition> seen;
    int64_t span = 0;
    for (const auto &r : ranges) {
        if (r.from_offset < 0 || r.until_offset < r.from_offset)
            throw std::invalid_argument("invalid offset range " + r.topic_partition().to_string() +
                                        " [" + std::to_string(r.from_offset) + ", " +
                                        std::to_string(r.until_offset) + ")");
        if (!seen.insert(r.topic_partition()).second)
            throw std::invalid_argument("partition " + r.topic_partition().to_string() +
                                        " appears twice in one batch");
        if (r.count() == 0) continue;
        RangeTask t;
        t.range = &r;
        t.reader = &reader_for(r.topic_partition());
        t.topic_name = rd_kafka_topic_name(t.reader->rkt);
        tasks.push_back(std::move(t));
        span += r.count();
    }
    if (stop) throw FetchAborted("fetch abandoned: stop requested");

    auto batch = std::unique_ptr<FetchedBatch>(new FetchedBatch());
    batch->client_ = client_;
    if (tasks.empty()) return batch;

    // Each range writes its records straight into its slice of one array;
    // only gaps (compaction) or a range bigger than its slice need a copy.
    const int64_t per_range_cap =
        span <= kSlotBudget ? INT64_MAX : kSlotBudget / static_cast<int64_t>(tasks.size());
    size_t slots = 0;
    for (auto &t : tasks) {
        t.slot_cap = static_cast<size_t>(std::min(t.range->count(), per_range_cap));
        slots += t.slot_cap;
    }
    std::unique_ptr<sluice_record_t[]> records;
    std::unique_ptr<rd_kafka_message_t *[]> messages;
    size_t capacity = 0;
    {
        std::lock_guard lock(client_->spare_mutex);
        if (client_->spare_capacity >= slots) {
            records = std::move(client_->spare_records);
            messages = std::move(client_->spare_messages);
            capacity = client_->spare_capacity;
            client_->spare_capacity = 0;
        }
    }
    if (!records) {
        records.reset(new sluice_record_t[slots]);  // not zeroed: untouched pages are free
        messages.reset(new rd_kafka_message_t *[slots]);
        capacity = slots;
    }
    std::unique_ptr<std::atomic<uint64_t>[]> taken(new std::atomic<uint64_t>[tasks.size()]());
    size_t at = 0;
    for (size_t i = 0; i < tasks.size(); ++i) tasks[i].taken = &taken[i];
    for (auto &t : tasks) {
        t.slot_records = records.get() + at;
        t.slot_messages = messages.get() + at;
        at += t.slot_cap;
    }

    // Start (or re-position) every partition's fetcher here, before any range
    // is handed to a worker: with fewer workers than partitions, a partition
    // started inside its task would begin fetching only when a worker frees up.
    for (auto &t : tasks) {
        PartitionReader &pr = *t.reader;
        if (pr.started && pr.position == t.range->from_offset) continue;
        if (pr.started)
            spdlog::debug("{}: seeking from offset {} to {}", pr.tp.to_string(), pr.position,
                          t.range->from_offset);
        start_at(pr, t.range->from_offset);
    }

    pool_->ensure_threads(settings_.workers > 0 ? settings_.workers
                                                : std::clamp<int>(readers_.size(), 1, 4));
    struct Completion {
        std::mutex mutex;
        std::condition_variable done;
        size_t remaining;
    } completion{{}, {}, tasks.size()};
    rd_kafka_t *rk = client_->rk;
    for (auto &t : tasks) {
        pool_->submit([rk, &t, deadline, &stop, &completion] {
            try {
                read_range(rk, t, deadline, stop);
            } catch (const std::exception &e) {
                t.outcome = RangeTask::Outcome::kFailed;
                t.error = e.what();
            }
            std::lock_guard lock(completion.mutex);
            if (--completion.remaining == 0) completion.done.notify_one();
        });
    }
    {
        std::unique_lock lock(completion.mutex);
        const auto all_read = [&] { return completion.remaining == 0; };
        while (!completion.done.wait_for(lock, report_every, all_read)) {
            if (!progress) continue;
            FetchProgress p;
            p.ranges = tasks.size();
            p.ranges_done = tasks.size() - completion.remaining;
            lock.unlock();  // the workers finish meanwhile
            for (size_t i = 0; i < tasks.size(); ++i) {
                p.records += taken[i].load(std::memory_order_relaxed);
                p.planned += static_cast<uint64_t>(tasks[i].range->count());
            }
            p.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
            progress(p);
            lock.lock();
        }
    }
    // The ranges just drained their queues: get the next batch prefetched
    // while the plugins run (see BrokerWaker for why this is needed).
    {
        std::vector<TopicPartition> read;
        read.reserve(tasks.size());
        for (const auto &t : tasks) read.push_back(t.reader->tp);
        waker_->poke(read);
    }

    const RangeTask *loss = nullptr, *failed = nullptr;
    bool aborted = false;
    std::string late;
    for (const auto &t : tasks) {
        switch (t.outcome) {
            case RangeTask::Outcome::kComplete:
                break;
            case RangeTask::Outcome::kDataLoss:
                if (!loss) loss = &t;
                break;
            case RangeTask::Outcome::kAborted:
                aborted = true;
                break;
            case RangeTask::Outcome::kTimedOut:
                late += std::string(late.empty() ? "" : ", ") + t.range->topic + ":" +
                        std::to_string(t.range->partition) + " at " + std::to_string(t.next) +
                        " of [" + std::to_string(t.range->from_offset) + ", " +
                        std::to_string(t.range->until_offset) + ")";
                break;
            default:
                if (!failed) failed = &t;
        }
    }
    if (loss || failed || aborted || !late.empty()) {
        for (auto &t : tasks) give_back(t);
        if (loss)
            throw range_data_loss(loss->range->topic_partition(), loss->next, loss->loss_earliest,
                                  loss->error);
        if (failed) throw kafka::KafkaError(failed->error);
        if (aborted) throw FetchAborted("fetch abandoned: stop requested");
        throw FetchTimeout("reading the batch's offset ranges timed out after " +
                           std::to_string(timeout.count()) + " ms (" + late +
                           "): check that the brokers at '" + settings_.brokers + "' are up");
    }

    size_t total = 0;
    bool packed = true;
    for (const auto &t : tasks) {
        total += t.count;
        batch->bytes_ += t.bytes;
        packed = packed && t.count == t.slot_cap;
        for (auto &h : const_cast<RangeTask &>(t).headers) batch->headers_.push_back(std::move(h));
    }
    if (!packed) {
        // Gaps or spill-over: pack the ranges into one exact array.
        std::unique_ptr<sluice_record_t[]> exact_records(new sluice_record_t[total]);
        std::unique_ptr<rd_kafka_message_t *[]> exact_messages(new rd_kafka_message_t *[total]);
        size_t out = 0;
        for (const auto &t : tasks) {
            const size_t in_slot = std::min(t.count, t.slot_cap);
            std::memcpy(&exact_records[out], t.slot_records, in_slot * sizeof(sluice_record_t));
            std::memcpy(&exact_messages[out], t.slot_messages, in_slot * sizeof(void *));
            out += in_slot;
            std::memcpy(&exact_records[out], t.overflow_records.data(),
                        t.overflow_records.size() * sizeof(sluice_record_t));
            std::memcpy(&exact_messages[out], t.overflow_messages.data(),
                        t.overflow_messages.size() * sizeof(void *));
            out += t.overflow_records.size();
        }
        records = std::move(exact_records);
        messages = std::move(exact_messages);
        capacity = total;
    }
    batch->records_ = total ? std::move(records) : nullptr;
    batch->messages_ = std::move(messages);
    batch->record_count_ = total;
    batch->capacity_ = total ? capacity : 0;
    return batch;
}

}  // namespace sluice::ingest
