#include "plugins/emit_buffer.hpp"

#include <algorithm>
#include <cstring>

namespace sluice::plugins {

namespace {
// A non-NULL pointer for empty (not null) keys, values and header values.
constexpr char kEmpty[1] = {0};
// An emitted record must reach at least through its value; headers are optional.
constexpr size_t kMinRecordSize = offsetof(sluice_record_t, value_len) + sizeof(size_t);
constexpr size_t kMinHeaderSize = offsetof(sluice_header_t, value_len) + sizeof(size_t);
}  // namespace

void EmitBuffer::clear() {
    bytes_.clear();
    slots_.clear();
    header_slots_.clear();
    records_.clear();
    headers_.clear();
    last_topic_.clear();
    last_topic_off_ = kNull;
}

size_t EmitBuffer::append_bytes(const void *data, size_t len) {
    if (data == nullptr) return kNull;
    size_t off = bytes_.size();
    const char *p = static_cast<const char *>(data);
    bytes_.insert(bytes_.end(), p, p + len);
    return off;
}

size_t EmitBuffer::append_cstr(const char *s) {
    if (s == nullptr) s = "";
    size_t off = bytes_.size();
    bytes_.insert(bytes_.end(), s, s + std::strlen(s) + 1);
    return off;
}

bool EmitBuffer::add(const sluice_record_t *record, std::string *why) {
    if (record == nullptr) {
        *why = "emit called with a NULL record";
        return false;
    }
    if (record->struct_size < kMinRecordSize) {
        *why = "emitted record has struct_size " + std::to_string(record->struct_size) +
               ", less than the " + std::to_string(kMinRecordSize) + " bytes of ABI 1.0";
        return false;
    }
    sluice_record_t r{};
    std::memcpy(&r, record, std::min<size_t>(record->struct_size, sizeof r));
    if (r.header_count > 0 && (r.headers == nullptr || r.header_stride < kMinHeaderSize)) {
        *why = "emitted record has " + std::to_string(r.header_count) +
               " headers but no header array or a header_stride below " +
               std::to_string(kMinHeaderSize);
        return false;
    }

    Slot slot{};
    const char *topic = r.topic != nullptr ? r.topic : "";
    if (last_topic_off_ == kNull || last_topic_ != topic) {
        last_topic_ = topic;
        last_topic_off_ = append_cstr(topic);
    }
    slot.topic_off = last_topic_off_;
    slot.partition = r.partition;
    slot.offset = r.offset;
    slot.timestamp_ms = r.timestamp_ms;
    slot.timestamp_type = r.timestamp_type;
    slot.key_off = append_bytes(r.key, r.key_len);
    slot.key_len = r.key != nullptr ? r.key_len : 0;
    slot.value_off = append_bytes(r.value, r.value_len);
    slot.value_len = r.value != nullptr ? r.value_len : 0;
    slot.header_begin = header_slots_.size();
    slot.header_count = r.header_count;
    const char *base = reinterpret_cast<const char *>(r.headers);
    for (size_t i = 0; i < r.header_count; ++i) {
        const auto *src = reinterpret_cast<const sluice_header_t *>(base + i * r.header_stride);
        sluice_header_t h{};
        std::memcpy(&h, src, std::min<size_t>(src->struct_size, sizeof h));
        HeaderSlot hs{};
        hs.name_off = append_cstr(h.name);
        hs.value_off = append_bytes(h.value, h.value_len);
        hs.value_len = h.value != nullptr ? h.value_len : 0;
        header_slots_.push_back(hs);
    }
    slots_.push_back(slot);
    return true;
}

const void *EmitBuffer::view(size_t off, size_t len) const {
    if (off == kNull) return nullptr;
    if (len == 0) return kEmpty;
    return bytes_.data() + off;
}

void EmitBuffer::seal() {
    headers_.resize(header_slots_.size());
    for (size_t i = 0; i < header_slots_.size(); ++i) {
        const HeaderSlot &hs = header_slots_[i];
        headers_[i] = sluice_header_t{sizeof(sluice_header_t), bytes_.data() + hs.name_off,
                                      view(hs.value_off, hs.value_len), hs.value_len};
    }
    records_.resize(slots_.size());
    for (size_t i = 0; i < slots_.size(); ++i) {
        const Slot &s = slots_[i];
        sluice_record_t &r = records_[i];
        r = sluice_record_t{};
        r.struct_size = sizeof(sluice_record_t);
        r.topic = bytes_.data() + s.topic_off;
        r.partition = s.partition;
        r.offset = s.offset;
        r.timestamp_ms = s.timestamp_ms;
        r.timestamp_type = s.timestamp_type;
        r.key = view(s.key_off, s.key_len);
        r.key_len = s.key_len;
        r.value = view(s.value_off, s.value_len);
        r.value_len = s.value_len;
        r.headers = s.header_count > 0 ? headers_.data() + s.header_begin : nullptr;
        r.header_count = s.header_count;
        r.header_stride = sizeof(sluice_header_t);
    }
}

}  // namespace sluice::plugins
