// bench_plain_consumer: the baseline of bench/run.sh. The fastest plain way
// librdkafka reads a topic: assign every partition at the beginning (no group
// join), drain the consumer queue with rd_kafka_consume_batch_queue, touch each
// value's length (what the noop plugin does), stop at the known record count.
//
// With --threads N (the ceiling of bench/run.sh, issue 13.6): one queue per partition
// (rd_kafka_queue_get_partition, forwarding to the consumer queue stopped), served by N threads,
// each draining its share of the queues with rd_kafka_consume_batch_queue: the fastest
// librdkafka reader we can write here, with the decompression still on librdkafka's threads.
//
// Usage: bench_plain_consumer --brokers B --topic T [--records N] [--threads N] [-X key=value]...
// Prints one line on stdout:
//   records=R bytes=B seconds=S records/s=X MB/s=Y
// seconds run from rd_kafka_assign() to the last record (connection setup and
// metadata are excluded, the first fetch round trip is included).

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "kafka/kafka_conf.hpp"

namespace sluice::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMetadataTimeoutMs = 10000;
// No new record for this long means the data is not there: fail rather than hang.
constexpr int kIdleTimeoutMs = 30000;
// Messages per rd_kafka_consume_batch_queue call.
constexpr size_t kBatchSize = 10000;

struct Options {
    std::string brokers;
    std::string topic;
    int64_t records = 0;  // 0 = everything below the high watermarks at start
    int threads = 0;      // 0 = the single consumer queue; N = a queue per partition, N threads
    std::vector<std::pair<std::string, std::string>> kafka;
};

[[noreturn]] void usage(const std::string &problem) {
    std::fprintf(stderr,
                 "bench_plain_consumer: %s\n"
                 "usage: bench_plain_consumer --brokers B --topic T [--records N] "
                 "[--threads N] [-X key=value]...\n",
                 problem.c_str());
    std::exit(2);
}

Options parse(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--brokers") {
            o.brokers = value();
        } else if (arg == "--topic") {
            o.topic = value();
        } else if (arg == "--records") {
            const std::string v = value();
            char *end = nullptr;
            o.records = std::strtoll(v.c_str(), &end, 10);
            if (*end != '\0' || o.records < 0) usage("--records '" + v + "' is not a count");
        } else if (arg == "--threads") {
            const std::string v = value();
            char *end = nullptr;
            o.threads = static_cast<int>(std::strtol(v.c_str(), &end, 10));
            if (*end != '\0' || o.threads < 1 || o.threads > 64)
                usage("--threads '" + v + "' is not 1 to 64");
        } else if (arg == "-X") {
            const std::string kv = value();
            const auto eq = kv.find('=');
            if (eq == std::string::npos || eq == 0) usage("-X '" + kv + "' is not key=value");
            o.kafka.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
        } else {
            usage("unknown argument '" + arg + "'");
        }
    }
    if (o.brokers.empty() || o.topic.empty()) usage("--brokers and --topic are required");
    return o;
}

