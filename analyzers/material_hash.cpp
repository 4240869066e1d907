#include "analyzers/material_hash.h"

#include "dataplane/byte_hash.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace frag53 {

namespace {

// Where a record's parts lie: the head (owner bytes in place, type, class) from `start`, the
// TTL at `ttl_at`, then RDLENGTH and RDATA up to `end`.
struct RecordExtent {
    size_t start, ttl_at, end;
};

inline RecordExtent extent_of(const dns::Record& rr) noexcept {
    const size_t ttl_at = static_cast<size_t>(rr.rdata_offset) - 6;
    return {rr.name_offset, ttl_at, size_t{rr.rdata_offset} + rr.rdlength};
}

// Where the question ends: at the first record, or at the end of a message without any.
inline size_t question_end(Bytes wire, std::span<const dns::Record> records) noexcept {
    return records.empty() ? wire.size() : records.front().name_offset;
}

inline size_t records_end(std::span<const dns::Record> records, size_t question_end) noexcept {
    return records.empty() ? question_end : extent_of(records.back()).end;
}

}  // namespace

uint64_t material_hash_portable(uint64_t seed, Bytes wire,
                                std::span<const dns::Record> records) noexcept {
    const auto* w = reinterpret_cast<const uint8_t*>(wire.data());
    if (wire.size() < 2) return hash_bytes(seed, w, wire.size());
    const size_t qend = question_end(wire, records);
    uint64_t h = hash_bytes(seed, w + 2, qend - 2);
    uint64_t sum = 0;
    for (const dns::Record& rr : records) {
        const RecordExtent e = extent_of(rr);
        const size_t head = e.ttl_at - e.start;
        const auto section = static_cast<uint64_t>(rr.section);
        // The head (nearly always a 2-byte pointer, type and class) seeds the hash of RDLENGTH
        // and RDATA; the TTL between them is left out.
        const uint64_t rh = head <= 16 ? hash_short(section, w + e.start, head)
                                       : hash_bytes(section, w + e.start, head);
        sum += hash_bytes(rh, w + e.ttl_at + 4, e.end - (e.ttl_at + 4));
    }
    h = hash_mix(h, sum);
    const size_t pos = records_end(records, qend);
    if (pos < wire.size()) h = hash_bytes(h, w + pos, wire.size() - pos);
    return h;
}

#if defined(__x86_64__)

#define FRAG53_AES_TARGET __attribute__((target("aes,sse4.1")))

namespace {

// Each 16-byte block is the round key of one AES round applied to the running state
// (AESENC: state = MixColumns(ShiftRows(SubBytes(state))) ^ block), so one instruction takes
// 16 bytes; four independent states cover the round's latency on long ranges. Three more
// rounds with fixed keys spread every byte of the last block over all 16 bytes of the state
// before 64 bits are taken. Lengths go into the starting state, so ranges that differ only in
// where they end (or in how a record splits into head and body) do not meet.
FRAG53_AES_TARGET inline __m128i block(const uint8_t* p) noexcept {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

FRAG53_AES_TARGET inline __m128i aes_round(__m128i state, __m128i key) noexcept {
    return _mm_aesenc_si128(state, key);
}

FRAG53_AES_TARGET inline __m128i pair(uint64_t lo, uint64_t hi) noexcept {
    return _mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo));
}

// Constants: the fractional digits of pi, as in many key schedules.
FRAG53_AES_TARGET inline __m128i key(int i) noexcept {
    static constexpr uint64_t k[][2] = {
        {0x243f6a8885a308d3ull, 0x13198a2e03707344ull}, {0xa4093822299f31d0ull, 0x082efa98ec4e6c89ull},
        {0x452821e638d01377ull, 0xbe5466cf34e90c6cull}, {0xc0ac29b7c97c50ddull, 0x3f84d5b5b5470917ull},
        {0x9216d5d98979fb1bull, 0xd1310ba698dfb5acull}, {0x2ffd72dbd01adfb7ull, 0xb8e1afed6a267e96ull},
        {0xba7c9045f12c7f99ull, 0x24a19947b3916cf7ull}, {0x0801f2e2858efc16ull, 0x636920d871574e69ull},
    };
    return pair(k[i][0], k[i][1]);
}

// 1-16 bytes as one block, from two reads that overlap unless n is 8 or 16 (no read outside
// the range); with n, which the starting state holds, they identify the bytes.
FRAG53_AES_TARGET inline __m128i small_block(const uint8_t* p, size_t n) noexcept {
    uint64_t x = 0, y = 0;
    byte_hash_detail::load_0_to_16(p, n, x, y);
    return pair(x, y);
}

