#include "common/crc32c.hpp"

#include <boost/crc.hpp>
#include <cstring>

namespace sluice {

namespace {

using BoostCrc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

uint32_t reverse_bits(uint32_t x) {
    uint32_t out = 0;
    for (int i = 0; i < 32; ++i, x >>= 1) out = (out << 1) | (x & 1u);
    return out;
}

}  // namespace

uint32_t detail::crc32c_portable(uint32_t crc, const void *data, size_t size) {
    // Boost's register is the un-finalised value (undo the final XOR to continue), and for a
    // reflected CRC its constructor bit-reverses the initial remainder it is given: reverse it
    // first, or any seed but 0 (the only one that is its own reversal after the XOR) continues
    // from the wrong state.
    BoostCrc32c engine(reverse_bits(crc ^ 0xFFFFFFFFu));
    engine.process_bytes(data, size);
    return engine.checksum();
}

namespace {

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42_impl(uint32_t crc, const void *data,
                                                             size_t size) {
    const auto *p = static_cast<const unsigned char *>(data);
    uint64_t c = crc ^ 0xFFFFFFFFu;
    while (size >= 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        size -= 8;
    }
    auto c32 = static_cast<uint32_t>(c);
    while (size-- > 0) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32 ^ 0xFFFFFFFFu;
}

#endif

}  // namespace

bool detail::crc32c_have_hardware() {
#if defined(__x86_64__)
    static const bool yes = __builtin_cpu_supports("sse4.2");
    return yes;
#else
    return false;
#endif
}

uint32_t detail::crc32c_hardware(uint32_t crc, const void *data, size_t size) {
#if defined(__x86_64__)
    if (crc32c_have_hardware()) return crc32c_sse42_impl(crc, data, size);
#endif
    return crc32c_portable(crc, data, size);
}

uint32_t crc32c_extend(uint32_t crc, const void *data, size_t size) {
    return detail::crc32c_have_hardware() ? detail::crc32c_hardware(crc, data, size)
                                          : detail::crc32c_portable(crc, data, size);
}

}  // namespace sluice
