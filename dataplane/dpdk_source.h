// DPDK capture backend: EAL lifetime, port set-up with symmetric RSS, and one CaptureSource per
// (port, RX queue) whose packet views point straight into mbufs.
//
// Only built when the `dpdk` meson feature found libdpdk (FRAG53_HAVE_DPDK). Nothing DPDK leaks
// out of this header beyond forward declarations, so callers do not need DPDK's include flags.
//
// Threading: Eal and DpdkPorts are made and destroyed by the main thread. Each DpdkQueueSource is
// used by exactly one worker (DPDK RX queues are not thread safe); the only shared thing it
// reads is the stop flag, once per burst.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "dataplane/capture_source.h"
#include "dataplane/ip_address.h"

struct rte_mbuf;
struct rte_mempool;

namespace frag53::dpdk {

// Start-up and configuration failures; the message carries rte_strerror's text.
class DpdkError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The Environment Abstraction Layer, initialised once per process (DPDK cannot re-initialise it,
// even after rte_eal_cleanup). Destroy it only after every DpdkPorts and source is gone.
class Eal {
public:
    // args are what the user wrote before `--`, program name first (as argv[0]).
    explicit Eal(std::vector<std::string> args);
    ~Eal();
    Eal(const Eal&) = delete;
    Eal& operator=(const Eal&) = delete;

    // Lcores besides the main one: how many RX queues per port a caller would normally ask for.
    static unsigned worker_lcores() noexcept;
    // Ports the EAL probed (PCI devices bound to DPDK, --vdev devices, later hot-plugged ones).
    static std::vector<uint16_t> probed_ports();

private:
    std::vector<std::string> args_;  // EAL may keep pointers into argv, so these stay alive
};

// Bytes DPDK keeps in front of the frame in every mbuf (RTE_PKTMBUF_HEADROOM of the build).
inline constexpr uint16_t kMbufHeadroom = 128;

// Per-port set-up. Queue count is what the caller asked for capped by the device. When the device
// cannot spread by a symmetric IP hash and its queues are not declared presorted, its queues are
// still all set up (for net_pcap, net_ring and af_packet qpairs each is a separate input) and
// PortInfo::hardware_dispatch is false: the caller reads them and dispatches in software.
struct PortOptions {
    std::vector<uint16_t> ports;         // empty: every probed port
    uint16_t rx_queues = 1;              // wanted per port, normally one per worker lcore
    uint16_t rx_ring_size = 1024;        // descriptors per RX queue (the driver may adjust it)
    uint16_t max_burst = 64;             // largest burst a source will take; sizes the pool
    // RTE_MBUF_DEFAULT_BUF_SIZE: frames up to 2048 bytes fit; larger ones (jumbo frames, GRO
    // on the mirror's source) arrive as chains, which sources count and drop.
    uint16_t mbuf_data_room = 2048 + kMbufHeadroom;
    unsigned mbuf_cache = 256;           // per-lcore mempool cache
    bool promiscuous = true;             // a mirror port carries other hosts' traffic
    // The device's queues are already spread by the symmetric IP-pair hash (rss_queue() below):
    // a software distributor ahead of the port, or a test. Every requested queue the device has
    // is used without asking it for RSS, and PortInfo::hardware_dispatch is true.
    bool presorted_queues = false;
    bool hardware_timestamps = true;     // use the NIC's RX timestamp when it has a usable one
    unsigned clock_calibration_ms = 100;  // device clock rate measured over this long at start
};

// How each RX queue's packets get their time.
enum class TimestampClock : uint8_t {
    tsc,             // one TSC read per burst mapped to the epoch by an offset taken at start
    device_clock,    // NIC timestamp, mapped through rte_eth_read_clock calibrated at start
    device_epoch,    // driver timestamp already counting from the epoch (net_pcap: the
                     // record's time), in units of PortInfo::device_epoch_unit_ns
};

// A free-running counter mapped to the epoch: epoch_ns0 at tick0, hz ticks per second.
struct ClockMap {
    uint64_t tick0 = 0;
    uint64_t epoch_ns0 = 0;
    uint64_t hz = 1'000'000'000;
};

struct PortInfo {
    uint16_t port_id = 0;
    std::string driver;            // e.g. "net_ice", "net_pcap"
    int socket = 0;                // NUMA node of the device (0 when unknown)
    uint16_t rx_queues = 0;        // queues configured
    uint16_t rx_ring_size = 0;     // descriptors per queue after the driver's adjustment
    // true: RSS with the symmetric key over IPv4/IPv6 addresses (fragment types included, no
    // L4 ports) spreads packets over rx_queues, or PortOptions::presorted_queues said the queues
    // arrive spread that way. Some NICs pick the hash fields by packet type
    // and leave UDP/TCP packets out of "IPv4 only" hashing (all to queue 0): check
    // per-queue packet counts on new hardware.
    bool hardware_dispatch = false;
    std::string dispatch_note;     // why hardware_dispatch is false, for the operator
    // The redirection table in use when hardware_dispatch: RSS hash modulo its size -> queue.
    // Programmed round robin over the queues and read back; for presorted queues, the same
    // table a NIC would get (128 entries).
    std::vector<uint16_t> reta;
    bool promiscuous = false;
    TimestampClock clock = TimestampClock::tsc;
    ClockMap tsc;      // the TSC, the same for every port: taken once when the ports start
    ClockMap device;   // the NIC clock when clock == device_clock, calibrated at start
    uint32_t device_epoch_unit_ns = 1;  // clock == device_epoch: 1 (ns) or 1000 (us)
    rte_mempool* pool = nullptr;   // shared by every port on the same socket
};

// rte_eth_stats_get for one port: what the NIC saw, including what never reached a queue.
struct PortStats {
    uint64_t ipackets = 0;
    uint64_t ibytes = 0;
    uint64_t imissed = 0;     // dropped by the NIC because the RX ring was full: we were too slow
    uint64_t ierrors = 0;     // bad frames (CRC, length)
    uint64_t rx_nombuf = 0;   // the pool ran dry: views held too long before release()
};

// Configures and starts ports; stops and closes them, then frees the pools, on destruction.
class DpdkPorts {
public:
    explicit DpdkPorts(const PortOptions& options);
    ~DpdkPorts();
    DpdkPorts(const DpdkPorts&) = delete;
    DpdkPorts& operator=(const DpdkPorts&) = delete;

    std::span<const PortInfo> ports() const noexcept { return ports_; }
    const PortInfo& port(uint16_t port_id) const;  // throws DpdkError for a port not set up here
    // True when any port lacks symmetric RSS: the caller must dispatch by the IP-pair hash itself.
    bool software_dispatch_needed() const noexcept;
    PortStats stats(uint16_t port_id) const;
    void reset_stats(uint16_t port_id) const;
    uint16_t max_burst() const noexcept { return max_burst_; }

private:
    struct Pool {
        int socket = 0;
        rte_mempool* mp = nullptr;
    };
    void shutdown() noexcept;

    std::vector<PortInfo> ports_;
    std::vector<Pool> pools_;
    uint16_t max_burst_ = 0;
    uint16_t requested_ = 1;
};

// Counters one source keeps for its own queue (plain integers: only its worker writes them).
struct QueueStats {
    uint64_t packets = 0;        // delivered as views
    uint64_t bytes = 0;          // data bytes delivered
    uint64_t bursts = 0;         // non-empty rx bursts
    uint64_t empty_polls = 0;    // rx bursts that returned nothing
    uint64_t multi_segment_drops = 0;  // chained mbufs we do not hand out (see receive())
};

struct QueueSourceOptions {
    int32_t source_index = -1;   // PacketView::source; -1: the port id
    // Ends receive() loops; a signal handler may set it. nullptr: the process-wide stop_flag().
    const std::atomic<bool>* stop = nullptr;
};

// The Toeplitz hash a NIC computes for an IPv4 or IPv6 address pair (RTE_ETH_RSS_IPV4/IPV6:
// addresses only) with the symmetric key DpdkPorts programs: the same for (a, b) and (b, a).
// 0 for a pair of mixed or unknown versions (the NIC does not hash those either).
uint32_t symmetric_rss_hash(const IpAddress& src, const IpAddress& dst) noexcept;

// The RX queue a port with hardware_dispatch delivers a hash to (its redirection table).
uint16_t rss_queue(const PortInfo& port, uint32_t hash) noexcept;

// Process-wide stop flag, lock-free so a signal handler may store to it.
std::atomic<bool>& stop_flag() noexcept;

// One (port, RX queue). receive() polls until it has packets or the stop flag is set; poll() is
// the non-blocking form for loops that also have other work (timers, rings).
//
// Views point into the mbufs (zero copy) and take at most PortOptions::max_burst packets.
// ts_ns is the capture clock, not a wall-clock read per packet: with TimestampClock::tsc the
// packets of a burst share one TSC read taken right after rte_eth_rx_burst, mapped to the epoch
// by the offset DpdkPorts took at start, so later NTP steps do not move it and packet time never
// goes backwards. Frames are numbered per source from 1 in arrival order; a dropped packet keeps
// its number, so a gap shows a drop. Multi-segment mbufs are counted and dropped, not
// linearised: scatter is never enabled, and rte_pktmbuf_linearize only works when the first
// segment has room for the whole packet, which is exactly when no chain would have been made.
class DpdkQueueSource final : public CaptureSource, public PolledSource {
public:
    DpdkQueueSource(const DpdkPorts& ports, uint16_t port_id, uint16_t queue_id,
                    QueueSourceOptions options = {});
    ~DpdkQueueSource() override;
    DpdkQueueSource(const DpdkQueueSource&) = delete;
    DpdkQueueSource& operator=(const DpdkQueueSource&) = delete;

    // Waits for a non-empty burst; 0 only once the stop flag is set. Views stay valid until
    // release(); a receive() or poll() before release() frees the previous burst first.
    size_t receive(std::span<PacketView> out) noexcept override;
    // One rx burst: 0 when nothing was waiting (or stopped).
    size_t poll(std::span<PacketView> out) noexcept override;
    // Frees every mbuf of the last burst (delivered or dropped) in one rte_pktmbuf_free_bulk.
    void release(std::span<const PacketView> views) noexcept override;

    // The capture clock's present time, for a worker whose queue is idle to move its packet
    // time on (timeouts) without a packet: the TSC mapped as packet stamps are. 0 when packet
    // time is the device's own epoch (a replayed capture), which has no "now".
    uint64_t clock_now_ns() const noexcept override;

    const QueueStats& stats() const noexcept { return stats_; }
    uint16_t port_id() const noexcept { return port_; }
    uint16_t queue_id() const noexcept { return queue_; }
    TimestampClock clock() const noexcept { return clock_; }
    size_t max_burst() const noexcept { return held_.size(); }

private:
    // ClockMap in fixed point: one multiply and shift per conversion.
    struct Converter {
        uint64_t tick0 = 0;
        uint64_t epoch_ns0 = 0;
        uint64_t ns_per_tick_q32 = 0;  // 2^32 * 1e9 / hz
        explicit Converter(const ClockMap& m = {}) noexcept;
        uint64_t to_ns(uint64_t ticks) const noexcept;
    };

    uint16_t port_;
    uint16_t queue_;
    uint16_t source_index_ = 0;
    TimestampClock clock_ = TimestampClock::tsc;
    const std::atomic<bool>* stop_ = nullptr;
    std::vector<rte_mbuf*> held_;  // the burst the views point into; freed by release()
    size_t held_count_ = 0;
    Converter tsc_;
    Converter device_;
    uint32_t epoch_unit_ns_ = 1;
    int ts_offset_ = -1;           // mbuf dynamic field holding the RX timestamp
    uint64_t ts_flag_ = 0;         // ol_flags bit saying that field is valid for this mbuf
    uint64_t next_frame_ = 1;
    QueueStats stats_;
};

}  // namespace frag53::dpdk