// Absorbs [p, p + n) into `a`. The `back` bytes before p are already in the hash and may be read
// again, so the last 1-16 bytes are one 16-byte read ending at the range's end when n + back
// reaches 16.
FRAG53_AES_TARGET inline __m128i absorb(__m128i a, const uint8_t* p, size_t n,
                                        size_t back) noexcept {
    if (n == 0) return a;
    const uint8_t* const end = p + n;
    const bool read_back = n + back >= 16;
    if (n > 64) {
        __m128i b = _mm_xor_si128(a, key(0)), c = _mm_xor_si128(a, key(1)),
                d = _mm_xor_si128(a, key(2));
        do {
            a = aes_round(a, block(p));
            b = aes_round(b, block(p + 16));
            c = aes_round(c, block(p + 32));
            d = aes_round(d, block(p + 48));
            p += 64;
        } while (end - p > 64);
        a = aes_round(aes_round(a, b), aes_round(c, d));
    }
    while (end - p > 16) {
        a = aes_round(a, block(p));
        p += 16;
    }
    return aes_round(a, read_back ? block(end - 16) : small_block(p, static_cast<size_t>(end - p)));
}

FRAG53_AES_TARGET inline uint64_t finish(__m128i a) noexcept {
    a = aes_round(aes_round(aes_round(a, key(3)), key(4)), key(5));
    return static_cast<uint64_t>(_mm_cvtsi128_si64(a)) ^
           static_cast<uint64_t>(_mm_extract_epi64(a, 1));
}

// Masks that clear bytes [h, h + 4) of a block: a record's TTL when its head is h bytes long.
struct TtlMasks {
    alignas(16) uint8_t m[13][16];
    constexpr TtlMasks() : m{} {
        for (int h = 0; h < 13; ++h)
            for (int i = 0; i < 16; ++i) m[h][i] = (i >= h && i < h + 4) ? 0 : 0xff;
    }
};
constexpr TtlMasks ttl_masks;

FRAG53_AES_TARGET inline uint64_t record_hash(const uint8_t* w, const dns::Record& rr) noexcept {
    const RecordExtent e = extent_of(rr);
    const size_t head = e.ttl_at - e.start, n = e.end - e.start;
    __m128i a = _mm_xor_si128(pair(static_cast<uint64_t>(rr.section) | (uint64_t{head} << 8) |
                                       (uint64_t{n} << 32),
                                   0),
                              key(6));
    if (head <= 12 && n >= 16) {
        // The common record (a compressed owner): its first 16 bytes with the TTL cleared are
        // one block; the bytes after the TTL in it may be read again for the last block.
        const __m128i first = _mm_and_si128(
            block(w + e.start), _mm_load_si128(reinterpret_cast<const __m128i*>(ttl_masks.m[head])));
        return finish(absorb(aes_round(a, first), w + e.start + 16, n - 16, 12 - head));
    }
    a = absorb(a, w + e.start, head, 0);
    return finish(absorb(a, w + e.ttl_at + 4, e.end - (e.ttl_at + 4), 0));
}

}  // namespace

FRAG53_AES_TARGET uint64_t material_hash_aes(uint64_t seed, Bytes wire,
                                             std::span<const dns::Record> records) noexcept {
    const auto* w = reinterpret_cast<const uint8_t*>(wire.data());
    if (wire.size() < 2) return finish(absorb(pair(seed, wire.size()), w, wire.size(), 0));
    const size_t qend = question_end(wire, records);
    uint64_t h = finish(absorb(_mm_xor_si128(pair(seed, qend), key(7)), w + 2, qend - 2, 0));
    uint64_t sum = 0;
    for (const dns::Record& rr : records) sum += record_hash(w, rr);
    h = hash_mix(h, sum);
    const size_t pos = records_end(records, qend);
    if (pos < wire.size()) h = finish(absorb(pair(h, wire.size() - pos), w + pos, wire.size() - pos, 0));
    return h;
}

bool material_hash_aes_available() noexcept {
    static const bool available = __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse4.1");
    return available;
}

#else

uint64_t material_hash_aes(uint64_t seed, Bytes wire, std::span<const dns::Record> records) noexcept {
    return material_hash_portable(seed, wire, records);
}

bool material_hash_aes_available() noexcept { return false; }

#endif

uint64_t material_hash(uint64_t seed, Bytes wire, std::span<const dns::Record> records) noexcept {
    return material_hash_aes_available() ? material_hash_aes(seed, wire, records)
                                         : material_hash_portable(seed, wire, records);
}

}  // namespace frag53
