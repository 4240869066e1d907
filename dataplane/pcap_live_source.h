// Live capture source: one network interface through libpcap (TPACKET_V3 ring on Linux).
//
// Threading: one reader thread calls receive(), receive_or_idle(), release() and stats().
// stop() may be called from any thread or from a signal handler.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/capture_source.h"

namespace frag53 {

struct PcapLiveOptions {
    std::string interface_name;  // as `ip link` names it; "any" works too (DLT_LINUX_SLL)
    std::string bpf_filter;      // empty: everything
    int snaplen = 65535;
    bool promiscuous = true;
    int buffer_bytes = 64 << 20;  // kernel ring; big, so a slow burst does not drop
    // How long the kernel holds a block that is not full before handing it over (TPACKET_V3
    // block retire timeout), and how long receive_or_idle() waits with nothing captured.
    // Immediate mode stays off so bursts fill; it would also make libpcap fall back to TPACKET_V2.
    int timeout_ms = 100;
    bool immediate = false;
    uint16_t source_index = 0;  // PacketView.source, to tell interfaces apart
};

// Counters for the operator. The pcap_* ones are libpcap's (pcap_stats) widened to 64 bits;
// libpcap keeps them in 32-bit integers, so call stats() at least every 2^32 packets (a
// periodic metrics tick is plenty) for the totals to stay exact.
struct PcapLiveStats {
    uint64_t packets = 0;  // delivered by receive()
    uint64_t bytes = 0;    // captured bytes delivered
    uint64_t pcap_received = 0;     // ps_recv: packets that passed the filter (drops included)
    uint64_t pcap_dropped = 0;      // ps_drop: lost because the ring was full (we were too slow)
    uint64_t pcap_if_dropped = 0;   // ps_ifdrop: dropped by the interface / driver
    uint64_t copy_failed = 0;       // a burst slot could not grow (out of memory); packet lost
    bool pcap_stats_ok = true;      // false when pcap_stats failed; the pcap_* values are stale
};

class PcapLiveSource final : public CaptureSource {
public:
    // Opens and activates the capture and installs the filter. Throws std::runtime_error with
    // libpcap's explanation when the interface, a setting or the filter is refused. Activation
    // warnings (for example promiscuous mode not supported) are kept in warnings().
    explicit PcapLiveSource(PcapLiveOptions options);
    ~PcapLiveSource() override;
    PcapLiveSource(const PcapLiveSource&) = delete;
    PcapLiveSource& operator=(const PcapLiveSource&) = delete;

    // Up to out.size() packets: whatever the kernel has handed over, without waiting for the
    // burst to fill. Waits while nothing is captured; returns 0 only once stopped (stop(), or a
    // capture error, see error()). Views stay valid until the next receive().
    size_t receive(std::span<PacketView> out) override;
    // Like receive(), but also returns 0 when timeout_ms passes with nothing captured, so a
    // loop can do periodic work on an idle link. stopped() tells the two zeros apart.
    size_t receive_or_idle(std::span<PacketView> out) noexcept;
    void release(std::span<const PacketView> views) noexcept override;

    // Async-signal-safe: sets a flag and wakes a blocked receive(), which then returns 0, as
    // does every later one.
    void stop() noexcept;
    bool stopped() const noexcept { return stopped_.load(std::memory_order_acquire); }

    PcapLiveStats stats() noexcept;
    uint16_t link_type() const noexcept { return link_type_; }
    // For poll()/epoll loops: readable when receive_or_idle() has packets to return.
    int selectable_fd() const noexcept;
    const std::vector<std::string>& warnings() const noexcept { return warnings_; }
    // Why capture ended, when it ended on an error (interface went down or disappeared).
    const std::string& error() const noexcept { return error_; }

private:
    struct Impl;
    size_t read_burst(std::span<PacketView> out, bool return_when_idle) noexcept;

    PcapLiveOptions options_;
    std::unique_ptr<Impl> impl_;
    std::atomic<bool> stopped_{false};
    uint16_t link_type_ = 0;
    std::vector<std::string> warnings_;
    std::string error_;
    static_assert(std::atomic<bool>::is_always_lock_free, "stop() must be async-signal-safe");
};

}  // namespace frag53
