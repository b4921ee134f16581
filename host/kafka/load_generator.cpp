// `sluice produce`'s work: a load generator whose records can be verified by a reader.
//
// Record format (the tests and benchmarks rely on it):
//   value  = 20-digit zero-padded decimal sequence number, one space, then filler
//            "abcdefghijklmnopqrstuvwxyz" repeated, cut to --value-size bytes;
//   key    = null when --key-size is 0; else the 20-digit sequence number cut to its
//            last --key-size digits, or padded with '-' up to --key-size;
//   headers h0..h{N-1}, each with the decimal sequence number as value.
#include "kafka/load_generator.hpp"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "kafka/kafka_conf.hpp"

using Clock = std::chrono::steady_clock;

namespace sluice::kafka {
namespace {

constexpr std::size_t kSeqDigits = 20;
static_assert(kMinValueSize == kSeqDigits + 1);
constexpr int kDefaultMessageTimeoutMs = 30000;
constexpr int kMaxConnectWaitMs = 10000;
constexpr int kMaxInterruptFlushMs = 10000;

/// Delivery outcome counters. Updated by the delivery-report callback, which
/// librdkafka runs inside rd_kafka_poll() on the producing (main) thread.
struct DeliveryStats {
    std::uint64_t acked = 0;
    std::uint64_t failed = 0;
    std::uint64_t acked_bytes = 0;
    std::string first_error;
    bool fatal = false;
    Clock::time_point last_report = Clock::now();  // of the latest delivery report
};

// Signal count; the handler only touches this.
std::atomic<int> g_stop_signals{0};

extern "C" void on_stop_signal(int) {
    g_stop_signals.fetch_add(1, std::memory_order_relaxed);
}

void install_stop_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a poll in progress should return early
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() {
    return g_stop_signals.load(std::memory_order_relaxed) > 0;
}

void write_seq_digits(std::uint64_t seq, char *out) {
    for (std::size_t i = kSeqDigits; i-- > 0;) {
        out[i] = static_cast<char>('0' + seq % 10);
        seq /= 10;
    }
}

/// Called by rd_kafka_poll() on the producing thread.
void on_delivery(rd_kafka_t *, const rd_kafka_message_t *msg, void *opaque) {
    auto *stats = static_cast<DeliveryStats *>(opaque);
    stats->last_report = Clock::now();
    if (msg->err) {
        if (stats->failed++ == 0) stats->first_error = rd_kafka_err2str(msg->err);
    } else {
        ++stats->acked;
        stats->acked_bytes += msg->len + msg->key_len;
    }
}

/// Called by rd_kafka_poll() on the producing thread.
void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    auto *stats = static_cast<DeliveryStats *>(opaque);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        spdlog::error("fatal producer error: {}", fatal);
        stats->fatal = true;
        if (stats->first_error.empty()) stats->first_error = fatal;
        return;
    }
    spdlog::warn("kafka: {} ({})", reason,
                 rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
}

/// Called from librdkafka's internal threads; spdlog's loggers are thread-safe.
int message_timeout_ms(const ProduceOptions &opts) {
    int timeout = kDefaultMessageTimeoutMs;
    for (const auto &[key, value] : opts.kafka_settings)
        if (key == "message.timeout.ms" || key == "delivery.timeout.ms") {
            try {
                timeout = std::stoi(value);
            } catch (const std::exception &) {
                // librdkafka rejects it with a clear message when the config is built.
            }
        }
    return timeout;
}

/// Rate over the last progress interval, for the stderr progress line.
class ProgressReporter {
  public:
    explicit ProgressReporter(Clock::time_point start) : last_time_(start) {}

    void maybe_report(std::uint64_t sent, const DeliveryStats &stats, int queued) {
        const auto now = Clock::now();
        const double elapsed = std::chrono::duration<double>(now - last_time_).count();
        if (elapsed < 1.0) return;
        const double rate = static_cast<double>(stats.acked - last_acked_) / elapsed;
        spdlog::info("sent {} acked {} failed {} queued {} | {:.0f} records/s", sent, stats.acked,
                     stats.failed, queued, rate);
        last_time_ = now;
        last_acked_ = stats.acked;
    }

