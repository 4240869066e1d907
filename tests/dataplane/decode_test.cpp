#include "dataplane/decode.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <random>
#include <vector>

namespace frag53 {
namespace {

// Frames are written byte by byte, in network order unless a test says otherwise.
struct Buf {
    std::vector<uint8_t> b;

    Buf& u8(unsigned v) {
        b.push_back(static_cast<uint8_t>(v));
        return *this;
    }
    Buf& u16(unsigned v) { return u8(v >> 8).u8(v); }
    Buf& u32(uint32_t v) { return u16(v >> 16).u16(v & 0xffff); }
    Buf& u32le(uint32_t v) { return u8(v).u8(v >> 8).u8(v >> 16).u8(v >> 24); }
    Buf& fill(size_t n, unsigned v = 0) {
        b.insert(b.end(), n, static_cast<uint8_t>(v));
        return *this;
    }
    Buf& raw(std::initializer_list<unsigned> bytes) {
        for (unsigned v : bytes) u8(v);
        return *this;
    }
    Buf& append(const Buf& o) {
        b.insert(b.end(), o.b.begin(), o.b.end());
        return *this;
    }
    size_t size() const { return b.size(); }
    Bytes bytes() const { return as_bytes(b.data(), b.size()); }
};

constexpr uint8_t kUdp = 17, kTcp = 6, kIcmp4 = 1, kIcmp6 = 58;

Buf udp(uint16_t sport, uint16_t dport, size_t payload_len, int length_field = -1) {
    Buf u;
    const size_t len = length_field >= 0 ? static_cast<size_t>(length_field) : 8 + payload_len;
    u.u16(sport).u16(dport).u16(static_cast<unsigned>(len)).u16(0);
    for (size_t i = 0; i < payload_len; ++i) u.u8(static_cast<unsigned>(0xa0 + i));
    return u;
}

Buf tcp(uint16_t sport, uint16_t dport, unsigned data_offset, size_t options_len,
        size_t payload_len) {
    Buf t;
    t.u16(sport).u16(dport).u32(0x11223344).u32(0x55667788);
    t.u16((data_offset << 12) | 0x18);  // PSH|ACK
    t.u16(0xfaf0).u16(0).u16(0);
    t.fill(options_len, 0x01);  // NOPs
    t.fill(payload_len, 0x5a);
    return t;
}

struct Ipv4Opts {
    unsigned ihl = 5;
    int total_len = -1;  // -1: header + payload
    unsigned flags_offset = 0;
    uint16_t id = 0x1234;
    size_t options = 0;  // bytes of options actually written (NOPs)
    unsigned version = 4;
};

Buf ipv4(uint8_t proto, const Buf& payload, Ipv4Opts o = {}) {
    Buf ip;
    const size_t total = o.total_len >= 0 ? static_cast<size_t>(o.total_len)
                                          : 20 + o.options + payload.size();
    ip.u8((o.version << 4) | o.ihl).u8(0).u16(static_cast<unsigned>(total));
    ip.u16(o.id).u16(o.flags_offset).u8(64).u8(proto).u16(0);
    ip.raw({192, 0, 2, 1}).raw({198, 51, 100, 7});
    ip.fill(o.options, 0x01);
    return ip.append(payload);
}

Buf ipv6_fixed(uint8_t next, size_t payload_len) {
    Buf ip;
    ip.u32(0x60000000).u16(static_cast<unsigned>(payload_len)).u8(next).u8(57);
    ip.raw({0x20, 0x01, 0x0d, 0xb8}).fill(11).u8(1);
    ip.raw({0x20, 0x01, 0x0d, 0xb8}).fill(11).u8(2);
    return ip;
}

Buf ipv6(uint8_t next, const Buf& rest, int payload_len = -1) {
    const size_t len = payload_len >= 0 ? static_cast<size_t>(payload_len) : rest.size();
    return ipv6_fixed(next, len).append(rest);
}

// Hop-by-hop / routing / destination options header of (len_field + 1) * 8 bytes.
Buf ext(uint8_t next, unsigned len_field) {
    Buf e;
    e.u8(next).u8(len_field).fill((len_field + 1) * 8 - 2, 0);
    return e;
}

Buf frag6(uint8_t next, unsigned offset_bytes, bool more, uint32_t id) {
    Buf f;
    f.u8(next).u8(0).u16(offset_bytes | (more ? 1u : 0u)).u32(id);
    return f;
}

Buf ether(uint16_t ethertype, const Buf& payload, std::initializer_list<unsigned> tags = {}) {
    Buf e;
    e.raw({0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2});
    for (unsigned tpid : tags) e.u16(tpid).u16(0x0064);
    e.u16(ethertype);
    return e.append(payload);
}

DecodedPacket decode(uint16_t link, const Buf& frame, uint32_t wire_len = 0) {
    PacketView v;
    v.data = frame.bytes();
    v.wire_len = wire_len != 0 ? wire_len : static_cast<uint32_t>(frame.size());
    v.link_type = link;
    DecodedPacket d;
    decode_frame(v, d);
    return d;
}

constexpr uint16_t kEth = 1;

Buf udp4_frame(size_t payload_len = 12) {
    return ether(0x0800, ipv4(kUdp, udp(40000, 53, payload_len)));
}

// ---- Link layers -----------------------------------------------------------------------------

TEST(DecodeEthernet, Ipv4Udp) {
    const Buf f = udp4_frame(12);
    const DecodedPacket d = decode(kEth, f);
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.l3_offset, 14u);
    EXPECT_EQ(d.ip_version, 4);
    EXPECT_EQ(d.ip_proto, kUdp);
    EXPECT_EQ(d.ttl, 64);
    EXPECT_EQ(d.src.to_string(), "192.0.2.1");
    EXPECT_EQ(d.dst.to_string(), "198.51.100.7");
    EXPECT_EQ(d.transport, Transport::udp);
    EXPECT_EQ(d.sport, 40000);
    EXPECT_EQ(d.dport, 53);
    EXPECT_EQ(d.udp_length, 20);
    EXPECT_FALSE(d.udp_length_mismatch);
    ASSERT_EQ(d.payload.size(), 12u);
    EXPECT_EQ(d.payload_wire_len, 12u);
    EXPECT_EQ(static_cast<uint8_t>(d.payload[0]), 0xa0);
    EXPECT_EQ(d.ip_header.size(), 20u);
    EXPECT_EQ(d.l3_payload.size(), 20u);
    EXPECT_FALSE(d.is_fragment);
    EXPECT_FALSE(d.snap_truncated);
}

TEST(DecodeEthernet, FrameShorterThanHeaderIsTruncatedL2) {
    Buf f;
    f.fill(10, 0xff);
    EXPECT_EQ(decode(kEth, f).status, DecodeStatus::truncated_l2);
    EXPECT_FALSE(decode(kEth, f).snap_truncated);
    EXPECT_TRUE(decode(kEth, f, 60).snap_truncated);
}

TEST(DecodeEthernet, ArpIsNotIp) {
    Buf arp;
    arp.fill(28, 0x01);
    const DecodedPacket d = decode(kEth, ether(0x0806, arp));
    EXPECT_EQ(d.status, DecodeStatus::not_ip);
    EXPECT_EQ(d.ip_version, 0);
}

TEST(DecodeEthernet, Llc8023LengthFieldIsNotIp) {
    Buf llc;
    llc.raw({0x42, 0x42, 0x03}).fill(40);
    EXPECT_EQ(decode(kEth, ether(43, llc)).status, DecodeStatus::not_ip);
}

TEST(DecodeEthernet, EthertypeSaysIpv4ButPacketIsIpv6) {
    const Buf f = ether(0x0800, ipv6(kUdp, udp(1, 53, 4)));
    EXPECT_EQ(decode(kEth, f).status, DecodeStatus::bad_ip);
}

TEST(DecodeVlan, Single8021Q) {
    const DecodedPacket d = decode(kEth, ether(0x0800, ipv4(kUdp, udp(1, 53, 4)), {0x8100}));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.vlan_depth, 1);
    EXPECT_EQ(d.l3_offset, 18u);
    EXPECT_EQ(d.dport, 53);
}

