#pragma once
// A minimal librdkafka producer for the ingest tests: writes records with
// exact keys, values (null or not), headers and timestamps to one partition.

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sluice::ingest::test {

struct TestHeader {
    std::string name;
    std::optional<std::string> value;  // nullopt: null header value
};

struct TestRecord {
    std::optional<std::string> key;    // nullopt: null key
    std::optional<std::string> value;  // nullopt: null value
    std::vector<TestHeader> headers;
    int64_t timestamp_ms = 0;  // 0: the producer's clock
};

/// Lifecycle: one per test, used on the test thread.
class TestProducer {
  public:
    explicit TestProducer(const std::string &bootstrap,
                          std::vector<std::pair<std::string, std::string>> extra = {}) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        std::vector<std::pair<std::string, std::string>> settings = {
            {"bootstrap.servers", bootstrap}, {"linger.ms", "5"}, {"log_level", "3"}};
        settings.insert(settings.end(), extra.begin(), extra.end());
        rd_kafka_conf_set_dr_msg_cb(conf,
                                    [](rd_kafka_t *, const rd_kafka_message_t *m, void *opaque) {
                                        if (m->err) ++*static_cast<int *>(opaque);
                                    });
        rd_kafka_conf_set_opaque(conf, &failed_);
        char err[512];
        for (const auto &[k, v] : settings)
            if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
                throw std::runtime_error("test producer setting " + k + ": " + err);
        rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        if (!rk_) throw std::runtime_error(std::string("test producer: ") + err);
    }
    ~TestProducer() { rd_kafka_destroy(rk_); }
    TestProducer(const TestProducer &) = delete;
    TestProducer &operator=(const TestProducer &) = delete;

    void send(const std::string &topic, int32_t partition, const TestRecord &r) {
        rd_kafka_headers_t *hdrs = nullptr;
        if (!r.headers.empty()) {
            hdrs = rd_kafka_headers_new(r.headers.size());
            for (const auto &h : r.headers)
                rd_kafka_header_add(hdrs, h.name.data(), static_cast<ssize_t>(h.name.size()),
                                    h.value ? h.value->data() : nullptr,
                                    h.value ? static_cast<ssize_t>(h.value->size()) : 0);
        }
        // Locals: librdkafka's V_ macros cast their arguments without parentheses.
        const void *key = r.key ? r.key->data() : nullptr;
        const size_t key_len = r.key ? r.key->size() : 0;
        void *value = r.value ? const_cast<char *>(r.value->data()) : nullptr;
        const size_t value_len = r.value ? r.value->size() : 0;
        const int64_t timestamp = r.timestamp_ms;
        for (;;) {
            const rd_kafka_resp_err_t err = rd_kafka_producev(
                rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
                RD_KAFKA_V_VALUE(value, value_len), RD_KAFKA_V_TIMESTAMP(timestamp),
                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk_, 10);
                continue;
            }
            if (err) {
                if (hdrs) rd_kafka_headers_destroy(hdrs);
                throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(err));
            }
            return;  // the message owns hdrs now
        }
    }

    void send_value(const std::string &topic, int32_t partition, const std::string &value) {
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_VALUE(const_cast<char *>(value.data()), value.size()),
                    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk_, 10);
        if (err) throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(err));
    }

    void flush() {
        const rd_kafka_resp_err_t err = rd_kafka_flush(rk_, 30000);
        if (err) throw std::runtime_error(std::string("flush: ") + rd_kafka_err2str(err));
        if (failed_) throw std::runtime_error(std::to_string(failed_) + " records not delivered");
    }

  private:
    int failed_ = 0;  // delivery failures, counted by the delivery callback
    rd_kafka_t *rk_ = nullptr;
};

}  // namespace sluice::ingest::test