  private:
    Clock::time_point last_time_;
    std::uint64_t last_acked_ = 0;
};

ConfPtr build_conf(const ProduceOptions &opts, DeliveryStats &stats) {
    ConfPtr conf(rd_kafka_conf_new());
    // Defaults for throughput and safety first, then the user's -X overrides.
    const std::vector<std::pair<std::string, std::string>> defaults = {
        {"bootstrap.servers", opts.brokers},
        {"acks", "all"},
        {"enable.idempotence", "true"},
        {"linger.ms", "5"},
        {"queue.buffering.max.messages", "1000000"},
        {"queue.buffering.max.kbytes", "1048576"},
        {"batch.num.messages", "10000"},
        {"compression.type", opts.compression},
        // Bounded so that an unreachable broker fails the run instead of hanging.
        {"message.timeout.ms", std::to_string(kDefaultMessageTimeoutMs)},
    };
    for (const auto &[key, value] : defaults) set_conf(conf.get(), key, value);
    for (const auto &[key, value] : opts.kafka_settings) set_conf(conf.get(), key, value);
    rd_kafka_conf_set_opaque(conf.get(), &stats);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
    rd_kafka_conf_set_error_cb(conf.get(), on_error);
    rd_kafka_conf_set_log_cb(conf.get(), log_to_spdlog);
    return conf;
}

/// Waits until the cluster answers a Metadata request, so that a wrong address
/// fails in seconds with a clear message rather than after every record timed out.
void check_reachable(rd_kafka_t *rk, const ProduceOptions &opts, int wait_ms) {
    const rd_kafka_metadata_t *md = nullptr;
    // all_topics=0 and no topic: a brokers-only request, cheap on a big cluster.
    const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, nullptr, &md, wait_ms);
    if (md) rd_kafka_metadata_destroy(md);
    if (err)
        throw KafkaError("cannot reach Kafka at '" + opts.brokers + "' within " +
                         std::to_string(wait_ms) + " ms (" + rd_kafka_err2str(err) +
                         "): check --brokers and that the broker is running");
}

struct RecordBuilder {
    explicit RecordBuilder(const ProduceOptions &opts)
        : value(opts.value_size, ' '), key(opts.key_size, '-') {
        for (int i = 0; i < opts.headers; ++i) header_names.push_back("h" + std::to_string(i));
        static const char kFiller[] = "abcdefghijklmnopqrstuvwxyz";
        for (std::size_t i = kMinValueSize; i < value.size(); ++i)
            value[i] = kFiller[(i - kMinValueSize) % (sizeof kFiller - 1)];
    }

    void set_sequence(std::uint64_t seq) {
        write_seq_digits(seq, value.data());
        if (!key.empty()) {
            char digits[kSeqDigits];
            write_seq_digits(seq, digits);
            if (key.size() <= kSeqDigits)
                std::memcpy(key.data(), digits + kSeqDigits - key.size(), key.size());
            else
                std::memcpy(key.data(), digits, kSeqDigits);
        }
    }

    /// A fresh header list for seq, or null when no headers are asked for.
    /// The caller owns it until rd_kafka_producev() succeeds.
    rd_kafka_headers_t *make_headers(std::uint64_t seq) const {
        if (header_names.empty()) return nullptr;
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(header_names.size());
        char seq_text[24];
        const auto end = std::to_chars(seq_text, seq_text + sizeof seq_text, seq).ptr;
        for (const auto &name : header_names)
            rd_kafka_header_add(hdrs, name.data(), static_cast<ssize_t>(name.size()), seq_text,
                                end - seq_text);
        return hdrs;
    }

    std::string value;
    std::string key;
    std::vector<std::string> header_names;  // h0..hN-1
};