TEST(DecodeVlan, QinQ8021adThen8021Q) {
    const DecodedPacket d =
        decode(kEth, ether(0x86dd, ipv6(kUdp, udp(1, 53, 4)), {0x88a8, 0x8100}));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.vlan_depth, 2);
    EXPECT_EQ(d.l3_offset, 22u);
    EXPECT_EQ(d.ip_version, 6);
}

TEST(DecodeVlan, LegacyQinQThreeTags) {
    const DecodedPacket d =
        decode(kEth, ether(0x0800, ipv4(kUdp, udp(1, 53, 4)), {0x9100, 0x9100, 0x8100}));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.vlan_depth, 3);
    EXPECT_EQ(d.l3_offset, 26u);
}

TEST(DecodeVlan, TagCutShortIsTruncatedL2) {
    Buf f;
    f.raw({0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2}).u16(0x8100).u16(0x0064).u8(0x08);
    EXPECT_EQ(decode(kEth, f).status, DecodeStatus::truncated_l2);
}

TEST(DecodeVlan, TagsThenArpIsNotIp) {
    Buf arp;
    arp.fill(28);
    const DecodedPacket d = decode(kEth, ether(0x0806, arp, {0x88a8, 0x8100}));
    EXPECT_EQ(d.status, DecodeStatus::not_ip);
    EXPECT_EQ(d.vlan_depth, 2);
}

Buf sll(uint16_t protocol, const Buf& payload) {
    Buf s;
    s.u16(0).u16(1).u16(6).raw({2, 0, 0, 0, 0, 1, 0, 0}).u16(protocol);
    return s.append(payload);
}

Buf sll2(uint16_t protocol, const Buf& payload) {
    Buf s;
    s.u16(protocol).u16(0).u32(3).u16(1).u8(0).u8(6).raw({2, 0, 0, 0, 0, 1, 0, 0});
    return s.append(payload);
}

TEST(DecodeSll, Ipv4) {
    const DecodedPacket d = decode(113, sll(0x0800, ipv4(kUdp, udp(5353, 53, 3))));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.l3_offset, 16u);
    EXPECT_EQ(d.sport, 5353);
}

TEST(DecodeSll, CutHeaderAndNonIp) {
    Buf cut;
    cut.fill(15);
    EXPECT_EQ(decode(113, cut).status, DecodeStatus::truncated_l2);
    EXPECT_EQ(decode(113, sll(0x0004, Buf{}.fill(30))).status, DecodeStatus::not_ip);
}

TEST(DecodeSll2, Ipv6) {
    const DecodedPacket d = decode(276, sll2(0x86dd, ipv6(kUdp, udp(5353, 53, 3))));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.l3_offset, 20u);
    EXPECT_EQ(d.ip_version, 6);
    EXPECT_EQ(d.dst.to_string(), "2001:db8::2");
}

TEST(DecodeSll2, CutHeaderIsTruncatedL2) {
    Buf cut = sll2(0x0800, Buf{});
    cut.b.resize(19);
    EXPECT_EQ(decode(276, cut).status, DecodeStatus::truncated_l2);
}

TEST(DecodeSll2, VlanProtocolThenIpv4) {
    Buf inner;
    inner.u16(0x0064).u16(0x0800).append(ipv4(kUdp, udp(1, 53, 0)));
    const DecodedPacket d = decode(276, sll2(0x8100, inner));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.vlan_depth, 1);
    EXPECT_EQ(d.l3_offset, 24u);
}

