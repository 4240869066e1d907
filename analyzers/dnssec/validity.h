// RRSIG validity windows (RFC 4034 section 3.1.5).
//
// Inception and expiration are 32-bit seconds compared with RFC 1982 serial-number arithmetic:
// each is taken as the instant closest to `now` (within +-2^31 s) that has those low 32 bits, so
// signatures stay comparable across the 2106 wrap-around and a window may have an inception
// numerically greater than its expiration. `now_s` is the packet's time (seconds since the
// epoch), never the wall clock, so a replayed capture gives the same result.
#pragma once

#include <cstdint>

namespace frag53::dnssec {

enum class Validity : uint8_t { valid, expired, not_yet_valid };
const char* to_string(Validity v) noexcept;

// valid when inception <= now <= expiration (both ends included, as validators do). A window
// whose expiration falls before its inception contains no instant: expired if now is past the
// expiration, otherwise not yet valid.
Validity rrsig_validity(uint32_t inception, uint32_t expiration, uint64_t now_s) noexcept;

// Seconds from now to the expiration (negative once expired), for "expiring soon" findings.
int64_t seconds_until_expiration(uint32_t expiration, uint64_t now_s) noexcept;

// The absolute time (seconds since the epoch, may be negative) closest to now_s whose low 32
// bits are `t`.
int64_t serial_time(uint32_t t, uint64_t now_s) noexcept;

}  // namespace frag53::dnssec
