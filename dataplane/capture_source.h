// The one capture interface: burst-shaped with explicit ownership.
//
// receive() fills a span of packet views; the bytes stay valid until release() is called for
// them. A pcap file source copies into pool buffers (libpcap data lives only until the next
// read); a DPDK source points into mbufs.
#pragma once

#include <cstddef>
#include <span>

#include "dataplane/packet.h"

namespace frag53 {

class CaptureSource {
public:
    virtual ~CaptureSource() = default;
    // Up to out.size() packets. Returns 0 only when the source is exhausted or stopped.
    virtual size_t receive(std::span<PacketView> out) = 0;
    // Gives back the views returned by the last receive().
    virtual void release(std::span<const PacketView> views) noexcept = 0;
};

}  // namespace frag53