TEST(DecodeNull, HostOrderBothByteOrders) {
    const Buf ip4 = ipv4(kUdp, udp(1, 53, 2));
    const DecodedPacket le = decode(0, Buf{}.u32le(2).append(ip4));
    const DecodedPacket be = decode(0, Buf{}.u32(2).append(ip4));
    ASSERT_EQ(le.status, DecodeStatus::ok);
    ASSERT_EQ(be.status, DecodeStatus::ok);
    EXPECT_EQ(le.l3_offset, 4u);
    EXPECT_EQ(be.dport, 53);
}

TEST(DecodeNull, EveryBsdInet6Value) {
    const Buf ip6 = ipv6(kUdp, udp(1, 53, 2));
    for (uint32_t family : {24u, 28u, 30u}) {
        EXPECT_EQ(decode(0, Buf{}.u32le(family).append(ip6)).ip_version, 6) << family;
        EXPECT_EQ(decode(0, Buf{}.u32(family).append(ip6)).ip_version, 6) << family;
    }
}

TEST(DecodeNull, UnknownFamilyAndShortHeader) {
    EXPECT_EQ(decode(0, Buf{}.u32le(7).append(ipv4(kUdp, udp(1, 53, 2)))).status,
              DecodeStatus::not_ip);
    EXPECT_EQ(decode(0, Buf{}.raw({2, 0, 0})).status, DecodeStatus::truncated_l2);
    // Family 2 over an IPv6 packet: the link layer and the packet disagree.
    EXPECT_EQ(decode(0, Buf{}.u32le(2).append(ipv6(kUdp, udp(1, 53, 2)))).status,
              DecodeStatus::bad_ip);
}

TEST(DecodeLoop, NetworkOrderFamily) {
    const DecodedPacket d = decode(108, Buf{}.u32(30).append(ipv6(kUdp, udp(1, 53, 2))));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.ip_version, 6);
    EXPECT_EQ(d.l3_offset, 4u);
}

TEST(DecodeRaw, EveryRawLinkType) {
    const Buf ip4 = ipv4(kUdp, udp(1, 53, 2));
    const Buf ip6 = ipv6(kUdp, udp(1, 53, 2));
    for (uint16_t link : {uint16_t{12}, uint16_t{14}, uint16_t{101}}) {
        EXPECT_EQ(decode(link, ip4).ip_version, 4) << link;
        EXPECT_EQ(decode(link, ip6).ip_version, 6) << link;
        EXPECT_EQ(decode(link, ip6).l3_offset, 0u) << link;
    }
    EXPECT_EQ(decode(228, ip4).status, DecodeStatus::ok);
    EXPECT_EQ(decode(229, ip6).status, DecodeStatus::ok);
}

TEST(DecodeRaw, VersionDisagreesWithLinkType) {
    EXPECT_EQ(decode(228, ipv6(kUdp, udp(1, 53, 2))).status, DecodeStatus::bad_ip);
    EXPECT_EQ(decode(229, ipv4(kUdp, udp(1, 53, 2))).status, DecodeStatus::bad_ip);
    EXPECT_EQ(decode(101, Buf{}).status, DecodeStatus::truncated_l3);
}

TEST(DecodeLink, UnknownLinkTypeIsUnsupported) {
    const DecodedPacket d = decode(147, udp4_frame());
    EXPECT_EQ(d.status, DecodeStatus::unsupported_link);
    EXPECT_EQ(d.ip_version, 0);
}

TEST(DecodeLink, SupportedLinkTypes) {
    for (int dlt : {0, 1, 12, 14, 101, 108, 113, 228, 229, 276}) EXPECT_TRUE(link_type_supported(dlt));
    for (int dlt : {-1, 2, 105, 127, 147, 65535}) EXPECT_FALSE(link_type_supported(dlt));
}

// ---- IPv4 ------------------------------------------------------------------------------------

TEST(DecodeIpv4, OptionsAreSkipped) {
    Ipv4Opts o;
    o.ihl = 7;
    o.options = 8;
    const DecodedPacket d = decode(kEth, ether(0x0800, ipv4(kUdp, udp(1, 53, 5), o)));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.ip_header.size(), 28u);
    EXPECT_EQ(d.ip_length, 28u + 13u);
    EXPECT_EQ(d.dport, 53);
    EXPECT_EQ(d.payload.size(), 5u);
}

TEST(DecodeIpv4, IhlBelowFiveIsBadIp) {
    Ipv4Opts o;
    o.ihl = 4;
    const DecodedPacket d = decode(kEth, ether(0x0800, ipv4(kUdp, udp(1, 53, 5), o)));
    EXPECT_EQ(d.status, DecodeStatus::bad_ip);
    EXPECT_EQ(d.transport, Transport::none);
}

TEST(DecodeIpv4, WrongVersionIsBadIp) {
    Ipv4Opts o;
    o.version = 5;
    EXPECT_EQ(decode(101, ipv4(kUdp, udp(1, 53, 5), o)).status, DecodeStatus::bad_ip);
}

TEST(DecodeIpv4, TotalLengthBelowHeaderIsBadIp) {
    Ipv4Opts o;
    o.ihl = 6;
    o.options = 4;
    o.total_len = 22;
    const DecodedPacket d = decode(kEth, ether(0x0800, ipv4(kUdp, udp(1, 53, 5), o)));
    EXPECT_EQ(d.status, DecodeStatus::bad_ip);
    EXPECT_EQ(d.payload.size(), 0u);
}

TEST(DecodeIpv4, EthernetPaddingIsTrimmed) {
    Buf f = ether(0x0800, ipv4(kUdp, udp(1, 53, 2)));  // 14 + 30 bytes
    f.fill(60 - f.size(), 0xee);
    const DecodedPacket d = decode(kEth, f);
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.l3_payload.size(), 10u);
    EXPECT_EQ(d.payload.size(), 2u);
    EXPECT_FALSE(d.udp_length_mismatch);
    EXPECT_FALSE(d.snap_truncated);
}

