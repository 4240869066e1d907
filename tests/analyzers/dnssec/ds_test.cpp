#include "analyzers/dnssec/ds.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "analyzers/dnssec/algorithms.h"
#include "analyzers/dnssec/keytag.h"
#include "tests/analyzers/dnssec/fixtures.h"

namespace frag53::dnssec {
namespace {

using testing::from_hex;
using testing::make_name;
using testing::read_fields;
using testing::to_hex;
using testing::zone_keys;

struct DsLine {
    std::string zone;
    uint16_t tag;
    uint8_t algorithm, digest_type;
    std::vector<uint8_t> digest;
};

std::vector<DsLine> ds_lines() {
    std::vector<DsLine> out;
    for (const auto& f : read_fields("ds.txt")) {
        if (f.size() != 7 || f[2] != "DS") continue;
        std::string zone = f[0];
        zone.pop_back();
        out.push_back({zone, static_cast<uint16_t>(std::stoi(f[3])),
                       static_cast<uint8_t>(std::stoi(f[4])), static_cast<uint8_t>(std::stoi(f[5])),
                       from_hex(f[6])});
    }
    return out;
}

std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

dns::DsView ds_view(const DsLine& l) {
    return {l.tag, l.algorithm, l.digest_type, as_bytes(l.digest.data(), l.digest.size())};
}

TEST(DsDigest, MatchesDnssecDsfromkeyForSha1Sha256Sha384) {
    const auto lines = ds_lines();
    ASSERT_EQ(lines.size(), 48u);  // 8 zones x 2 keys x 3 digest types
    size_t per_type[5] = {};
    for (const DsLine& l : lines) {
        SCOPED_TRACE(l.zone + " tag " + std::to_string(l.tag) + " digest " +
                     std::to_string(l.digest_type));
        const dns::DnskeyView* key = nullptr;
        const auto keys = zone_keys(l.zone);
        for (const auto& k : keys)
            if (key_tag(k.rdata) == l.tag) key = &k;
        ASSERT_NE(key, nullptr);
        // The owner as the parent would see it in any case: canonicalised inside.
        for (const std::string& owner : {l.zone, upper(l.zone)}) {
            std::array<uint8_t, 48> d{};
            size_t n = 0;
            ASSERT_EQ(ds_digest(make_name(owner), key->rdata, l.digest_type, d, n),
                      DigestStatus::ok);
            EXPECT_EQ(n, digest_info(l.digest_type).length);
            EXPECT_EQ(to_hex(d.data(), n), to_hex(l.digest.data(), l.digest.size()));
        }
        EXPECT_TRUE(ds_matches_dnskey(ds_view(l), make_name(upper(l.zone)), key->rdata));
        ++per_type[l.digest_type];
    }
    EXPECT_EQ(per_type[1], 16u);
    EXPECT_EQ(per_type[2], 16u);
    EXPECT_EQ(per_type[4], 16u);
}

TEST(DsDigest, MismatchesAreRejected) {
    const auto lines = ds_lines();
    ASSERT_FALSE(lines.empty());
    const DsLine& l = lines[1];  // SHA-256 of the first key
    ASSERT_EQ(l.digest_type, 2);
    const auto keys = zone_keys(l.zone);
    ASSERT_EQ(keys.size(), 2u);
    const dns::DnskeyView& key = key_tag(keys[0].rdata) == l.tag ? keys[0] : keys[1];
    const dns::DnskeyView& other = key_tag(keys[0].rdata) == l.tag ? keys[1] : keys[0];
    const dns::Name owner = make_name(l.zone);
    ASSERT_TRUE(ds_matches_dnskey(ds_view(l), owner, key.rdata));

    EXPECT_FALSE(ds_matches_dnskey(ds_view(l), owner, other.rdata));  // the other key
    EXPECT_FALSE(ds_matches_dnskey(ds_view(l), make_name("alg0.test"), key.rdata));

    DsLine bad = l;
    bad.digest[31] ^= 0x01;
    EXPECT_FALSE(ds_matches_dnskey(ds_view(bad), owner, key.rdata));
    bad = l;
    bad.tag = static_cast<uint16_t>(bad.tag + 1);
    EXPECT_FALSE(ds_matches_dnskey(ds_view(bad), owner, key.rdata));
    bad = l;
    bad.algorithm = static_cast<uint8_t>(bad.algorithm == 8 ? 10 : 8);
    EXPECT_FALSE(ds_matches_dnskey(ds_view(bad), owner, key.rdata));
    bad = l;
    bad.digest.pop_back();  // right prefix, wrong length
    EXPECT_FALSE(ds_matches_dnskey(ds_view(bad), owner, key.rdata));
    bad = l;
    bad.digest_type = 3;  // GOST: not computed, so never a match
    EXPECT_FALSE(ds_matches_dnskey(ds_view(bad), owner, key.rdata));
}

TEST(DsDigest, UnsupportedTypesAndHostileKeys) {
    const dns::Name owner = make_name("example.test");
    const std::vector<uint8_t> rd{0x01, 0x01, 0x03, 0x0D, 0xAA};
    std::array<uint8_t, 48> d{};
    size_t n = 99;
    for (const unsigned t : {0u, 3u, 5u, 255u}) {
        EXPECT_EQ(ds_digest(owner, as_bytes(rd.data(), rd.size()), static_cast<uint8_t>(t), d, n),
                  DigestStatus::unsupported_digest);
        EXPECT_EQ(n, 0u);
    }
    // Shorter than flags + protocol + algorithm: not a DNSKEY.
    EXPECT_EQ(ds_digest(owner, as_bytes(rd.data(), 3), 2, d, n), DigestStatus::bad_key);
    EXPECT_EQ(ds_digest(owner, Bytes{}, 2, d, n), DigestStatus::bad_key);
    EXPECT_EQ(ds_digest(dns::Name{}, as_bytes(rd.data(), rd.size()), 2, d, n),
              DigestStatus::bad_key);
    const dns::DsView ds{0, 13, 2, as_bytes(d.data(), 32)};
    EXPECT_FALSE(ds_matches_dnskey(ds, owner, as_bytes(rd.data(), 3)));
    // A four-byte RDATA (no key material) still has a digest: the DS check is about bytes.
    EXPECT_EQ(ds_digest(owner, as_bytes(rd.data(), 4), 2, d, n), DigestStatus::ok);
    EXPECT_EQ(n, 32u);
}

}  // namespace
}  // namespace frag53::dnssec
