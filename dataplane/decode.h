// L2..L4 decode into views over the packet's bytes. No copies, no allocation, noexcept.
#pragma once

#include <cstdint>

#include "dataplane/ip_address.h"
#include "dataplane/packet.h"
#include "dataplane/wire_reader.h"

namespace frag53 {

enum class DecodeStatus : uint8_t {
    ok,
    truncated_l2,     // frame ends inside the link-layer header
    not_ip,           // ARP, LLDP, ... (counted, not an error)
    bad_ip,           // version / header length / total length inconsistent
    truncated_l3,     // capture ends inside the IP header or extension chain
    bad_l4,           // transport header inconsistent (e.g. TCP data offset < 5)
    truncated_l4,     // capture ends inside the transport header
    unsupported_link, // link type we do not decode
};
const char* to_string(DecodeStatus s) noexcept;

enum class Transport : uint8_t { none, udp, tcp, icmp4, icmp6, other };

namespace tcp_flag {
inline constexpr uint8_t fin = 0x01, syn = 0x02, rst = 0x04, psh = 0x08, ack = 0x10, urg = 0x20;
}

struct DecodedPacket {
    DecodeStatus status = DecodeStatus::ok;
    Transport transport = Transport::none;
    uint8_t ip_version = 0;  // 4 or 6, 0 when not IP
    uint8_t ip_proto = 0;    // IPv4 protocol / IPv6 upper-layer next header
    uint8_t ttl = 0;         // TTL / hop limit
    IpAddress src, dst;
    uint16_t vlan_depth = 0;   // 802.1Q / QinQ tags seen
    uint32_t ip_length = 0;    // IP datagram length from the header (IPv4 total length; IPv6 40+payload)
    uint32_t l3_offset = 0;    // offset of the IP header in the frame

    // Fragmentation (IPv4 flags/offset, IPv6 fragment header).
    bool is_fragment = false;   // MF set or offset != 0 (IPv6 atomic fragments are not)
    bool more_fragments = false;
    bool dont_fragment = false;  // IPv4 DF
    bool has_frag_header = false;  // IPv6 fragment header present (atomic ones too)
    uint16_t frag_offset = 0;    // in bytes
    uint32_t frag_id = 0;
    // IPv6: the fragment header's next header (first header of the fragmentable part), which
    // reassembly writes back into the last unfragmentable header.
    uint8_t frag_next_header = 0;
    Bytes ip_header;      // IPv4 header with options; IPv6 fixed header + extension headers up to
                          // (not including) the fragment header / upper layer
    Bytes l3_payload;     // bytes after all IP headers as captured (fragment data if a fragment)
    uint32_t l3_payload_wire_len = 0;  // the same per the IP header (may exceed l3_payload)

    // Transport (only for unfragmented packets or first fragments that hold the header; a
    // non-first fragment or a first fragment too short for the header keeps Transport::none and
    // leaves the protocol in ip_proto).
    uint16_t sport = 0, dport = 0;
    uint16_t udp_length = 0;           // UDP length field
    bool udp_length_mismatch = false;  // UDP length disagrees with the IP payload length
    uint32_t tcp_seq = 0, tcp_ack = 0;
    uint8_t tcp_flags = 0;
    uint16_t tcp_window = 0;
    uint8_t icmp_type = 0, icmp_code = 0;
    uint32_t icmp_mtu = 0;  // ICMPv4 frag-needed next-hop MTU / ICMPv6 PTB MTU
    Bytes icmp_quoted;      // the invoking packet quoted in an ICMP error (starts at its IP header)

    Bytes payload;                  // transport payload as captured
    uint32_t payload_wire_len = 0;  // the same per the headers (UDP length / IP length)

    // The frame was cut by the snap length before the end of what the headers announce: the
    // capture holds fewer bytes than the IP / UDP lengths say, or a header is cut and the
    // packet's wire length exceeds what was captured.
    bool snap_truncated = false;
};

// Decodes a frame of the given link type. Fills `out` from scratch.
void decode_frame(const PacketView& pkt, DecodedPacket& out) noexcept;

// The IP source and destination of a frame, read without decoding further (dispatch to workers
// by address pair). False for frames without IP or without the addresses captured.
bool frame_addresses(const PacketView& pkt, IpAddress& src, IpAddress& dst) noexcept;

// Which of `count` workers a frame goes to: symmetric_pair_hash of its addresses modulo `count`,
// so both directions of a flow and every fragment of a datagram go to one worker; 0 for a frame
// without IP addresses, and when count <= 1.
uint32_t pair_shard(const PacketView& pkt, uint32_t count) noexcept;

// Decodes a bare IP datagram (IPv4 or IPv6 chosen by the version nibble): used for raw-IP links,
// for reassembled datagrams and for packets quoted inside ICMP errors. `wire_len` is the length
// the bytes had on the wire (>= data.size()) so snap-length truncation is detected. A packet
// quoted in an ICMP error is normally cut short: pass data.size() and expect snap_truncated.
void decode_ip(Bytes data, uint32_t wire_len, DecodedPacket& out) noexcept;

}  // namespace frag53
