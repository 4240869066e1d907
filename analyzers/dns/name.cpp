// DNS name decompression and presentation.
//
// Decompression has three independent guards, so that no single mistake in one of them can turn
// hostile bytes into an endless walk or an overrun:
//   1. every pointer must point strictly backwards: before the pointer itself and before the
//      start of the run of labels it ends (the name's first byte, or the previous pointer's
//      target), so positions visited strictly decrease from hop to hop;
//   2. the decoded name is at most 255 bytes;
//   3. at most max_compression_hops pointers are followed.
// Guard 1 alone already rules out loops; 2 and 3 bound the work even if 1 were ever weakened,
// and 3 also bounds chains of pointers to pointers that add no bytes to the name.
#include <algorithm>
#include <bit>
#include <cstring>

#include "analyzers/dns/message.h"
#include "dataplane/byte_hash.h"

namespace frag53::dns {
namespace {

constexpr size_t header_size = 12;
constexpr size_t max_name_length = 255;

constexpr uint8_t ascii_lower(uint8_t c) noexcept {
    // Length octets (0..63) sit below 'A', so lowering a whole wire-form name leaves them alone.
    return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + ('a' - 'A')) : c;
}

// The bytes a pointer chain has already walked, kept only to tell a loop (a target inside bytes
// this name already used) from a plain forward pointer when guard 1 rejects a pointer.
// Left uninitialised on purpose: only the first n entries are ever read, and zeroing 0.5 KiB per
// name would cost more than the walk itself.
struct Visited {
    std::array<uint16_t, max_compression_hops + 1> begin;
    std::array<uint16_t, max_compression_hops + 1> end;
    unsigned n = 0;

    bool contains(size_t pos) const noexcept {
        for (unsigned i = 0; i < n; ++i)
            if (pos >= begin[i] && pos < end[i]) return true;
        return false;
    }
};

}  // namespace

NameScan scan_name(Bytes msg, size_t offset, size_t limit, Name* out, NameScanCache* cache) noexcept {
    NameScan res;
    if (out) {
        out->length = 0;
        cache = nullptr;
    }
    limit = std::min(limit, msg.size());
    const auto* w = reinterpret_cast<const uint8_t*>(msg.data());
    // Raw indices rather than a WireReader: this runs for every name of every message. `end` is
    // where the current run of labels must stop: `limit` before the first pointer, the end of the
    // message after it.
    size_t end = limit;
    size_t pos = std::min(offset, limit);
    size_t segment_start = offset;  // start of the label run being read (guard 1)
    size_t length = 0;              // decoded wire length so far, root label included at the end
    unsigned hops = 0;
    Visited visited;
    bool jumped = false;

    auto fail = [&](ParseError e, size_t at) noexcept {
        res.error = e;
        res.error_offset = at;
        if (out) out->length = 0;
        return res;
    };

    if (offset > limit) return fail(ParseError::name_past_end, pos);
    for (;;) {
        const size_t at = pos;
        if (pos >= end) return fail(ParseError::name_past_end, at);
        const uint8_t len = w[pos++];
        if (len < 0x40) {
            if (len > end - pos) return fail(ParseError::name_past_end, at);
            length += 1u + len;
            if (length > max_name_length) return fail(ParseError::name_too_long, at);
            if (out) {
                out->wire[length - 1 - len] = len;
                std::memcpy(out->wire.data() + (length - len), w + pos, len);
            }
            pos += len;
            if (len == 0) {
                if (!jumped) res.end = pos;
                if (out) out->length = static_cast<uint8_t>(length);
                if (cache != nullptr) cache->add(offset, length, hops);
                return res;
            }
            continue;
        }
        if ((len & 0xC0) != 0xC0)  // 0x40 (extended labels, never deployed) and 0x80 (reserved)
            return fail(ParseError::bad_label_type, at);
        if (pos >= end) return fail(ParseError::name_past_end, at);
        const size_t target = static_cast<size_t>((len & 0x3F) << 8 | w[pos++]);
        if (!jumped) {
            res.end = pos;
            res.jumped = jumped = true;
        }
        if (visited.n < visited.begin.size()) {
            visited.begin[visited.n] = static_cast<uint16_t>(segment_start);
            visited.end[visited.n] = static_cast<uint16_t>(pos);
            ++visited.n;
        }
        // Most specific first: a target inside bytes this name already used is a loop, even
        // when it is also "not backwards"; a target outside the message (or in the header,
        // where no name can start) is out of range; anything else not strictly backwards is
        // a forward pointer.
        if (target >= segment_start || target >= at) {
            if (visited.contains(target)) return fail(ParseError::compression_loop, at);
            if (target >= msg.size()) return fail(ParseError::pointer_out_of_range, at);
            return fail(ParseError::pointer_forward, at);
        }
        if (target < header_size) return fail(ParseError::pointer_out_of_range, at);
        if (++hops > max_compression_hops) return fail(ParseError::compression_loop, at);
        if (cache != nullptr) {
            // A name already validated starts there: only the totals are left to check. When
            // they would break a guard, the walk goes on and fails where it always did.
            const int c = cache->find(target);
            if (c >= 0) {
                const auto i = static_cast<size_t>(c);
                if (length + cache->length[i] <= max_name_length && hops + cache->hops[i] <= max_compression_hops)
                    return res;
            }
        }
        // After the first hop the labels may run anywhere up to the end of the message.
        end = msg.size();
        pos = target;
        segment_start = target;
    }
}