TEST(DecodeIpv4, SnapLengthCut) {
    Buf f = udp4_frame(200);
    const uint32_t wire = static_cast<uint32_t>(f.size());
    f.b.resize(96);
    const DecodedPacket d = decode(kEth, f, wire);
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_TRUE(d.snap_truncated);
    EXPECT_EQ(d.ip_length, 228u);
    EXPECT_EQ(d.l3_payload_wire_len, 208u);
    EXPECT_EQ(d.l3_payload.size(), 96u - 34u);
    EXPECT_EQ(d.payload_wire_len, 200u);
    EXPECT_EQ(d.payload.size(), 96u - 42u);
    EXPECT_FALSE(d.udp_length_mismatch);
}

TEST(DecodeIpv4, SnapCutInsideOptions) {
    Ipv4Opts o;
    o.ihl = 15;
    o.options = 40;
    Buf f = ether(0x0800, ipv4(kUdp, udp(1, 53, 0), o));
    const uint32_t wire = static_cast<uint32_t>(f.size());
    f.b.resize(14 + 30);
    const DecodedPacket d = decode(kEth, f, wire);
    EXPECT_EQ(d.status, DecodeStatus::truncated_l3);
    EXPECT_TRUE(d.snap_truncated);
}

TEST(DecodeIpv4, CutInsideFixedHeader) {
    Buf f = udp4_frame();
    const uint32_t wire = static_cast<uint32_t>(f.size());
    f.b.resize(14 + 12);
    const DecodedPacket d = decode(kEth, f, wire);
    EXPECT_EQ(d.status, DecodeStatus::truncated_l3);
    EXPECT_TRUE(d.snap_truncated);
}

TEST(DecodeIpv4, FirstFragmentDecodesPorts) {
    Ipv4Opts o;
    o.flags_offset = 0x2000;  // MF
    o.id = 0xbeef;
    // UDP announces 1480 + 8 bytes; this fragment carries 8 + 100.
    const DecodedPacket d = decode(101, ipv4(kUdp, udp(53, 40000, 100, 1488), o));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_TRUE(d.is_fragment);
    EXPECT_TRUE(d.more_fragments);
    EXPECT_FALSE(d.has_frag_header);
    EXPECT_EQ(d.frag_id, 0xbeefu);
    EXPECT_EQ(d.frag_offset, 0);
    EXPECT_EQ(d.transport, Transport::udp);
    EXPECT_EQ(d.sport, 53);
    EXPECT_EQ(d.udp_length, 1488);
    EXPECT_FALSE(d.udp_length_mismatch);
    EXPECT_EQ(d.l3_payload.size(), 108u);
    EXPECT_EQ(d.payload.size(), 100u);
    EXPECT_EQ(d.payload_wire_len, 100u);
    EXPECT_FALSE(d.snap_truncated);
}

TEST(DecodeIpv4, LaterFragmentHasNoTransport) {
    Ipv4Opts o;
    o.flags_offset = 0x4000 | (1480 / 8);  // DF set here only to check the flag is read
    Buf data;
    data.fill(64, 0x33);
    const DecodedPacket d = decode(101, ipv4(kUdp, data, o));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_TRUE(d.is_fragment);
    EXPECT_FALSE(d.more_fragments);
    EXPECT_TRUE(d.dont_fragment);
    EXPECT_EQ(d.frag_offset, 1480);
    EXPECT_EQ(d.ip_proto, kUdp);
    EXPECT_EQ(d.transport, Transport::none);
    EXPECT_EQ(d.sport, 0);
    EXPECT_EQ(d.l3_payload.size(), 64u);
    EXPECT_EQ(d.l3_payload_wire_len, 64u);
    EXPECT_TRUE(d.payload.empty());
}

TEST(DecodeIpv4, TinyFirstFragmentWithoutWholeUdpHeader) {
    Ipv4Opts o;
    o.flags_offset = 0x2000;
    Buf part;
    part.u16(53).u16(40000);
    const DecodedPacket d = decode(101, ipv4(kUdp, part, o));
    EXPECT_EQ(d.status, DecodeStatus::ok);
    EXPECT_TRUE(d.is_fragment);
    EXPECT_EQ(d.transport, Transport::none);
    EXPECT_EQ(d.l3_payload.size(), 4u);
}

// ---- IPv6 ------------------------------------------------------------------------------------

TEST(DecodeIpv6, ExtensionChain) {
    Buf chain = ext(43, 0);           // hop-by-hop, 8 bytes
    chain.append(ext(60, 2));         // routing, 24 bytes
    chain.append(ext(kUdp, 0));       // destination options, 8 bytes
    chain.append(udp(1, 53, 7));
    const DecodedPacket d = decode(kEth, ether(0x86dd, ipv6(0, chain)));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.ip_proto, kUdp);
    EXPECT_EQ(d.ttl, 57);
    EXPECT_EQ(d.ip_header.size(), 40u + 8u + 24u + 8u);
    EXPECT_EQ(d.ip_length, 40u + 40u + 15u);
    EXPECT_EQ(d.l3_payload.size(), 15u);
    EXPECT_EQ(d.dport, 53);
    EXPECT_EQ(d.payload.size(), 7u);
    EXPECT_EQ(d.src.to_string(), "2001:db8::1");
}

TEST(DecodeIpv6, ChainRunsPastPayloadLength) {
    // Destination options announce 64 bytes; the payload length leaves 16 after the hop-by-hop
    // header, although the frame (padding) holds all of it.
    Buf chain = ext(60, 0);
    chain.append(ext(kUdp, 7)).append(udp(1, 53, 0));
    const DecodedPacket d = decode(229, ipv6(0, chain, 24));
    EXPECT_EQ(d.status, DecodeStatus::bad_ip);
    EXPECT_FALSE(d.snap_truncated);
    EXPECT_EQ(d.transport, Transport::none);

    // Same with the frame ending where the payload length says.
    Buf shortchain = ext(60, 0);
    shortchain.u8(kUdp).u8(7).fill(6);
    EXPECT_EQ(decode(229, ipv6(0, shortchain)).status, DecodeStatus::bad_ip);
}

