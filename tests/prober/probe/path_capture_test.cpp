// Attribution of captured packets to probe attempts (no libpcap: decoded packets by hand).
#include "prober/probe/path_capture.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace frag53::probe {
namespace {

IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    const std::array<std::byte, 4> x{std::byte{a}, std::byte{b}, std::byte{c}, std::byte{d}};
    return IpAddress::v4(x.data());
}

const IpAddress server = v4(198, 18, 0, 1);
const IpAddress self = v4(198, 18, 1, 2);
const IpAddress router = v4(198, 18, 1, 1);

DecodedPacket fragment(uint32_t id, uint16_t offset, bool more, uint16_t len, uint16_t dport) {
    DecodedPacket p;
    p.ip_version = 4;
    p.src = server;
    p.dst = self;
    p.ip_length = len;
    p.is_fragment = true;
    p.more_fragments = more;
    p.frag_offset = offset;
    p.frag_id = id;
    if (offset == 0) {
        p.transport = Transport::udp;
        p.sport = 53;
        p.dport = dport;
    }
    return p;
}

TEST(ArrivalTable, FirstAndNonFirstFragmentsJoinByIdentification) {
    ArrivalTable t(server, self);
    // The non-first fragment comes first (reordering): it joins once the first one is seen.
    t.add(fragment(7, 1480, false, 600, 0));
    t.add(fragment(7, 0, true, 1500, 40000));
    t.add(fragment(8, 0, true, 1500, 40001));  // its second fragment never arrives
    ArrivalSeen a = t.seen(40000);
    EXPECT_EQ(a.first_fragments, 1);
    EXPECT_EQ(a.nonfirst_fragments, 1);
    EXPECT_EQ(a.max_fragment_ip_len, 1500);
    ArrivalSeen b = t.seen(40001);
    EXPECT_EQ(b.first_fragments, 1);
    EXPECT_EQ(b.nonfirst_fragments, 0);
    EXPECT_EQ(t.facts().largest_ip_from_server, 1500u);
    EXPECT_EQ(t.seen(40002).first_fragments, 0);
}

TEST(ArrivalTable, WholeAnswersAndOtherHosts) {
    ArrivalTable t(server, self);
    DecodedPacket p;
    p.ip_version = 4;
    p.src = server;
    p.dst = self;
    p.transport = Transport::udp;
    p.dport = 41000;
    p.ip_length = 1280;
    t.add(p);
    EXPECT_EQ(t.seen(41000).whole_ip_len, 1280);
    p.src = router;  // not from the server: ignored
    p.ip_length = 1400;
    t.add(p);
    EXPECT_EQ(t.seen(41000).whole_ip_len, 1280);
    EXPECT_EQ(t.facts().largest_ip_from_server, 1280u);
    t.claim(41000);
    EXPECT_EQ(t.seen(41000).whole_ip_len, 0);
}

TEST(ArrivalTable, IcmpFragmentationNeededQuotingOurQuery) {
    ArrivalTable t(server, self);
    // The quoted packet: an IPv4 header from self to server (UDP, 20 bytes + 8 of UDP).
    std::vector<std::byte> q(28);
    const uint8_t hdr[20] = {0x45, 0, 0x05, 0xdc, 0, 1, 0x40, 0, 64, 17, 0, 0,
                             198, 18, 1, 2, 198, 18, 0, 1};
    for (int i = 0; i < 20; ++i) q[i] = std::byte{hdr[i]};
    DecodedPacket p;
    p.ip_version = 4;
    p.src = router;
    p.dst = self;
    p.transport = Transport::icmp4;
    p.icmp_type = 3;
    p.icmp_code = 4;
    p.icmp_mtu = 1280;
    p.icmp_quoted = q;
    t.add(p);
    EXPECT_EQ(t.facts().icmp_errors, 1u);
    EXPECT_EQ(t.facts().icmp_mtu, 1280u);
    EXPECT_EQ(t.facts().icmp_mtu_from, "198.18.1.1");
    EXPECT_NE(t.facts().icmp_error_example.find("fragmentation needed"), std::string::npos);

    // An ICMP error about somebody else's packet is not ours.
    q[15] = std::byte{9};
    p.icmp_quoted = q;
    t.add(p);
    EXPECT_EQ(t.facts().icmp_errors, 1u);
    // Nor is an error without a quoted packet.
    p.icmp_quoted = {};
    t.add(p);
    EXPECT_EQ(t.facts().icmp_errors, 1u);
}

TEST(ArrivalTable, BoundedFragmentSets) {
    ArrivalTable t(server, self);
    for (uint32_t id = 0; id < ArrivalTable::max_fragment_sets + 10; ++id)
        t.add(fragment(id, 1480, false, 600, 0));
    EXPECT_GT(t.fragment_sets_evicted(), 0u);
}

}  // namespace
}  // namespace frag53::probe
