// A fast 64-bit hash of a byte range, for deduplication tables (not for anything an attacker
// gains by colliding: a collision costs a repeated or a skipped check, never memory).
//
// Two lanes, each folding 16 bytes per 64x64->128 multiply (the construction of wyhash), so a
// 4 KB DNS answer hashes in about 0.15 cycles per byte instead of one dependent multiply per 8
// bytes. The length is mixed in, so ranges that differ only by trailing zero bytes differ.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace frag53 {

namespace byte_hash_detail {

inline constexpr uint64_t k0 = 0xa0761d6478bd642full;
inline constexpr uint64_t k1 = 0xe7037ed1a0b428dbull;
inline constexpr uint64_t k2 = 0x8ebc6af09c88c6e3ull;
inline constexpr uint64_t k3 = 0x589965cc75374cc3ull;

__extension__ typedef unsigned __int128 u128;

inline uint64_t mum(uint64_t a, uint64_t b) noexcept {
    const u128 r = static_cast<u128>(a) * b;
    return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t load64(const uint8_t* p) noexcept {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

inline uint64_t load32(const uint8_t* p) noexcept {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// n <= 16 bytes as two words, from two reads that overlap when n is not 8 or 16 (both 0 when n
// is 0). Together with n they identify the bytes.
inline void load_0_to_16(const uint8_t* p, size_t n, uint64_t& x, uint64_t& y) noexcept {
    if (n >= 8) {
        x = load64(p);
        y = load64(p + n - 8);
    } else if (n >= 4) {
        x = load32(p);
        y = load32(p + n - 4);
    } else if (n > 0) {
        x = (uint64_t{p[0]} << 16) | (uint64_t{p[n >> 1]} << 8) | p[n - 1];
    }
}

}  // namespace byte_hash_detail

// Mixes one 64-bit value into a hash (a full avalanche of both).
inline uint64_t hash_mix(uint64_t h, uint64_t v) noexcept {
    using namespace byte_hash_detail;
    return mum(h ^ k0, v ^ k1);
}

// The hash of at most 16 bytes, in one multiply: for the short pieces of a longer key (a DNS
// record's owner name and fixed fields), where hash_bytes would spend more on its set-up and
// finish than on the bytes. Two possibly overlapping reads and the length identify the bytes.
inline uint64_t hash_short(uint64_t seed, const void* data, size_t n) noexcept {
    using namespace byte_hash_detail;
    uint64_t x = 0, y = 0;
    load_0_to_16(static_cast<const uint8_t*>(data), n, x, y);
    return mum(x ^ seed ^ k1, y ^ k2 ^ (uint64_t{n} << 56));
}

inline uint64_t hash_bytes(uint64_t seed, const void* data, size_t n) noexcept {
    using namespace byte_hash_detail;
    const auto* p = static_cast<const uint8_t*>(data);
    uint64_t a = seed ^ k0, b = seed ^ k3;
    size_t i = n;
    while (i >= 32) {
        a = mum(load64(p) ^ k1, load64(p + 8) ^ a);
        b = mum(load64(p + 16) ^ k2, load64(p + 24) ^ b);
        p += 32;
        i -= 32;
    }
    if (i >= 16) {
        a = mum(load64(p) ^ k1, load64(p + 8) ^ a);
        p += 16;
        i -= 16;
    }
    // 0-15 bytes left: two (possibly overlapping) reads cover them without a byte loop.
    uint64_t x = 0, y = 0;
    load_0_to_16(p, i, x, y);
    a = mum(x ^ k1, y ^ a ^ (uint64_t{i} << 56));
    return mum(a ^ b ^ k2, uint64_t{n} ^ k3);
}

}  // namespace frag53