TEST(DecodeIpv6, ChainCutByCapture) {
    Buf chain = ext(60, 0);
    chain.append(ext(kUdp, 3)).append(udp(1, 53, 4));
    Buf f = ipv6(0, chain);
    const uint32_t wire = static_cast<uint32_t>(f.size());
    f.b.resize(40 + 8 + 10);
    const DecodedPacket d = decode(229, f, wire);
    EXPECT_EQ(d.status, DecodeStatus::truncated_l3);
    EXPECT_TRUE(d.snap_truncated);
}

TEST(DecodeIpv6, ChainEndsInsideNextHeaderByte) {
    // Payload length 0 but hop-by-hop announced: nothing left for the extension header.
    const DecodedPacket d = decode(229, ipv6_fixed(0, 0));
    EXPECT_EQ(d.status, DecodeStatus::bad_ip);
}

TEST(DecodeIpv6, OverlongChainIsRejected) {
    Buf chain;
    for (int i = 0; i < 9; ++i) chain.append(ext(i < 8 ? 60 : kUdp, 0));
    chain.append(udp(1, 53, 0));
    const DecodedPacket d = decode(229, ipv6(60, chain));
    EXPECT_EQ(d.status, DecodeStatus::bad_ip);

    Buf eight;
    for (int i = 0; i < 8; ++i) eight.append(ext(i < 7 ? 60 : kUdp, 0));
    eight.append(udp(1, 53, 0));
    EXPECT_EQ(decode(229, ipv6(60, eight)).status, DecodeStatus::ok);
}

TEST(DecodeIpv6, AuthenticationHeaderIsSkipped) {
    Buf ah;
    ah.u8(kUdp).u8(4).u16(0).u32(0x100).u32(1).fill(12, 0xaa);  // (4 + 2) * 4 = 24 bytes
    ah.append(udp(1, 53, 3));
    const DecodedPacket d = decode(229, ipv6(51, ah));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.ip_header.size(), 64u);
    EXPECT_EQ(d.dport, 53);
}

TEST(DecodeIpv6, EspAndNoNextHeaderStopTheChain) {
    Buf esp;
    esp.u32(0x100).u32(1).fill(32, 0x77);
    const DecodedPacket e = decode(229, ipv6(50, esp));
    EXPECT_EQ(e.status, DecodeStatus::ok);
    EXPECT_EQ(e.ip_proto, 50);
    EXPECT_EQ(e.transport, Transport::other);
    EXPECT_EQ(e.sport, 0);

    const DecodedPacket n = decode(229, ipv6(60, ext(59, 0)));
    EXPECT_EQ(n.status, DecodeStatus::ok);
    EXPECT_EQ(n.ip_proto, 59);
    EXPECT_EQ(n.transport, Transport::none);
}

TEST(DecodeIpv6, PaddingTrimmedAndSnapCut) {
    Buf f = ether(0x86dd, ipv6(kUdp, udp(1, 53, 4)));
    f.fill(8, 0xee);
    const DecodedPacket padded = decode(kEth, f);
    EXPECT_EQ(padded.payload.size(), 4u);
    EXPECT_FALSE(padded.snap_truncated);

    Buf big = ipv6(kUdp, udp(1, 53, 300));
    const uint32_t wire = static_cast<uint32_t>(big.size());
    big.b.resize(100);
    const DecodedPacket cut = decode(229, big, wire);
    EXPECT_EQ(cut.status, DecodeStatus::ok);
    EXPECT_TRUE(cut.snap_truncated);
    EXPECT_EQ(cut.payload_wire_len, 300u);
    EXPECT_EQ(cut.payload.size(), 100u - 48u);
}

TEST(DecodeIpv6, FirstFragment) {
    Buf rest = frag6(kUdp, 0, true, 0xcafe0001);
    rest.append(udp(53, 40000, 40, 1400));
    const DecodedPacket d = decode(229, ipv6(60, ext(44, 0).append(rest)));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_TRUE(d.is_fragment);
    EXPECT_TRUE(d.has_frag_header);
    EXPECT_TRUE(d.more_fragments);
    EXPECT_EQ(d.frag_offset, 0);
    EXPECT_EQ(d.frag_id, 0xcafe0001u);
    EXPECT_EQ(d.frag_next_header, kUdp);
    EXPECT_EQ(d.ip_header.size(), 48u);  // fixed + destination options, not the fragment header
    EXPECT_EQ(d.l3_payload.size(), 48u);  // fragment data: UDP header + 40
    EXPECT_EQ(d.transport, Transport::udp);
    EXPECT_EQ(d.sport, 53);
    EXPECT_EQ(d.udp_length, 1400);
    EXPECT_FALSE(d.udp_length_mismatch);
    EXPECT_EQ(d.payload.size(), 40u);
    EXPECT_EQ(d.payload_wire_len, 40u);
}

TEST(DecodeIpv6, MiddleFragment) {
    Buf rest = frag6(kUdp, 1232, true, 7);
    rest.fill(1232, 0x44);
    const DecodedPacket d = decode(229, ipv6(44, rest));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_TRUE(d.is_fragment);
    EXPECT_EQ(d.frag_offset, 1232);
    EXPECT_EQ(d.ip_proto, kUdp);
    EXPECT_EQ(d.transport, Transport::none);
    EXPECT_EQ(d.ip_header.size(), 40u);
    EXPECT_EQ(d.l3_payload.size(), 1232u);
    EXPECT_EQ(d.l3_payload_wire_len, 1232u);
    EXPECT_EQ(d.sport, 0);
    EXPECT_TRUE(d.payload.empty());
}

TEST(DecodeIpv6, AtomicFragmentDecodesLikeAWholePacket) {
    Buf rest = frag6(kUdp, 0, false, 9);
    rest.append(udp(53, 40000, 10));
    const DecodedPacket d = decode(229, ipv6(44, rest));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_FALSE(d.is_fragment);
    EXPECT_TRUE(d.has_frag_header);
    EXPECT_EQ(d.frag_id, 9u);
    EXPECT_EQ(d.ip_header.size(), 40u);
    EXPECT_EQ(d.l3_payload.size(), 18u);
    EXPECT_EQ(d.transport, Transport::udp);
    EXPECT_EQ(d.payload.size(), 10u);
    EXPECT_FALSE(d.udp_length_mismatch);
}

