// CRC-32C: the hardware and the portable (Boost.CRC) paths give the published check values,
// and continuing a CRC from any seed (crc32c_extend over pieces) equals one pass over the whole.
#include "common/crc32c.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using Fn = uint32_t (*)(uint32_t, const void *, size_t);

struct Vector {
    std::string name;
    std::string data;
    uint32_t crc;
};

std::vector<Vector> vectors() {
    std::string ascending, descending;
    for (int i = 0; i < 32; ++i) {
        ascending += static_cast<char>(i);
        descending += static_cast<char>(31 - i);
    }
    // RFC 3720 (iSCSI), appendix B.4, and the usual "123456789" check value.
    return {{"empty", "", 0x00000000u},
            {"check", "123456789", 0xE3069283u},
            {"32 zeros", std::string(32, '\0'), 0x8A9136AAu},
            {"32 x 0xff", std::string(32, '\xff'), 0x62A8AB43u},
            {"0..31", ascending, 0x46DD794Eu},
            {"31..0", descending, 0x113FDB5Cu}};
}

void check(Fn fn, const char *which) {
    for (const auto &v : vectors()) {
        EXPECT_EQ(fn(0, v.data.data(), v.data.size()), v.crc) << which << ": " << v.name;
        // Every split point: the second piece continues from the first one's (nonzero) CRC.
        for (size_t cut = 0; cut <= v.data.size(); ++cut) {
            const uint32_t first = fn(0, v.data.data(), cut);
            EXPECT_EQ(fn(first, v.data.data() + cut, v.data.size() - cut), v.crc)
                << which << ": " << v.name << " split at " << cut;
        }
    }
}

TEST(Crc32c, PortablePathMatchesPublishedVectorsFromAnySeed) {
    check(&sluice::detail::crc32c_portable, "portable");
}

TEST(Crc32c, HardwarePathMatchesPublishedVectorsFromAnySeed) {
    if (!sluice::detail::crc32c_have_hardware())
        GTEST_SKIP()
            << "this CPU has no SSE4.2 CRC32 instruction; crc32c_hardware is the portable path";
    check(&sluice::detail::crc32c_hardware, "hardware");
}

TEST(Crc32c, BothPathsAgreeOnLongUnalignedInput) {
    std::string data;
    for (int i = 0; i < 10007; ++i) data += static_cast<char>((i * 131) ^ (i >> 3));
    for (size_t start : {0u, 1u, 3u, 7u}) {
        const char *p = data.data() + start;
        const size_t n = data.size() - start;
        const uint32_t seed = 0xDEADBEEFu;
        EXPECT_EQ(sluice::detail::crc32c_portable(seed, p, n),
                  sluice::detail::crc32c_hardware(seed, p, n))
            << "from byte " << start;
    }
    EXPECT_EQ(sluice::crc32c_extend(0, data.data(), data.size()),
              sluice::detail::crc32c_portable(0, data.data(), data.size()));
}

}  // namespace
