#include "stream/plan_record.hpp"

#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace sluice::stream {

namespace {

constexpr size_t kMaxHost = 200;

std::string cut(const std::string &host) {
    return host.substr(0, kMaxHost);
}

/// j[key] as a whole number that fits int64_t: nlohmann's get<int64_t>() would convert 1.5 or
/// 1e300 (undefined behaviour past int64_t's range), or wrap 2^64-1 to -1.
int64_t whole(const nlohmann::json &j, const char *key) {
    const nlohmann::json &v = j.at(key);
    if (!v.is_number_integer() ||
        (v.is_number_unsigned() &&
         v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())))
        throw std::runtime_error(std::string("\"") + key + "\" is not a whole number");
    return v.get<int64_t>();
}

}  // namespace

std::string encode_plan(const PlanRecord &plan) {
    nlohmann::ordered_json j = {{"sluice", "plan"},           {"v", kPlanRecordVersion},
                                {"until", plan.until_offset}, {"batch", plan.batch_id},
                                {"time", plan.batch_time_ms}, {"host", cut(plan.host)}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string encode_done(int64_t batch_id, const std::string &host) {
    nlohmann::ordered_json j = {
        {"sluice", "done"}, {"v", kPlanRecordVersion}, {"batch", batch_id}, {"host", cut(host)}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

CommittedPlan decode_plan(const std::string &metadata) {
    CommittedPlan out;
    if (metadata.empty() || metadata.front() != '{') return out;
    const auto j = nlohmann::json::parse(metadata, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("sluice")) return out;
    const auto broken = [&](const std::string &why) {
        return std::runtime_error("the plan record '" + metadata + "' is broken (" + why +
                                  "): commit a plain offset for the partition to start over");
    };
    int64_t version = 0;
    try {
        version = whole(j, "v");
    } catch (const std::exception &e) {
        throw broken(e.what());
    }
    if (version > kPlanRecordVersion)
        throw std::runtime_error("the plan record '" + metadata + "' has version " +
                                 std::to_string(version) + ", newer than this host's " +
                                 std::to_string(kPlanRecordVersion) +
                                 ": run the same sluice version on every host of the group");
    try {
        const std::string kind = j.at("sluice").get<std::string>();
        out.plan.batch_id = whole(j, "batch");
        out.plan.host = j.at("host").get<std::string>();
        if (kind == "done") {
            out.kind = CommittedPlan::Kind::done;
        } else if (kind == "plan") {
            out.kind = CommittedPlan::Kind::planned;
            out.plan.until_offset = whole(j, "until");
            out.plan.batch_time_ms = whole(j, "time");
        } else {
            throw std::runtime_error("unknown kind '" + kind + "'");
        }
    } catch (const std::exception &e) {
        throw broken(e.what());
    }
    return out;
}

}  // namespace sluice::stream
