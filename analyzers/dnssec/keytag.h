// DNSKEY key tag (RFC 4034 Appendix B).
#pragma once

#include <cstdint>

#include "dataplane/wire_reader.h"

namespace frag53::dnssec {

// Key tag of a DNSKEY RDATA (flags, protocol, algorithm, public key). Algorithm 1 (RSA/MD5) uses
// the Appendix B.1 rule: bits 16..23 and 8..15 of the modulus' least significant 24 bits, i.e.
// the third- and second-to-last octets of the RDATA (0 if it is shorter than 4 bytes + 3).
// Any byte string has a tag, so this never fails; the caller checks the RDATA makes a key.
uint16_t key_tag(Bytes dnskey_rdata) noexcept;

}  // namespace frag53::dnssec
