#include "prober/responder/rate_limiter.h"

#include <gtest/gtest.h>

namespace frag53::probe {
namespace {

constexpr uint64_t ms = 1'000'000;
constexpr std::array<uint8_t, 4> a4 = {198, 18, 0, 2};

RateLimitConfig config(uint32_t rate, uint32_t burst = 0, uint32_t slip = 0, size_t table = 1024) {
    RateLimitConfig c;
    c.rate = rate;
    c.burst = burst;
    c.slip = slip;
    c.table_size = table;
    return c;
}

TEST(RateLimiter, DisabledPassesEverything) {
    RateLimiter r(config(0), 1);
    EXPECT_FALSE(r.enabled());
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(r.check_v4(a4, 0), RateDecision::pass);
    EXPECT_EQ(r.counters().passed, 1000u);
}

TEST(RateLimiter, BurstThenRate) {
    RateLimiter r(config(10, 5), 1);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(r.check_v4(a4, 0), RateDecision::pass) << i;
    EXPECT_EQ(r.check_v4(a4, 0), RateDecision::drop);
    EXPECT_EQ(r.check_v4(a4, 99 * ms), RateDecision::drop);
    EXPECT_EQ(r.check_v4(a4, 100 * ms), RateDecision::pass) << "one token back after 1/rate";
    EXPECT_EQ(r.check_v4(a4, 100 * ms), RateDecision::drop);
    // After a long pause the bucket is full again, but never more than the burst.
    for (int i = 0; i < 5; ++i) EXPECT_EQ(r.check_v4(a4, 10'000 * ms), RateDecision::pass);
    EXPECT_EQ(r.check_v4(a4, 10'000 * ms), RateDecision::drop);
}

TEST(RateLimiter, SustainedFloodGetsTheRate) {
    RateLimiter r(config(20), 7);
    unsigned passed = 0;
    for (uint64_t t = 0; t < 10'000 * ms; t += ms) passed += r.check_v4(a4, t) == RateDecision::pass;  // 1000/s
    // 20 at once, then 20 per second for the rest of the 10 s.
    EXPECT_GE(passed, 20u + 199u);
    EXPECT_LE(passed, 20u + 200u);
    EXPECT_EQ(r.counters().passed, passed);
    EXPECT_EQ(r.counters().dropped, 10'000u - passed);
}

TEST(RateLimiter, SlipEveryNthLimitedQuery) {
    RateLimiter r(config(1, 1, 3), 1);
    EXPECT_EQ(r.check_v4(a4, 0), RateDecision::pass);
    EXPECT_EQ(r.check_v4(a4, 0), RateDecision::drop);
    EXPECT_EQ(r.check_v4(a4, 0), RateDecision::drop);
    EXPECT_EQ(r.check_v4(a4, 0), RateDecision::slip);
    EXPECT_EQ(r.check_v4(a4, 0), RateDecision::drop);
    EXPECT_EQ(r.check_v4(a4, 0), RateDecision::drop);
    EXPECT_EQ(r.check_v4(a4, 0), RateDecision::slip);
    EXPECT_EQ(r.counters().slipped, 2u);
    EXPECT_EQ(r.counters().dropped, 4u);
}

TEST(RateLimiter, Ipv6SourcesShareTheirSlash64) {
    RateLimiter r(config(1, 1), 1);
    std::array<uint8_t, 16> a = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2};
    std::array<uint8_t, 16> same64 = a;
    same64[15] = 99;
    same64[8] = 0xAB;
    std::array<uint8_t, 16> other64 = a;
    other64[7] = 2;
    EXPECT_EQ(r.check_v6(a, 0), RateDecision::pass);
    EXPECT_EQ(r.check_v6(same64, 0), RateDecision::drop);
    EXPECT_EQ(r.check_v6(other64, 0), RateDecision::pass);
}

TEST(RateLimiter, FamiliesAreDistinct) {
    RateLimiter r(config(1, 1), 1);
    std::array<uint8_t, 16> zero6{};
    std::array<uint8_t, 4> zero4{};
    EXPECT_EQ(r.check_v4(zero4, 0), RateDecision::pass);
    EXPECT_EQ(r.check_v6(zero6, 0), RateDecision::pass);
    EXPECT_EQ(r.check_v4(zero4, 0), RateDecision::drop);
}

TEST(RateLimiter, TableIsBoundedAndEvictionsAreCounted) {
    RateLimiter r(config(10, 10, 0, 16), 42);
    EXPECT_EQ(r.capacity(), 16u);
    for (uint32_t i = 0; i < 1000; ++i) {
        const std::array<uint8_t, 4> a = {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8),
                                          static_cast<uint8_t>(i)};
        EXPECT_EQ(r.check_v4(a, 0), RateDecision::pass);
    }
    EXPECT_LE(r.tracked(0), r.capacity());
    EXPECT_EQ(r.counters().evictions, 1000u - r.tracked(0));
    // Once their buckets have refilled, slots are reused without eviction.
    const uint64_t before = r.counters().evictions;
    for (uint32_t i = 0; i < 1000; ++i) {
        const std::array<uint8_t, 4> a = {11, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
        r.check_v4(a, 10'000 * ms + i);
        if (i < 4) {
            EXPECT_EQ(r.counters().evictions, before);
        }
    }
}

TEST(RateLimiter, SetsDependOnTheSeed) {
    // With different seeds the same sources collide differently: the table is not aimable.
    RateLimiter a(config(10, 10, 0, 16), 1), b(config(10, 10, 0, 16), 2);
    for (uint32_t i = 0; i < 64; ++i) {
        const std::array<uint8_t, 4> s = {10, 0, 0, static_cast<uint8_t>(i)};
        a.check_v4(s, 0);
        b.check_v4(s, 0);
    }
    std::array<bool, 64> kept_a{}, kept_b{};
    for (uint32_t i = 0; i < 64; ++i) {
        const std::array<uint8_t, 4> s = {10, 0, 0, static_cast<uint8_t>(i)};
        // A remembered source has one token spent; a forgotten one gets a full bucket back.
        RateLimiter* rl[2] = {&a, &b};
        std::array<bool, 64>* kept[2] = {&kept_a, &kept_b};
        for (int k = 0; k < 2; ++k) {
            int passes = 0;
            for (int j = 0; j < 10; ++j) passes += rl[k]->check_v4(s, 0) == RateDecision::pass;
            (*kept[k])[i] = passes == 9;
        }
    }
    EXPECT_NE(kept_a, kept_b);
}

}  // namespace
}  // namespace frag53::probe
