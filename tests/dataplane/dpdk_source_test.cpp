// DPDK capture backend against DPDK's in-memory drivers (net_pcap, net_ring, net_null), with
// the EAL in-process and hugepage-free. The EAL can be initialised once per process, so one
// global environment owns it and every test shares it; each test makes its own devices.
#include "dataplane/dpdk_source.h"

#include "dataplane/decode.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <rte_dev.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_thash.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace frag53::dpdk {
namespace {

struct Record {
    std::vector<uint8_t> data;
    uint64_t ts_ns = 0;
};

// Ethernet / IPv4 / UDP to port 53 padded to `size`, with `tag` in every payload byte so frames
// cannot be confused with each other.
std::vector<uint8_t> udp_frame(size_t size, uint8_t tag) {
    std::vector<uint8_t> f(size, tag);
    const uint8_t header[] = {
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,  // Ethernet, IPv4
        0x45, 0, 0, 0, 0, tag, 0, 0, 64, 17, 0, 0,                   // IPv4, UDP
        192, 0, 2, 1, 198, 51, 100, 7,                               // addresses
        0x30, 0x39, 0x00, 0x35, 0, 0, 0, 0,                          // UDP 12345 -> 53
    };
    std::memcpy(f.data(), header, std::min(sizeof header, size));
    if (size >= 34) {
        const auto ip_len = static_cast<uint16_t>(size - 14);
        f[16] = static_cast<uint8_t>(ip_len >> 8);
        f[17] = static_cast<uint8_t>(ip_len);
    }
    return f;
}

std::vector<Record> known_records() {
    std::vector<Record> records;
    const size_t sizes[] = {60, 64, 128, 333, 512, 1000, 1514, 60, 90, 1514, 64, 700, 42};
    uint64_t ts = 1'700'000'000'123'456'789ull;
    uint8_t tag = 1;
    for (size_t size : sizes) {
        records.push_back(Record{udp_frame(size, tag++), ts});
        ts += 1'234'567;  // about 1.2 ms apart, not a round number of microseconds
    }
    return records;
}

void write_pcap(const std::string& path, const std::vector<Record>& records) {
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535,
                                                        PCAP_TSTAMP_PRECISION_NANO);
    ASSERT_NE(dead, nullptr);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    ASSERT_NE(dumper, nullptr) << pcap_geterr(dead);
    for (const Record& r : records) {
        pcap_pkthdr hdr{};
        hdr.ts.tv_sec = static_cast<time_t>(r.ts_ns / 1'000'000'000u);
        // With nanosecond precision libpcap keeps nanoseconds in tv_usec.
        hdr.ts.tv_usec = static_cast<suseconds_t>(r.ts_ns % 1'000'000'000u);
        hdr.caplen = static_cast<uint32_t>(r.data.size());
        hdr.len = hdr.caplen;
        pcap_dump(reinterpret_cast<u_char*>(dumper), &hdr, r.data.data());
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
}

class DpdkEnvironment : public ::testing::Environment {
public:
    static DpdkEnvironment* instance;

    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("frag53-dpdk-test-" + std::to_string(getpid()));
        std::filesystem::create_directories(dir_);
        records_ = known_records();
        pcap_path_ = (dir_ / "known.pcap").string();
        write_pcap(pcap_path_, records_);

        const std::string pid = std::to_string(getpid());
        std::vector<std::string> args = {
            "frag53-test", "-l", "0", "--no-huge", "--no-pci", "-m", "256",
            "--vdev=net_pcap0,rx_pcap=" + pcap_path_, "--file-prefix=frag53-test-" + pid,
            "--no-shconf", "--no-telemetry",  // nothing left behind in /var/run/dpdk
            "--log-level=error",
        };
        try {
            eal_ = std::make_unique<Eal>(std::move(args));
        } catch (const DpdkError& e) {
            failure_ = e.what();
        }
    }

    void TearDown() override {
        eal_.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    bool ready() const { return eal_ != nullptr; }
    const std::string& failure() const { return failure_; }
    const std::vector<Record>& records() const { return records_; }
    const std::string& pcap_path() const { return pcap_path_; }
    std::filesystem::path dir() const { return dir_; }

private:
    std::unique_ptr<Eal> eal_;
    std::string failure_;
    std::filesystem::path dir_;
    std::string pcap_path_;
    std::vector<Record> records_;
};

DpdkEnvironment* DpdkEnvironment::instance = static_cast<DpdkEnvironment*>(
    ::testing::AddGlobalTestEnvironment(new DpdkEnvironment));

#define SKIP_WITHOUT_EAL()                                                                  \
    do {                                                                                    \
        if (!DpdkEnvironment::instance->ready())                                            \
            GTEST_SKIP() << "EAL did not start (needs root or hugepage-free --no-huge "     \
                            "support): "                                                    \
                         << DpdkEnvironment::instance->failure();                           \
    } while (0)

uint16_t port_by_name(const std::string& name) {
    uint16_t port = 0;
    EXPECT_EQ(rte_eth_dev_get_port_by_name(name.c_str(), &port), 0) << name;
    return port;
}

// A hot-plugged virtual device (the EAL's --vdev, after start-up); each test uses new names
// because DpdkPorts closes its ports and a closed port is gone for the process.
uint16_t probe_vdev(const std::string& name, const std::string& args) {
    const std::string devargs = args.empty() ? name : name + "," + args;
    const int rc = rte_dev_probe(devargs.c_str());
    EXPECT_EQ(rc, 0) << devargs << ": " << rte_strerror(-rc);
    return port_by_name(name);
}

std::string unique(const std::string& base) {
    static int n = 0;
    return base + std::to_string(n++);
}

// Drains a source that will run dry (pcap file, ring) with bursts of `burst`.
struct Drained {
    std::vector<std::vector<uint8_t>> data;
    std::vector<PacketView> views;  // copies: data pointers are dead after release()
};

Drained drain(DpdkQueueSource& source, size_t burst, rte_mempool* pool = nullptr,
              unsigned pool_full = 0) {
    Drained d;
    std::vector<PacketView> views(burst);
    for (int idle = 0; idle < 1000;) {
        const size_t n = source.poll(views);
        if (n == 0) {
            ++idle;
            continue;
        }
        idle = 0;
        for (size_t i = 0; i < n; ++i) {
            const auto* p = reinterpret_cast<const uint8_t*>(views[i].data.data());
            d.data.emplace_back(p, p + views[i].data.size());
            d.views.push_back(views[i]);
        }
        if (pool != nullptr) {
            // While views are held, their mbufs are out of the pool.
            EXPECT_LE(rte_mempool_avail_count(pool), pool_full - n);
        }
        source.release(std::span<const PacketView>(views.data(), n));
        if (pool != nullptr) {
            EXPECT_EQ(rte_mempool_avail_count(pool), pool_full);
        }
    }
    return d;
}

void expect_known_frames(const Drained& d, const std::vector<Record>& records,
                         uint16_t port_id) {
    ASSERT_EQ(d.data.size(), records.size());
    for (size_t i = 0; i < records.size(); ++i) {
        SCOPED_TRACE("frame " + std::to_string(i + 1));
        EXPECT_EQ(d.data[i], records[i].data);
        EXPECT_EQ(d.views[i].wire_len, records[i].data.size());
        EXPECT_EQ(d.views[i].frame, i + 1);
        EXPECT_EQ(d.views[i].link_type, static_cast<uint16_t>(LinkType::ethernet));
        EXPECT_EQ(d.views[i].source, port_id);
    }
}

// --- net_pcap ---------------------------------------------------------------------------------

TEST(DpdkQueueSource, PcapFramesArriveUnchangedInOrder) {
    SKIP_WITHOUT_EAL();
    const auto& env = *DpdkEnvironment::instance;
    const uint16_t port = port_by_name("net_pcap0");  // the --vdev given to the EAL

    PortOptions options;
    options.ports = {port};
    options.rx_queues = 1;
    DpdkPorts ports(options);
    ASSERT_EQ(ports.ports().size(), 1u);
    const PortInfo& info = ports.port(port);
    EXPECT_EQ(info.driver, "net_pcap");
    EXPECT_EQ(info.rx_queues, 1);
    EXPECT_FALSE(info.hardware_dispatch);
    EXPECT_FALSE(ports.software_dispatch_needed());  // one queue was all we asked for
    ASSERT_NE(info.pool, nullptr);
    // net_pcap allocates per packet rather than filling a ring, so the pool starts full.
    const unsigned full = rte_mempool_avail_count(info.pool);
    EXPECT_EQ(full, info.pool->size);

    DpdkQueueSource source(ports, port, 0);
    // Bursts of 4 so frames span several bursts and a partial last one.
    const Drained d = drain(source, 4, info.pool, full);
    expect_known_frames(d, env.records(), port);

    size_t bytes = 0;
    for (const Record& r : env.records()) bytes += r.data.size();
    EXPECT_EQ(source.stats().packets, env.records().size());
    EXPECT_EQ(source.stats().bytes, bytes);
    EXPECT_EQ(source.stats().bursts, (env.records().size() + 3) / 4);
    EXPECT_EQ(source.stats().multi_segment_drops, 0u);
    EXPECT_GT(source.stats().empty_polls, 0u);

    const PortStats ps = ports.stats(port);
    EXPECT_EQ(ps.ipackets, env.records().size());
    EXPECT_EQ(ps.ibytes, bytes);
    EXPECT_EQ(ps.rx_nombuf, 0u);
}

TEST(DpdkQueueSource, PcapRecordTimesAreTheDeviceTimestamps) {
    SKIP_WITHOUT_EAL();
    const auto& env = *DpdkEnvironment::instance;
    const uint16_t port = probe_vdev(unique("net_pcap_ts"), "rx_pcap=" + env.pcap_path());

    PortOptions options;
    options.ports = {port};
    DpdkPorts ports(options);
    const PortInfo& info = ports.port(port);
    DpdkQueueSource source(ports, port, 0);
    ASSERT_EQ(info.clock, TimestampClock::device_epoch);
    // DPDK 22.11's net_pcap stamps microseconds; later ones nanoseconds.
    const uint64_t unit = info.device_epoch_unit_ns;
    EXPECT_TRUE(unit == 1 || unit == 1000) << unit;
    const Drained d = drain(source, 32);
    ASSERT_EQ(d.views.size(), env.records().size());
    for (size_t i = 0; i < d.views.size(); ++i)
        EXPECT_EQ(d.views[i].ts_ns, env.records()[i].ts_ns / unit * unit) << "frame " << i + 1;
    EXPECT_EQ(source.clock_now_ns(), 0u);  // a replay's clock has no present
}

TEST(DpdkQueueSource, WithoutHardwareTimestampsTheTscClockIsUsed) {
    SKIP_WITHOUT_EAL();
    const auto& env = *DpdkEnvironment::instance;
    const uint16_t port = probe_vdev(unique("net_pcap_tsc"), "rx_pcap=" + env.pcap_path());

    PortOptions options;
    options.ports = {port};
    options.hardware_timestamps = false;
    const auto wall = [] {
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u +
               static_cast<uint64_t>(ts.tv_nsec);
    };
    const uint64_t before = wall();
    DpdkPorts ports(options);
    EXPECT_EQ(ports.port(port).clock, TimestampClock::tsc);
    DpdkQueueSource source(ports, port, 0);
    const Drained d = drain(source, 5);
    const uint64_t after = wall();
    ASSERT_EQ(d.views.size(), env.records().size());
    uint64_t last = 0;
    for (const PacketView& v : d.views) {
        // The TSC mapping is taken once; allow a millisecond for the rate's rounding.
        EXPECT_GE(v.ts_ns + 1'000'000, before);
        EXPECT_LE(v.ts_ns, after + 1'000'000);
        EXPECT_GE(v.ts_ns, last);  // never backwards
        last = v.ts_ns;
    }
    // One clock read per burst: packets of a burst share it.
    EXPECT_EQ(d.views[0].ts_ns, d.views[4].ts_ns);
    // An idle worker's notion of "now" is on the same clock, after every packet it was given.
    const uint64_t now = source.clock_now_ns();
    EXPECT_GE(now, last);
    EXPECT_LE(now, wall() + 1'000'000);
}

TEST(DpdkPorts, QueueRequestIsCappedByTheDevice) {
    SKIP_WITHOUT_EAL();
    const auto& env = *DpdkEnvironment::instance;
    const uint16_t port = probe_vdev(unique("net_pcap_cap"), "rx_pcap=" + env.pcap_path());
    PortOptions options;
    options.ports = {port};
    options.rx_queues = 4;  // one file is one queue
    DpdkPorts ports(options);
    EXPECT_EQ(ports.port(port).rx_queues, 1);
    EXPECT_FALSE(ports.port(port).hardware_dispatch);
    EXPECT_FALSE(ports.port(port).dispatch_note.empty());
    EXPECT_TRUE(ports.software_dispatch_needed());
    EXPECT_THROW(DpdkQueueSource(ports, port, 1), DpdkError);
}

TEST(DpdkPorts, UnknownPortIsAConfigurationError) {
    SKIP_WITHOUT_EAL();
    PortOptions options;
    options.ports = {RTE_MAX_ETHPORTS - 1};
    EXPECT_THROW(DpdkPorts{options}, DpdkError);
}

TEST(Eal, SecondInitialisationThrowsWithTheReason) {
    SKIP_WITHOUT_EAL();
    try {
        Eal again({"frag53-test", "--no-huge", "--no-pci"});
        FAIL() << "rte_eal_init succeeded twice";
    } catch (const DpdkError& e) {
        EXPECT_NE(std::string(e.what()).find("rte_eal_init"), std::string::npos) << e.what();
    }
}

// --- net_ring ---------------------------------------------------------------------------------

struct RingPort {
    std::vector<rte_ring*> rings;
    uint16_t port = 0;
    std::string name;

    explicit RingPort(size_t queues) {
        name = unique("frag53_ring");
        for (size_t q = 0; q < queues; ++q) {
            rte_ring* r = rte_ring_create((name + "_" + std::to_string(q)).c_str(), 1024,
                                          SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
            EXPECT_NE(r, nullptr) << rte_strerror(rte_errno);
            rings.push_back(r);
        }
        const int id = rte_eth_from_rings(name.c_str(), rings.data(),
                                          static_cast<unsigned>(rings.size()), rings.data(),
                                          static_cast<unsigned>(rings.size()), SOCKET_ID_ANY);
        EXPECT_GE(id, 0) << rte_strerror(rte_errno);
        port = static_cast<uint16_t>(id);
    }
    ~RingPort() {
        for (rte_ring* r : rings) rte_ring_free(r);
    }
};

struct TestPool {
    rte_mempool* mp;
    explicit TestPool(unsigned n)
        : mp(rte_pktmbuf_pool_create(unique("frag53_tp").c_str(), n, 0, 0,
                                     RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY)) {
        EXPECT_NE(mp, nullptr) << rte_strerror(rte_errno);
    }
    ~TestPool() { rte_mempool_free(mp); }
};

rte_mbuf* make_mbuf(rte_mempool* mp, const std::vector<uint8_t>& bytes) {
    rte_mbuf* m = rte_pktmbuf_alloc(mp);
    EXPECT_NE(m, nullptr);
    char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(bytes.size()));
    EXPECT_NE(p, nullptr);
    std::memcpy(p, bytes.data(), bytes.size());
    return m;
}

TEST(DpdkQueueSource, RingMbufsArriveZeroCopyAndGoBackToTheirPool) {
    SKIP_WITHOUT_EAL();
    const auto& env = *DpdkEnvironment::instance;
    RingPort ring(1);
    TestPool pool(255);
    const unsigned full = rte_mempool_avail_count(pool.mp);

    PortOptions options;
    options.ports = {ring.port};
    DpdkPorts ports(options);
    EXPECT_EQ(ports.port(ring.port).driver, "net_ring");
    QueueSourceOptions qo;
    qo.source_index = 7;
    DpdkQueueSource source(ports, ring.port, 0, qo);

    std::vector<const void*> addresses;
    for (const Record& r : env.records()) {
        rte_mbuf* m = make_mbuf(pool.mp, r.data);
        addresses.push_back(rte_pktmbuf_mtod(m, const void*));
        ASSERT_EQ(rte_ring_enqueue(ring.rings[0], m), 0);
    }

    std::vector<PacketView> views(32);
    const size_t n = source.poll(views);
    ASSERT_EQ(n, env.records().size());
    for (size_t i = 0; i < n; ++i) {
        SCOPED_TRACE("frame " + std::to_string(i + 1));
        EXPECT_EQ(static_cast<const void*>(views[i].data.data()), addresses[i]);  // zero copy
        const auto* p = reinterpret_cast<const uint8_t*>(views[i].data.data());
        EXPECT_EQ(std::vector<uint8_t>(p, p + views[i].data.size()), env.records()[i].data);
        EXPECT_EQ(views[i].frame, i + 1);
        EXPECT_EQ(views[i].source, 7);
    }
    EXPECT_EQ(rte_mempool_avail_count(pool.mp), full - n);
    source.release(std::span<const PacketView>(views.data(), n));
    EXPECT_EQ(rte_mempool_avail_count(pool.mp), full);
}

TEST(DpdkQueueSource, MultiSegmentMbufsAreCountedAndFreed) {
    SKIP_WITHOUT_EAL();
    RingPort ring(1);
    TestPool pool(63);
    const unsigned full = rte_mempool_avail_count(pool.mp);
    PortOptions options;
    options.ports = {ring.port};
    DpdkPorts ports(options);
    DpdkQueueSource source(ports, ring.port, 0);

    const std::vector<uint8_t> a = udp_frame(100, 1), b = udp_frame(200, 2), c = udp_frame(80, 3);
    rte_mbuf* chained = make_mbuf(pool.mp, udp_frame(1000, 9));
    ASSERT_EQ(rte_pktmbuf_chain(chained, make_mbuf(pool.mp, std::vector<uint8_t>(500, 9))), 0);
    rte_mbuf* burst[] = {make_mbuf(pool.mp, a), chained, make_mbuf(pool.mp, b),
                         make_mbuf(pool.mp, c)};
    ASSERT_EQ(rte_ring_enqueue_bulk(ring.rings[0], reinterpret_cast<void**>(burst), 4, nullptr),
              4u);

    std::vector<PacketView> views(32);
    const size_t n = source.poll(views);
    ASSERT_EQ(n, 3u);
    EXPECT_EQ(views[0].data.size(), a.size());
    EXPECT_EQ(views[1].data.size(), b.size());
    EXPECT_EQ(views[2].data.size(), c.size());
    EXPECT_EQ(views[1].frame, 3u);  // frame numbers count arrivals, the dropped one included
    EXPECT_EQ(source.stats().multi_segment_drops, 1u);
    source.release(std::span<const PacketView>(views.data(), n));
    EXPECT_EQ(rte_mempool_avail_count(pool.mp), full);  // the chain went back too

    // A burst of nothing but chains gives the caller nothing and still frees them.
    rte_mbuf* only = make_mbuf(pool.mp, a);
    ASSERT_EQ(rte_pktmbuf_chain(only, make_mbuf(pool.mp, b)), 0);
    ASSERT_EQ(rte_ring_enqueue(ring.rings[0], only), 0);
    EXPECT_EQ(source.poll(views), 0u);
    EXPECT_EQ(source.stats().multi_segment_drops, 2u);
    EXPECT_EQ(rte_mempool_avail_count(pool.mp), full);
}

TEST(DpdkQueueSource, ReceiveWithoutReleaseDoesNotLeak) {
    SKIP_WITHOUT_EAL();
    RingPort ring(1);
    TestPool pool(63);
    const unsigned full = rte_mempool_avail_count(pool.mp);
    PortOptions options;
    options.ports = {ring.port};
    DpdkPorts ports(options);
    {
        DpdkQueueSource source(ports, ring.port, 0);
        std::vector<PacketView> views(8);
        for (uint8_t i = 0; i < 3; ++i)
            ASSERT_EQ(rte_ring_enqueue(ring.rings[0], make_mbuf(pool.mp, udp_frame(64, i))), 0);
        EXPECT_EQ(source.poll(views), 3u);
        ASSERT_EQ(rte_ring_enqueue(ring.rings[0], make_mbuf(pool.mp, udp_frame(64, 4))), 0);
        EXPECT_EQ(source.poll(views), 1u);  // frees the first burst before taking the next
        EXPECT_EQ(rte_mempool_avail_count(pool.mp), full - 1);
    }  // the destructor frees what is still held
    EXPECT_EQ(rte_mempool_avail_count(pool.mp), full);
}

TEST(DpdkQueueSource, StopFlagEndsReceiveEvenWithPacketsWaiting) {
    SKIP_WITHOUT_EAL();
    RingPort ring(1);
    TestPool pool(63);
    PortOptions options;
    options.ports = {ring.port};
    DpdkPorts ports(options);
    std::atomic<bool> stop{false};
    QueueSourceOptions qo;
    qo.stop = &stop;
    DpdkQueueSource source(ports, ring.port, 0, qo);

    std::vector<PacketView> views(8);
    ASSERT_EQ(rte_ring_enqueue(ring.rings[0], make_mbuf(pool.mp, udp_frame(64, 1))), 0);
    EXPECT_EQ(source.receive(views), 1u);
    source.release(std::span<const PacketView>(views.data(), 1));

    ASSERT_EQ(rte_ring_enqueue(ring.rings[0], make_mbuf(pool.mp, udp_frame(64, 2))), 0);
    stop.store(true);
    EXPECT_EQ(source.receive(views), 0u);  // returns instead of spinning or taking the packet
    EXPECT_EQ(rte_ring_count(ring.rings[0]), 1u);
    stop.store(false);
    EXPECT_EQ(source.receive(views), 1u);
    source.release(std::span<const PacketView>(views.data(), 1));
}

TEST(DpdkQueueSource, ProcessWideStopFlagIsTheDefault) {
    SKIP_WITHOUT_EAL();
    RingPort ring(1);
    PortOptions options;
    options.ports = {ring.port};
    DpdkPorts ports(options);
    DpdkQueueSource source(ports, ring.port, 0);
    std::vector<PacketView> views(8);
    stop_flag().store(true);
    EXPECT_EQ(source.receive(views), 0u);  // an empty ring would otherwise spin forever
    stop_flag().store(false);
}

TEST(DpdkPorts, RingWithoutRssReadsEveryQueueAndSaysSoftwareDispatch) {
    SKIP_WITHOUT_EAL();
    RingPort ring(3);
    TestPool pool(64);
    PortOptions options;
    options.ports = {ring.port};
    options.rx_queues = 3;
    DpdkPorts ports(options);
    const PortInfo& info = ports.port(ring.port);
    // The rings are separate inputs: each is a queue, none may be left unread.
    EXPECT_EQ(info.rx_queues, 3);
    EXPECT_FALSE(info.hardware_dispatch);
    EXPECT_NE(info.dispatch_note.find("software"), std::string::npos) << info.dispatch_note;
    EXPECT_TRUE(ports.software_dispatch_needed());
    std::vector<PacketView> views(8);
    for (uint16_t q = 0; q < 3; ++q) {
        ASSERT_EQ(rte_ring_enqueue(ring.rings[q], make_mbuf(pool.mp, udp_frame(64, static_cast<uint8_t>(q)))), 0);
        DpdkQueueSource source(ports, ring.port, q);
        EXPECT_EQ(source.receive(views), 1u) << "queue " << q;
        source.release(std::span<const PacketView>(views.data(), 1));
    }
}

TEST(DpdkPorts, RingWithoutRssAndFewerQueuesRequestedNamesTheUnreadOnes) {
    SKIP_WITHOUT_EAL();
    RingPort ring(3);
    PortOptions options;
    options.ports = {ring.port};
    options.rx_queues = 2;
    DpdkPorts ports(options);
    const PortInfo& info = ports.port(ring.port);
    EXPECT_EQ(info.rx_queues, 2);
    EXPECT_NE(info.dispatch_note.find("device has 3 RX queues, only 2 read"), std::string::npos)
        << info.dispatch_note;
}

// --- net_null: a device with RSS and many queues ------------------------------------------------

TEST(DpdkPorts, NullDeviceGetsSymmetricIpOnlyRssOverEveryQueue) {
    SKIP_WITHOUT_EAL();
    const uint16_t port = probe_vdev(unique("net_null_rss"), "size=64,copy=0");
    PortOptions options;
    options.ports = {port};
    options.rx_queues = 4;
    options.rx_ring_size = 256;
    DpdkPorts ports(options);
    const PortInfo& info = ports.port(port);
    EXPECT_EQ(info.driver, "net_null");
    EXPECT_EQ(info.rx_queues, 4);
    EXPECT_TRUE(info.hardware_dispatch);
    EXPECT_TRUE(info.dispatch_note.empty()) << info.dispatch_note;
    EXPECT_FALSE(ports.software_dispatch_needed());

    rte_eth_dev_info dev_info{};
    ASSERT_EQ(rte_eth_dev_info_get(port, &dev_info), 0);
    EXPECT_EQ(dev_info.nb_rx_queues, 4);

    std::array<uint8_t, 64> key{};
    rte_eth_rss_conf conf{};
    conf.rss_key = key.data();
    conf.rss_key_len = static_cast<uint8_t>(key.size());
    ASSERT_EQ(rte_eth_dev_rss_hash_conf_get(port, &conf), 0);
    // net_null reports no key size and keeps the 40-byte key we give it.
    const size_t key_len = dev_info.hash_key_size != 0 ? dev_info.hash_key_size : 40;
    for (size_t i = 0; i < key_len; ++i)
        EXPECT_EQ(key[i], i % 2 == 0 ? 0x6d : 0x5a) << "key byte " << i;
    constexpr uint64_t l4 = RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP |
                            RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_NONFRAG_IPV6_UDP |
                            RTE_ETH_RSS_NONFRAG_IPV4_SCTP | RTE_ETH_RSS_NONFRAG_IPV6_SCTP;
    EXPECT_EQ(conf.rss_hf & l4, 0u);
    EXPECT_NE(conf.rss_hf & RTE_ETH_RSS_IPV4, 0u);
    EXPECT_NE(conf.rss_hf & RTE_ETH_RSS_FRAG_IPV4, 0u);

    // Every queue delivers, and a pool sized from the rings never runs dry while we release.
    const unsigned full = rte_mempool_avail_count(info.pool);
    for (uint16_t q = 0; q < info.rx_queues; ++q) {
        DpdkQueueSource source(ports, port, q);
        std::vector<PacketView> views(32);
        for (int i = 0; i < 100; ++i) {
            const size_t n = source.receive(views);
            ASSERT_EQ(n, 32u);
            EXPECT_EQ(views[0].wire_len, 64u);
            EXPECT_EQ(views[n - 1].frame, static_cast<uint64_t>(i + 1) * 32);
            source.release(std::span<const PacketView>(views.data(), n));
        }
        EXPECT_EQ(source.stats().packets, 3200u);
    }
    EXPECT_EQ(rte_mempool_avail_count(info.pool), full);
    EXPECT_EQ(ports.stats(port).rx_nombuf, 0u);
    EXPECT_EQ(ports.stats(port).ipackets, 4u * 3200u);
}

TEST(DpdkPorts, SymmetricKeyHashesBothDirectionsAlike) {
    // The property the key is chosen for, checked with DPDK's software Toeplitz.
    SKIP_WITHOUT_EAL();
    std::array<uint8_t, 40> key{};
    for (size_t i = 0; i < key.size(); ++i) key[i] = i % 2 == 0 ? 0x6d : 0x5a;
    const uint32_t a = 0xc0000201, b = 0xc6336407;  // 192.0.2.1, 198.51.100.7
    uint32_t fwd[2] = {a, b}, rev[2] = {b, a};
    EXPECT_EQ(rte_softrss(fwd, 2, key.data()), rte_softrss(rev, 2, key.data()));
    EXPECT_NE(rte_softrss(fwd, 2, key.data()), 0u);
}

// --- several queues: what a NIC's RSS would do, placed by the test ---------------------------

// The Toeplitz hash computed here the way the datasheets describe it (bit by bit over the
// big-endian tuple), independent of rte_thash and of symmetric_rss_hash.
uint32_t toeplitz(const std::vector<uint8_t>& tuple) {
    std::array<uint8_t, 40> key{};
    for (size_t i = 0; i < key.size(); ++i) key[i] = i % 2 == 0 ? 0x6d : 0x5a;
    uint32_t hash = 0;
    for (size_t bit = 0; bit < tuple.size() * 8; ++bit) {
        if ((tuple[bit / 8] & (0x80u >> (bit % 8))) == 0) continue;
        // The 32 key bits starting at `bit`.
        uint32_t window = 0;
        for (size_t k = 0; k < 32; ++k) {
            const size_t kb = bit + k;
            window = (window << 1) | ((key[kb / 8] >> (7 - kb % 8)) & 1u);
        }
        hash ^= window;
    }
    return hash;
}

IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    const std::byte bytes[] = {std::byte{a}, std::byte{b}, std::byte{c}, std::byte{d}};
    return IpAddress::v4(bytes);
}

IpAddress v6(uint16_t last) {
    std::array<std::byte, 16> bytes{};
    const uint8_t prefix[] = {0x20, 0x01, 0x0d, 0xb8};
    for (size_t i = 0; i < 4; ++i) bytes[i] = std::byte{prefix[i]};
    bytes[14] = std::byte{static_cast<uint8_t>(last >> 8)};
    bytes[15] = std::byte{static_cast<uint8_t>(last)};
    return IpAddress::v6(bytes.data());
}

std::vector<uint8_t> tuple_of(const IpAddress& src, const IpAddress& dst) {
    const size_t n = src.version == 4 ? 4 : 16;
    std::vector<uint8_t> t(src.bytes.begin(), src.bytes.begin() + static_cast<ptrdiff_t>(n));
    t.insert(t.end(), dst.bytes.begin(), dst.bytes.begin() + static_cast<ptrdiff_t>(n));
    return t;
}

TEST(SymmetricRss, IsTheToeplitzHashOfTheAddressPairInBothDirections) {
    SKIP_WITHOUT_EAL();
    const std::pair<IpAddress, IpAddress> pairs[] = {
        {v4(192, 0, 2, 1), v4(198, 51, 100, 7)},
        {v4(198, 18, 0, 2), v4(198, 18, 0, 1)},
        {v4(10, 0, 0, 1), v4(10, 0, 0, 1)},
        {v6(1), v6(2)},
        {v6(0x1234), v6(0xfffe)},
    };
    for (const auto& [a, b] : pairs) {
        SCOPED_TRACE(a.to_string() + " <-> " + b.to_string());
        const uint32_t h = symmetric_rss_hash(a, b);
        EXPECT_EQ(h, toeplitz(tuple_of(a, b)));
        EXPECT_EQ(h, symmetric_rss_hash(b, a));
        EXPECT_EQ(h, toeplitz(tuple_of(b, a)));
    }
    // Distinct pairs do not all collide (a constant would pass the checks above).
    EXPECT_NE(symmetric_rss_hash(pairs[0].first, pairs[0].second),
              symmetric_rss_hash(pairs[1].first, pairs[1].second));
    EXPECT_EQ(symmetric_rss_hash(v4(192, 0, 2, 1), v6(1)), 0u);  // mixed versions: not hashed
    EXPECT_EQ(symmetric_rss_hash(IpAddress{}, IpAddress{}), 0u);
}

// Ethernet / IPv4 or IPv6 / UDP between two addresses; `fragment` makes it a non-first fragment
// (no UDP header): RSS over addresses only must still put it with its flow.
std::vector<uint8_t> ip_frame(const IpAddress& src, const IpAddress& dst, bool fragment,
                              uint8_t tag) {
    std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
    std::vector<uint8_t> payload(40, tag);
    if (!fragment) {
        const uint8_t udp[] = {0x30, 0x39, 0x00, 0x35, 0, 48, 0, 0};
        std::copy(std::begin(udp), std::end(udp), payload.begin());
    }
    if (src.version == 4) {
        f.insert(f.end(), {0x08, 0x00, 0x45, 0, 0, 60, 0, tag, 0, 0, 64, 17, 0, 0});
        if (fragment) {
            f[20] = 0x00;  // offset 1480 bytes (185 units), last fragment
            f[21] = 185;
        }
        f.insert(f.end(), src.bytes.begin(), src.bytes.begin() + 4);
        f.insert(f.end(), dst.bytes.begin(), dst.bytes.begin() + 4);
    } else {
        const uint8_t next = fragment ? 44 : 17;
        const auto plen = static_cast<uint8_t>(payload.size() + (fragment ? 8 : 0));
        f.insert(f.end(), {0x86, 0xdd, 0x60, 0, 0, 0, 0, plen, next, 64});
        f.insert(f.end(), src.bytes.begin(), src.bytes.end());
        f.insert(f.end(), dst.bytes.begin(), dst.bytes.end());
        if (fragment) f.insert(f.end(), {17, 0, 0x05, 0xc8, 0, 0, 0, tag});  // offset 185*8
    }
    f.insert(f.end(), payload.begin(), payload.end());
    return f;
}

TEST(DpdkPorts, PresortedRingQueuesEachDeliverTheFlowsTheHashGaveThem) {
    SKIP_WITHOUT_EAL();
    constexpr uint16_t kQueues = 4;
    RingPort ring(kQueues);
    TestPool pool(1023);
    PortOptions options;
    options.ports = {ring.port};
    options.rx_queues = kQueues;
    options.presorted_queues = true;
    DpdkPorts ports(options);
    const PortInfo& info = ports.port(ring.port);
    ASSERT_EQ(info.rx_queues, kQueues);
    EXPECT_TRUE(info.hardware_dispatch);
    EXPECT_FALSE(ports.software_dispatch_needed());
    ASSERT_EQ(info.reta.size(), 128u);

    // Flows in both directions, whole datagrams and non-first fragments, IPv4 and IPv6; each
    // frame goes to the queue a NIC with this redirection table would pick (the test's own
    // Toeplitz, entry hash % 128, round robin over the queues).
    std::vector<std::vector<std::vector<uint8_t>>> expected(kQueues);
    uint8_t tag = 0;
    for (uint8_t host = 1; host <= 24; ++host) {
        const IpAddress client = host % 3 == 0 ? v6(host) : v4(198, 18, 1, host);
        const IpAddress server = host % 3 == 0 ? v6(0x53) : v4(198, 18, 0, 1);
        const uint16_t queue = static_cast<uint16_t>(toeplitz(tuple_of(client, server)) % 128 %
                                                     kQueues);
        for (const auto& frame : {ip_frame(client, server, false, ++tag),
                                  ip_frame(server, client, false, ++tag),
                                  ip_frame(server, client, true, ++tag)}) {
            ASSERT_EQ(rte_ring_enqueue(ring.rings[queue], make_mbuf(pool.mp, frame)), 0);
            expected[queue].push_back(frame);
        }
    }
    size_t used = 0;
    for (const auto& e : expected) used += e.empty() ? 0 : 1;
    EXPECT_GE(used, 3u) << "24 flows should spread over most of 4 queues";

    for (uint16_t q = 0; q < kQueues; ++q) {
        SCOPED_TRACE("queue " + std::to_string(q));
        QueueSourceOptions qo;
        qo.source_index = q;
        DpdkQueueSource source(ports, ring.port, q, qo);
        const Drained d = drain(source, 8);
        EXPECT_EQ(d.data, expected[q]);
        for (const PacketView& v : d.views) {
            // What software predicts for the packet is where it arrived.
            PacketView copy = v;
            const auto& bytes = d.data[static_cast<size_t>(&v - d.views.data())];
            copy.data = Bytes(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
            IpAddress src, dst;
            ASSERT_TRUE(frame_addresses(copy, src, dst));
            EXPECT_EQ(rss_queue(info, symmetric_rss_hash(src, dst)), q);
        }
    }
}

TEST(DpdkPorts, RssRedirectionTableIsProgrammedRoundRobinAndReadBack) {
    SKIP_WITHOUT_EAL();
    const uint16_t port = probe_vdev(unique("net_null_reta"), "size=64,copy=0");
    PortOptions options;
    options.ports = {port};
    options.rx_queues = 3;
    options.rx_ring_size = 128;
    DpdkPorts ports(options);
    const PortInfo& info = ports.port(port);
    ASSERT_TRUE(info.hardware_dispatch);
    rte_eth_dev_info dev_info{};
    ASSERT_EQ(rte_eth_dev_info_get(port, &dev_info), 0);
    ASSERT_EQ(info.reta.size(), dev_info.reta_size);
    ASSERT_FALSE(info.reta.empty()) << "net_null has a redirection table";
    for (size_t i = 0; i < info.reta.size(); ++i) EXPECT_EQ(info.reta[i], i % 3) << "entry " << i;
    // The device's own table says the same (not only our copy of it).
    std::vector<rte_eth_rss_reta_entry64> conf((dev_info.reta_size + 63) / 64);
    for (auto& g : conf) g.mask = ~uint64_t{0};
    ASSERT_EQ(rte_eth_dev_rss_reta_query(port, conf.data(), dev_info.reta_size), 0);
    for (size_t i = 0; i < dev_info.reta_size; ++i)
        EXPECT_EQ(conf[i / 64].reta[i % 64], info.reta[i]) << "entry " << i;
    EXPECT_EQ(rss_queue(info, 0), 0);
    EXPECT_EQ(rss_queue(info, 4), 1);
    EXPECT_EQ(rss_queue(info, static_cast<uint32_t>(dev_info.reta_size) + 2), 2);
}

TEST(DpdkPorts, PresortedIsIgnoredForASingleQueueDevice) {
    SKIP_WITHOUT_EAL();
    RingPort ring(1);
    PortOptions options;
    options.ports = {ring.port};
    options.rx_queues = 2;
    options.presorted_queues = true;
    DpdkPorts ports(options);
    EXPECT_EQ(ports.port(ring.port).rx_queues, 1);
    EXPECT_FALSE(ports.port(ring.port).hardware_dispatch);
    EXPECT_TRUE(ports.port(ring.port).reta.empty());
    EXPECT_TRUE(ports.software_dispatch_needed());
}

}  // namespace
}  // namespace frag53::dpdk
