#include "kafka/kafka_conf.hpp"

#include "common/secrets.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace sluice::kafka {

void set_conf(rd_kafka_conf_t *conf, const std::string &key, const std::string &value) {
    char err[512];
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
        // A secret's value is never shown, not even in librdkafka's reason.
        std::string reason = err;
        const std::string shown = shown_setting(key, value);
        if (shown != value && !value.empty())
            for (size_t at = reason.find(value); at != std::string::npos;
                 at = reason.find(value, at + 10))
                reason.replace(at, value.size(), "<redacted>");
        throw KafkaError("kafka setting '" + key + "=" + shown + "' rejected: " + reason);
    }
}

int spdlog_level_of(int syslog_level) {
    return syslog_level <= 3   ? spdlog::level::err
           : syslog_level == 4 ? spdlog::level::warn
           : syslog_level <= 6 ? spdlog::level::info
                               : spdlog::level::debug;
}

void log_to_spdlog(const rd_kafka_t *, int level, const char *facility, const char *message) {
    spdlog::log(static_cast<spdlog::level::level_enum>(spdlog_level_of(level)), "librdkafka {}: {}",
                facility, message);
}

void warn_on_error(rd_kafka_t *, int err, const char *reason, void *) {
    spdlog::warn("kafka: {} ({})", reason,
                 rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
}

std::optional<bool> group_settled_in_stats(const char *json, size_t len) {
    const auto stats = nlohmann::json::parse(json, json + len, nullptr, false);
    if (!stats.is_object() || !stats.contains("cgrp")) return std::nullopt;
    const auto &cgrp = stats.at("cgrp");
    return cgrp.value("state", "") == "up" && cgrp.value("join_state", "") == "steady";
}

ConfPtr make_conf(const std::map<std::string, std::string> &settings) {
    ConfPtr conf(rd_kafka_conf_new());
    rd_kafka_conf_set_log_cb(conf.get(), log_to_spdlog);
    for (const auto &[key, value] : settings) set_conf(conf.get(), key, value);
    return conf;
}

HandlePtr make_handle(rd_kafka_type_t type, ConfPtr conf) {
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf.get(), err, sizeof err);
    if (!rk) throw KafkaError(std::string("cannot create Kafka client: ") + err);
    (void)conf.release();  // owned by rk now
    return HandlePtr(rk);
}

}  // namespace sluice::kafka
