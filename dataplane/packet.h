// A packet as a capture source hands it over: a view of bytes it owns until release().
#pragma once

#include <cstdint>

#include "dataplane/wire_reader.h"

namespace frag53 {

// Link types we decode, with libpcap's DLT/LINKTYPE numbers.
enum class LinkType : uint16_t {
    null_bsd = 0,     // DLT_NULL: 4-byte host-order address family
    ethernet = 1,     // DLT_EN10MB
    raw = 101,        // LINKTYPE_RAW (DLT_RAW is 12 or 14 on some systems)
    raw_dlt12 = 12,
    raw_dlt14 = 14,
    loop = 108,       // DLT_LOOP: like null but network order
    linux_sll = 113,  // DLT_LINUX_SLL
    ipv4 = 228,       // LINKTYPE_IPV4
    ipv6 = 229,       // LINKTYPE_IPV6
    linux_sll2 = 276, // DLT_LINUX_SLL2
};

bool link_type_supported(int dlt) noexcept;

struct PacketView {
    Bytes data;             // captured bytes (caplen = data.size())
    uint32_t wire_len = 0;  // length on the wire (may exceed data.size() when cut by snaplen)
    // The replay share the source already worked out (PcapShard: symmetric_pair_hash of the
    // frame's addresses modulo the shard count its feed was told), or no_shard. Sits in what
    // would be padding: the view stays 48 bytes.
    static constexpr uint32_t no_shard = ~uint32_t{0};
    uint32_t shard = no_shard;
    uint64_t ts_ns = 0;     // packet time, nanoseconds since the epoch
    uint64_t frame = 0;     // 1-based frame number across the whole input
    uint16_t link_type = 1; // DLT of the source
    uint16_t source = 0;    // index of the file / port it came from
};

}  // namespace frag53
