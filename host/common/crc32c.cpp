#include "common/crc32c.hpp"

#include <boost/crc.hpp>
#include <cstring>

namespace sluice {

namespace {

using BoostCrc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

uint32_t crc32c_table(uint32_t crc, const void *data, size_t size) {
    // Boost's register holds the un-finalised value: undo and redo the final XOR.
    BoostCrc32c engine(crc ^ 0xFFFFFFFFu);
    engine.process_bytes(data, size);
    return engine.checksum();
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(uint32_t crc, const void *data,
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

bool have_sse42() {
    static const bool yes = __builtin_cpu_supports("sse4.2");
    return yes;
}
#endif

}  // namespace

uint32_t crc32c_extend(uint32_t crc, const void *data, size_t size) {
#if defined(__x86_64__)
    if (have_sse42()) return crc32c_sse42(crc, data, size);
#endif
    return crc32c_table(crc, data, size);
}

}  // namespace sluice
