#pragma once
// The records of one direct-mode batch, as views into librdkafka's buffers.

#include <sluice/sluice.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

typedef struct rd_kafka_message_s rd_kafka_message_t;

namespace sluice::ingest {

namespace detail {
struct KafkaClient;
}

/// Owns the librdkafka messages of one batch and the sluice_record_t array that
/// points into them (keys, values, header values and topic names are not
/// copied). The views stay valid until the FetchedBatch is destroyed; it keeps
/// the librdkafka handle alive, so it may outlive its DirectReader.
/// Lifecycle: made by DirectReader::fetch on the batch thread, read and
/// destroyed there (it is not shared between threads).
class FetchedBatch {
  public:
    ~FetchedBatch();
    FetchedBatch(const FetchedBatch &) = delete;
    FetchedBatch &operator=(const FetchedBatch &) = delete;

    /// Contiguous (stride sizeof(sluice_record_t)): the ranges in the order
    /// given to fetch(), offset order within each. Null when empty.
    const sluice_record_t *records() const { return records_.get(); }
    size_t record_count() const { return record_count_; }
    /// Sum of key and value lengths.
    uint64_t bytes() const { return bytes_; }

  private:
    friend class DirectReader;
    FetchedBatch() = default;

    std::shared_ptr<detail::KafkaClient> client_;  // destroyed after the messages
    std::unique_ptr<sluice_record_t[]> records_;
    std::unique_ptr<rd_kafka_message_t *[]> messages_;  // messages_[i] backs records_[i]
    size_t record_count_ = 0;
    size_t capacity_ = 0;  // slots in records_/messages_, handed to the next fetch
    uint64_t bytes_ = 0;
    std::vector<std::unique_ptr<sluice_header_t[]>> headers_;  // point into the messages
};

}  // namespace sluice::ingest
