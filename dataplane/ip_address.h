// IPv4 or IPv6 address held by value; IPv4 uses the first 4 bytes.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <string>

namespace frag53 {

struct IpAddress {
    std::array<uint8_t, 16> bytes{};
    uint8_t version = 0;  // 4, 6, or 0 for none

    static IpAddress v4(const std::byte* p) noexcept {
        IpAddress a;
        std::memcpy(a.bytes.data(), p, 4);
        a.version = 4;
        return a;
    }
    static IpAddress v6(const std::byte* p) noexcept {
        IpAddress a;
        std::memcpy(a.bytes.data(), p, 16);
        a.version = 6;
        return a;
    }
    // Two 8-byte compares (the defaulted == is a memcmp call); the same result.
    bool operator==(const IpAddress& o) const noexcept {
        uint64_t a0, a1, b0, b1;
        std::memcpy(&a0, bytes.data(), 8);
        std::memcpy(&a1, bytes.data() + 8, 8);
        std::memcpy(&b0, o.bytes.data(), 8);
        std::memcpy(&b1, o.bytes.data() + 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0 && version == o.version;
    }
    auto operator<=>(const IpAddress&) const noexcept = default;

    uint64_t hash() const noexcept {
        uint64_t a, b;
        std::memcpy(&a, bytes.data(), 8);
        std::memcpy(&b, bytes.data() + 8, 8);
        uint64_t h = (a * 0x9E3779B97F4A7C15ull) ^ (b + 0xC2B2AE3D27D4EB4Full + version);
        h ^= h >> 31;
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
        return h;
    }
    // inet_ntop form. format() writes the same text without allocating (no terminating NUL)
    // and returns its length; `out` must hold max_text_length bytes. Findings print addresses
    // by the hundred thousand, and glibc's inet_ntop formats each IPv6 group with sprintf.
    static constexpr size_t max_text_length = 45;  // INET6_ADDRSTRLEN without the NUL
    size_t format(char* out) const noexcept;
    std::string to_string() const;
};

// Symmetric hash of an address pair: same value for both directions (worker dispatch).
inline uint64_t symmetric_pair_hash(const IpAddress& a, const IpAddress& b) noexcept {
    return a.hash() ^ b.hash();
}

}  // namespace frag53
