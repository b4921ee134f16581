// Writes the seed corpus of plan_record_fuzz: metadata written by the real encoders
// (host/stream/plan_record), a plain commit's, and a newer version's.
// Usage: plan_record_fuzz_seeds OUTDIR

#include "fuzz_support.hpp"
#include "stream/plan_record.hpp"

int main(int argc, char **argv) {
    using namespace sluice::stream;
    const std::string host = "h1:4242:0f3a";
    std::string newer = encode_done(3, host);
    newer.replace(newer.find("\"v\":1"), 5, "\"v\":2");
    return sluice::fuzz::write_seeds(
        argc, argv, "plan_record_fuzz",
        {{"plan", encode_plan({1200, 17, 1764633600000, host})},
         {"done", encode_done(17, host)},
         {"plan-long-host", encode_plan({5, 1, 0, std::string(300, 'h')})},
         {"plan-zero", encode_plan({0, 0, 0, ""})},
         {"plain-empty", ""},
         {"plain-text", "spark-streaming offsets"},
         {"other-json", "{\"owner\":\"someone\"}"},
         {"newer-version", newer}});
}
