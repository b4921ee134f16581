#include "ingest/direct_reader.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "ingest/range_reader.hpp"
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

namespace {

// Records slots allocated up front for one batch (untouched pages cost nothing);
// beyond it a range spills into a growing vector.
constexpr int64_t kSlotBudget = int64_t{4} << 20;

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
        {kafka::kReconnectBackoffMaxKey, kafka::kReconnectBackoffMaxMs},
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
    auto it = readers_.begin();
    for (const auto &tp : tps) {
        // tps in order (as the planners pass them): the next reader is usually the one.
        if (it == readers_.end() || it->first != tp) it = readers_.find(tp);
        if (it == readers_.end()) continue;
        const auto here = it++;
        if (!here->second || !here->second->started) continue;
        Watermarks w;
        if (rd_kafka_get_watermark_offsets(client_->rk, tp.topic.c_str(), tp.partition, &w.low,
                                           &w.high) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            w.low >= 0 && w.high >= 0)
            out.emplace_hint(out.end(), tp, w);
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

void DirectReader::start(const std::map<TopicPartition, int64_t> &positions) {
    for (const auto &[tp, offset] : positions) {
        if (offset < 0) continue;
        PartitionReader &pr = reader_for(tp);
        if (!pr.started) start_at(pr, offset);
    }
}

void DirectReader::release(const std::vector<TopicPartition> &tps) {
    for (const auto &tp : tps) {
        auto it = readers_.find(tp);
        if (it == readers_.end()) continue;
        if (it->second->started) rd_kafka_consume_stop(it->second->rkt, tp.partition);
        readers_.erase(it);  // drops its carry
    }
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

    pool_->ensure_threads(settings_.workers > 0
                              ? settings_.workers
                              : static_cast<int>(std::clamp<size_t>(readers_.size(), 1, 4)));
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
