// Rough throughput side by side (not a test): DirectReader::fetch() against a
// plain librdkafka rd_kafka_consume_batch_queue loop on assigned partitions,
// same process, same mock broker, same records.
//
//   ingest_bench [total_records=1000000] [partitions=8] [repeats=2] [workers=0]
//
// The records are written once (lz4); each measurement reads all of them with
// a fresh handle (creation and connection not timed; everything from the first
// fetch request to the last message destroyed is). DirectReader reads them in
// 1, 10 and 50 consecutive batches, as direct mode would.

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/batch_allocator.hpp"
#include "ingest/direct_reader.hpp"
#include "kafka/mock_cluster.hpp"
#include "test_producer.hpp"

using Clock = std::chrono::steady_clock;
using namespace sluice;

namespace {

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

/// CPU seconds of the whole process (every thread, the mock broker's too).
double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/// The baseline: assign at the given offsets, drain with consume_batch_queue
/// until every partition reaches its end. Returns seconds.
double baseline(const std::string &bootstrap, const std::string &topic,
                const std::vector<OffsetRange> &ranges, uint64_t &checksum) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (auto [k, v] :
         std::vector<std::pair<std::string, std::string>>{{"bootstrap.servers", bootstrap},
                                                          {"group.id", "bench-baseline"},
                                                          {"enable.auto.commit", "false"},
                                                          {"enable.auto.offset.store", "false"},
                                                          {"fetch.wait.max.ms", "10"},
                                                          {"log_level", "3"}})
        rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    const rd_kafka_metadata_t *md = nullptr;
    rd_kafka_metadata(rk, 1, nullptr, &md, 5000);  // connected before timing
    rd_kafka_metadata_destroy(md);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);

    const auto start = Clock::now();
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    std::vector<int64_t> end(ranges.size());
    size_t open = 0;
    for (const auto &r : ranges) {
        rd_kafka_topic_partition_list_add(list, topic.c_str(), r.partition)->offset = r.from_offset;
        end[r.partition] = r.until_offset;
        open += r.count() > 0;
    }
    rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    std::vector<rd_kafka_message_t *> msgs(10000);
    std::vector<bool> done(ranges.size());
    while (open > 0) {
        const ssize_t n = rd_kafka_consume_batch_queue(q, 100, msgs.data(), msgs.size());
        for (ssize_t i = 0; i < n; ++i) {
            rd_kafka_message_t *m = msgs[i];
            if (!m->err && m->offset < end[m->partition]) {
                checksum += m->len;
                if (m->offset == end[m->partition] - 1 && !done[m->partition]) {
                    done[m->partition] = true;
                    --open;
                }
            }
            rd_kafka_message_destroy(m);
        }
    }
    const double s = seconds_since(start);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    return s;
}

/// DirectReader: the round's ranges in `batches` consecutive batches; a no-op
/// "plugin" reads every record's value length. Returns seconds.
int g_workers = 0;

double direct(const std::string &bootstrap, const std::vector<OffsetRange> &ranges, int batches,
              uint64_t &checksum) {
    ingest::ReaderSettings settings;
    settings.brokers = bootstrap;
    settings.kafka = {{"log_level", "3"}};
    settings.workers = g_workers;
    // INGEST_BENCH_KAFKA="key=value,key=value": extra settings for DirectReader.
    if (const char *env = std::getenv("INGEST_BENCH_KAFKA")) {
        std::string list = env;
        for (size_t at = 0; at < list.size();) {
            size_t comma = list.find(',', at);
            if (comma == std::string::npos) comma = list.size();
            const std::string item = list.substr(at, comma - at);
            const size_t eq = item.find('=');
            if (eq != std::string::npos) settings.kafka[item.substr(0, eq)] = item.substr(eq + 1);
            at = comma + 1;
        }
    }
    ingest::DirectReader reader(settings);
    reader.query_watermarks({{ranges[0].topic, 0}}, std::chrono::seconds(5));  // connected
    const std::atomic<bool> stop{false};
    const auto start = Clock::now();
    for (int b = 0; b < batches; ++b) {
        std::vector<OffsetRange> part;
        for (const auto &r : ranges) {
            const int64_t step = (r.count() + batches - 1) / batches;
            const int64_t from = std::min(r.until_offset, r.from_offset + b * step);
            part.push_back({r.topic, r.partition, from, std::min(r.until_offset, from + step)});
        }
        auto batch = reader.fetch(part, std::chrono::seconds(60), stop);
        const sluice_record_t *recs = batch->records();
        for (size_t i = 0; i < batch->record_count(); ++i) checksum += recs[i].value_len;
    }
    return seconds_since(start);
}

}  // namespace

