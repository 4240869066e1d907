// The one capture interface: burst-shaped with explicit ownership.
//
// receive() fills a span of packet views; the bytes stay valid until release() is called for
// them. A pcap file source points into the chunks it reads a classic pcap file in, and copies
// what libpcap reads (pcapng, standard input) into buffers per burst slot, since libpcap's data
// lives only until its next read; a DPDK source points into mbufs.
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

// A source that the worker analyzing its packets polls itself: a NIC RX queue that symmetric
// RSS fills with whole address pairs, so no dispatcher has to copy packets between threads.
class PolledSource {
public:
    virtual ~PolledSource() = default;
    // One burst, without waiting: 0 when nothing is there now.
    virtual size_t poll(std::span<PacketView> out) noexcept = 0;
    // Gives back the views returned by the last poll().
    virtual void release(std::span<const PacketView> views) noexcept = 0;
    // The capture clock's present time on the packets' time line, for an idle queue's worker to
    // let time pass (timeouts); 0 when packet time has no "now" (a replayed recording).
    virtual uint64_t clock_now_ns() const noexcept = 0;
};

// One worker's share of a recording that every worker reads whole: the worker analyzes the
// packets whose address pair hashes to it (as symmetric RSS would give it) and only sees the
// time of the others, so its timeouts fire at the same packet as one pipeline's would. No thread
// copies packets for another: every worker walks the same chunks of a classic pcap file, read
// once (PcapFeedGroup); pcapng files are read by each worker (the page cache serves them).
class ReplayShard {
public:
    enum class Stop {
        full,   // `out` is full, or the packets read so far must be analyzed before reading on
        ahead,  // the next packet's frame number is above max_frame: wait for the others
        end,    // the recording is exhausted
    };
    virtual ~ReplayShard() = default;
    // Reads on from the last packet given out. Every packet read is in `out` (views valid until
    // release()); mine[i] says whether out[i] is this shard's to analyze. Stops before a packet
    // numbered above `max_frame`.
    virtual size_t next(std::span<PacketView> out, std::span<bool> mine, uint64_t max_frame,
                        Stop& why) noexcept = 0;
    virtual void release(std::span<const PacketView> views) noexcept = 0;
};

}  // namespace frag53
