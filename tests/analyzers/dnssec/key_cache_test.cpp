#include "analyzers/dnssec/key_cache.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/analyzers/dnssec/fixtures.h"

namespace frag53::dnssec {
namespace {

using testing::make_name;
using testing::zone_keys;

// DNSKEY RDATA of an Ed25519 key: any 32 bytes import (points are checked at verification).
struct Key {
    std::vector<uint8_t> rdata;
    dns::DnskeyView view() const {
        return {static_cast<uint16_t>(rdata[0] << 8 | rdata[1]), rdata[2], rdata[3],
                as_bytes(rdata.data() + 4, rdata.size() - 4),
                as_bytes(rdata.data(), rdata.size())};
    }
};
Key ed25519(uint8_t seed) {
    Key k{{0x01, 0x01, 0x03, 15}};
    for (uint8_t i = 0; i < 32; ++i) k.rdata.push_back(static_cast<uint8_t>(seed * 7 + i));
    return k;
}

TEST(KeyCache, HitsMissesAndCaseInsensitiveOwners) {
    KeyCache cache(16);
    EXPECT_EQ(cache.capacity(), 16u);
    const auto keys = zone_keys("alg13.test");
    ASSERT_EQ(keys.size(), 2u);
    const dns::Name owner = make_name("alg13.test");
    const PublicKey* a = cache.get(owner, keys[0]);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->algorithm(), 13);
    EXPECT_EQ(cache.stats().misses, 1u);
    EXPECT_EQ(cache.get(make_name("ALG13.Test"), keys[0]), a);  // same slot, not parsed again
    EXPECT_EQ(cache.stats().hits, 1u);
    const PublicKey* b = cache.get(owner, keys[1]);
    ASSERT_NE(b, nullptr);
    EXPECT_NE(a, b);
    // The same key bytes under another owner are another entry.
    EXPECT_NE(cache.get(make_name("other.test"), keys[0]), nullptr);
    EXPECT_EQ(cache.stats().misses, 3u);
    EXPECT_EQ(cache.stats().inserts, 3u);
    EXPECT_EQ(cache.size(), 3u);
    EXPECT_EQ(cache.stats().evictions, 0u);
}

TEST(KeyCache, BadKeysAreCachedAsFailures) {
    KeyCache cache(8);
    Key bad{{0x01, 0x01, 0x03, 13, 1, 2, 3}};  // 3 bytes of "ECDSA P-256 key"
    const dns::Name owner = make_name("example.test");
    KeyStatus st = KeyStatus::ok;
    EXPECT_EQ(cache.get(owner, bad.view(), &st), nullptr);
    EXPECT_EQ(st, KeyStatus::bad_key);
    st = KeyStatus::ok;
    EXPECT_EQ(cache.get(owner, bad.view(), &st), nullptr);
    EXPECT_EQ(st, KeyStatus::bad_key);
    EXPECT_EQ(cache.stats().hits, 1u);
    EXPECT_EQ(cache.stats().misses, 1u);

    Key unsupported{{0x01, 0x01, 0x03, 3, 9, 9}};
    EXPECT_EQ(cache.get(owner, unsupported.view(), &st), nullptr);
    EXPECT_EQ(st, KeyStatus::unsupported_algorithm);

    // Longer than any key: answered without taking a slot.
    Key huge{{0x01, 0x01, 0x03, 8}};
    huge.rdata.resize(max_key_rdata + 1, 0xC3);
    EXPECT_EQ(cache.get(owner, huge.view(), &st), nullptr);
    EXPECT_EQ(st, KeyStatus::bad_key);
    EXPECT_EQ(cache.stats().uncacheable, 1u);
    EXPECT_EQ(cache.size(), 2u);
}

TEST(KeyCache, LeastRecentlyUsedIsEvictedAndCounted) {
    KeyCache cache(KeyCache::ways);  // one set: every key competes for the same slots
    ASSERT_EQ(cache.capacity(), KeyCache::ways);
    const dns::Name owner = make_name("example.test");
    std::vector<Key> keys;
    for (uint8_t i = 0; i <= KeyCache::ways; ++i) keys.push_back(ed25519(i));
    for (size_t i = 0; i < KeyCache::ways; ++i) ASSERT_NE(cache.get(owner, keys[i].view()), nullptr);
    EXPECT_EQ(cache.size(), KeyCache::ways);
    EXPECT_NE(cache.get(owner, keys[0].view()), nullptr);  // touch key 0: key 1 is now oldest
    EXPECT_EQ(cache.stats().hits, 1u);
    EXPECT_NE(cache.get(owner, keys[KeyCache::ways].view()), nullptr);
    EXPECT_EQ(cache.stats().evictions, 1u);
    EXPECT_EQ(cache.size(), KeyCache::ways);

    const uint64_t misses = cache.stats().misses;
    cache.get(owner, keys[0].view());
    EXPECT_EQ(cache.stats().misses, misses);  // kept
    cache.get(owner, keys[1].view());
    EXPECT_EQ(cache.stats().misses, misses + 1);  // evicted, parsed again
    EXPECT_EQ(cache.stats().evictions, 2u);

    cache.clear();
    EXPECT_EQ(cache.size(), 0u);
    cache.get(owner, keys[0].view());
    EXPECT_EQ(cache.stats().misses, misses + 2);
}

TEST(KeyCache, CapacityIsRoundedUpAndBounded) {
    EXPECT_EQ(KeyCache(0).capacity(), KeyCache::ways);
    EXPECT_EQ(KeyCache(9).capacity(), 2 * KeyCache::ways);
    EXPECT_EQ(KeyCache(100).capacity(), 16 * KeyCache::ways);
    KeyCache cache(64);
    const dns::Name owner = make_name("example.test");
    for (unsigned i = 0; i < 1000; ++i) {
        Key k = ed25519(static_cast<uint8_t>(i));
        k.rdata[5] = static_cast<uint8_t>(i >> 8);
        cache.get(owner, k.view());
    }
    EXPECT_EQ(cache.size(), cache.capacity());
    EXPECT_EQ(cache.stats().inserts, 1000u);
    EXPECT_EQ(cache.stats().evictions, 1000u - cache.capacity());
}

}  // namespace
}  // namespace frag53::dnssec
