#pragma once
// SHA-256, for the content hash of plugin files: what /status shows and what the hot-reload
// state remembers of a refused file. The same hex digest as `sha256sum FILE`. OpenSSL's
// libcrypto computes it (librdkafka already links it, so it costs the process nothing).

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace sluice::plugins {

/// Incremental SHA-256. Not thread-safe; a plain value (movable).
class Sha256 {
  public:
    Sha256();
    ~Sha256();
    Sha256(Sha256 &&) noexcept;
    Sha256 &operator=(Sha256 &&) noexcept;
    void update(const void *data, size_t size);
    /// The digest as 64 lowercase hex digits. Ends the computation (call once).
    std::string hex();

  private:
    struct Context;
    std::unique_ptr<Context> context_;
};

/// The hex digest of `bytes`.
std::string sha256_hex(std::string_view bytes);

}  // namespace sluice::plugins