int partition_count(rd_kafka_t *rk, const std::string &topic) {
    kafka::TopicPtr rkt(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
    const rd_kafka_metadata_t *md = nullptr;
    const auto err = rd_kafka_metadata(rk, 0, rkt.get(), &md, kMetadataTimeoutMs);
    if (err) throw std::runtime_error(std::string("metadata: ") + rd_kafka_err2str(err));
    int count = 0;
    if (md->topic_cnt == 1 && !md->topics[0].err) count = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    if (count == 0) throw std::runtime_error("topic '" + topic + "' has no partitions");
    return count;
}

/// Consumes up to `want` messages from `queue` within `timeout_ms`, touching each; adds them to
/// *records and *bytes. Throws on a message error.
void drain(rd_kafka_queue_t *queue, int timeout_ms, size_t want,
           std::vector<rd_kafka_message_t *> &msgs, int64_t *records, uint64_t *bytes,
           ssize_t *got) {
    const ssize_t n = rd_kafka_consume_batch_queue(queue, timeout_ms, msgs.data(), want);
    if (n < 0)
        throw std::runtime_error(std::string("consume: ") +
                                 rd_kafka_err2str(rd_kafka_last_error()));
    for (ssize_t i = 0; i < n; ++i) {
        rd_kafka_message_t *m = msgs[i];
        if (m->err) {
            const std::string what = rd_kafka_message_errstr(m);
            const auto err = m->err;
            rd_kafka_message_destroy(m);
            for (ssize_t j = i + 1; j < n; ++j) rd_kafka_message_destroy(msgs[j]);
            throw std::runtime_error(std::string(rd_kafka_err2name(err)) + ": " + what);
        }
        ++*records;
        *bytes += m->len + m->key_len;
        rd_kafka_message_destroy(m);
    }
    *got = n;
}

/// --threads: the partitions' own queues, thread t serving partitions t, t+N, ...; thread 0
/// also drains the consumer queue (what reached it before forwarding stopped). Returns the
/// records and bytes read once `target` is reached.
std::pair<int64_t, uint64_t> read_per_partition(rd_kafka_t *rk, rd_kafka_queue_t *consumer_queue,
                                                const Options &o, int partitions, int64_t target) {
    std::vector<kafka::QueuePtr> queues;
    for (int p = 0; p < partitions; ++p) {
        queues.emplace_back(rd_kafka_queue_get_partition(rk, o.topic.c_str(), p));
        if (!queues.back()) throw std::runtime_error("no queue for partition " + std::to_string(p));
        rd_kafka_queue_forward(queues.back().get(), nullptr);
    }
    std::atomic<int64_t> total{0};
    std::atomic<uint64_t> total_bytes{0};
    std::atomic<bool> failed{false};
    std::string failure;
    std::vector<std::thread> workers;
    for (int t = 0; t < o.threads; ++t) {
        workers.emplace_back([&, t] {
            std::vector<rd_kafka_message_t *> msgs(kBatchSize);
            auto last_progress = Clock::now();
            try {
                while (total.load() < target && !failed.load()) {
                    int64_t records = 0;
                    uint64_t bytes = 0;
                    ssize_t got = 0, any = 0;
                    if (t == 0) {
                        drain(consumer_queue, 0, kBatchSize, msgs, &records, &bytes, &got);
                        any += got;
                    }
                    for (int p = t; p < partitions; p += o.threads) {
                        drain(queues[p].get(), 0, kBatchSize, msgs, &records, &bytes, &got);
                        any += got;
                    }
                    total += records;
                    total_bytes += bytes;
                    if (any > 0) {
                        last_progress = Clock::now();
                    } else {
                        if (Clock::now() - last_progress >
                            std::chrono::milliseconds(kIdleTimeoutMs))
                            throw std::runtime_error("no record for " +
                                                     std::to_string(kIdleTimeoutMs / 1000) + " s");
                        // Nothing in any of its queues: wait on one of them, briefly.
                        if (t < partitions) {
                            drain(queues[t].get(), 10, kBatchSize, msgs, &records, &bytes, &got);
                            total += records;
                            total_bytes += bytes;
                        }
                    }
                }
            } catch (const std::exception &e) {
                if (!failed.exchange(true)) failure = e.what();
            }
        });
    }
    for (auto &w : workers) w.join();
    if (failed) throw std::runtime_error(failure);
    for (auto &q : queues) rd_kafka_queue_forward(q.get(), consumer_queue);
    return {total.load(), total_bytes.load()};
}

int run(const Options &o) {
    // The settings that matter for throughput are those of the host's reader
    // (fetch.wait.max.ms=10 comes from the command line, as for sluice run).
    std::map<std::string, std::string> settings{
        {"bootstrap.servers", o.brokers},
        // A group id is needed for the consumer queue; it never joins (assign only).
        {"group.id", "sluice-bench-plain"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "false"},
    };
    auto conf = kafka::make_conf(settings);
    for (const auto &[k, v] : o.kafka) kafka::set_conf(conf.get(), k, v);
    kafka::HandlePtr rk = kafka::make_handle(RD_KAFKA_CONSUMER, std::move(conf));

    const int partitions = partition_count(rk.get(), o.topic);
    std::vector<int64_t> high(partitions);
    int64_t available = 0;
    for (int p = 0; p < partitions; ++p) {
        int64_t low = 0;
        const auto err = rd_kafka_query_watermark_offsets(rk.get(), o.topic.c_str(), p, &low,
                                                          &high[p], kMetadataTimeoutMs);
        if (err)
            throw std::runtime_error("watermarks of partition " + std::to_string(p) + ": " +
                                     rd_kafka_err2str(err));
        available += high[p] - low;
    }
    const int64_t target = o.records > 0 ? std::min(o.records, available) : available;
    if (o.records > available)
        std::fprintf(stderr,
                     "bench_plain_consumer: only %" PRId64 " of %" PRId64
                     " records are on the broker; reading those\n",
                     available, o.records);

    kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
    for (int p = 0; p < partitions; ++p)
        rd_kafka_topic_partition_list_add(list.get(), o.topic.c_str(), p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    kafka::QueuePtr queue(rd_kafka_queue_get_consumer(rk.get()));
    if (!queue) throw std::runtime_error("no consumer queue (group.id missing?)");

    const auto start = Clock::now();
    if (const auto err = rd_kafka_assign(rk.get(), list.get()))
        throw std::runtime_error(std::string("assign: ") + rd_kafka_err2str(err));

    std::vector<rd_kafka_message_t *> msgs(kBatchSize);
    int64_t records = 0;
    uint64_t bytes = 0;
    auto last_progress = Clock::now();
    if (o.threads > 0)
        std::tie(records, bytes) = read_per_partition(rk.get(), queue.get(), o, partitions, target);
    while (records < target) {
        // Ask for no more than what is left, so the last call returns as soon as
        // the last record arrives instead of waiting for a full array.
        const size_t want = static_cast<size_t>(std::min<int64_t>(kBatchSize, target - records));
        ssize_t n = 0;
        drain(queue.get(), 100, want, msgs, &records, &bytes, &n);
        if (n > 0) {
            last_progress = Clock::now();
        } else if (Clock::now() - last_progress > std::chrono::milliseconds(kIdleTimeoutMs)) {
            throw std::runtime_error("no record for " + std::to_string(kIdleTimeoutMs / 1000) +
                                     " s after " + std::to_string(records) + " of " +
                                     std::to_string(target));
        }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

    std::printf("records=%" PRId64 " bytes=%" PRIu64
                " seconds=%.3f records/s=%.0f MB/s=%.2f partitions=%d threads=%d\n",
                records, bytes, seconds, static_cast<double>(records) / seconds,
                static_cast<double>(bytes) / 1e6 / seconds, partitions, o.threads);
    std::fflush(stdout);

    rd_kafka_assign(rk.get(), nullptr);
    queue.reset();
    rd_kafka_consumer_close(rk.get());
    return 0;
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char **argv) {
    const auto options = sluice::bench::parse(argc, argv);
    try {
        return sluice::bench::run(options);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_plain_consumer: %s\n", e.what());
        return 1;
    }
}