rd_kafka_resp_err_t produce_one(rd_kafka_t *rk, rd_kafka_topic_t *rkt, RecordBuilder &record,
                                rd_kafka_headers_t *hdrs) {
    void *key = record.key.empty() ? nullptr : record.key.data();
    if (hdrs)
        return rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_VALUE(record.value.data(), record.value.size()),
                                 RD_KAFKA_V_KEY(key, record.key.size()), RD_KAFKA_V_HEADERS(hdrs),
                                 RD_KAFKA_V_END);
    return rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_VALUE(record.value.data(), record.value.size()),
                             RD_KAFKA_V_KEY(key, record.key.size()), RD_KAFKA_V_END);
}

struct RunResult {
    std::uint64_t sent = 0;
    bool interrupted = false;
    std::string produce_error;  // a non-retriable produce() error, if any
    bool stalled = false;       // gave up on a full queue: do not wait again to flush
    double seconds = 0;
};

RunResult run_producer(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const ProduceOptions &opts,
                       DeliveryStats &stats, int msg_timeout_ms) {
    RunResult result;
    RecordBuilder record(opts);
    const auto start = Clock::now();
    ProgressReporter progress(start);
    const double ns_per_record = opts.rate > 0 ? 1e9 / opts.rate : 0;
    const std::chrono::milliseconds stall_limit(msg_timeout_ms + 5000);

    for (std::uint64_t seq = 0; opts.count == 0 || seq < opts.count; ++seq) {
        if (stop_requested() || stats.fatal) break;
        if (ns_per_record > 0) {
            // Absolute schedule: the average rate holds even when a wait overshoots.
            const auto due = start + std::chrono::nanoseconds(static_cast<std::int64_t>(
                                         static_cast<double>(seq) * ns_per_record));
            for (auto now = Clock::now(); now < due && !stop_requested(); now = Clock::now()) {
                const auto wait_ms =
                    std::chrono::duration_cast<std::chrono::milliseconds>(due - now).count();
                if (wait_ms < 1) break;  // sub-millisecond early: fine on average
                rd_kafka_poll(rk, static_cast<int>(std::min<std::int64_t>(wait_ms, 100)));
                progress.maybe_report(result.sent, stats, rd_kafka_outq_len(rk));
            }
            if (stop_requested()) break;
        }
        record.set_sequence(seq);
        rd_kafka_headers_t *hdrs = record.make_headers(seq);
        rd_kafka_resp_err_t err;
        while ((err = produce_one(rk, rkt, record, hdrs)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            // The local queue is full: serve delivery reports to make room.
            rd_kafka_poll(rk, 50);
            progress.maybe_report(result.sent, stats, rd_kafka_outq_len(rk));
            if (stop_requested() || stats.fatal) break;
            // Not every queued record times out while its broker is down: bound the wait.
            if (Clock::now() - stats.last_report > stall_limit) {
                result.produce_error = "the local queue stayed full with no delivery report for " +
                                       std::to_string(stall_limit.count()) +
                                       " ms (message.timeout.ms=" + std::to_string(msg_timeout_ms) +
                                       " + 5000): the brokers at '" + opts.brokers +
                                       "' are not taking records";
                result.stalled = true;
                break;
            }
        }
        if (err) {
            if (hdrs) rd_kafka_headers_destroy(hdrs);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL && result.produce_error.empty())
                result.produce_error = std::string("cannot produce record ") + std::to_string(seq) +
                                       ": " + rd_kafka_err2str(err);
            break;
        }
        ++result.sent;
        if ((seq & 0xff) == 0) {
            rd_kafka_poll(rk, 0);
            if ((seq & 0xfff) == 0)
                progress.maybe_report(result.sent, stats, rd_kafka_outq_len(rk));
        }
    }
    result.interrupted = stop_requested();

    // Wait for what is queued: records time out on their own after
    // message.timeout.ms, so this wait is bounded; an interrupt bounds it more.
    const int flush_ms = result.stalled       ? 0
                         : result.interrupted ? std::min(kMaxInterruptFlushMs, msg_timeout_ms)
                                              : msg_timeout_ms + 5000;
    if (result.interrupted)
        spdlog::info(
            "stopping: waiting up to {} ms for {} queued record(s) (signal again to stop "
            "waiting)",
            flush_ms, rd_kafka_outq_len(rk));
    const auto flush_deadline = Clock::now() + std::chrono::milliseconds(flush_ms);
    while (rd_kafka_outq_len(rk) > 0 && Clock::now() < flush_deadline &&
           g_stop_signals.load() < 2) {
        rd_kafka_poll(rk, 100);
        progress.maybe_report(result.sent, stats, rd_kafka_outq_len(rk));
    }
    if (rd_kafka_outq_len(rk) > 0) {
        spdlog::warn("giving up on {} record(s) still queued", rd_kafka_outq_len(rk));
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        // Purged records get failed delivery reports; serve them (bounded).
        const auto purge_deadline = Clock::now() + std::chrono::seconds(2);
        while (stats.acked + stats.failed < result.sent && Clock::now() < purge_deadline)
            rd_kafka_poll(rk, 50);
    }
    rd_kafka_poll(rk, 0);
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

}  // namespace

