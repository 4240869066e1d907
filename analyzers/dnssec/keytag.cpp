#include "analyzers/dnssec/keytag.h"

#include "analyzers/dnssec/algorithms.h"

namespace frag53::dnssec {

uint16_t key_tag(Bytes rd) noexcept {
    if (rd.size() >= 4 && static_cast<uint8_t>(rd[3]) == algorithm::RSAMD5) {
        if (rd.size() < 7) return 0;
        return static_cast<uint16_t>(static_cast<unsigned>(rd[rd.size() - 3]) << 8 |
                                     static_cast<unsigned>(rd[rd.size() - 2]));
    }
    // Sum of the RDATA as 16-bit big-endian words; 32 bits cannot overflow for RDATA up to 64 KiB
    // (65535 * 255 * 2 < 2^32), so the carry is folded once at the end.
    uint32_t ac = 0;
    const size_t n = rd.size();
    size_t i = 0;
    for (; i + 1 < n; i += 2)
        ac += static_cast<uint32_t>(rd[i]) << 8 | static_cast<uint32_t>(rd[i + 1]);
    if (i < n) ac += static_cast<uint32_t>(rd[i]) << 8;
    ac += (ac >> 16) & 0xFFFF;
    return static_cast<uint16_t>(ac & 0xFFFF);
}

}  // namespace frag53::dnssec
