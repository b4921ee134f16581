#pragma once
// The frame every checkpoint file is written in (metadata and log entries):
//
//   sluice-checkpoint <version> <crc32c, 8 hex digits> <payload bytes>\n<payload>
//
// The header line's shape is fixed for every format version, so any version
// of sluice can tell "another version" (an error) from "torn or corrupt" (a
// skip). Pure functions, no I/O; any thread.

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::checkpoint {

inline constexpr std::string_view kFrameMagic = "sluice-checkpoint";

/// CRC-32C (Castagnoli), as in iSCSI and Kafka's record batches.
uint32_t crc32c(std::string_view data);

/// The whole file for `payload`, in format version kFormatVersion.
std::string encode_frame(std::string_view payload);

struct DecodedFrame {
    enum class Status {
        kOk,
        kTorn,            // shorter than its header says: an interrupted write
        kCorrupt,         // not a sluice frame, CRC mismatch, trailing bytes
        kUnknownVersion,  // a well-formed header naming another format version
    };
    Status status = Status::kCorrupt;
    int version = 0;      // valid for kOk and kUnknownVersion
    std::string payload;  // valid for kOk
    std::string problem;  // why, for kTorn / kCorrupt / kUnknownVersion
};

DecodedFrame decode_frame(std::string_view bytes);

}  // namespace sluice::checkpoint
