#include "analyzers/dnssec/algorithms.h"

namespace frag53::dnssec {

AlgorithmInfo algorithm_info(uint8_t alg) noexcept {
    switch (alg) {
    case algorithm::RSAMD5: return {"RSAMD5", false, true};
    case algorithm::DH: return {"DH", false, false};
    case algorithm::DSA: return {"DSA", false, true};
    case algorithm::RSASHA1: return {"RSASHA1", true, true};
    case algorithm::DSA_NSEC3_SHA1: return {"DSA-NSEC3-SHA1", false, true};
    case algorithm::RSASHA1_NSEC3_SHA1: return {"RSASHA1-NSEC3-SHA1", true, true};
    case algorithm::RSASHA256: return {"RSASHA256", true, false};
    case algorithm::RSASHA512: return {"RSASHA512", true, false};
    case algorithm::ECC_GOST: return {"ECC-GOST", false, true};
    case algorithm::ECDSAP256SHA256: return {"ECDSAP256SHA256", true, false};
    case algorithm::ECDSAP384SHA384: return {"ECDSAP384SHA384", true, false};
    case algorithm::ED25519: return {"ED25519", true, false};
    case algorithm::ED448: return {"ED448", true, false};
    case algorithm::INDIRECT: return {"INDIRECT", false, false};
    case algorithm::PRIVATEDNS: return {"PRIVATEDNS", false, false};
    case algorithm::PRIVATEOID: return {"PRIVATEOID", false, false};
    default: return {"unassigned", false, false};
    }
}

DigestInfo digest_info(uint8_t digest_type) noexcept {
    switch (digest_type) {
    case digest::SHA1: return {"SHA-1", true, 20, true};
    case digest::SHA256: return {"SHA-256", true, 32, false};
    case digest::GOST: return {"GOST R 34.11-94", false, 32, true};
    case digest::SHA384: return {"SHA-384", true, 48, false};
    default: return {"unassigned", false, 0, false};
    }
}

}  // namespace frag53::dnssec