TEST(DecodeIpv6, TwoFragmentHeadersAreBadIp) {
    Buf rest = frag6(44, 0, false, 1);
    rest.append(frag6(kUdp, 0, false, 2)).append(udp(1, 53, 0));
    EXPECT_EQ(decode(229, ipv6(44, rest)).status, DecodeStatus::bad_ip);
}

TEST(DecodeIpv6, FragmentHeaderCut) {
    Buf f = ipv6(44, frag6(kUdp, 8, false, 1).fill(8));
    const uint32_t wire = static_cast<uint32_t>(f.size());
    f.b.resize(44);
    const DecodedPacket d = decode(229, f, wire);
    EXPECT_EQ(d.status, DecodeStatus::truncated_l3);
    EXPECT_TRUE(d.snap_truncated);
}

// ---- UDP -------------------------------------------------------------------------------------

TEST(DecodeUdp, LengthBiggerThanIpPayload) {
    const DecodedPacket d = decode(101, ipv4(kUdp, udp(1, 53, 20, 100)));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_TRUE(d.udp_length_mismatch);
    EXPECT_EQ(d.udp_length, 100);
    EXPECT_EQ(d.payload.size(), 20u);
    EXPECT_EQ(d.payload_wire_len, 20u);
    EXPECT_FALSE(d.snap_truncated);
}

TEST(DecodeUdp, LengthSmallerThanIpPayload) {
    const DecodedPacket d = decode(101, ipv4(kUdp, udp(1, 53, 20, 18)));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_TRUE(d.udp_length_mismatch);
    EXPECT_EQ(d.payload.size(), 10u);
    EXPECT_EQ(d.payload_wire_len, 10u);
}

TEST(DecodeUdp, LengthBelowHeaderSize) {
    const DecodedPacket d = decode(101, ipv6(kUdp, udp(1, 53, 20, 4)));
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_TRUE(d.udp_length_mismatch);
    EXPECT_EQ(d.payload.size(), 20u);
    EXPECT_EQ(d.payload_wire_len, 20u);
}

TEST(DecodeUdp, IpPayloadTooShortForHeader) {
    Buf part;
    part.u16(1).u16(53);
    const DecodedPacket d = decode(101, ipv4(kUdp, part));
    EXPECT_EQ(d.status, DecodeStatus::bad_l4);
    EXPECT_EQ(d.transport, Transport::udp);
    EXPECT_FALSE(d.snap_truncated);
}

TEST(DecodeUdp, HeaderCutByCapture) {
    Buf f = ipv4(kUdp, udp(1, 53, 20));
    const uint32_t wire = static_cast<uint32_t>(f.size());
    f.b.resize(24);
    const DecodedPacket d = decode(101, f, wire);
    EXPECT_EQ(d.status, DecodeStatus::truncated_l4);
    EXPECT_TRUE(d.snap_truncated);
}

// ---- TCP -------------------------------------------------------------------------------------

TEST(DecodeTcp, HeaderWithOptions) {
    const Buf f = ether(0x0800, ipv4(kTcp, tcp(53, 50000, 8, 12, 30)));
    const DecodedPacket d = decode(kEth, f);
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.transport, Transport::tcp);
    EXPECT_EQ(d.sport, 53);
    EXPECT_EQ(d.dport, 50000);
    EXPECT_EQ(d.tcp_seq, 0x11223344u);
    EXPECT_EQ(d.tcp_ack, 0x55667788u);
    EXPECT_EQ(d.tcp_flags, tcp_flag::psh | tcp_flag::ack);
    EXPECT_EQ(d.tcp_window, 0xfaf0);
    EXPECT_EQ(d.payload.size(), 30u);
    EXPECT_EQ(d.payload_wire_len, 30u);
    EXPECT_EQ(static_cast<uint8_t>(d.payload[0]), 0x5a);
}

TEST(DecodeTcp, DataOffsetBelowFive) {
    const DecodedPacket d = decode(229, ipv6(kTcp, tcp(53, 50000, 4, 0, 10)));
    EXPECT_EQ(d.status, DecodeStatus::bad_l4);
    EXPECT_TRUE(d.payload.empty());
}

TEST(DecodeTcp, DataOffsetPastSegment) {
    const DecodedPacket d = decode(101, ipv4(kTcp, tcp(53, 50000, 15, 0, 10)));
    EXPECT_EQ(d.status, DecodeStatus::bad_l4);
    EXPECT_TRUE(d.payload.empty());
}

TEST(DecodeTcp, OptionsCutByCapture) {
    Buf f = ipv4(kTcp, tcp(53, 50000, 10, 20, 100));
    const uint32_t wire = static_cast<uint32_t>(f.size());
    f.b.resize(20 + 30);
    const DecodedPacket d = decode(101, f, wire);
    EXPECT_EQ(d.status, DecodeStatus::truncated_l4);
    EXPECT_TRUE(d.snap_truncated);
    EXPECT_EQ(d.sport, 53);
}

TEST(DecodeTcp, SegmentShorterThanFixedHeader) {
    Buf part;
    part.u16(53).u16(50000).u32(1);
    EXPECT_EQ(decode(101, ipv4(kTcp, part)).status, DecodeStatus::bad_l4);
}

// ---- ICMP ------------------------------------------------------------------------------------