ParseError decode_name(Bytes msg, size_t offset, Name& out, size_t* end) noexcept {
    const NameScan s = scan_name(msg, offset, msg.size(), &out);
    if (end && s.error == ParseError::none) *end = s.end;
    return s.error;
}

std::string Name::to_string() const {
    std::string s;
    append_to(s);
    return s;
}

void Name::append_to(std::string& s) const {
    if (length == 0) return;
    if (length == 1) {
        s += '.';
        return;
    }
    // At most 4 characters per wire byte (\DDD): size for that once, write through a pointer,
    // trim to what was written. Findings print names by the hundred thousand.
    const size_t start = s.size();
    s.resize(start + 4 * size_t{length});
    char* out = s.data() + start;
    char* p = out;
    size_t i = 0;
    while (i < length && wire[i] != 0) {
        const size_t n = wire[i++];
        for (size_t j = 0; j < n && i < length; ++j, ++i) {
            const uint8_t c = wire[i];
            switch (c) {
            // The characters that are special in master files get a backslash, as dig prints.
            case '.': case '\\': case '"': case '(': case ')': case ';': case '@': case '$':
                *p++ = '\\';
                *p++ = static_cast<char>(c);
                break;
            default:
                if (c > 0x20 && c < 0x7F) {
                    *p++ = static_cast<char>(c);
                } else {
                    *p++ = '\\';
                    *p++ = static_cast<char>('0' + c / 100);
                    *p++ = static_cast<char>('0' + c / 10 % 10);
                    *p++ = static_cast<char>('0' + c % 10);
                }
            }
        }
        *p++ = '.';
    }
    s.resize(start + static_cast<size_t>(p - out));
}

void Name::to_lower() noexcept {
    for (size_t i = 0; i < length; ++i) wire[i] = ascii_lower(wire[i]);
}

bool Name::equals_ignore_case(const Name& o) const noexcept {
    if (length != o.length) return false;
    // Names compared are mostly the same bytes (a question and its answer): one memcmp.
    if (std::memcmp(wire.data(), o.wire.data(), length) == 0) return true;
    for (size_t i = 0; i < length; ++i)
        if (ascii_lower(wire[i]) != ascii_lower(o.wire[i])) return false;
    return true;
}

// Labels other than the root: "www.example.com." has 3, "." has 0 (as the RRSIG Labels field).
uint8_t Name::label_count() const noexcept {
    uint8_t n = 0;
    for (size_t i = 0; i < length && wire[i] != 0; i += 1u + wire[i]) ++n;
    return n;
}

namespace {

// Eight bytes of a name as a little-endian word, so the hash is the same on every platform.
uint64_t le64(const uint8_t* p) noexcept {
    uint64_t v;
    std::memcpy(&v, p, 8);
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
    return v;
}

// ascii_lower on eight bytes at once: 0x20 is added to each byte from 'A' to 'Z' and to no
// other. Each byte's low seven bits are compared by adding to them, which cannot carry into the
// next byte; bytes with the high bit set are left alone.
constexpr uint64_t ascii_lower8(uint64_t v) noexcept {
    constexpr uint64_t ones = 0x0101010101010101ull;
    const uint64_t low7 = v & (0x7f * ones);
    const uint64_t from_a = low7 + (0x80 - 'A') * ones;    // high bit set where low7 >= 'A'
    const uint64_t past_z = low7 + (0x80 - 'Z' - 1) * ones;  // high bit set where low7 > 'Z'
    const uint64_t upper = from_a & ~past_z & ~v & (0x80 * ones);
    return v | (upper >> 2);
}

}  // namespace

uint64_t Name::hash_ignore_case() const noexcept {
    // Eight bytes per multiply, lowered in a word: questions are hashed once per query, where a
    // byte-at-a-time hash cost 4 cycles per byte of the name. The last word overlaps the one
    // before it instead of reading past the name; the length is mixed in, so that is unambiguous.
    using byte_hash_detail::k0, byte_hash_detail::k1, byte_hash_detail::k2, byte_hash_detail::mum;
    uint64_t h = k0 ^ length;
    if (length >= 8) {
        for (size_t i = 0; i + 8 < length; i += 8) h = mum(h ^ ascii_lower8(le64(wire.data() + i)) ^ k2, k1);
        h = mum(h ^ ascii_lower8(le64(wire.data() + length - 8)) ^ k2, k1);
    } else {
        uint64_t v = 0;
        for (size_t i = 0; i < length; ++i) v |= uint64_t{ascii_lower(wire[i])} << (8 * i);
        h = mum(h ^ v ^ k2, k1);
    }
    return mum(h ^ k1, k2 ^ length);
}

}  // namespace frag53::dns
