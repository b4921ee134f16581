#pragma once
// The plan record of direct-assignment=group: what a host commits to Kafka, as the metadata
// of a partition's committed offset, before it reads a range (offset = from_offset, the plan)
// and after the chain succeeded (offset = until_offset, "done"). The next owner of the
// partition decodes it to replay a planned range that is not done with the same bounds.
// Pure; any thread.
//
// The format is one line of JSON, versioned ("v"), well under Kafka's 4,096-byte limit for
// commit metadata (offset.metadata.max.bytes):
//   {"sluice":"plan","v":1,"until":1200,"batch":17,"time":1764633600000,"host":"h1:4242:..."}
//   {"sluice":"done","v":1,"batch":17,"host":"h1:4242:..."}

#include <cstdint>
#include <string>

namespace sluice::stream {

inline constexpr int kPlanRecordVersion = 1;

/// A range planned by `host` in its batch `batch_id` (from_offset is the committed offset).
struct PlanRecord {
    int64_t until_offset = 0;
    int64_t batch_id = 0;
    int64_t batch_time_ms = 0;
    std::string host;
};

/// What a committed offset with its metadata means.
struct CommittedPlan {
    enum class Kind {
        plain,    // no plan record (another consumer's commit, or sluice before issue 10): a
                  // position
        planned,  // [offset, plan.until_offset) was planned and is not known to be done
        done,     // everything below offset is done
    };
    Kind kind = Kind::plain;
    PlanRecord plan;  // planned: the plan; done: batch_id and host
};

/// The metadata of a plan commit. Hosts longer than 200 bytes are cut (the record stays far
/// below 4,096 bytes).
std::string encode_plan(const PlanRecord &plan);
/// The metadata of the "done" commit of a batch.
std::string encode_done(int64_t batch_id, const std::string &host);

/// Decodes a committed offset's metadata. Throws std::runtime_error for a plan record of a
/// newer version (one line: upgrade this host) or a broken one (it names the metadata).
CommittedPlan decode_plan(const std::string &metadata);

}  // namespace sluice::stream
