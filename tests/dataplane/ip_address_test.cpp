#include "dataplane/ip_address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

namespace frag53 {
namespace {

std::string libc_text(const IpAddress& a) {
    char buf[INET6_ADDRSTRLEN] = {};
    const int family = a.version == 4 ? AF_INET : AF_INET6;
    return inet_ntop(family, a.bytes.data(), buf, sizeof buf) ? buf : "";
}

IpAddress parse(const char* text) {
    IpAddress a;
    if (inet_pton(AF_INET, text, a.bytes.data()) == 1) {
        a.version = 4;
    } else {
        EXPECT_EQ(inet_pton(AF_INET6, text, a.bytes.data()), 1) << text;
        a.version = 6;
    }
    return a;
}

TEST(IpAddressTest, FormatsLikeInetNtop) {
    for (const char* text : {"0.0.0.0", "255.255.255.255", "10.0.0.1", "198.18.0.1", "::", "::1", "1::",
                             "2001:db8::1", "2001:db8:0:0:1:0:0:1", "2001:0:0:1::1", "1:0:1:0:1:0:1:0",
                             "::ffff:192.0.2.1", "::192.0.2.1", "::ffff:0:192.0.2.1", "0:0:0:0:0:1:0:0",
                             "fe80::abcd:ef01:2345:6789", "1:2:3:4:5:6:7:8", "::ffff:ffff", "::1:0:0"}) {
        const IpAddress a = parse(text);
        EXPECT_EQ(a.to_string(), libc_text(a)) << text;
    }
}

// Random addresses with many zero groups (where the "::" rules bite), against libc.
TEST(IpAddressTest, RandomAddressesMatchInetNtop) {
    std::mt19937_64 rng(53);
    for (int n = 0; n < 200000; ++n) {
        IpAddress a;
        a.version = (n % 5 == 0) ? 4 : 6;
        for (size_t g = 0; g < 8; ++g) {
            const uint64_t r = rng();
            const unsigned w = (r & 3) == 0 ? static_cast<unsigned>(r >> 8) & 0xFFFF : (r & 3) == 1 ? 0xFFFF : 0;
            a.bytes[2 * g] = static_cast<uint8_t>(w >> 8);
            a.bytes[2 * g + 1] = static_cast<uint8_t>(w);
        }
        ASSERT_EQ(a.to_string(), libc_text(a));
    }
}

TEST(IpAddressTest, NoVersionIsEmpty) {
    IpAddress a;
    EXPECT_EQ(a.to_string(), "");
    char buf[IpAddress::max_text_length];
    EXPECT_EQ(a.format(buf), 0u);
}

// Equality is every byte and the version, as memberwise comparison would have it.
TEST(IpAddressTest, EqualityIsBytesAndVersion) {
    std::mt19937 gen(16);
    for (int i = 0; i < 20000; ++i) {
        IpAddress a, b;
        for (auto& x : a.bytes) x = static_cast<uint8_t>(gen() % 3);
        a.version = gen() % 2 ? 4 : 6;
        b = a;
        if (gen() % 2) b.bytes[gen() % 16] ^= static_cast<uint8_t>(1 + gen() % 255);
        if (gen() % 4 == 0) b.version = b.version == 4 ? 6 : 4;
        const bool memberwise = a.bytes == b.bytes && a.version == b.version;
        ASSERT_EQ(a == b, memberwise);
        ASSERT_EQ(a != b, !memberwise);
        ASSERT_EQ((a <=> b) == 0, memberwise);
    }
}

}  // namespace
}  // namespace frag53
