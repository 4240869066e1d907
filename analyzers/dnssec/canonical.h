// The data an RRSIG signs (RFC 4034 sections 3.1.8.1 and 6, RFC 4035 section 5.3.2), rebuilt
// from a message seen on the wire.
//
//   signed_data = RRSIG_RDATA (without the signature, signer name in canonical form)
//                 | RR(1) | RR(2) | ...        (the covered RRset, in canonical order)
//   RR(i)       = owner | type | class | original TTL | RDATA length | RDATA
//
// owner: lower case, uncompressed; if it has more labels than the RRSIG Labels field, the
// wildcard it was expanded from: "*." + its rightmost `labels` labels. RDATA: names
// decompressed and, for the types RFC 4034 section 6.2 lists as amended by RFC 6840 section 5.1
// (NS, MD, MF, CNAME, SOA, MB, MG, MR, PTR, MINFO, MX, RP, AFSDB, RT, SIG, PX, NXT, NAPTR, KX,
// SRV, DNAME, A6, RRSIG; not NSEC, not HINFO), lower-cased; other types are taken as they are.
// RRs are sorted by canonical RDATA (as left-justified unsigned octet strings) and exact
// duplicates are dropped.
#pragma once

#include <cstdint>
#include <vector>

#include "analyzers/dns/message.h"

namespace frag53::dnssec {

enum class CanonicalStatus : uint8_t {
    ok,
    no_rrset,    // no record of the covered type, owner and class next to the RRSIG
    malformed,   // the RRSIG or a covered record cannot be read (bad names, bad lengths, a
                 // Labels field larger than the owner's label count)
    too_large,   // a canonical RDATA over 65,535 bytes, or signed data over max_signed_data
    incomplete,  // the message was cut or only partly parsed: the RRset may lack records, so
                 // a signature over it proves nothing either way
};
const char* to_string(CanonicalStatus s) noexcept;

// Decompression can grow a 64 KiB message, but not past this for any legitimate RRset.
inline constexpr size_t max_signed_data = 512 * 1024;

// Builds the signed data for `rrsig` (a record of `msg` of type RRSIG). The covered RRset is
// every record in the RRSIG's own section with the RRSIG's owner (ignoring case), class, and a
// type equal to Type Covered. `out` is cleared first and meant to be reused by the caller: once
// its capacity has grown to the largest RRset seen, no call allocates (if growing it fails, the
// status is too_large).
CanonicalStatus signed_data(const dns::MessageView& msg, const dns::Record& rrsig,
                            std::vector<uint8_t>& out) noexcept;

}  // namespace frag53::dnssec
