#include "analyzers/dnssec/validity.h"

namespace frag53::dnssec {

const char* to_string(Validity v) noexcept {
    switch (v) {
    case Validity::valid: return "valid";
    case Validity::expired: return "expired";
    case Validity::not_yet_valid: return "not_yet_valid";
    }
    return "unknown";
}

int64_t serial_time(uint32_t t, uint64_t now_s) noexcept {
    // Times past 2^62 s are nonsense; clamping keeps the arithmetic below free of overflow.
    const int64_t now = static_cast<int64_t>(now_s & ((uint64_t{1} << 62) - 1));
    // The signed 32-bit distance is the serial-arithmetic difference t - now; exactly 2^31 is
    // undefined in RFC 1982 and lands in the past here, which makes such a signature expired.
    const auto delta = static_cast<int32_t>(t - static_cast<uint32_t>(now));
    return now + delta;
}

Validity rrsig_validity(uint32_t inception, uint32_t expiration, uint64_t now_s) noexcept {
    const int64_t now = serial_time(static_cast<uint32_t>(now_s), now_s);
    const int64_t inc = serial_time(inception, now_s);
    const int64_t exp = serial_time(expiration, now_s);
    if (now > exp) return Validity::expired;
    if (now < inc) return Validity::not_yet_valid;
    return Validity::valid;
}

int64_t seconds_until_expiration(uint32_t expiration, uint64_t now_s) noexcept {
    return serial_time(expiration, now_s) - serial_time(static_cast<uint32_t>(now_s), now_s);
}

}  // namespace frag53::dnssec
