#pragma once
// SHA-256 (FIPS 180-4), for the content hash of plugin files: what /status shows and what the
// hot-reload state remembers of a refused file. The same hex digest as `sha256sum FILE`.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::plugins {

/// Incremental SHA-256. Not thread-safe; a plain value.
class Sha256 {
  public:
    Sha256();
    void update(const void *data, size_t size);
    /// The digest as 64 lowercase hex digits. Ends the computation (call once).
    std::string hex();

  private:
    void block(const uint8_t *p);

    std::array<uint32_t, 8> state_;
    std::array<uint8_t, 64> buffer_{};
    size_t buffered_ = 0;
    uint64_t length_ = 0;  // bytes
};

/// The hex digest of `bytes`.
std::string sha256_hex(std::string_view bytes);

}  // namespace sluice::plugins
