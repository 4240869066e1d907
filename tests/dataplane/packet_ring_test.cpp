#include "dataplane/packet_ring.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace frag53 {
namespace {

std::vector<std::byte> payload(uint64_t frame, size_t n) {
    std::vector<std::byte> b(n);
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((frame * 131 + i) & 0xff);
    return b;
}

PacketView view(const std::vector<std::byte>& b, uint64_t frame) {
    PacketView v;
    v.data = Bytes{b.data(), b.size()};
    v.frame = frame;
    v.ts_ns = frame * 1000;
    v.wire_len = static_cast<uint32_t>(b.size());
    return v;
}

TEST(PacketRing, FindsRecentPacketsWithTheirBytes) {
    PacketRing ring(4096, 64);
    for (uint64_t f = 1; f <= 10; ++f) {
        auto b = payload(f, 100);
        ring.push(view(b, f));
    }
    for (uint64_t f = 1; f <= 10; ++f) {
        PacketView v;
        ASSERT_TRUE(ring.find(f, v)) << f;
        auto want = payload(f, 100);
        ASSERT_EQ(v.data.size(), want.size());
        EXPECT_TRUE(std::equal(want.begin(), want.end(), v.data.begin()));
        EXPECT_EQ(v.ts_ns, f * 1000);
    }
    PacketView v;
    EXPECT_FALSE(ring.find(11, v));
    EXPECT_EQ(ring.evicted(), 0u);
}

class PacketRingSizes : public ::testing::TestWithParam<std::pair<size_t, size_t>> {};

TEST_P(PacketRingSizes, OldPacketsGiveWayAndAreCounted) {
    PacketRing ring(GetParam().first, GetParam().second);
    std::mt19937 rng(static_cast<unsigned>(GetParam().first));
    std::uniform_int_distribution<size_t> size(1, 300);
    std::vector<size_t> sizes;
    for (uint64_t f = 1; f <= 2000; ++f) {
        sizes.push_back(size(rng));
        auto b = payload(f, sizes.back());
        ring.push(view(b, f));
        // Every packet the ring still reports holds exactly its own bytes (no overlap).
        if (f % 13 == 0) {
            size_t held = 0;
            for (uint64_t g = 1; g <= f; ++g) {
                PacketView v;
                if (!ring.find(g, v)) continue;
                ++held;
                auto want = payload(g, sizes[g - 1]);
                ASSERT_TRUE(std::equal(want.begin(), want.end(), v.data.begin())) << g;
            }
            EXPECT_EQ(held, ring.size());
            PacketView last;
            EXPECT_TRUE(ring.find(f, last));  // the newest is always there
        }
    }
    EXPECT_GT(ring.evicted(), 0u);
    EXPECT_EQ(ring.evicted() + ring.size(), 2000u);
}
INSTANTIATE_TEST_SUITE_P(ArenaAndCount, PacketRingSizes,
                         ::testing::Values(std::make_pair(1000, 1000), std::make_pair(777, 1000),
                                           std::make_pair(4096, 1000), std::make_pair(100000, 7)));

TEST(PacketRing, CountCapAndOversizedPackets) {
    PacketRing ring(1 << 20, 4);
    for (uint64_t f = 1; f <= 10; ++f) {
        auto b = payload(f, 10);
        ring.push(view(b, f));
    }
    EXPECT_EQ(ring.size(), 4u);
    EXPECT_EQ(ring.evicted(), 6u);
    PacketView v;
    EXPECT_FALSE(ring.find(6, v));
    EXPECT_TRUE(ring.find(7, v));
    PacketRing small(16, 4);
    auto big = payload(1, 17);
    small.push(view(big, 1));
    EXPECT_EQ(small.too_big(), 1u);
    EXPECT_EQ(small.size(), 0u);
}

}  // namespace
}  // namespace frag53
