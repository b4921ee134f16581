// libFuzzer target for the plan record of direct-assignment=group (host/stream/plan_record):
// decode_plan on the commit metadata another host (or any Kafka client) left on a partition.
//
// std::runtime_error is the expected answer to a broken or newer record; anything else (a
// crash, a sanitizer report, another exception, a broken invariant below) is a finding.
// Invariants:
//   - metadata that is not a JSON object with "sluice" is a plain position;
//   - a record that decodes re-encodes (encode_plan / encode_done) into metadata that decodes
//     to the same plan, under Kafka's 4,096-byte metadata limit, and encodes the same again;
//   - a plan decoded is version 1 or older, its kind is plan or done.

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "fuzz_support.hpp"
#include "stream/plan_record.hpp"

namespace {

using namespace sluice::stream;

void check(bool ok, const std::string &what) {
    if (!ok) sluice::fuzz::broken("plan_record_fuzz", what);
}

std::string encode(const CommittedPlan &c) {
    return c.kind == CommittedPlan::Kind::done ? encode_done(c.plan.batch_id, c.plan.host)
                                               : encode_plan(c.plan);
}

bool same(const PlanRecord &a, const PlanRecord &b) {
    return a.until_offset == b.until_offset && a.batch_id == b.batch_id &&
           a.batch_time_ms == b.batch_time_ms && a.host == b.host;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string metadata(reinterpret_cast<const char *>(data), size);
    CommittedPlan c;
    try {
        c = decode_plan(metadata);
    } catch (const std::runtime_error &e) {
        check(std::string(e.what()).find("the plan record '") == 0,
              std::string("an error that does not name the plan record: ") + e.what());
        return 0;
    }
    if (c.kind == CommittedPlan::Kind::plain) {
        const auto j = nlohmann::json::parse(metadata, nullptr, false);
        check(metadata.empty() || metadata.front() != '{' || j.is_discarded() || !j.is_object() ||
                  !j.contains("sluice"),
              "a sluice record read as a plain position");
        return 0;
    }
    const auto j = nlohmann::json::parse(metadata);
    check(j.at("v").is_number_integer() && j.at("v").get<int64_t>() <= kPlanRecordVersion,
          "a record of a newer (or not whole) version was accepted: " + metadata);
    const std::string again = encode(c);
    check(again.size() < 4096, "re-encoded record over Kafka's 4,096-byte metadata limit");
    CommittedPlan d;
    try {
        d = decode_plan(again);
    } catch (const std::exception &e) {
        sluice::fuzz::broken("plan_record_fuzz",
                             "a re-encoded record does not decode: " + again + ": " + e.what());
    }
    check(d.kind == c.kind, "re-encoded record has another kind: " + again);
    if (c.plan.host.size() <= 200)
        check(same(d.plan, c.plan), "re-encoded record differs: " + again);
    check(encode(d) == again, "a decoded record does not encode the same again: " + again);
    return 0;
}
