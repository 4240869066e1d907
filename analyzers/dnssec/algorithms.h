// DNSSEC algorithm and digest type registry (IANA "DNS Security Algorithm Numbers" and
// "Delegation Signer Digest Algorithms"), with the RFC 8624 recommendations detectors report on.
#pragma once

#include <cstdint>

namespace frag53::dnssec {

namespace algorithm {
inline constexpr uint8_t RSAMD5 = 1, DH = 2, DSA = 3, RSASHA1 = 5, DSA_NSEC3_SHA1 = 6,
                         RSASHA1_NSEC3_SHA1 = 7, RSASHA256 = 8, RSASHA512 = 10, ECC_GOST = 12,
                         ECDSAP256SHA256 = 13, ECDSAP384SHA384 = 14, ED25519 = 15, ED448 = 16,
                         INDIRECT = 252, PRIVATEDNS = 253, PRIVATEOID = 254;
}
namespace digest {
inline constexpr uint8_t SHA1 = 1, SHA256 = 2, GOST = 3, SHA384 = 4;
}

struct AlgorithmInfo {
    const char* name;  // IANA mnemonic ("RSASHA256"); "unassigned" for unknown numbers
    bool supported;    // verify() can check signatures of this algorithm
    // RFC 8624 section 3.1: MUST NOT or NOT RECOMMENDED for signing (1, 3, 5, 6, 7, 12).
    // A zone signed with one of these is reported even when its signatures are valid.
    bool weak;
};
AlgorithmInfo algorithm_info(uint8_t alg) noexcept;

struct DigestInfo {
    const char* name;  // "SHA-256"; "unassigned" for unknown numbers
    bool supported;    // ds_digest() can compute it
    uint8_t length;    // digest length in bytes, 0 when unknown
    bool weak;         // RFC 8624 section 3.3: SHA-1 and GOST MUST NOT be used to create DS
};
DigestInfo digest_info(uint8_t digest_type) noexcept;

}  // namespace frag53::dnssec
