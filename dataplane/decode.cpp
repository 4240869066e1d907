// L2..L4 decode. Every read goes through WireReader; lengths found in headers are only ever
// compared against what is left, never used to size anything.
#include "dataplane/decode.h"

#include <algorithm>

namespace frag53 {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint16_t kEtherQinQ = 0x88a8;
constexpr uint16_t kEtherQinQLegacy = 0x9100;

constexpr size_t kEthernetHeader = 14;
constexpr size_t kSllHeader = 16;
constexpr size_t kSll2Header = 20;

constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv6Header = 40;
constexpr size_t kUdpHeader = 8;
constexpr size_t kTcpMinHeader = 20;
constexpr size_t kIcmpHeader = 8;

// Long enough for any sane chain (RFC 8200 order has at most 7 kinds); bounds hostile ones.
constexpr int kMaxIpv6ExtHeaders = 8;

constexpr uint8_t kProtoIcmp4 = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmp6 = 58;
constexpr uint8_t kExtHopByHop = 0;
constexpr uint8_t kExtRouting = 43;
constexpr uint8_t kExtFragment = 44;
constexpr uint8_t kExtEsp = 50;
constexpr uint8_t kExtAh = 51;
constexpr uint8_t kExtNoNext = 59;
constexpr uint8_t kExtDestOpts = 60;

// BSD address families for IPv6 differ by OS (NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30).
constexpr uint32_t kBsdAfInet = 2;
constexpr uint32_t kBsdAfInet6Netbsd = 24;
constexpr uint32_t kBsdAfInet6Freebsd = 28;
constexpr uint32_t kBsdAfInet6Darwin = 30;

uint32_t narrow_u32(size_t n) noexcept {
    return n > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(n);
}

// The wire length a header-cut check compares with: never less than what was captured.
uint32_t wire_or_captured(uint32_t wire_len, size_t captured) noexcept {
    return std::max(wire_len, narrow_u32(captured));
}

void fail(DecodedPacket& out, DecodeStatus s) noexcept { out.status = s; }

// A header ended early: snap-length truncation only if the wire carried more than the capture.
void header_cut(DecodedPacket& out, DecodeStatus s, Bytes data, uint32_t wire_len) noexcept {
    out.status = s;
    if (wire_len > data.size()) out.snap_truncated = true;
}

// Payload after a transport header of `header_len` bytes, `unit_wire_len` being the whole
// transport unit as announced. The capture may hold less (snap length).
void set_payload(DecodedPacket& out, Bytes l4, size_t header_len, uint32_t unit_wire_len) noexcept {
    out.payload_wire_len = unit_wire_len - static_cast<uint32_t>(header_len);
    Bytes rest = header_len <= l4.size() ? l4.subspan(header_len) : Bytes{};
    out.payload = rest.first(std::min<size_t>(rest.size(), out.payload_wire_len));
    if (out.payload.size() < out.payload_wire_len) out.snap_truncated = true;
}

// The transport header does not fit in what was captured. In a first fragment that is a tiny
// fragment (a defrag finding, not a decode error); otherwise the IP payload is too short for
// the header (bad_l4) or the capture cut it (truncated_l4).
void transport_header_cut(DecodedPacket& out, size_t need, uint32_t l4_wire_len,
                          bool fragment) noexcept {
    if (fragment) {
        out.transport = Transport::none;
        return;
    }
    if (l4_wire_len < need) {
        fail(out, DecodeStatus::bad_l4);
    } else {
        fail(out, DecodeStatus::truncated_l4);
        out.snap_truncated = true;
    }
}

void decode_udp(Bytes l4, uint32_t l4_wire_len, bool fragment, DecodedPacket& out) noexcept {
    out.transport = Transport::udp;
    WireReader r(l4);
    const uint16_t sport = r.u16();
    const uint16_t dport = r.u16();
    const uint16_t length = r.u16();
    r.skip(2);  // checksum: offload makes it unreliable in captures
    if (!r.ok()) return transport_header_cut(out, kUdpHeader, l4_wire_len, fragment);
    out.sport = sport;
    out.dport = dport;
    out.udp_length = length;

    // In a fragment the UDP length covers the whole datagram, so it cannot be checked here.
    uint32_t unit = l4_wire_len;
    if (!fragment) {
        if (length < kUdpHeader || length > l4_wire_len) {
            // Nonsense length: the IP header is the better witness of where the datagram ends.
            out.udp_length_mismatch = true;
        } else if (length < l4_wire_len) {
            out.udp_length_mismatch = true;
            unit = length;
        }
    }
    set_payload(out, l4, kUdpHeader, unit);
}

void decode_tcp(Bytes l4, uint32_t l4_wire_len, bool fragment, DecodedPacket& out) noexcept {
    out.transport = Transport::tcp;
    WireReader r(l4);
    const uint16_t sport = r.u16();
    const uint16_t dport = r.u16();
    const uint32_t seq = r.u32();
    const uint32_t ack = r.u32();
    const uint16_t offset_flags = r.u16();
    const uint16_t window = r.u16();
    r.skip(4);  // checksum, urgent pointer
    if (!r.ok()) return transport_header_cut(out, kTcpMinHeader, l4_wire_len, fragment);
    out.sport = sport;
    out.dport = dport;
    out.tcp_seq = seq;
    out.tcp_ack = ack;
    out.tcp_flags = static_cast<uint8_t>(offset_flags & 0xff);
    out.tcp_window = window;

    const size_t header_len = static_cast<size_t>(offset_flags >> 12) * 4;
    if (header_len < kTcpMinHeader) return fail(out, DecodeStatus::bad_l4);
    if (header_len > l4_wire_len) {
        // Options running into the next fragment are legal, if odd; in a whole segment they are not.
        if (!fragment) fail(out, DecodeStatus::bad_l4);
        return;
    }
    if (header_len > l4.size()) {
        if (!fragment) fail(out, DecodeStatus::truncated_l4);
        out.snap_truncated = true;
        return;
    }
    set_payload(out, l4, header_len, l4_wire_len);
}

bool icmp4_is_error(uint8_t type) noexcept {
    // Destination unreachable, source quench, redirect, time exceeded, parameter problem.
    return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

void decode_icmp(bool v6, Bytes l4, uint32_t l4_wire_len, bool fragment,
                 DecodedPacket& out) noexcept {
    out.transport = v6 ? Transport::icmp6 : Transport::icmp4;
    WireReader r(l4);
    const uint8_t type = r.u8();
    const uint8_t code = r.u8();
    r.skip(2);  // checksum
    const uint32_t rest_of_header = r.u32();
    if (!r.ok()) return transport_header_cut(out, kIcmpHeader, l4_wire_len, fragment);
    out.icmp_type = type;
    out.icmp_code = code;

    bool error = false;
    if (v6) {
        if (type == 2) out.icmp_mtu = rest_of_header;  // Packet Too Big
        error = type >= 1 && type <= 4;
    } else {
        if (type == 3 && code == 4) out.icmp_mtu = rest_of_header & 0xffff;  // frag needed
        error = icmp4_is_error(type);
    }
    set_payload(out, l4, kIcmpHeader, l4_wire_len);
    if (error) out.icmp_quoted = out.payload;
}

// `l4` is already clipped to the IP payload as announced, so l4.size() <= l4_wire_len.
void decode_transport(bool v6, uint8_t proto, Bytes l4, uint32_t l4_wire_len, bool fragment,
                      DecodedPacket& out) noexcept {
    switch (proto) {
    case kProtoUdp: return decode_udp(l4, l4_wire_len, fragment, out);
    case kProtoTcp: return decode_tcp(l4, l4_wire_len, fragment, out);
    case kProtoIcmp4:
        if (!v6) return decode_icmp(false, l4, l4_wire_len, fragment, out);
        break;
    case kProtoIcmp6:
        if (v6) return decode_icmp(true, l4, l4_wire_len, fragment, out);
        break;
    case kExtNoNext: return;
    default: break;
    }
    out.transport = Transport::other;
    out.payload = l4;
    out.payload_wire_len = l4_wire_len;
}

void decode_ipv4(Bytes data, uint32_t wire_len, DecodedPacket& out) noexcept {
    WireReader r(data);
    const uint8_t version_ihl = r.u8();
    r.skip(1);  // DSCP/ECN
    const uint16_t total_len = r.u16();
    const uint16_t id = r.u16();
    const uint16_t flags_offset = r.u16();
    const uint8_t ttl = r.u8();
    const uint8_t proto = r.u8();
    r.skip(2);  // checksum: not verified, offload makes it unreliable in captures
    const Bytes src = r.bytes(4);
    const Bytes dst = r.bytes(4);
    if (!r.ok()) return header_cut(out, DecodeStatus::truncated_l3, data, wire_len);

    out.ip_version = 4;
    out.ttl = ttl;
    out.ip_proto = proto;
    out.src = IpAddress::v4(src.data());
    out.dst = IpAddress::v4(dst.data());
    out.ip_length = total_len;
    out.frag_id = id;
    out.dont_fragment = (flags_offset & 0x4000) != 0;
    out.more_fragments = (flags_offset & 0x2000) != 0;
    out.frag_offset = static_cast<uint16_t>((flags_offset & 0x1fff) << 3);
    out.is_fragment = out.more_fragments || out.frag_offset != 0;

    const size_t header_len = static_cast<size_t>(version_ihl & 0x0f) * 4;
    if (header_len < kIpv4MinHeader || total_len < header_len) return fail(out, DecodeStatus::bad_ip);
    if (header_len > data.size()) {
        // total_len >= header_len > captured: the capture cut the options.
        out.snap_truncated = true;
        return fail(out, DecodeStatus::truncated_l3);
    }
    // Bytes past total_len are link-layer padding, not part of the datagram.
    const size_t held = std::min<size_t>(data.size(), total_len);
    if (held < total_len) out.snap_truncated = true;

    out.ip_header = data.first(header_len);
    out.l3_payload = data.subspan(header_len, held - header_len);
    out.l3_payload_wire_len = static_cast<uint32_t>(total_len - header_len);
    if (out.is_fragment && out.frag_offset != 0) return;
    decode_transport(false, proto, out.l3_payload, out.l3_payload_wire_len, out.is_fragment, out);
}

bool ipv6_extension(uint8_t nh) noexcept {
    return nh == kExtHopByHop || nh == kExtRouting || nh == kExtDestOpts || nh == kExtFragment ||
           nh == kExtAh;
}

void decode_ipv6(Bytes data, uint32_t wire_len, DecodedPacket& out) noexcept {
    WireReader fixed(data);
    fixed.skip(4);  // version, traffic class, flow label
    const uint16_t payload_len = fixed.u16();
    uint8_t next = fixed.u8();
    const uint8_t hop_limit = fixed.u8();
    const Bytes src = fixed.bytes(16);
    const Bytes dst = fixed.bytes(16);
    if (!fixed.ok()) return header_cut(out, DecodeStatus::truncated_l3, data, wire_len);

    out.ip_version = 6;
    out.ttl = hop_limit;
    out.ip_proto = next;
    out.src = IpAddress::v6(src.data());
    out.dst = IpAddress::v6(dst.data());
    const uint32_t total_len = static_cast<uint32_t>(kIpv6Header) + payload_len;
    out.ip_length = total_len;

    const size_t held = std::min<size_t>(data.size(), total_len);
    if (held < total_len) out.snap_truncated = true;
    const Bytes datagram = data.first(held);

    // Walk the chain over the datagram as announced; `r` sees what was captured of it.
    WireReader r(datagram, kIpv6Header);
    size_t unfragmentable_end = 0;  // set at the fragment header, if any
    bool after_fragment = false;    // header errors past it belong to reassembly, not to us
    for (int headers = 0; ipv6_extension(next); ++headers) {
        if (headers == kMaxIpv6ExtHeaders) {
            if (after_fragment) break;
            return fail(out, DecodeStatus::bad_ip);
        }
        const size_t start = r.pos();
        const size_t announced_left = total_len - start;
        WireReader h = r;
        const uint8_t header_next = h.u8();
        const uint8_t len_field = h.u8();
        size_t header_len = 8;
        if (next == kExtAh) {
            header_len = (static_cast<size_t>(len_field) + 2) * 4;
        } else if (next != kExtFragment) {
            header_len = (static_cast<size_t>(len_field) + 1) * 8;
        }
        if (header_len > announced_left) {
            if (after_fragment) break;
            return fail(out, DecodeStatus::bad_ip);
        }
        if (!h.ok() || header_len > r.remaining()) {
            if (after_fragment) break;
            // announced_left >= header_len > captured: the capture cut the chain.
            out.snap_truncated = true;
            return fail(out, DecodeStatus::truncated_l3);
        }

        if (next == kExtFragment) {
            if (out.has_frag_header) {  // RFC 8200 allows one
                if (after_fragment) break;
                return fail(out, DecodeStatus::bad_ip);
            }
            const uint16_t offset_flags = h.u16();
            const uint32_t id = h.u32();
            out.has_frag_header = true;
            out.frag_id = id;
            out.frag_offset = static_cast<uint16_t>(offset_flags & 0xfff8);
            out.more_fragments = (offset_flags & 0x0001) != 0;
            out.frag_next_header = header_next;
            out.is_fragment = out.more_fragments || out.frag_offset != 0;
            unfragmentable_end = start;
            r.skip(header_len);
            next = header_next;
            out.ip_proto = next;
            if (out.is_fragment) {
                out.l3_payload = r.rest();
                out.l3_payload_wire_len = total_len - static_cast<uint32_t>(r.pos());
                if (out.frag_offset != 0) {
                    out.ip_header = datagram.first(unfragmentable_end);
                    return;
                }
                after_fragment = true;
            }
            continue;
        }
        r.skip(header_len);
        next = header_next;
        out.ip_proto = next;
    }

    out.ip_proto = next;
    out.ip_header = datagram.first(out.has_frag_header ? unfragmentable_end : r.pos());
    const uint32_t l4_wire_len = total_len - static_cast<uint32_t>(r.pos());
    if (!out.is_fragment) {
        out.l3_payload = r.rest();
        out.l3_payload_wire_len = l4_wire_len;
    }
    if (ipv6_extension(next)) {
        // A first fragment whose chain could not be followed: the fragment data is intact.
        out.transport = Transport::none;
        return;
    }
    if (next == kExtEsp) {
        out.transport = Transport::other;
        return;
    }
    decode_transport(true, next, r.rest(), l4_wire_len, out.is_fragment, out);
}

// `expect` is the IP version the link layer announced, 0 when only the nibble can tell.
void decode_l3(Bytes data, uint32_t wire_len, uint8_t expect, DecodedPacket& out) noexcept {
    if (data.empty()) return header_cut(out, DecodeStatus::truncated_l3, data, wire_len);
    const uint8_t version = static_cast<uint8_t>(static_cast<unsigned>(data[0]) >> 4);
    if (expect != 0 && version != expect) return fail(out, DecodeStatus::bad_ip);
    if (version == 4) return decode_ipv4(data, wire_len, out);
    if (version == 6) return decode_ipv6(data, wire_len, out);
    fail(out, DecodeStatus::bad_ip);
}

// Follows 802.1Q / 802.1ad / QinQ tags. Returns the inner EtherType, or 0 if the frame ends.
uint16_t skip_vlan_tags(WireReader& r, uint16_t ethertype, DecodedPacket& out) noexcept {
    while (ethertype == kEtherVlan || ethertype == kEtherQinQ || ethertype == kEtherQinQLegacy) {
        r.skip(2);  // TCI
        ethertype = r.u16();
        if (!r.ok()) return 0;
        if (out.vlan_depth < UINT16_MAX) ++out.vlan_depth;
    }
    return ethertype;
}

uint8_t ip_version_of_ethertype(uint16_t ethertype) noexcept {
    if (ethertype == kEtherIpv4) return 4;
    if (ethertype == kEtherIpv6) return 6;
    return 0;
}

uint8_t ip_version_of_bsd_family(WireReader& r) noexcept {
    WireReader peek = r;
    const uint32_t big = peek.u32();
    const uint32_t little = r.u32le();
    // The family is small; whichever byte order gives a small value was the writer's.
    const uint32_t family = little <= 0xffff ? little : big;
    if (family == kBsdAfInet) return 4;
    if (family == kBsdAfInet6Netbsd || family == kBsdAfInet6Freebsd ||
        family == kBsdAfInet6Darwin) {
        return 6;
    }
    return 0;
}

}  // namespace

const char* to_string(DecodeStatus s) noexcept {
    switch (s) {
    case DecodeStatus::ok: return "ok";
    case DecodeStatus::truncated_l2: return "truncated_l2";
    case DecodeStatus::not_ip: return "not_ip";
    case DecodeStatus::bad_ip: return "bad_ip";
    case DecodeStatus::truncated_l3: return "truncated_l3";
    case DecodeStatus::bad_l4: return "bad_l4";
    case DecodeStatus::truncated_l4: return "truncated_l4";
    case DecodeStatus::unsupported_link: return "unsupported_link";
    }
    return "unknown";
}

bool link_type_supported(int dlt) noexcept {
    switch (dlt) {
    case static_cast<int>(LinkType::null_bsd):
    case static_cast<int>(LinkType::ethernet):
    case static_cast<int>(LinkType::raw):
    case static_cast<int>(LinkType::raw_dlt12):
    case static_cast<int>(LinkType::raw_dlt14):
    case static_cast<int>(LinkType::loop):
    case static_cast<int>(LinkType::linux_sll):
    case static_cast<int>(LinkType::ipv4):
    case static_cast<int>(LinkType::ipv6):
    case static_cast<int>(LinkType::linux_sll2): return true;
    default: return false;
    }
}

void decode_ip(Bytes data, uint32_t wire_len, DecodedPacket& out) noexcept {
    out = DecodedPacket{};
    decode_l3(data, wire_or_captured(wire_len, data.size()), 0, out);
}

namespace {

// Walks the link-layer header to the IP header: `r` is left there and `expect` says which IP
// version the link layer announces (0: read the version nibble). False, with out.status set,
// for frames that carry no IP.
bool locate_l3(const PacketView& pkt, WireReader& r, uint8_t& expect, DecodedPacket& out) noexcept {
    const Bytes frame = pkt.data;
    const uint32_t wire_len = wire_or_captured(pkt.wire_len, frame.size());
    switch (static_cast<LinkType>(pkt.link_type)) {
    case LinkType::ethernet:
    case LinkType::linux_sll:
    case LinkType::linux_sll2: {
        uint16_t ethertype = 0;
        if (pkt.link_type == static_cast<uint16_t>(LinkType::ethernet)) {
            r.skip(kEthernetHeader - 2);  // destination, source MAC
            ethertype = r.u16();
        } else if (pkt.link_type == static_cast<uint16_t>(LinkType::linux_sll)) {
            r.skip(kSllHeader - 2);  // packet type, ARPHRD type, address length, address
            ethertype = r.u16();
        } else {
            ethertype = r.u16();
            r.skip(kSll2Header - 2);  // reserved, ifindex, ARPHRD, packet type, address
        }
        if (r.ok()) ethertype = skip_vlan_tags(r, ethertype, out);
        if (!r.ok()) { header_cut(out, DecodeStatus::truncated_l2, frame, wire_len); return false; }
        expect = ip_version_of_ethertype(ethertype);
        if (expect == 0) { fail(out, DecodeStatus::not_ip); return false; }
        break;
    }
    case LinkType::null_bsd:
    case LinkType::loop:
        expect = ip_version_of_bsd_family(r);
        if (!r.ok()) { header_cut(out, DecodeStatus::truncated_l2, frame, wire_len); return false; }
        if (expect == 0) { fail(out, DecodeStatus::not_ip); return false; }
        break;
    case LinkType::raw:
    case LinkType::raw_dlt12:
    case LinkType::raw_dlt14: break;
    case LinkType::ipv4: expect = 4; break;
    case LinkType::ipv6: expect = 6; break;
    default: fail(out, DecodeStatus::unsupported_link); return false;
    }

    return true;
}

}  // namespace

void decode_frame(const PacketView& pkt, DecodedPacket& out) noexcept {
    out = DecodedPacket{};
    WireReader r(pkt.data);
    uint8_t expect = 0;
    if (!locate_l3(pkt, r, expect, out)) return;
    const uint32_t wire_len = wire_or_captured(pkt.wire_len, pkt.data.size());
    out.l3_offset = static_cast<uint32_t>(r.pos());
    decode_l3(r.rest(), wire_len - out.l3_offset, expect, out);
}

namespace {

// The addresses of the IP header at the start of `l3`, when its version is `expect` (any when 0).
bool l3_addresses(Bytes l3, uint8_t expect, IpAddress& src, IpAddress& dst) noexcept {
    if (l3.empty()) return false;
    const auto version = static_cast<uint8_t>(static_cast<unsigned>(l3[0]) >> 4);
    if (expect != 0 && version != expect) return false;
    if (version == 4 && l3.size() >= 20) {
        src = IpAddress::v4(l3.data() + 12);
        dst = IpAddress::v4(l3.data() + 16);
        return true;
    }
    if (version == 6 && l3.size() >= 40) {
        src = IpAddress::v6(l3.data() + 8);
        dst = IpAddress::v6(l3.data() + 24);
        return true;
    }
    return false;
}

}  // namespace

bool frame_addresses(const PacketView& pkt, IpAddress& src, IpAddress& dst) noexcept {
    // Untagged Ethernet, most of any capture, without the general walk: every replay worker asks
    // this of every frame of the recording.
    if (pkt.link_type == static_cast<uint16_t>(LinkType::ethernet) && pkt.data.size() >= kEthernetHeader) {
        const auto ethertype = static_cast<uint16_t>(static_cast<unsigned>(pkt.data[12]) << 8 |
                                                     static_cast<unsigned>(pkt.data[13]));
        const uint8_t expect = ip_version_of_ethertype(ethertype);
        if (expect != 0) return l3_addresses(pkt.data.subspan(kEthernetHeader), expect, src, dst);
    }
    DecodedPacket scratch;
    WireReader r(pkt.data);
    uint8_t expect = 0;
    if (!locate_l3(pkt, r, expect, scratch)) return false;
    return l3_addresses(r.rest(), expect, src, dst);
}

uint32_t pair_shard(const PacketView& pkt, uint32_t count) noexcept {
    if (count <= 1) return 0;
    IpAddress src, dst;
    if (!frame_addresses(pkt, src, dst)) return 0;
    return static_cast<uint32_t>(symmetric_pair_hash(src, dst) % count);
}

}  // namespace frag53
