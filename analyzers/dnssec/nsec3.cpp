#include "analyzers/dnssec/nsec3.h"

#include "analyzers/dnssec/openssl.h"

namespace frag53::dnssec {
namespace {

constexpr char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";

int base32hex_value(uint8_t c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'V') return c - 'A' + 10;
    if (c >= 'a' && c <= 'v') return c - 'a' + 10;
    return -1;
}

template <typename CharAt>
bool decode(size_t n, CharAt at, std::span<uint8_t> out, size_t& out_len) noexcept {
    out_len = 0;
    // 8 characters carry 5 bytes; a final group of 2, 4, 5 or 7 characters carries 1..4.
    const size_t rem = n % 8;
    if (rem == 1 || rem == 3 || rem == 6) return false;
    const size_t len = n / 8 * 5 + (rem * 5) / 8;
    if (len > out.size()) return false;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; ++i) {
        const int v = base32hex_value(at(i));
        if (v < 0) return false;
        acc = (acc << 5) | static_cast<uint32_t>(v);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = static_cast<uint8_t>(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) return false;  // non-canonical: padding bits must be zero
    out_len = o;
    return true;
}

}  // namespace

bool nsec3_hash(const dns::Name& name, Bytes salt, uint16_t iterations,
                std::array<uint8_t, 20>& out) noexcept {
    if (name.length == 0 || salt.size() > 255 || iterations > max_nsec3_iterations) return false;
    ossl::ErrorQueueGuard errors;
    const EVP_MD* md = ossl::digest(ossl::Digest::sha1);
    EVP_MD_CTX* ctx = ossl::thread_digest_ctx();
    if (!md || !ctx) return false;
    std::array<uint8_t, 255> lower;
    for (size_t i = 0; i < name.length; ++i) {
        const uint8_t c = name.wire[i];
        lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + ('a' - 'A')) : c;
    }
    unsigned len = 0;
    const uint8_t* input = lower.data();
    size_t input_len = name.length;
    for (unsigned i = 0; i <= iterations; ++i) {
        if (EVP_DigestInit_ex2(ctx, md, nullptr) != 1 ||
            EVP_DigestUpdate(ctx, input, input_len) != 1 ||
            EVP_DigestUpdate(ctx, salt.data(), salt.size()) != 1 ||
            EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != out.size())
            return false;
        input = out.data();
        input_len = out.size();
    }
    return true;
}

std::string base32hex(Bytes data) {
    std::string s;
    s.reserve((data.size() * 8 + 4) / 5);
    uint32_t acc = 0;
    unsigned bits = 0;
    for (const std::byte b : data) {
        acc = (acc << 8) | static_cast<uint32_t>(b);
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            s += alphabet[(acc >> bits) & 0x1F];
        }
        acc &= (1u << bits) - 1;
    }
    if (bits > 0) s += alphabet[(acc << (5 - bits)) & 0x1F];
    return s;
}

bool base32hex_decode(std::string_view text, std::span<uint8_t> out, size_t& out_len) noexcept {
    return decode(text.size(), [&](size_t i) { return static_cast<uint8_t>(text[i]); }, out,
                  out_len);
}

bool base32hex_decode(Bytes text, std::span<uint8_t> out, size_t& out_len) noexcept {
    return decode(text.size(), [&](size_t i) { return static_cast<uint8_t>(text[i]); }, out,
                  out_len);
}

}  // namespace frag53::dnssec
