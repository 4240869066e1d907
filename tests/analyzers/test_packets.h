// Ethernet/IP/UDP/ICMP frame builders for the analyzer tests (DNS messages: wire_builder.h).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/packet.h"
#include "tests/analyzers/dns/wire_builder.h"

namespace frag53::testing {

using DnsBuilder = WireBuilder;  // the analyzer tests read better with this name

inline std::vector<uint8_t> udp4_frame(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                                       const std::vector<uint8_t>& payload) {
    std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00};
    auto u16 = [&f](uint16_t v) {
        f.push_back(static_cast<uint8_t>(v >> 8));
        f.push_back(static_cast<uint8_t>(v));
    };
    auto u32 = [&](uint32_t v) {
        u16(static_cast<uint16_t>(v >> 16));
        u16(static_cast<uint16_t>(v));
    };
    uint16_t total = static_cast<uint16_t>(20 + 8 + payload.size());
    f.push_back(0x45);
    f.push_back(0);
    u16(total);
    u16(0x1234);
    u16(0x4000);  // DF
    f.push_back(64);
    f.push_back(17);
    u16(0);
    u32(src);
    u32(dst);
    u16(sport);
    u16(dport);
    u16(static_cast<uint16_t>(8 + payload.size()));
    u16(0);
    f.insert(f.end(), payload.begin(), payload.end());
    return f;
}

// Ethernet + IPv4 + TCP (20-byte header) carrying `payload`.
inline std::vector<uint8_t> tcp4_frame(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                                       uint32_t seq, uint32_t ack, uint8_t flags,
                                       const std::vector<uint8_t>& payload = {}) {
    std::vector<uint8_t> f = udp4_frame(src, dst, 0, 0, {});
    f.resize(14 + 20);
    f[14 + 9] = 6;
    uint16_t total = static_cast<uint16_t>(20 + 20 + payload.size());
    f[14 + 2] = static_cast<uint8_t>(total >> 8);
    f[14 + 3] = static_cast<uint8_t>(total);
    auto u16 = [&f](uint16_t v) {
        f.push_back(static_cast<uint8_t>(v >> 8));
        f.push_back(static_cast<uint8_t>(v));
    };
    auto u32 = [&](uint32_t v) {
        u16(static_cast<uint16_t>(v >> 16));
        u16(static_cast<uint16_t>(v));
    };
    u16(sport);
    u16(dport);
    u32(seq);
    u32(ack);
    f.push_back(0x50);  // data offset 5
    f.push_back(flags);
    u16(65535);
    u16(0);
    u16(0);
    f.insert(f.end(), payload.begin(), payload.end());
    return f;
}

// A DNS message with its RFC 1035 two-byte TCP length prefix.
inline std::vector<uint8_t> tcp_framed(const std::vector<uint8_t>& msg) {
    std::vector<uint8_t> out = {static_cast<uint8_t>(msg.size() >> 8), static_cast<uint8_t>(msg.size())};
    out.insert(out.end(), msg.begin(), msg.end());
    return out;
}

// ICMPv4 fragmentation-needed from `router` to `dst` quoting the first `quote_len` bytes of the
// IP packet inside `quoted_frame` (an Ethernet frame as udp4_frame builds).
inline std::vector<uint8_t> icmp4_frag_needed_frame(uint32_t router, uint32_t dst, uint16_t mtu,
                                                    const std::vector<uint8_t>& quoted_frame, size_t quote_len) {
    std::vector<uint8_t> icmp = {3, 4, 0, 0, 0, 0, static_cast<uint8_t>(mtu >> 8), static_cast<uint8_t>(mtu)};
    size_t n = std::min(quote_len, quoted_frame.size() - 14);
    icmp.insert(icmp.end(), quoted_frame.begin() + 14, quoted_frame.begin() + 14 + static_cast<long>(n));
    // Reuse the UDP builder's IPv4 header, then patch protocol and drop the UDP header.
    std::vector<uint8_t> f = udp4_frame(router, dst, 0, 0, {});
    f.resize(14 + 20);
    f[14 + 9] = 1;
    uint16_t total = static_cast<uint16_t>(20 + icmp.size());
    f[14 + 2] = static_cast<uint8_t>(total >> 8);
    f[14 + 3] = static_cast<uint8_t>(total);
    f.insert(f.end(), icmp.begin(), icmp.end());
    return f;
}

// Splits an IPv4 frame (as udp4_frame builds) into fragments carrying `chunk` bytes of IP payload
// each (a multiple of 8), DF cleared, same IP id.
inline std::vector<std::vector<uint8_t>> fragment4(const std::vector<uint8_t>& frame, size_t chunk,
                                                  uint16_t ip_id = 0x4242) {
    std::vector<std::vector<uint8_t>> out;
    const size_t payload_at = 14 + 20;
    const size_t payload_len = frame.size() - payload_at;
    for (size_t off = 0; off < payload_len; off += chunk) {
        size_t n = std::min(chunk, payload_len - off);
        std::vector<uint8_t> f(frame.begin(), frame.begin() + static_cast<long>(payload_at));
        f.insert(f.end(), frame.begin() + static_cast<long>(payload_at + off),
                 frame.begin() + static_cast<long>(payload_at + off + n));
        uint16_t total = static_cast<uint16_t>(20 + n);
        f[14 + 2] = static_cast<uint8_t>(total >> 8);
        f[14 + 3] = static_cast<uint8_t>(total);
        f[14 + 4] = static_cast<uint8_t>(ip_id >> 8);
        f[14 + 5] = static_cast<uint8_t>(ip_id);
        uint16_t flags = static_cast<uint16_t>((off + n < payload_len ? 0x2000 : 0) | (off / 8));
        f[14 + 6] = static_cast<uint8_t>(flags >> 8);
        f[14 + 7] = static_cast<uint8_t>(flags);
        out.push_back(std::move(f));
    }
    return out;
}

// A frame plus the PacketView over it; the view points into `bytes`, so keep them together.
struct Frame {
    std::vector<uint8_t> bytes;
    PacketView view;
};

inline Frame make_frame(std::vector<uint8_t> bytes, uint64_t ts_ns, uint64_t frame_no, uint32_t captured = 0) {
    Frame f{std::move(bytes), {}};
    size_t cap = captured && captured < f.bytes.size() ? captured : f.bytes.size();
    f.view.data = Bytes{reinterpret_cast<const std::byte*>(f.bytes.data()), cap};
    f.view.wire_len = static_cast<uint32_t>(f.bytes.size());
    f.view.ts_ns = ts_ns;
    f.view.frame = frame_no;
    f.view.link_type = 1;
    return f;
}

inline constexpr uint32_t client_ip = 0xC6120002;  // 198.18.0.2
inline constexpr uint32_t server_ip = 0xC6120001;  // 198.18.0.1
inline constexpr uint64_t sec = 1'000'000'000ull;

}  // namespace frag53::testing