TEST(DecodeIcmp4, FragNeededQuotesDnsPacket) {
    // The router quotes the IP header and the first 8 bytes of a 1500-byte DNS response.
    Buf quoted = ipv4(kUdp, udp(53, 40000, 1472));
    quoted.b.resize(28);
    Buf icmp;
    icmp.u8(3).u8(4).u16(0).u16(0).u16(1400).append(quoted);
    const Buf f = ether(0x0800, ipv4(kIcmp4, icmp));
    const DecodedPacket d = decode(kEth, f);
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.transport, Transport::icmp4);
    EXPECT_EQ(d.icmp_type, 3);
    EXPECT_EQ(d.icmp_code, 4);
    EXPECT_EQ(d.icmp_mtu, 1400u);
    ASSERT_EQ(d.icmp_quoted.size(), 28u);
    EXPECT_EQ(static_cast<uint8_t>(d.icmp_quoted[0]), 0x45);

    DecodedPacket q;
    decode_ip(d.icmp_quoted, static_cast<uint32_t>(d.icmp_quoted.size()), q);
    EXPECT_EQ(q.status, DecodeStatus::ok);
    EXPECT_EQ(q.ip_length, 1500u);
    EXPECT_TRUE(q.snap_truncated);
    EXPECT_EQ(q.transport, Transport::udp);
    EXPECT_EQ(q.sport, 53);
    EXPECT_EQ(q.dport, 40000);
    EXPECT_EQ(q.udp_length, 1480);
    EXPECT_FALSE(q.udp_length_mismatch);
    EXPECT_EQ(q.payload_wire_len, 1472u);
}

TEST(DecodeIcmp4, EchoHasNoQuotedPacketAndOtherErrorsDo) {
    Buf echo;
    echo.u8(8).u8(0).u16(0).u32(0x00010001).fill(16);
    const DecodedPacket e = decode(101, ipv4(kIcmp4, echo));
    EXPECT_EQ(e.icmp_type, 8);
    EXPECT_TRUE(e.icmp_quoted.empty());
    EXPECT_EQ(e.icmp_mtu, 0u);
    EXPECT_EQ(e.payload.size(), 16u);

    Buf ttl;
    ttl.u8(11).u8(0).u16(0).u32(0).append(ipv4(kUdp, udp(1, 53, 0)));
    const DecodedPacket t = decode(101, ipv4(kIcmp4, ttl));
    EXPECT_EQ(t.icmp_quoted.size(), 28u);
    EXPECT_EQ(t.icmp_mtu, 0u);
}

TEST(DecodeIcmp4, HeaderCutAndGarbageQuote) {
    Buf part;
    part.u8(3).u8(4).u16(0);
    EXPECT_EQ(decode(101, ipv4(kIcmp4, part)).status, DecodeStatus::bad_l4);

    Buf junk;
    junk.u8(3).u8(4).u16(0).u16(0).u16(1400).raw({0x4f, 0, 0});
    const Buf f = ipv4(kIcmp4, junk);
    const DecodedPacket d = decode(101, f);
    ASSERT_EQ(d.status, DecodeStatus::ok);
    DecodedPacket q;
    decode_ip(d.icmp_quoted, 0, q);
    EXPECT_EQ(q.status, DecodeStatus::truncated_l3);
    EXPECT_FALSE(q.snap_truncated);
}

TEST(DecodeIcmp6, PacketTooBig) {
    Buf quoted = ipv6(kUdp, udp(53, 40000, 1400));
    quoted.b.resize(1232);
    Buf icmp;
    icmp.u8(2).u8(0).u16(0).u32(1280).append(quoted);
    const Buf f = sll2(0x86dd, ipv6(kIcmp6, icmp));
    const DecodedPacket d = decode(276, f);
    ASSERT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.transport, Transport::icmp6);
    EXPECT_EQ(d.icmp_type, 2);
    EXPECT_EQ(d.icmp_mtu, 1280u);
    ASSERT_EQ(d.icmp_quoted.size(), 1232u);

    DecodedPacket q;
    decode_ip(d.icmp_quoted, 1232, q);
    EXPECT_EQ(q.status, DecodeStatus::ok);
    EXPECT_EQ(q.ip_version, 6);
    EXPECT_EQ(q.sport, 53);
    EXPECT_TRUE(q.snap_truncated);
    EXPECT_EQ(q.payload.size(), 1232u - 48u);
}

TEST(DecodeIcmp6, EchoIsNotAnErrorAndIcmp6OverIpv4IsOther) {
    Buf echo;
    echo.u8(128).u8(0).u16(0).u32(1).fill(8);
    const DecodedPacket e = decode(229, ipv6(kIcmp6, echo));
    EXPECT_EQ(e.transport, Transport::icmp6);
    EXPECT_TRUE(e.icmp_quoted.empty());

    const DecodedPacket o = decode(228, ipv4(kIcmp6, echo));
    EXPECT_EQ(o.transport, Transport::other);
    EXPECT_EQ(o.icmp_type, 0);
}

TEST(DecodeIcmp6, HeaderCutByCapture) {
    Buf icmp;
    icmp.u8(2).u8(0).u16(0).u32(1280).fill(100);
    Buf f = ipv6(kIcmp6, icmp);
    const uint32_t wire = static_cast<uint32_t>(f.size());
    f.b.resize(44);
    const DecodedPacket d = decode(229, f, wire);
    EXPECT_EQ(d.status, DecodeStatus::truncated_l4);
    EXPECT_EQ(d.icmp_mtu, 0u);
}

// ---- Misc ------------------------------------------------------------------------------------

TEST(DecodeIp, EmptyAndUnknownVersion) {
    DecodedPacket d;
    decode_ip(Bytes{}, 0, d);
    EXPECT_EQ(d.status, DecodeStatus::truncated_l3);
    Buf v7;
    v7.u8(0x75).fill(40);
    decode_ip(v7.bytes(), 0, d);
    EXPECT_EQ(d.status, DecodeStatus::bad_ip);
    EXPECT_EQ(d.ip_version, 0);
}

