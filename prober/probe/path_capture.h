// The prober's own capture: what of each answer reached this host (whole, first fragment,
// non-first fragments) and ICMP errors about our queries. Packets are attributed to probe
// attempts by the destination port of the answer's first packet; non-first fragments (no UDP
// header) join their first fragment through the fragment identification.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "dataplane/decode.h"
#include "dataplane/ip_address.h"
#include "prober/probe/types.h"
#include "prober/probe/verdict.h"

namespace frag53 {
class PcapLiveSource;
}

namespace frag53::probe {

// Attribution of decoded packets; separate from the pcap handle so tests feed it packets.
class ArrivalTable {
public:
    static constexpr size_t max_fragment_sets = 4096;  // bounded; cleared when full
    static constexpr size_t max_ports = 65536;

    ArrivalTable(IpAddress server, IpAddress self) noexcept : server_(server), self_(self) {
        facts_.enabled = true;
    }

    void add(const DecodedPacket& p) noexcept;
    // Forget what was seen for `port` (a new attempt got it from the kernel).
    void claim(uint16_t port) noexcept;
    ArrivalSeen seen(uint16_t port) const noexcept;
    const CaptureFacts& facts() const noexcept { return facts_; }
    uint64_t fragment_sets_evicted() const noexcept { return evicted_; }

private:
    struct FragmentSet {
        uint16_t port = 0;  // 0 until the first fragment is seen
        uint16_t nonfirst = 0;
        uint16_t max_len = 0;
    };
    IpAddress server_, self_;
    std::unordered_map<uint32_t, FragmentSet> sets_;
    std::unordered_map<uint16_t, ArrivalSeen> ports_;
    CaptureFacts facts_;
    uint64_t evicted_ = 0;
};

class PathCapture {
public:
    // Opens `interface_name` (throws std::runtime_error with libpcap's reason when it cannot).
    PathCapture(const std::string& interface_name, IpAddress server, IpAddress self);
    ~PathCapture();
    PathCapture(const PathCapture&) = delete;
    PathCapture& operator=(const PathCapture&) = delete;

    int fd() const noexcept;  // readable when packets wait
    void drain() noexcept;    // decodes whatever the kernel has handed over
    ArrivalTable& table() noexcept { return table_; }
    const ArrivalTable& table() const noexcept { return table_; }
    uint64_t kernel_drops() noexcept;

private:
    std::unique_ptr<PcapLiveSource> source_;
    ArrivalTable table_;
};

}  // namespace frag53::probe
