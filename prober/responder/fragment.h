// IP fragments of a UDP datagram, built by hand for `fp<mtu>` probe answers.
//
// The kernel fragments at the MTU it knows; a probe that asks for fragments of an exact size
// needs them built here and sent through a raw socket (IPPROTO_RAW, headers included):
//  * IPv4: one IP header per fragment, DF clear, the same identification, offsets in 8-byte units,
//    MF on every fragment but the last. The UDP header (with the checksum over the whole
//    datagram) is in the first fragment only.
//  * IPv6: the fixed header plus a Fragment extension header (next header 44) per fragment,
//    32-bit identification. A datagram that fits the MTU is sent whole, without a Fragment
//    header (atomic fragments are deprecated, RFC 8021).
// Every fragment but the last carries the largest multiple of 8 bytes that fits the MTU.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "dataplane/wire_reader.h"

namespace frag53::probe {

struct UdpEndpoints4 {
    std::array<uint8_t, 4> src{}, dst{};
    uint16_t sport = 0, dport = 0;
};
struct UdpEndpoints6 {
    std::array<uint8_t, 16> src{}, dst{};
    uint16_t sport = 0, dport = 0;
};

enum class FragmentStatus : uint8_t {
    ok,
    mtu_too_small,      // IPv4 below 68, IPv6 below 1280
    payload_too_large,  // the datagram would not fit the 16-bit IP length
};
const char* to_string(FragmentStatus s) noexcept;

// The Internet checksum (RFC 1071) of `data`, continuing from the partial 32-bit `sum`.
uint32_t checksum_add(uint32_t sum, Bytes data) noexcept;
uint16_t checksum_fold(uint32_t sum) noexcept;
// UDP checksum over the pseudo-header, UDP header and payload (0 is sent as 0xFFFF).
uint16_t udp_checksum4(const UdpEndpoints4& e, Bytes udp_header_and_payload) noexcept;
uint16_t udp_checksum6(const UdpEndpoints6& e, Bytes udp_header_and_payload) noexcept;

class FragmentBuilder {
public:
    static constexpr size_t min_mtu_v4 = 68;    // RFC 791: every IPv4 module forwards 68 bytes
    static constexpr size_t min_mtu_v6 = 1280;  // RFC 8200 §5

    FragmentBuilder();

    // Builds the packets of the UDP datagram carrying `payload` at IP MTU `mtu`. On success
    // packets() holds them in offset order; otherwise it is empty.
    FragmentStatus build_v4(const UdpEndpoints4& e, uint16_t ip_id, uint8_t ttl, Bytes payload,
                            size_t mtu) noexcept;
    FragmentStatus build_v6(const UdpEndpoints6& e, uint32_t frag_id, uint8_t hop_limit,
                            Bytes payload, size_t mtu) noexcept;

    std::span<const Bytes> packets() const noexcept { return {packets_.data(), n_packets_}; }

private:
    // The datagram (UDP header + payload), then the packets, are built in one fixed buffer.
    std::vector<std::byte> datagram_;
    std::vector<std::byte> buf_;
    std::vector<Bytes> packets_;
    size_t n_packets_ = 0;
};

}  // namespace frag53::probe
