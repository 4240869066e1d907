// NSEC3 owner-name hashes (RFC 5155 section 5) and their base32hex presentation (RFC 4648 s. 7).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "analyzers/dns/message.h"
#include "dataplane/wire_reader.h"

namespace frag53::dnssec {

// RFC 5155 section 10.3 caps iterations at 2,500 (for 4096-bit keys); RFC 9276 asks for 0.
// Hashing a name costs iterations + 1 SHA-1 runs, so the cap bounds the work one hostile
// NSEC3 record can ask for.
inline constexpr uint16_t max_nsec3_iterations = 2500;

// IH(salt, name, iterations) with SHA-1 (hash algorithm 1, the only one assigned) over the
// lower-case wire form of `name` (given in any case). False when the name is not decoded
// (length 0), the salt is longer than 255 bytes, or iterations exceed max_nsec3_iterations.
bool nsec3_hash(const dns::Name& name, Bytes salt, uint16_t iterations,
                std::array<uint8_t, 20>& out) noexcept;

// Base32 with the "extended hex" alphabet, upper case, no padding: the first label of an NSEC3
// owner name and the Next Hashed Owner Name in presentation form.
std::string base32hex(Bytes data);

// The inverse, case-insensitive, for matching NSEC3 owner labels against hashes. False on a
// character outside the alphabet, on non-zero trailing bits, on a length no encoding produces,
// or when the result does not fit `out`. `out_len` receives the decoded length.
bool base32hex_decode(std::string_view text, std::span<uint8_t> out, size_t& out_len) noexcept;
bool base32hex_decode(Bytes text, std::span<uint8_t> out, size_t& out_len) noexcept;

}  // namespace frag53::dnssec
