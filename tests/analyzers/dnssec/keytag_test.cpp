#include "analyzers/dnssec/keytag.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

#include "tests/analyzers/dnssec/fixtures.h"

namespace frag53::dnssec {
namespace {

using testing::read_fields;
using testing::zone_keys;
using testing::zones;

Bytes bytes_of(const std::vector<uint8_t>& v) { return as_bytes(v.data(), v.size()); }

// Each zone's key tags as dnssec-keygen named the key files (and dnssec-dsfromkey printed them).
std::map<std::string, std::set<uint16_t>> bind_tags() {
    std::map<std::string, std::set<uint16_t>> tags;
    for (const auto& f : read_fields("ds.txt")) {
        // OWNER IN DS TAG ALG DIGEST-TYPE DIGEST
        if (f.size() != 7) continue;
        std::string zone = f[0];
        zone.pop_back();
        tags[zone].insert(static_cast<uint16_t>(std::stoi(f[3])));
    }
    return tags;
}

TEST(KeyTag, MatchesBindForEveryAlgorithm) {
    const auto expected = bind_tags();
    ASSERT_EQ(zones().size(), 8u);
    for (const auto& z : zones()) {
        SCOPED_TRACE(z.name);
        const auto keys = zone_keys(z.name);
        ASSERT_EQ(keys.size(), 2u);  // KSK and ZSK
        std::set<uint16_t> got;
        for (const auto& k : keys) {
            EXPECT_EQ(k.algorithm, z.algorithm);
            got.insert(key_tag(k.rdata));
        }
        ASSERT_TRUE(expected.count(z.name));
        EXPECT_EQ(got, expected.at(z.name));
    }
}

TEST(KeyTag, Rfc4034AppendixBSumWithOddLength) {
    // 0x0101 + 0x0308 + 0xFF00 = 0x10309 -> carry folded: 0x0309 + 1 = 0x030A.
    const std::vector<uint8_t> rd{0x01, 0x01, 0x03, 0x08, 0xFF};
    EXPECT_EQ(key_tag(bytes_of(rd)), 0x030A);
}

TEST(KeyTag, AlgorithmOneUsesTheModulusLowBits) {
    // RSA/MD5: the third- and second-to-last octets of the RDATA (RFC 4034 B.1).
    const std::vector<uint8_t> rd{0x01, 0x00, 0x03, 0x01, 0x01, 0x03, 0xAB, 0xCD, 0x12, 0x34, 0x56};
    EXPECT_EQ(key_tag(bytes_of(rd)), 0x1234);
    // The same bytes under algorithm 5 use the checksum.
    std::vector<uint8_t> rsasha1 = rd;
    rsasha1[3] = 5;
    EXPECT_NE(key_tag(bytes_of(rsasha1)), 0x1234);
}

TEST(KeyTag, HostileShortRdataNeverReadsPastTheEnd) {
    EXPECT_EQ(key_tag(Bytes{}), 0);
    const std::vector<uint8_t> one{0xAB};
    EXPECT_EQ(key_tag(bytes_of(one)), 0xAB00);
    const std::vector<uint8_t> alg1_short{0x01, 0x00, 0x03, 0x01, 0x07};  // no modulus to speak of
    EXPECT_EQ(key_tag(bytes_of(alg1_short)), 0);
    // Maximum RDATA: the 32-bit accumulator must not overflow.
    const std::vector<uint8_t> big(65535, 0xFF);
    uint32_t ac = 0;
    for (size_t i = 0; i < big.size(); ++i) ac += (i & 1) ? big[i] : uint32_t{big[i]} << 8;
    ac += (ac >> 16) & 0xFFFF;
    EXPECT_EQ(key_tag(bytes_of(big)), static_cast<uint16_t>(ac));
}

}  // namespace
}  // namespace frag53::dnssec
