// DS digests of DNSKEYs (RFC 4034 section 5.1.4, RFC 4509, RFC 6605).
#pragma once

#include <array>
#include <cstdint>

#include "analyzers/dns/message.h"
#include "dataplane/wire_reader.h"

namespace frag53::dnssec {

enum class DigestStatus : uint8_t {
    ok,
    unsupported_digest,  // digest type other than 1 (SHA-1), 2 (SHA-256), 4 (SHA-384)
    bad_key,             // RDATA shorter than the DNSKEY fixed fields, or an undecoded owner
};
const char* to_string(DigestStatus s) noexcept;

// digest = H(owner | DNSKEY RDATA), with the owner in canonical (lower-case, uncompressed) wire
// form: the owner may be given in any case. `out_len` receives the digest length (20, 32, 48).
DigestStatus ds_digest(const dns::Name& owner, Bytes dnskey_rdata, uint8_t digest_type,
                       std::array<uint8_t, 48>& out, size_t& out_len) noexcept;

// A DS record designates this DNSKEY: same key tag, same algorithm, and the digest (of a
// supported type and of the right length) matches. False for unsupported digest types: the
// caller tells those apart with digest_info().
bool ds_matches_dnskey(const dns::DsView& ds, const dns::Name& owner, Bytes dnskey_rdata) noexcept;

}  // namespace frag53::dnssec
