#include "stream/plan_record.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace sluice::stream {

namespace {

constexpr size_t kMaxHost = 200;

std::string cut(const std::string &host) {
    return host.substr(0, kMaxHost);
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
    try {
        const int version = j.at("v").get<int>();
        if (version > kPlanRecordVersion)
            throw std::runtime_error("the plan record '" + metadata + "' has version " +
                                     std::to_string(version) + ", newer than this host's " +
                                     std::to_string(kPlanRecordVersion) +
                                     ": run the same sluice version on every host of the group");
        const std::string kind = j.at("sluice").get<std::string>();
        out.plan.batch_id = j.at("batch").get<int64_t>();
        out.plan.host = j.at("host").get<std::string>();
        if (kind == "done") {
            out.kind = CommittedPlan::Kind::done;
        } else if (kind == "plan") {
            out.kind = CommittedPlan::Kind::planned;
            out.plan.until_offset = j.at("until").get<int64_t>();
            out.plan.batch_time_ms = j.at("time").get<int64_t>();
        } else {
            throw std::runtime_error("unknown kind '" + kind + "'");
        }
    } catch (const nlohmann::json::exception &e) {
        throw std::runtime_error("the plan record '" + metadata + "' is broken (" + e.what() +
                                 "): commit a plain offset for the partition to start over");
    }
    return out;
}

}  // namespace sluice::stream