int produce(const ProduceOptions &opts) {
    DeliveryStats stats;
    HandlePtr rk;
    TopicPtr rkt;
    const int msg_timeout_ms = message_timeout_ms(opts);
    try {
        rk = make_handle(RD_KAFKA_PRODUCER, build_conf(opts, stats));
    } catch (const KafkaError &e) {
        // A rejected setting is a command-line mistake.
        std::fprintf(stderr, "sluice produce: %s\n", e.what());
        return 2;
    }
    try {
        check_reachable(rk.get(), opts, std::min(msg_timeout_ms, kMaxConnectWaitMs));
        rkt.reset(rd_kafka_topic_new(rk.get(), opts.topic.c_str(), nullptr));
        if (!rkt)
            throw KafkaError("cannot use topic '" + opts.topic +
                             "': " + rd_kafka_err2str(rd_kafka_last_error()));
    } catch (const KafkaError &e) {
        std::fprintf(stderr, "sluice produce: %s\n", e.what());
        return 1;
    }

    install_stop_handlers();
    spdlog::info("producing {} record(s) of {} bytes to '{}' at {}{}",
                 opts.count ? std::to_string(opts.count) : std::string("unlimited"),
                 opts.value_size, opts.topic, opts.brokers,
                 opts.rate > 0 ? fmt::format(", {} records/s", opts.rate) : std::string());
    const RunResult run = run_producer(rk.get(), rkt.get(), opts, stats, msg_timeout_ms);

    const double mb = static_cast<double>(stats.acked_bytes) / 1e6;
    const double secs = std::max(run.seconds, 1e-9);
    std::printf("topic=%s records=%" PRIu64 " acked=%" PRIu64 " failed=%" PRIu64
                " MB=%.3f seconds=%.3f records/s=%.0f MB/s=%.2f\n",
                opts.topic.c_str(), run.sent, stats.acked, stats.failed, mb, secs,
                static_cast<double>(stats.acked) / secs, mb / secs);
    std::fflush(stdout);

    rkt.reset();
    rk.reset();

    bool ok = true;
    if (!run.produce_error.empty()) {
        std::fprintf(stderr, "sluice produce: %s\n", run.produce_error.c_str());
        ok = false;
    }
    if (stats.acked != run.sent || stats.failed > 0 || stats.fatal) {
        const std::uint64_t missing = run.sent - std::min(run.sent, stats.acked);
        std::fprintf(stderr,
                     "sluice produce: %" PRIu64 " of %" PRIu64
                     " record(s) were not acknowledged (first error: %s); deliveries give up "
                     "after message.timeout.ms=%d: check the brokers or raise it with -X\n",
                     missing, run.sent,
                     stats.first_error.empty() ? "none reported" : stats.first_error.c_str(),
                     msg_timeout_ms);
        ok = false;
    }
    return ok ? 0 : 1;
}

}  // namespace sluice::kafka
