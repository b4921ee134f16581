#include "ingest/range_reader.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "kafka/kafka_conf.hpp"

namespace sluice::ingest {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// How long one consume call may block: bounds how late a stop is seen.
constexpr int kPollSliceMs = 20;
constexpr int64_t kPullMax = 4096;
constexpr int kDataLossWatermarkTimeoutMs = 5000;

int remaining_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<int64_t>(left, 0, INT32_MAX));
}

bool is_data_loss(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
           err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE;
}

}  // namespace

void RangeTask::take(rd_kafka_message_t *m) {
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

}  // namespace sluice::ingest
