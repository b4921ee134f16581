#include "kafka/kafka_conf.hpp"

namespace sluice::kafka {

void set_conf(rd_kafka_conf_t *conf, const std::string &key, const std::string &value) {
    char err[512];
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
        throw KafkaError("kafka setting '" + key + "=" + value + "' rejected: " + err);
    }
}

ConfPtr make_conf(const std::map<std::string, std::string> &settings) {
    ConfPtr conf(rd_kafka_conf_new());
    for (const auto &[key, value] : settings) set_conf(conf.get(), key, value);
    return conf;
}

HandlePtr make_handle(rd_kafka_type_t type, ConfPtr conf) {
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf.get(), err, sizeof err);
    if (!rk) throw KafkaError(std::string("cannot create Kafka client: ") + err);
    conf.release();  // owned by rk now
    return HandlePtr(rk);
}

}  // namespace sluice::kafka
