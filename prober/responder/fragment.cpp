#include "prober/responder/fragment.h"

#include <algorithm>
#include <cstring>

#include "prober/responder/wire_writer.h"

namespace frag53::probe {

namespace {

constexpr size_t ipv4_header = 20;
constexpr size_t ipv6_header = 40;
constexpr size_t frag_header = 8;
constexpr size_t udp_header = 8;
constexpr size_t max_datagram = 65535;  // UDP length is 16 bits
constexpr uint8_t proto_udp = 17;
constexpr uint8_t proto_fragment = 44;
// Most packets a datagram can be cut into: IPv4 at the smallest MTU carries 48 bytes per fragment.
constexpr size_t max_packets = (max_datagram + 47) / 48;
constexpr size_t max_header_bytes = ipv6_header + frag_header;

}  // namespace

const char* to_string(FragmentStatus s) noexcept {
    switch (s) {
    case FragmentStatus::ok: return "ok";
    case FragmentStatus::mtu_too_small: return "mtu_too_small";
    case FragmentStatus::payload_too_large: return "payload_too_large";
    }
    return "unknown";
}

uint32_t checksum_add(uint32_t sum, Bytes data) noexcept {
    // 16-bit words summed into 32 bits; folded every word so no carry is lost for any length.
    size_t i = 0;
    for (; i + 1 < data.size(); i += 2) {
        sum += (static_cast<uint32_t>(data[i]) << 8) | static_cast<uint32_t>(data[i + 1]);
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    if (i < data.size()) {
        sum += static_cast<uint32_t>(data[i]) << 8;
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    return sum;
}

uint16_t checksum_fold(uint32_t sum) noexcept {
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(~sum & 0xFFFF);
}

uint16_t udp_checksum4(const UdpEndpoints4& e, Bytes udp) noexcept {
    std::array<std::byte, 12> pseudo{};
    std::memcpy(pseudo.data(), e.src.data(), 4);
    std::memcpy(pseudo.data() + 4, e.dst.data(), 4);
    pseudo[9] = std::byte{proto_udp};
    pseudo[10] = std::byte((udp.size() >> 8) & 0xFF);
    pseudo[11] = std::byte(udp.size() & 0xFF);
    const uint16_t c = checksum_fold(checksum_add(checksum_add(0, pseudo), udp));
    return c == 0 ? 0xFFFF : c;
}

uint16_t udp_checksum6(const UdpEndpoints6& e, Bytes udp) noexcept {
    std::array<std::byte, 40> pseudo{};
    std::memcpy(pseudo.data(), e.src.data(), 16);
    std::memcpy(pseudo.data() + 16, e.dst.data(), 16);
    pseudo[34] = std::byte((udp.size() >> 8) & 0xFF);
    pseudo[35] = std::byte(udp.size() & 0xFF);
    pseudo[39] = std::byte{proto_udp};
    const uint16_t c = checksum_fold(checksum_add(checksum_add(0, pseudo), udp));
    return c == 0 ? 0xFFFF : c;
}

FragmentBuilder::FragmentBuilder()
    : datagram_(max_datagram),
      buf_(max_datagram + max_packets * max_header_bytes),
      packets_(max_packets) {}

namespace {

// UDP header + payload into `dg`; the checksum field is left 0 for the caller.
size_t write_udp(std::span<std::byte> dg, uint16_t sport, uint16_t dport, Bytes payload) noexcept {
    WireWriter w(dg);
    w.u16(sport);
    w.u16(dport);
    w.u16(static_cast<uint16_t>(udp_header + payload.size()));
    w.u16(0);
    w.bytes(payload);
    return w.ok() ? w.pos() : 0;
}

}  // namespace

FragmentStatus FragmentBuilder::build_v4(const UdpEndpoints4& e, uint16_t ip_id, uint8_t ttl,
                                         Bytes payload, size_t mtu) noexcept {
    n_packets_ = 0;
    if (mtu < min_mtu_v4) return FragmentStatus::mtu_too_small;
    if (payload.size() > max_datagram - ipv4_header - udp_header) return FragmentStatus::payload_too_large;
    mtu = std::min(mtu, max_datagram);
    const size_t dg_len = write_udp(datagram_, e.sport, e.dport, payload);
    const Bytes dg(datagram_.data(), dg_len);
    const uint16_t csum = udp_checksum4(e, dg);
    datagram_[6] = std::byte(csum >> 8);
    datagram_[7] = std::byte(csum & 0xFF);

    const size_t per_fragment = dg_len + ipv4_header <= mtu ? dg_len : (mtu - ipv4_header) / 8 * 8;
    WireWriter w(buf_);
    for (size_t off = 0; off < dg_len; off += per_fragment) {
        const size_t len = std::min(per_fragment, dg_len - off);
        const bool more = off + len < dg_len;
        const size_t start = w.pos();
        w.u8(0x45);
        w.u8(0);
        w.u16(static_cast<uint16_t>(ipv4_header + len));
        w.u16(ip_id);
        w.u16(static_cast<uint16_t>((more ? 0x2000 : 0) | (off / 8)));  // DF clear
        w.u8(ttl);
        w.u8(proto_udp);
        const size_t csum_at = w.pos();
        w.u16(0);
        w.bytes(as_bytes(e.src.data(), 4));
        w.bytes(as_bytes(e.dst.data(), 4));
        if (!w.ok()) return FragmentStatus::payload_too_large;
        w.patch16(csum_at, checksum_fold(checksum_add(0, Bytes(buf_.data() + start, ipv4_header))));
        w.bytes(dg.subspan(off, len));
        if (!w.ok() || n_packets_ == packets_.size()) {
            n_packets_ = 0;
            return FragmentStatus::payload_too_large;
        }
        packets_[n_packets_++] = Bytes(buf_.data() + start, w.pos() - start);
    }
    return FragmentStatus::ok;
}

FragmentStatus FragmentBuilder::build_v6(const UdpEndpoints6& e, uint32_t frag_id, uint8_t hop_limit,
                                         Bytes payload, size_t mtu) noexcept {
    n_packets_ = 0;
    if (mtu < min_mtu_v6) return FragmentStatus::mtu_too_small;
    if (payload.size() > max_datagram - udp_header) return FragmentStatus::payload_too_large;
    mtu = std::min(mtu, max_datagram + ipv6_header);
    const size_t dg_len = write_udp(datagram_, e.sport, e.dport, payload);
    const Bytes dg(datagram_.data(), dg_len);
    const uint16_t csum = udp_checksum6(e, dg);
    datagram_[6] = std::byte(csum >> 8);
    datagram_[7] = std::byte(csum & 0xFF);

    WireWriter w(buf_);
    const auto fixed_header = [&](size_t payload_len, uint8_t next) {
        w.u32(0x60000000u);  // version 6, traffic class 0, flow label 0
        w.u16(static_cast<uint16_t>(payload_len));
        w.u8(next);
        w.u8(hop_limit);
        w.bytes(as_bytes(e.src.data(), 16));
        w.bytes(as_bytes(e.dst.data(), 16));
    };
    if (dg_len + ipv6_header <= mtu) {
        fixed_header(dg_len, proto_udp);
        w.bytes(dg);
        if (!w.ok()) return FragmentStatus::payload_too_large;
        packets_[n_packets_++] = Bytes(buf_.data(), w.pos());
        return FragmentStatus::ok;
    }
    const size_t per_fragment = (mtu - ipv6_header - frag_header) / 8 * 8;
    for (size_t off = 0; off < dg_len; off += per_fragment) {
        const size_t len = std::min(per_fragment, dg_len - off);
        const bool more = off + len < dg_len;
        const size_t start = w.pos();
        fixed_header(frag_header + len, proto_fragment);
        w.u8(proto_udp);
        w.u8(0);
        w.u16(static_cast<uint16_t>(off | (more ? 1 : 0)));  // offset in 8-byte units << 3, M flag
        w.u32(frag_id);
        w.bytes(dg.subspan(off, len));
        if (!w.ok() || n_packets_ == packets_.size()) {
            n_packets_ = 0;
            return FragmentStatus::payload_too_large;
        }
        packets_[n_packets_++] = Bytes(buf_.data() + start, w.pos() - start);
    }
    return FragmentStatus::ok;
}

}  // namespace frag53::probe
