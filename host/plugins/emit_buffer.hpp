#pragma once
// Host-owned copies of the records a transform plugin emits during one process_batch.

#include <sluice/sluice.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice::plugins {

/// Copies of emitted records: bytes in one arena, then sluice_record_t views built over it by
/// seal(). Offsets rather than pointers are kept while adding, because the arena may move.
///
/// Lifecycle: owned by one PluginInstance; clear() before each process_batch, add() for each
/// emit, seal() after the call; the views stay valid until the next clear(). Capacity is kept
/// across batches. Thread: batch thread only.
class EmitBuffer {
  public:
    void clear();

    /// Copies `record` (read as min(struct_size, sizeof), headers by their stride). Returns
    /// false, with the reason in *why, for a record the host cannot read.
    bool add(const sluice_record_t *record, std::string *why);

    /// Builds the record and header views over the arena. Call after the last add().
    void seal();

    const sluice_record_t *records() const { return records_.empty() ? nullptr : records_.data(); }
    size_t size() const { return records_.size(); }

  private:
    static constexpr size_t kNull = SIZE_MAX;  // offset of a null key/value

    struct Slot {
        size_t topic_off;
        int32_t partition;
        int64_t offset;
        int64_t timestamp_ms;
        int32_t timestamp_type;
        size_t key_off, key_len;
        size_t value_off, value_len;
        size_t header_begin, header_count;
    };
    struct HeaderSlot {
        size_t name_off;
        size_t value_off, value_len;
    };

    size_t append_bytes(const void *data, size_t len);  // kNull for a NULL pointer
    size_t append_cstr(const char *s);                  // NUL-terminated; NULL -> ""
    const void *view(size_t off, size_t len) const;

    std::vector<char> bytes_;
    std::vector<Slot> slots_;
    std::vector<HeaderSlot> header_slots_;
    std::vector<sluice_record_t> records_;
    std::vector<sluice_header_t> headers_;
    // Records of one batch nearly always share a topic: store each run of equal topics once.
    std::string last_topic_;
    size_t last_topic_off_ = kNull;
};

}  // namespace sluice::plugins