TEST(DecodeIp, OutputIsResetBetweenCalls) {
    DecodedPacket d;
    decode_ip(ipv4(kUdp, udp(1, 53, 4)).bytes(), 0, d);
    ASSERT_EQ(d.dport, 53);
    decode_ip(ipv4(kTcp, tcp(80, 81, 5, 0, 0)).bytes(), 0, d);
    EXPECT_EQ(d.transport, Transport::tcp);
    EXPECT_EQ(d.udp_length, 0);
    EXPECT_EQ(d.dport, 81);
}

TEST(DecodeStatusNames, EveryStatusHasAName) {
    EXPECT_STREQ(to_string(DecodeStatus::ok), "ok");
    EXPECT_STREQ(to_string(DecodeStatus::truncated_l2), "truncated_l2");
    EXPECT_STREQ(to_string(DecodeStatus::not_ip), "not_ip");
    EXPECT_STREQ(to_string(DecodeStatus::bad_ip), "bad_ip");
    EXPECT_STREQ(to_string(DecodeStatus::truncated_l3), "truncated_l3");
    EXPECT_STREQ(to_string(DecodeStatus::bad_l4), "bad_l4");
    EXPECT_STREQ(to_string(DecodeStatus::truncated_l4), "truncated_l4");
    EXPECT_STREQ(to_string(DecodeStatus::unsupported_link), "unsupported_link");
    EXPECT_STREQ(to_string(static_cast<DecodeStatus>(200)), "unknown");
}

TEST(IpAddressText, InetNtopForms) {
    const std::byte v4[4] = {std::byte{10}, std::byte{0}, std::byte{0}, std::byte{1}};
    EXPECT_EQ(IpAddress::v4(v4).to_string(), "10.0.0.1");
    std::byte v6[16] = {};
    v6[0] = std::byte{0xfe};
    v6[1] = std::byte{0x80};
    v6[15] = std::byte{0x01};
    EXPECT_EQ(IpAddress::v6(v6).to_string(), "fe80::1");
    EXPECT_EQ(IpAddress{}.to_string(), "");
}

// frame_addresses: what the worker dispatch and the replay shards hash.
std::vector<std::byte> to_bytes(const std::vector<uint8_t>& v) {
    std::vector<std::byte> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = std::byte{v[i]};
    return out;
}

bool addresses_of(const std::vector<std::byte>& f, uint16_t link, IpAddress& a, IpAddress& b) {
    PacketView v;
    v.data = Bytes(f.data(), f.size());
    v.wire_len = static_cast<uint32_t>(f.size());
    v.link_type = link;
    return frame_addresses(v, a, b);
}

TEST(FrameAddresses, EthernetVlanAndMismatches) {
    std::vector<uint8_t> ip4 = {0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2};
    std::vector<uint8_t> eth = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00};
    auto frame = eth;
    frame.insert(frame.end(), ip4.begin(), ip4.end());
    IpAddress a, b;
    ASSERT_TRUE(addresses_of(to_bytes(frame), 1, a, b));
    EXPECT_EQ(a.to_string(), "198.18.0.1");
    EXPECT_EQ(b.to_string(), "198.18.0.2");
    // One 802.1Q tag: the general walk.
    auto tagged = std::vector<uint8_t>(eth.begin(), eth.begin() + 12);
    tagged.insert(tagged.end(), {0x81, 0x00, 0x00, 0x05, 0x08, 0x00});
    tagged.insert(tagged.end(), ip4.begin(), ip4.end());
    ASSERT_TRUE(addresses_of(to_bytes(tagged), 1, a, b));
    EXPECT_EQ(b.to_string(), "198.18.0.2");
    // IPv6 ethertype over an IPv4 header, a header cut short, no IP at all.
    auto wrong = frame;
    wrong[12] = 0x86, wrong[13] = 0xDD;
    EXPECT_FALSE(addresses_of(to_bytes(wrong), 1, a, b));
    EXPECT_FALSE(addresses_of(to_bytes(std::vector<uint8_t>(frame.begin(), frame.end() - 1)), 1, a, b));
    EXPECT_FALSE(addresses_of(to_bytes(std::vector<uint8_t>(frame.begin(), frame.begin() + 14)), 1, a, b));
    EXPECT_FALSE(addresses_of(to_bytes(std::vector<uint8_t>(frame.begin(), frame.begin() + 13)), 1, a, b));
    auto arp = frame;
    arp[13] = 0x06;
    EXPECT_FALSE(addresses_of(to_bytes(arp), 1, a, b));
}

// Untagged Ethernet takes a short path; Linux cooked capture (the same ethertype, another
// header) takes the general one. On random and damaged headers both give the same answer.
TEST(FrameAddresses, EthernetShortPathAgreesWithTheGeneralWalk) {
    std::mt19937 rng(11);
    const uint16_t types[] = {0x0800, 0x86DD, 0x8100, 0x88A8, 0x0806, 0x1234};
    size_t found = 0;
    for (int i = 0; i < 20000; ++i) {
        std::vector<uint8_t> l3(rng() % 64);
        for (auto& x : l3) x = static_cast<uint8_t>(rng());
        if (!l3.empty() && rng() % 2) l3[0] = static_cast<uint8_t>((rng() % 2 ? 0x40 : 0x60) | (l3[0] & 0x0F));
        const uint16_t et = types[rng() % 6];
        std::vector<uint8_t> eth(12, 0xAA), sll = {0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0};
        for (auto* h : {&eth, &sll}) {
            h->push_back(static_cast<uint8_t>(et >> 8));
            h->push_back(static_cast<uint8_t>(et));
            h->insert(h->end(), l3.begin(), l3.end());
        }
        IpAddress a1, b1, a2, b2;
        const bool r1 = addresses_of(to_bytes(eth), 1, a1, b1);
        const bool r2 = addresses_of(to_bytes(sll), 113, a2, b2);
        ASSERT_EQ(r1, r2) << i;
        if (r1) {
            ++found;
            EXPECT_EQ(a1, a2);
            EXPECT_EQ(b1, b2);
        }
    }
    EXPECT_GT(found, 500u);
}

}  // namespace
}  // namespace frag53
