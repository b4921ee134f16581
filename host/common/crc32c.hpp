#pragma once
// CRC-32C (Castagnoli), as in iSCSI, ext4 and Kafka's record batches: the SSE4.2 instruction
// when the CPU has it, else Boost.CRC's table. Pure functions; any thread.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice {

/// Continues a CRC-32C over `size` more bytes; start with crc = 0.
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t size);

namespace detail {
// The two implementations behind crc32c_extend, exposed so that tests check both on any CPU.
uint32_t crc32c_portable(uint32_t crc, const void *data, size_t size);  // Boost.CRC's table
uint32_t crc32c_hardware(uint32_t crc, const void *data, size_t size);  // SSE4.2, else portable
bool crc32c_have_hardware();
}  // namespace detail

inline uint32_t crc32c(std::string_view data) {
    return crc32c_extend(0, data.data(), data.size());
}

}  // namespace sluice
