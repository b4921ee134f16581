#pragma once
// The librdkafka settings direct mode's guarantees rest on, and the check that a user's [kafka]
// section (or -X) does not change them. Header-only and free of librdkafka, so the config
// validation (--validate) and the reader share it. Pure; any thread.

#include <optional>
#include <string>
#include <string_view>

namespace sluice::kafka {

struct ReservedSetting {
    std::string_view key;
    std::string_view value;  // what direct mode sets
    std::string_view why;    // the way out, for the error
};

/// Direct mode reads exact offset ranges and commits only after the batch succeeded.
inline constexpr ReservedSetting kDirectReserved[] = {
    {"enable.auto.commit", "false",
     "sluice commits offsets itself, only after a batch succeeded; remove the key"},
    {"enable.auto.offset.store", "false",
     "sluice stores offsets itself, only after a batch succeeded; remove the key"},
    {"auto.offset.reset", "error",
     "a range whose records are gone must stop the run, not be skipped; choose where a new "
     "job starts with --auto-offset-reset earliest|latest instead"},
    {"enable.partition.eof", "true",
     "a range whose last offsets hold no record (compaction, transaction markers) completes "
     "only at the log end; remove the key"},
    {"group.id", "",
     "the group is sluice's own option: use --group (group = ... in the file) instead"},
};

/// The error for `key=value` in direct mode, or nullopt when the setting is allowed (a key
/// that is not reserved, or one set to the value direct mode uses anyway).
inline std::optional<std::string> direct_reserved_error(std::string_view key,
                                                        std::string_view value) {
    for (const auto &r : kDirectReserved) {
        if (key != r.key) continue;
        if (!r.value.empty() && value == r.value) return std::nullopt;
        return "kafka setting '" + std::string(key) + "=" + std::string(value) +
               "' is not allowed in direct mode: " + std::string(r.why);
    }
    return std::nullopt;
}

}  // namespace sluice::kafka
