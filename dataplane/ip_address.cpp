#include "dataplane/ip_address.h"

namespace frag53 {
namespace {

size_t format_v4(const uint8_t* b, char* out) noexcept {
    char* p = out;
    for (int i = 0; i < 4; ++i) {
        if (i) *p++ = '.';
        const unsigned v = b[i];
        if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
        if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
        *p++ = static_cast<char>('0' + v % 10);
    }
    return static_cast<size_t>(p - out);
}

// RFC 5952 as glibc's inet_ntop applies it: the first longest run of two or more zero groups
// becomes "::", groups in lower-case hex without leading zeros, and the IPv4-compatible
// (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) forms keep a dotted quad.
size_t format_v6(const uint8_t* b, char* out) noexcept {
    std::array<unsigned, 8> words{};
    for (size_t i = 0; i < 8; ++i) words[i] = static_cast<unsigned>(b[2 * i] << 8 | b[2 * i + 1]);
    int best_base = -1, best_len = 0, cur_base = -1, cur_len = 0;
    for (int i = 0; i < 8; ++i) {
        if (words[static_cast<size_t>(i)] == 0) {
            if (cur_base == -1) {
                cur_base = i;
                cur_len = 1;
            } else {
                ++cur_len;
            }
        } else if (cur_base != -1) {
            if (best_base == -1 || cur_len > best_len) best_base = cur_base, best_len = cur_len;
            cur_base = -1;
        }
    }
    if (cur_base != -1 && (best_base == -1 || cur_len > best_len)) best_base = cur_base, best_len = cur_len;
    if (best_base != -1 && best_len < 2) best_base = -1;

    static constexpr char hex[] = "0123456789abcdef";
    char* p = out;
    for (int i = 0; i < 8; ++i) {
        if (best_base != -1 && i >= best_base && i < best_base + best_len) {
            if (i == best_base) *p++ = ':';
            continue;
        }
        if (i != 0) *p++ = ':';
        if (i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff))) {
            p += format_v4(b + 12, p);
            return static_cast<size_t>(p - out);
        }
        const unsigned w = words[static_cast<size_t>(i)];
        bool started = false;
        for (int shift = 12; shift >= 0; shift -= 4) {
            const unsigned nibble = (w >> shift) & 0xF;
            if (nibble == 0 && !started && shift != 0) continue;
            started = true;
            *p++ = hex[nibble];
        }
    }
    if (best_base != -1 && best_base + best_len == 8) *p++ = ':';
    return static_cast<size_t>(p - out);
}

}  // namespace

size_t IpAddress::format(char* out) const noexcept {
    if (version == 4) return format_v4(bytes.data(), out);
    if (version == 6) return format_v6(bytes.data(), out);
    return 0;
}

std::string IpAddress::to_string() const {
    char buf[max_text_length];
    return {buf, format(buf)};
}

}  // namespace frag53