int main(int argc, char **argv) {
    const auto program_start = Clock::now();
    const int64_t total = argc > 1 ? std::stoll(argv[1]) : 1'000'000;
    const int partitions = argc > 2 ? std::stoi(argv[2]) : 8;
    const int repeats = argc > 3 ? std::stoi(argv[3]) : 2;
    g_workers = argc > 4 ? std::stoi(argv[4]) : 0;
    spdlog::set_level(spdlog::level::warn);
    // Same allocator settings for both sides, as `sluice run` applies them.
    tune_allocator_for_batches();
    kafka::MockCluster cluster(1);
    const std::string topic = "bench";
    cluster.create_topic(topic, partitions);
    const std::string bootstrap = cluster.bootstrap_servers();

    // lz4: the mock keeps ~5 MiB per partition, 1M x 100 bytes would not fit.
    std::string value(100, 'v');
    for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>('a' + (i * 7) % 26);
    const int64_t per_partition = total / partitions;
    {
        ingest::test::TestProducer producer(bootstrap,
                                            {{"linger.ms", "20"},
                                             {"batch.num.messages", "10000"},
                                             {"compression.codec", "lz4"},
                                             {"queue.buffering.max.messages", "1000000"}});
        for (int64_t i = 0; i < per_partition; ++i)
            for (int p = 0; p < partitions; ++p) producer.send_value(topic, p, value);
        producer.flush();
    }
    std::vector<OffsetRange> ranges;
    for (int p = 0; p < partitions; ++p) ranges.push_back({topic, p, 0, per_partition});
    const double n = static_cast<double>(per_partition * partitions);
    std::printf("%.0f records of 100 bytes (lz4) in %d partitions, workers=%d\n", n, partitions,
                g_workers);
    std::vector<int> batch_counts = {1, 10, 50};
    if (const char *env = std::getenv("INGEST_BENCH_BATCHES")) batch_counts = {std::atoi(env)};
    std::fprintf(stderr, "written after %.1f s\n", seconds_since(program_start));
    if (const char *only = std::getenv("INGEST_BENCH_ONLY");
        only && std::string(only) == "direct") {
        for (int rep = 0; rep < repeats; ++rep) {
            uint64_t c = 0;
            const double cpu = cpu_seconds();
            const double t = direct(bootstrap, ranges, batch_counts.back(), c);
            std::printf("DirectReader, %3d batches: %8.0f records/s, %.2f us CPU/record\n",
                        batch_counts.back(), n / t, (cpu_seconds() - cpu) * 1e6 / n);
        }
        return 0;
    }
    for (int rep = 0; rep < repeats; ++rep) {
        uint64_t c_base = 0;
        double cpu = cpu_seconds();
        const double t_base = baseline(bootstrap, topic, ranges, c_base);
        const double cpu_base = cpu_seconds() - cpu;
        std::printf("consume_batch_queue loop : %8.0f records/s, %.2f us CPU/record\n", n / t_base,
                    cpu_base * 1e6 / n);
        // INGEST_BENCH_ONLY=baseline: the baseline alone (for profiling).
        if (const char *only = std::getenv("INGEST_BENCH_ONLY");
            only && std::string(only) == "baseline")
            continue;
        for (int batches : batch_counts) {
            uint64_t c = 0;
            cpu = cpu_seconds();
            const double t = direct(bootstrap, ranges, batches, c);
            const double cpu_direct = cpu_seconds() - cpu;
            std::printf(
                "DirectReader, %3d batches: %8.0f records/s = %.2fx, %.2f us CPU/record = "
                "%.2fx%s\n",
                batches, n / t, t_base / t, cpu_direct * 1e6 / n, cpu_base / cpu_direct,
                c == c_base ? "" : " CHECKSUM MISMATCH");
        }
    }
    return 0;
}
