#include "prober/responder/fragment.h"

#include <gtest/gtest.h>

#include <vector>

namespace frag53::probe {
namespace {

std::vector<std::byte> payload_of(size_t n) {
    std::vector<std::byte> p(n);
    for (size_t i = 0; i < n; ++i) p[i] = std::byte((i * 7 + 3) & 0xFF);
    return p;
}

unsigned be16(Bytes b, size_t at) {
    return (static_cast<unsigned>(b[at]) << 8) | static_cast<unsigned>(b[at + 1]);
}
uint32_t be32(Bytes b, size_t at) {
    return (uint32_t{be16(b, at)} << 16) | be16(b, at + 2);
}

UdpEndpoints4 endpoints4() {
    UdpEndpoints4 e;
    e.src = {198, 18, 0, 1};
    e.dst = {198, 18, 1, 2};
    e.sport = 53;
    e.dport = 40000;
    return e;
}
UdpEndpoints6 endpoints6() {
    UdpEndpoints6 e;
    e.src = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    e.dst = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2};
    e.sport = 5353;
    e.dport = 12345;
    return e;
}

TEST(Checksum, Rfc1071Example) {
    const std::vector<uint8_t> d = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    // RFC 1071 §3: the one's complement sum is 0xddf2.
    EXPECT_EQ(checksum_fold(checksum_add(0, as_bytes(d.data(), d.size()))), 0x220d);
    // Odd length: the last byte is the high half of a word.
    const std::vector<uint8_t> odd = {0x01};
    EXPECT_EQ(checksum_fold(checksum_add(0, as_bytes(odd.data(), odd.size()))), 0xFEFF);
}

// Checks every IPv4 packet and returns the reassembled datagram.
std::vector<std::byte> reassemble_v4(std::span<const Bytes> packets, size_t mtu, uint16_t id) {
    std::vector<std::byte> dg;
    for (size_t i = 0; i < packets.size(); ++i) {
        const Bytes p = packets[i];
        EXPECT_LE(p.size(), mtu);
        EXPECT_EQ(static_cast<unsigned>(p[0]), 0x45u);
        EXPECT_EQ(be16(p, 2), p.size()) << "total length";
        EXPECT_EQ(be16(p, 4), id);
        const unsigned frag = be16(p, 6);
        EXPECT_EQ(frag & 0x4000, 0u) << "DF must be clear";
        const bool last = i + 1 == packets.size();
        EXPECT_EQ((frag & 0x2000) != 0, !last) << "MF on all but the last";
        EXPECT_EQ((frag & 0x1FFF) * 8u, dg.size()) << "offsets are contiguous, in 8-byte units";
        EXPECT_EQ(static_cast<unsigned>(p[9]), 17u);
        EXPECT_EQ(checksum_fold(checksum_add(0, p.first(20))), 0) << "header checksum verifies";
        if (!last) {
            EXPECT_EQ((p.size() - 20) % 8, 0u);
            EXPECT_EQ(p.size() - 20, (mtu - 20) / 8 * 8) << "non-last fragments are as big as the MTU allows";
        }
        dg.insert(dg.end(), p.begin() + 20, p.end());
    }
    return dg;
}

TEST(FragmentBuilder, Ipv4FragmentsReassembleToTheDatagram) {
    FragmentBuilder b;
    const UdpEndpoints4 e = endpoints4();
    for (size_t mtu : {68u, 576u, 1280u, 1500u}) {
        for (size_t n : {1u, 547u, 548u, 549u, 1232u, 1452u, 1453u, 3000u, 65507u}) {
            const std::vector<std::byte> payload = payload_of(n);
            ASSERT_EQ(b.build_v4(e, 0xBEEF, 64, payload, mtu), FragmentStatus::ok);
            const size_t total = 20 + 8 + n;
            const size_t per = (mtu - 20) / 8 * 8;
            EXPECT_EQ(b.packets().size(), total <= mtu ? 1 : (8 + n + per - 1) / per) << mtu << " " << n;
            const std::vector<std::byte> dg = reassemble_v4(b.packets(), mtu, 0xBEEF);
            ASSERT_EQ(dg.size(), 8 + n);
            EXPECT_EQ(be16(dg, 0), 53u);
            EXPECT_EQ(be16(dg, 2), 40000u);
            EXPECT_EQ(be16(dg, 4), 8 + n);
            EXPECT_TRUE(std::equal(dg.begin() + 8, dg.end(), payload.begin()));
            // The checksum covers the whole datagram: recomputing over it (checksum included)
            // with the pseudo-header gives zero.
            std::vector<std::byte> pseudo = {std::byte{198}, std::byte{18}, std::byte{0}, std::byte{1},
                                             std::byte{198}, std::byte{18}, std::byte{1}, std::byte{2},
                                             std::byte{0}, std::byte{17}, std::byte((dg.size() >> 8) & 0xFF),
                                             std::byte(dg.size() & 0xFF)};
            EXPECT_EQ(checksum_fold(checksum_add(checksum_add(0, pseudo), dg)), 0);
            EXPECT_NE(be16(dg, 6), 0u);
        }
    }
}

TEST(FragmentBuilder, Ipv4SingleFragmentHasNoMoreFlag) {
    FragmentBuilder b;
    const std::vector<std::byte> payload = payload_of(100);
    ASSERT_EQ(b.build_v4(endpoints4(), 1, 64, payload, 1500), FragmentStatus::ok);
    ASSERT_EQ(b.packets().size(), 1u);
    EXPECT_EQ(be16(b.packets()[0], 6), 0u);
    EXPECT_EQ(b.packets()[0].size(), 128u);
}

TEST(FragmentBuilder, Ipv4RejectsBadSizes) {
    FragmentBuilder b;
    const std::vector<std::byte> payload = payload_of(65508);
    EXPECT_EQ(b.build_v4(endpoints4(), 1, 64, payload, 1500), FragmentStatus::payload_too_large);
    EXPECT_TRUE(b.packets().empty());
    EXPECT_EQ(b.build_v4(endpoints4(), 1, 64, Bytes(payload).first(100), 67), FragmentStatus::mtu_too_small);
}

std::vector<std::byte> reassemble_v6(std::span<const Bytes> packets, size_t mtu, uint32_t id) {
    std::vector<std::byte> dg;
    for (size_t i = 0; i < packets.size(); ++i) {
        const Bytes p = packets[i];
        EXPECT_LE(p.size(), mtu);
        EXPECT_EQ(static_cast<unsigned>(p[0]) >> 4, 6u);
        EXPECT_EQ(be16(p, 4), p.size() - 40) << "payload length";
        EXPECT_EQ(static_cast<unsigned>(p[6]), 44u) << "next header: Fragment";
        EXPECT_EQ(static_cast<unsigned>(p[40]), 17u) << "Fragment header's next header: UDP";
        const unsigned off = be16(p, 42);
        const bool last = i + 1 == packets.size();
        EXPECT_EQ((off & 1) != 0, !last) << "M on all but the last";
        EXPECT_EQ(off & 0xFFF8, dg.size());
        EXPECT_EQ(be32(p, 44), id);
        if (!last) {
            EXPECT_EQ(p.size() - 48, (mtu - 48) / 8 * 8);
        }
        dg.insert(dg.end(), p.begin() + 48, p.end());
    }
    return dg;
}

TEST(FragmentBuilder, Ipv6FragmentsReassembleToTheDatagram) {
    FragmentBuilder b;
    const UdpEndpoints6 e = endpoints6();
    for (size_t mtu : {1280u, 1400u, 1500u, 9000u}) {
        for (size_t n : {1233u, 1500u, 4000u, 65527u}) {
            const std::vector<std::byte> payload = payload_of(n);
            ASSERT_EQ(b.build_v6(e, 0xA1B2C3D4, 64, payload, mtu), FragmentStatus::ok);
            if (40 + 8 + n <= mtu) continue;
            ASSERT_GT(b.packets().size(), 1u);
            const std::vector<std::byte> dg = reassemble_v6(b.packets(), mtu, 0xA1B2C3D4);
            ASSERT_EQ(dg.size(), 8 + n);
            EXPECT_EQ(be16(dg, 0), 5353u);
            EXPECT_EQ(be16(dg, 4), 8 + n);
            EXPECT_TRUE(std::equal(dg.begin() + 8, dg.end(), payload.begin()));
            std::vector<std::byte> pseudo(40);
            for (size_t i = 0; i < 16; ++i) {
                pseudo[i] = std::byte{e.src[i]};
                pseudo[16 + i] = std::byte{e.dst[i]};
            }
            pseudo[34] = std::byte((dg.size() >> 8) & 0xFF);
            pseudo[35] = std::byte(dg.size() & 0xFF);
            pseudo[39] = std::byte{17};
            EXPECT_EQ(checksum_fold(checksum_add(checksum_add(0, pseudo), dg)), 0);
        }
    }
}

TEST(FragmentBuilder, Ipv6DatagramThatFitsIsSentWholeWithoutFragmentHeader) {
    FragmentBuilder b;
    const std::vector<std::byte> payload = payload_of(1232);
    ASSERT_EQ(b.build_v6(endpoints6(), 7, 64, payload, 1280), FragmentStatus::ok);
    ASSERT_EQ(b.packets().size(), 1u);
    const Bytes p = b.packets()[0];
    EXPECT_EQ(p.size(), 1280u);
    EXPECT_EQ(static_cast<unsigned>(p[6]), 17u);
    EXPECT_EQ(be16(p, 4), 1240u);
}

TEST(FragmentBuilder, Ipv6RejectsBadSizes) {
    FragmentBuilder b;
    const std::vector<std::byte> payload = payload_of(65528);
    EXPECT_EQ(b.build_v6(endpoints6(), 1, 64, payload, 1500), FragmentStatus::payload_too_large);
    EXPECT_EQ(b.build_v6(endpoints6(), 1, 64, Bytes(payload).first(2000), 1279), FragmentStatus::mtu_too_small);
    EXPECT_TRUE(b.packets().empty());
}

}  // namespace
}  // namespace frag53::probe
