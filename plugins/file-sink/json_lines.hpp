#pragma once
// file-sink's line encoder: one record as one JSON line,
//   {"topic":…,"partition":…,"offset":…,"timestamp":…,"key":…,"value":…,"headers":[[name,value],…]}
// with key, value and header values in base64 (null for a null), written by hand into a
// growing buffer: no allocation per record. The bytes are exactly what nlohmann::json's
// dump(-1, ' ', false, error_handler_t::replace) wrote before (tests/file_sink_durability/
// golden): strings that need escaping (a quote, a backslash, a control byte, DEL or any byte
// past ASCII) still go through nlohmann's own serializer, so invalid UTF-8 in a header name is
// replaced with U+FFFD, never thrown on.

#include <sluice/plugin.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace file_sink {

/// Bytes appended at the end, grown by doubling (never shrunk), so that a buffer reused for
/// every batch stops allocating once it has held the largest. Not thread-safe: one owner.
class LineBuffer {
  public:
    std::size_t size() const { return size_; }
    const char *data() const { return data_.get(); }
    void clear() { size_ = 0; }
    /// Room for `n` more bytes at end(); end() may move.
    void reserve_more(std::size_t n) {
        if (capacity_ - size_ < n) grow(size_ + n);
    }
    char *end() { return data_.get() + size_; }
    /// After writing up to the reserved room at end(): the new end.
    void set_end(char *p) { size_ = static_cast<std::size_t>(p - data_.get()); }

  private:
    void grow(std::size_t need);
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

/// The last topic's encoding (records of a partition come together, so the topic rarely
/// changes from one record to the next); keep one per thread.
struct TopicCache {
    std::string topic;  // as the host gave it
    std::string json;   // "…", escaped
};

/// Appends `record`'s line, with its newline.
void append_line(LineBuffer &out, const sluice::Record &record, TopicCache &topic_cache);

}  // namespace file_sink
