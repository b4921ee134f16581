#include "config/layer.hpp"

#include "common/secrets.hpp"
#include "config/values.hpp"

namespace sluice::config::detail {

void Layer::add_value(const OptionSpec &spec, const std::string &value) {
    auto &slot = values[spec.name];
    if (spec.arity == Arity::Scalar && !slot.empty() && slot.front() != value)
        throw ConfigError(source.label(spec.name) +
                          (is_secret_option(spec.name)
                               ? std::string(": given twice, with different values")
                               : ": given twice ('" + slot.front() + "' and '" + value + "')") +
                          ": give it once");
    if (spec.arity == Arity::List || slot.empty()) slot.push_back(value);
}

void Layer::add_kafka(const std::string &key, const std::string &value, const std::string &label) {
    if (key.empty())
        throw ConfigError(source.where + label +
                          ": empty librdkafka property name: write KEY=VALUE");
    if (is_broker_alias(key)) {
        broker_values.emplace_back(label, value);
        return;
    }
    const auto [it, inserted] = kafka.emplace(key, value);
    if (!inserted && it->second != value)
        throw ConfigError(source.where + label + ": librdkafka property '" + key +
                          "' given twice ('" + shown_setting(key, it->second) + "' and '" +
                          shown_setting(key, value) + "'): give it once");
}

void Layer::resolve_broker_aliases() {
    if (auto it = values.find("brokers"); it != values.end())
        broker_values.insert(broker_values.begin(),
                             {source.command_line ? "--brokers" : "brokers", it->second[0]});
    for (const auto &[label, value] : broker_values)
        if (trim(value) != trim(broker_values.front().second))
            throw ConfigError(source.where + "conflicting brokers: " + broker_values.front().first +
                              " '" + broker_values.front().second + "' and " + label + " '" +
                              value + "': give the brokers once");
    if (!broker_values.empty()) values["brokers"] = {broker_values.front().second};
}

void apply_layer(RunConfig &cfg, const Layer &layer) {
    for (const OptionSpec &spec : options()) {
        const auto it = layer.values.find(spec.name);
        if (!spec.command_line_only() && it != layer.values.end())
            spec.apply(cfg, it->second, layer.source.label(spec.name), layer.source);
    }
    for (const auto &[key, value] : layer.kafka) cfg.kafka[key] = value;
    for (const auto &[plugin, settings] : layer.plugin_config)
        for (const auto &[key, value] : settings) cfg.plugin_config[plugin][key] = value;
}

}  // namespace sluice::config::detail
