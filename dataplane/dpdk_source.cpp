#include "dataplane/dpdk_source.h"

// rte_eth_read_clock (NIC clock calibration) is still experimental in DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API 1

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_thash.h>

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace frag53::dpdk {

static_assert(kMbufHeadroom == RTE_PKTMBUF_HEADROOM, "dpdk_source.h must match the DPDK build");

namespace {

// Far enough ahead that the line is in cache when decode reads it, near enough that it is
// still there (the l3fwd distance).
constexpr size_t kPrefetchAhead = 3;

// Two lines per packet: Ethernet, IP and UDP headers end at byte 42, so the DNS question starts
// in the first line and usually ends in the second; the name parser is the first to read past
// the headers, and without the second line it takes that miss itself.
inline void prefetch_frame(const rte_mbuf* m) noexcept {
    const char* p = rte_pktmbuf_mtod(m, const char*);
    rte_prefetch0(p);
    if (m->data_len > RTE_CACHE_LINE_SIZE) rte_prefetch0(p + RTE_CACHE_LINE_SIZE);
}

// RSS over the IP address pair only. With L4 ports in the hash, a datagram's non-first
// fragments (no ports) would land on another queue than its first, and the two directions of
// a flow would split unless the key is symmetric for ports too.
constexpr uint64_t kRssIpOnly = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 |
                                RTE_ETH_RSS_NONFRAG_IPV4_OTHER | RTE_ETH_RSS_IPV6 |
                                RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_OTHER |
                                RTE_ETH_RSS_IPV6_EX;

constexpr uint64_t kRssL4 = RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP |
                           RTE_ETH_RSS_NONFRAG_IPV4_SCTP | RTE_ETH_RSS_NONFRAG_IPV6_TCP |
                           RTE_ETH_RSS_NONFRAG_IPV6_UDP | RTE_ETH_RSS_NONFRAG_IPV6_SCTP |
                           RTE_ETH_RSS_IPV6_TCP_EX | RTE_ETH_RSS_IPV6_UDP_EX | RTE_ETH_RSS_PORT;

constexpr uint8_t kDefaultRssKeyLen = 40;

// The redirection table a presorted device is given (the size most NICs have).
constexpr uint16_t kPresortedRetaSize = 128;

// The symmetric key: with 0x6d5a repeated, Toeplitz gives hash(a, b) == hash(b, a) for fields
// that are a multiple of 16 bits long and swap places, as the two addresses do.
std::vector<uint8_t> symmetric_key(size_t len) {
    std::vector<uint8_t> key(len);
    for (size_t i = 0; i < key.size(); ++i) key[i] = (i % 2 == 0) ? 0x6d : 0x5a;
    return key;
}

// net_pcap stamps each packet with its pcap record's time, so a capture replayed through it keeps
// its own clock (time is an input). It has no rte_eth_read_clock, and two behaviours exist:
// DPDK 22.11 stamps every packet in microseconds without advertising the offload; later
// releases advertise RTE_ETH_RX_OFFLOAD_TIMESTAMP and, once it is enabled, stamp nanoseconds.
constexpr std::string_view kPcapDriver = "net_pcap";

__extension__ using u128 = unsigned __int128;

// Four bytes as they are in memory (network order), for rte_be_to_cpu_32.
uint32_t load_be32(const uint8_t* p) noexcept {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

[[noreturn]] void fail(const std::string& what, int err) {
    // DPDK returns -errno or sets rte_errno; rte_strerror understands both its own and errno's.
    throw DpdkError(what + ": " + rte_strerror(err < 0 ? -err : err));
}

uint64_t realtime_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Smallest 2^k - 1 >= n: the size rte_mempool uses best (its ring holds 2^k - 1 entries).
unsigned pool_size_for(uint64_t n) noexcept {
    return static_cast<unsigned>(std::bit_ceil(n + 1) - 1);
}

struct PortPlan {
    uint16_t port_id = 0;
    rte_eth_dev_info info{};
    int socket = 0;
    uint16_t queues = 1;
    uint16_t ring_size = 0;
    bool rss = false;
    bool presorted = false;           // queues filled by the same hash outside the device
    std::string note;
    bool offload_timestamps = false;  // RTE_ETH_RX_OFFLOAD_TIMESTAMP offered and wanted
};

std::string hex(uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
    return buf;
}

// Round robin over the queues, then read back: what software needs to predict a packet's queue
// (rss_queue), and a check that the device took it. A device without a redirection table
// (reta_size 0) leaves it empty: it spreads by hash modulo the queue count.
std::vector<uint16_t> program_reta(uint16_t port_id, uint16_t reta_size, uint16_t queues,
                                   const std::string& port_name) {
    std::vector<uint16_t> reta;
    if (reta_size == 0) return reta;
    const size_t groups = (reta_size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE;
    std::vector<rte_eth_rss_reta_entry64> conf(groups);
    for (size_t i = 0; i < reta_size; ++i) {
        rte_eth_rss_reta_entry64& g = conf[i / RTE_ETH_RETA_GROUP_SIZE];
        g.mask |= uint64_t{1} << (i % RTE_ETH_RETA_GROUP_SIZE);
        g.reta[i % RTE_ETH_RETA_GROUP_SIZE] = static_cast<uint16_t>(i % queues);
    }
    if (int rc = rte_eth_dev_rss_reta_update(port_id, conf.data(), reta_size); rc != 0) {
        if (rc == -ENOTSUP) return reta;  // a fixed table: spread by hash modulo the queues
        fail("rte_eth_dev_rss_reta_update(" + port_name + ")", rc);
    }
    std::vector<rte_eth_rss_reta_entry64> back(groups);
    for (size_t i = 0; i < reta_size; ++i)
        back[i / RTE_ETH_RETA_GROUP_SIZE].mask |= uint64_t{1} << (i % RTE_ETH_RETA_GROUP_SIZE);
    if (int rc = rte_eth_dev_rss_reta_query(port_id, back.data(), reta_size); rc != 0)
        fail("rte_eth_dev_rss_reta_query(" + port_name + ")", rc);
    reta.resize(reta_size);
    for (size_t i = 0; i < reta_size; ++i) {
        reta[i] = back[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
        if (reta[i] >= queues)
            throw DpdkError(port_name + ": redirection table entry " + std::to_string(i) +
                            " points at queue " + std::to_string(reta[i]) + " of " +
                            std::to_string(queues));
    }
    return reta;
}

}  // namespace

uint32_t symmetric_rss_hash(const IpAddress& src, const IpAddress& dst) noexcept {
    static constexpr std::array<uint8_t, kDefaultRssKeyLen> key = [] {
        std::array<uint8_t, kDefaultRssKeyLen> k{};
        for (size_t i = 0; i < k.size(); ++i) k[i] = (i % 2 == 0) ? 0x6d : 0x5a;
        return k;
    }();
    if (src.version != dst.version) return 0;
    // rte_softrss takes the tuple as 32-bit words in CPU order, as the NIC reads it big endian.
    std::array<uint32_t, 8> tuple{};
    const size_t words = src.version == 4 ? 1 : src.version == 6 ? 4 : 0;
    if (words == 0) return 0;
    for (size_t i = 0; i < words; ++i) {
        tuple[i] = rte_be_to_cpu_32(load_be32(src.bytes.data() + 4 * i));
        tuple[words + i] = rte_be_to_cpu_32(load_be32(dst.bytes.data() + 4 * i));
    }
    return rte_softrss(tuple.data(), static_cast<uint32_t>(2 * words), key.data());
}

uint16_t rss_queue(const PortInfo& port, uint32_t hash) noexcept {
    if (!port.reta.empty()) return port.reta[hash % port.reta.size()];
    return port.rx_queues > 1 ? static_cast<uint16_t>(hash % port.rx_queues) : 0;
}

std::atomic<bool>& stop_flag() noexcept {
    static std::atomic<bool> flag{false};
    static_assert(std::atomic<bool>::is_always_lock_free, "signal handlers store to it");
    return flag;
}

// ---------------------------------------------------------------------------------------------
// Eal

Eal::Eal(std::vector<std::string> args) : args_(std::move(args)) {
    if (args_.empty()) args_.emplace_back("frag53");
    std::vector<char*> argv;
    argv.reserve(args_.size() + 1);
    for (std::string& a : args_) argv.push_back(a.data());
    argv.push_back(nullptr);
    // rte_eal_init permutes argv; the copy keeps args_ intact for error messages.
    if (rte_eal_init(static_cast<int>(args_.size()), argv.data()) < 0) {
        const int err = rte_errno;
        std::string joined;
        for (const std::string& a : args_) joined += (joined.empty() ? "" : " ") + a;
        fail("rte_eal_init(" + joined + ")", err);
    }
}

Eal::~Eal() {
    const std::string runtime_dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    // DPDK 22.11 leaves its per-prefix runtime directory behind; with --no-shconf it is empty
    // and, with a per-run --file-prefix, they would pile up. rmdir leaves a non-empty one alone.
    rmdir(runtime_dir.c_str());
}

unsigned Eal::worker_lcores() noexcept {
    const unsigned n = rte_lcore_count();
    return n > 1 ? n - 1 : 1;
}

std::vector<uint16_t> Eal::probed_ports() {
    std::vector<uint16_t> ports;
    // RTE_ETH_FOREACH_DEV spelled out: its uint64_t -> uint16_t narrowing is not -Wconversion
    // clean. Ports owned by another component (bonding members) are skipped, as it does.
    for (uint64_t id = rte_eth_find_next_owned_by(0, RTE_ETH_DEV_NO_OWNER); id < RTE_MAX_ETHPORTS;
         id = rte_eth_find_next_owned_by(static_cast<uint16_t>(id + 1), RTE_ETH_DEV_NO_OWNER))
        ports.push_back(static_cast<uint16_t>(id));
    return ports;
}

// ---------------------------------------------------------------------------------------------
// DpdkPorts

DpdkPorts::DpdkPorts(const PortOptions& options) : max_burst_(options.max_burst) {
    std::vector<uint16_t> ids = options.ports.empty() ? Eal::probed_ports() : options.ports;
    if (ids.empty()) throw DpdkError("no DPDK ports (bind a NIC to vfio-pci or pass --vdev)");
    if (options.max_burst == 0 || options.rx_ring_size == 0)
        throw DpdkError("max_burst and rx_ring_size must be at least 1");
    if (options.mbuf_data_room <= kMbufHeadroom + 64)
        throw DpdkError("mbuf_data_room " + std::to_string(options.mbuf_data_room) +
                        " leaves no room for a frame after the headroom");
    const uint16_t wanted = std::max<uint16_t>(options.rx_queues, 1);
    requested_ = wanted;

    // Pass 1: what each port can do, so pools are sized before any queue needs one.
    std::vector<PortPlan> plans;
    for (uint16_t id : ids) {
        if (!rte_eth_dev_is_valid_port(id)) fail("port " + std::to_string(id), EINVAL);
        PortPlan p;
        p.port_id = id;
        if (int rc = rte_eth_dev_info_get(id, &p.info); rc != 0)
            fail("rte_eth_dev_info_get(port " + std::to_string(id) + ")", rc);
        const int socket = rte_eth_dev_socket_id(id);
        // Virtual devices have no node: put their buffers where the main lcore runs.
        p.socket = socket >= 0 ? socket : static_cast<int>(rte_socket_id());

        const uint16_t device_max = std::max<uint16_t>(p.info.max_rx_queues, 1);
        const uint64_t rss_hf = kRssIpOnly & p.info.flow_type_rss_offloads;
        if (wanted == 1) {
            p.note = "one RX queue requested";
        } else if (options.presorted_queues && device_max > 1) {
            p.presorted = true;
            p.queues = std::min(wanted, device_max);
            if (p.queues < wanted)
                p.note = "device has " + std::to_string(device_max) + " RX queues, " +
                         std::to_string(wanted) + " requested";
        } else if (rss_hf == 0) {
            // Every queue is read by the one receiving lcore. A NIC without RSS fills queue 0
            // only, but drivers whose queues are separate inputs (net_pcap with several
            // rx_pcap files, net_ring, net_af_packet qpairs) would lose the rest with one.
            p.queues = std::min(wanted, device_max);
            p.note = std::string("driver ") + p.info.driver_name +
                     " has no RSS over IP addresses: dispatch in software";
            if (device_max > p.queues)
                p.note += "; device has " + std::to_string(device_max) + " RX queues, only " +
                          std::to_string(p.queues) + " read (--rx-queues)";
        } else if (device_max == 1) {
            p.note = "device has a single RX queue: dispatch in software";
        } else {
            p.rss = true;
            p.queues = std::min(wanted, device_max);
            if (p.queues < wanted)
                p.note = "device has " + std::to_string(device_max) + " RX queues, " +
                         std::to_string(wanted) + " requested";
        }

        uint16_t rxd = options.rx_ring_size;
        uint16_t txd = 0;
        if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(id, &rxd, &txd); rc != 0)
            fail("rte_eth_dev_adjust_nb_rx_tx_desc(port " + std::to_string(id) + ")", rc);
        p.ring_size = rxd;
        p.offload_timestamps = options.hardware_timestamps &&
                               (p.info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP) != 0;
        plans.push_back(std::move(p));
    }

    // A constructor that throws runs no destructor: whatever was made so far is undone here.
    struct Unwind {
        DpdkPorts* self;
        bool armed = true;
        ~Unwind() {
            if (armed) self->shutdown();
        }
    } unwind{this};

    // One pool per socket, sized by what can be out of it at once: every descriptor of every
    // ring refilled, one burst held by each queue's worker, and every lcore's cache full. Sizing
    // by traffic instead would only move the point where rx_nombuf starts counting.
    const unsigned lcores = rte_lcore_count();
    for (const PortPlan& p : plans) {
        if (std::any_of(pools_.begin(), pools_.end(),
                        [&](const Pool& pool) { return pool.socket == p.socket; }))
            continue;
        uint64_t need = 0;
        for (const PortPlan& q : plans)
            if (q.socket == p.socket)
                need += static_cast<uint64_t>(q.ring_size + options.max_burst) * q.queues;
        unsigned cache = std::min<unsigned>(options.mbuf_cache, RTE_MEMPOOL_CACHE_MAX_SIZE);
        need += static_cast<uint64_t>(cache) * lcores + options.max_burst;
        const unsigned n = pool_size_for(need);
        // rte_mempool refuses a cache above n / 1.5 (its flush threshold would exceed the pool).
        cache = std::min(cache, n * 2 / 3);
        // Mempool names are process-wide; a second DpdkPorts (tests, a restart) needs its own.
        static std::atomic<unsigned> generation{0};
        const std::string name = "frag53_rx" + std::to_string(generation++) + "_s" +
                                 std::to_string(p.socket);
        rte_mempool* mp = rte_pktmbuf_pool_create(name.c_str(), n, cache, 0,
                                                  options.mbuf_data_room, p.socket);
        if (mp == nullptr)
            fail("rte_pktmbuf_pool_create(" + name + ", " + std::to_string(n) + " mbufs)",
                 rte_errno);
        pools_.push_back(Pool{p.socket, mp});
    }

    // Pass 2: configure and start.
    for (PortPlan& p : plans) {
        const std::string port_name = "port " + std::to_string(p.port_id);
        PortInfo info;
        info.port_id = p.port_id;
        info.driver = p.info.driver_name != nullptr ? p.info.driver_name : "";
        info.socket = p.socket;
        info.rx_queues = p.queues;
        info.rx_ring_size = p.ring_size;
        info.hardware_dispatch = p.rss || p.presorted;
        info.dispatch_note = p.note;
        for (const Pool& pool : pools_)
            if (pool.socket == p.socket) info.pool = pool.mp;

        rte_eth_conf conf{};
        // The symmetric key: with 0x6d5a repeated, Toeplitz gives hash(a, b) == hash(b, a),
        // so both directions of an address pair land on one queue.
        std::vector<uint8_t> key = symmetric_key(p.info.hash_key_size != 0
                                                     ? p.info.hash_key_size
                                                     : kDefaultRssKeyLen);
        if (p.rss) {
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_key = key.data();
            conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<uint8_t>(key.size());
            conf.rx_adv_conf.rss_conf.rss_hf = kRssIpOnly & p.info.flow_type_rss_offloads;
        }
        if (p.offload_timestamps) conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;

        // Capture only: no TX queues, so no TX descriptors or mbufs are spent.
        if (int rc = rte_eth_dev_configure(p.port_id, p.queues, 0, &conf); rc != 0)
            fail("rte_eth_dev_configure(" + port_name + ", " + std::to_string(p.queues) +
                     " RX queues)",
                 rc);
        ports_.push_back(info);  // from here on the destructor stops and closes it

        rte_eth_rxconf rxconf = p.info.default_rxconf;
        rxconf.offloads = conf.rxmode.offloads;
        for (uint16_t q = 0; q < p.queues; ++q) {
            if (int rc = rte_eth_rx_queue_setup(p.port_id, q, p.ring_size,
                                                static_cast<unsigned>(p.socket), &rxconf,
                                                info.pool);
                rc != 0)
                fail("rte_eth_rx_queue_setup(" + port_name + ", queue " + std::to_string(q) +
                         ")",
                     rc);
        }
        if (int rc = rte_eth_dev_start(p.port_id); rc != 0)
            fail("rte_eth_dev_start(" + port_name + ")", rc);

        PortInfo& live = ports_.back();
        if (p.rss) {
            // Some drivers (net_null among them) keep their default, asymmetric key whatever
            // rte_eth_dev_configure was given; set it again and read it back.
            rte_eth_rss_conf rss = conf.rx_adv_conf.rss_conf;
            const int rc = rte_eth_dev_rss_hash_update(p.port_id, &rss);
            if (rc != 0 && rc != -ENOTSUP)
                fail("rte_eth_dev_rss_hash_update(" + port_name + ")", rc);
            std::vector<uint8_t> got(key.size());
            rte_eth_rss_conf check{};
            check.rss_key = got.data();
            check.rss_key_len = static_cast<uint8_t>(got.size());
            if (rte_eth_dev_rss_hash_conf_get(p.port_id, &check) == 0) {
                if (got != key)
                    throw DpdkError(port_name + " (" + live.driver +
                                    ") does not take the symmetric RSS key: both directions of "
                                    "a flow would not meet on one queue");
                // Ports in the hash would split a datagram's fragments over queues.
                if ((check.rss_hf & kRssL4) != 0)
                    throw DpdkError(port_name + " (" + live.driver +
                                    ") hashes UDP/TCP ports (rss_hf 0x" + hex(check.rss_hf) +
                                    "): fragments would miss their first fragment's queue");
            }
            live.reta = program_reta(p.port_id, p.info.reta_size, p.queues, port_name);
        } else if (p.presorted) {
            live.reta.resize(kPresortedRetaSize);
            for (size_t i = 0; i < live.reta.size(); ++i)
                live.reta[i] = static_cast<uint16_t>(i % p.queues);
        }
        if (options.promiscuous) {
            // Some virtual devices have no notion of it (-ENOTSUP): they see everything anyway.
            const int rc = rte_eth_promiscuous_enable(p.port_id);
            if (rc != 0 && rc != -ENOTSUP)
                fail("rte_eth_promiscuous_enable(" + port_name + ")", rc);
            live.promiscuous = rte_eth_promiscuous_get(p.port_id) == 1;
        }

        live.clock = TimestampClock::tsc;
        if (options.hardware_timestamps && live.driver == kPcapDriver) {
            live.clock = TimestampClock::device_epoch;
            live.device_epoch_unit_ns = p.offload_timestamps ? 1 : 1000;
        } else if (p.offload_timestamps) {
            uint64_t dev0 = 0;
            if (rte_eth_read_clock(p.port_id, &dev0) == 0) {
                // The NIC clock's unit is the driver's; measure it against CLOCK_REALTIME once.
                // Over 100 ms the rate is good to a few parts in 10^5: enough for timeouts.
                const uint64_t real0 = realtime_ns();
                rte_delay_us_sleep(options.clock_calibration_ms * 1000u);
                uint64_t dev1 = 0;
                const uint64_t real1 = realtime_ns();
                if (rte_eth_read_clock(p.port_id, &dev1) == 0 && dev1 > dev0 && real1 > real0) {
                    live.device.tick0 = dev1;
                    live.device.epoch_ns0 = real1;
                    live.device.hz = static_cast<uint64_t>(static_cast<u128>(dev1 - dev0) *
                                                           1'000'000'000u / (real1 - real0));
                    if (live.device.hz != 0) live.clock = TimestampClock::device_clock;
                }
            }
            // Without a readable device clock the stamps' unit and origin are unknown: the TSC
            // is the better clock, and the offload costs nothing left on.
        }
    }

    // The TSC epoch offset, taken once for every port so all workers share one capture clock
    // (the TSC is invariant and synchronised across cores on the CPUs DPDK supports).
    const uint64_t tsc0 = rte_get_tsc_cycles();
    const uint64_t epoch0 = realtime_ns();
    for (PortInfo& info : ports_) info.tsc = ClockMap{tsc0, epoch0, rte_get_tsc_hz()};
    unwind.armed = false;
}

void DpdkPorts::shutdown() noexcept {
    for (const PortInfo& info : ports_) {
        // Stop returns the ring's mbufs to the pool; close releases the queues that point at it.
        rte_eth_dev_stop(info.port_id);
        rte_eth_dev_close(info.port_id);
    }
    ports_.clear();
    for (Pool& pool : pools_) rte_mempool_free(pool.mp);
    pools_.clear();
}

DpdkPorts::~DpdkPorts() { shutdown(); }

const PortInfo& DpdkPorts::port(uint16_t port_id) const {
    for (const PortInfo& info : ports_)
        if (info.port_id == port_id) return info;
    throw DpdkError("port " + std::to_string(port_id) + " was not set up");
}

bool DpdkPorts::software_dispatch_needed() const noexcept {
    return std::any_of(ports_.begin(), ports_.end(),
                       [&](const PortInfo& info) {
                           return (requested_ > 1 && !info.hardware_dispatch) || info.rx_queues < requested_;
                       });
}

PortStats DpdkPorts::stats(uint16_t port_id) const {
    rte_eth_stats s{};
    if (int rc = rte_eth_stats_get(port(port_id).port_id, &s); rc != 0)
        fail("rte_eth_stats_get(port " + std::to_string(port_id) + ")", rc);
    return PortStats{s.ipackets, s.ibytes, s.imissed, s.ierrors, s.rx_nombuf};
}

void DpdkPorts::reset_stats(uint16_t port_id) const {
    if (int rc = rte_eth_stats_reset(port(port_id).port_id); rc != 0 && rc != -ENOTSUP)
        fail("rte_eth_stats_reset(port " + std::to_string(port_id) + ")", rc);
}

// ---------------------------------------------------------------------------------------------
// DpdkQueueSource

DpdkQueueSource::DpdkQueueSource(const DpdkPorts& ports, uint16_t port_id, uint16_t queue_id,
                                 QueueSourceOptions options)
    : port_(port_id), queue_(queue_id) {
    const PortInfo& info = ports.port(port_id);
    if (queue_id >= info.rx_queues)
        throw DpdkError("port " + std::to_string(port_id) + " has " +
                        std::to_string(info.rx_queues) + " RX queues, not " +
                        std::to_string(queue_id + 1));
    source_index_ = options.source_index >= 0 ? static_cast<uint16_t>(options.source_index)
                                              : port_id;
    stop_ = options.stop != nullptr ? options.stop : &stop_flag();
    clock_ = info.clock;
    tsc_ = Converter(info.tsc);
    device_ = Converter(info.device);
    epoch_unit_ns_ = info.device_epoch_unit_ns;
    if (clock_ != TimestampClock::tsc &&
        rte_mbuf_dyn_rx_timestamp_register(&ts_offset_, &ts_flag_) != 0)
        clock_ = TimestampClock::tsc;  // the driver could not have stamped anything either
    held_.resize(std::max<uint16_t>(ports.max_burst(), 1));
}

DpdkQueueSource::~DpdkQueueSource() { release({}); }

// Fixed point keeps the per-packet conversion to a multiply: 2^-32 ns per tick of rounding is
// well under a nanosecond per second for any clock from 1 MHz to 10 GHz.
DpdkQueueSource::Converter::Converter(const ClockMap& m) noexcept
    : tick0(m.tick0),
      epoch_ns0(m.epoch_ns0),
      ns_per_tick_q32(static_cast<uint64_t>((static_cast<u128>(1'000'000'000u) << 32) /
                                            std::max<uint64_t>(m.hz, 1))) {}

uint64_t DpdkQueueSource::Converter::to_ns(uint64_t ticks) const noexcept {
    if (ticks >= tick0)
        return epoch_ns0 +
               static_cast<uint64_t>((static_cast<u128>(ticks - tick0) * ns_per_tick_q32) >> 32);
    // A device stamp from before calibration (packets already in the ring at start).
    return epoch_ns0 -
           static_cast<uint64_t>((static_cast<u128>(tick0 - ticks) * ns_per_tick_q32) >> 32);
}

uint64_t DpdkQueueSource::clock_now_ns() const noexcept {
    // With device_clock the stamps are the NIC's clock mapped to the epoch when the ports
    // started, as the TSC was: the two agree to the calibration's few parts in 10^5.
    if (clock_ == TimestampClock::device_epoch) return 0;
    return tsc_.to_ns(rte_get_tsc_cycles());
}

size_t DpdkQueueSource::receive(std::span<PacketView> out) noexcept {
    if (out.empty()) return 0;
    for (;;) {
        if (const size_t n = poll(out); n != 0) return n;
        if (stop_->load(std::memory_order_relaxed)) return 0;
    }
}

size_t DpdkQueueSource::poll(std::span<PacketView> out) noexcept {
    if (held_count_ != 0) release({});  // the caller skipped release(): do not leak the burst
    // The only shared read on this path, once per burst; relaxed is enough because nothing
    // else is published with the flag.
    if (stop_->load(std::memory_order_relaxed)) return 0;

    const auto want = static_cast<uint16_t>(std::min(out.size(), held_.size()));
    const uint16_t got = rte_eth_rx_burst(port_, queue_, held_.data(), want);
    if (got == 0) {
        ++stats_.empty_polls;
        return 0;
    }
    held_count_ = got;
    ++stats_.bursts;

    // The capture clock: at most one TSC read per burst, shared by its packets. Packets that
    // arrived together are stamped together; the spread inside a burst is below the ring's
    // own delay anyway.
    uint64_t burst_ns = 0;
    if (clock_ == TimestampClock::tsc) burst_ns = tsc_.to_ns(rte_get_tsc_cycles());

    for (size_t i = 0; i < std::min<size_t>(kPrefetchAhead, got); ++i) prefetch_frame(held_[i]);

    size_t n = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < got; ++i) {
        if (i + kPrefetchAhead < got) prefetch_frame(held_[i + kPrefetchAhead]);
        const rte_mbuf* m = held_[i];
        const uint64_t frame = next_frame_++;
        // Scatter is never enabled, so a chain only comes from a driver that builds one anyway.
        // Views are one contiguous span; linearising would need a copy into a second buffer
        // with its own lifetime, so such packets are counted and left for release() to free.
        if (m->nb_segs != 1) [[unlikely]] {
            ++stats_.multi_segment_drops;
            continue;
        }
        uint64_t ts = burst_ns;
        if (clock_ != TimestampClock::tsc) {
            if ((m->ol_flags & ts_flag_) != 0) [[likely]] {
                const uint64_t stamp =
                    *RTE_MBUF_DYNFIELD(m, ts_offset_, const rte_mbuf_timestamp_t*);
                ts = clock_ == TimestampClock::device_epoch ? stamp * epoch_unit_ns_
                                                            : device_.to_ns(stamp);
            } else {
                // A driver may skip the stamp for some packets; fall back to the TSC.
                if (burst_ns == 0) burst_ns = tsc_.to_ns(rte_get_tsc_cycles());
                ts = burst_ns;
            }
        }
        PacketView& v = out[n++];
        v.data = Bytes(rte_pktmbuf_mtod(m, const std::byte*), m->data_len);
        v.wire_len = m->pkt_len;
        v.ts_ns = ts;
        v.frame = frame;
        v.link_type = static_cast<uint16_t>(LinkType::ethernet);
        v.source = source_index_;
        bytes += m->data_len;
    }
    stats_.packets += n;
    stats_.bytes += bytes;
    if (n == 0) release({});  // every packet was dropped: nothing for the caller to give back
    return n;
}

void DpdkQueueSource::release(std::span<const PacketView>) noexcept {
    // The death row: delivered and dropped mbufs of the burst go back in one call, which
    // returns them to the lcore's mempool cache in bulk.
    if (held_count_ == 0) return;
    rte_pktmbuf_free_bulk(held_.data(), static_cast<unsigned>(held_count_));
    held_count_ = 0;
}

}  // namespace frag53::dpdk
