// The DPDK receive path on one core, from DPDK's in-memory drivers.
//
// Receive only (bursts of 32; 64- and 512-byte frames; each packet's EtherType is read, as decode
// would, so the prefetch is exercised):
//   BM_NullReceiveRelease  net_null (copy=0): the driver allocates and sizes mbufs like a NIC
//                          refilling its ring, nothing is copied; the closest to a real port.
//   BM_RingReceiveRelease  net_ring fed by a producer on the same core (alloc_bulk, lengths,
//                          enqueue): the source's cost plus the producer's.
//   BM_RingProducerOnly    the producer and a bare rx_burst + free_bulk, no source: subtract
//                          it from BM_RingReceiveRelease to see what the source itself adds.
//
// With traffic (bursts of 64, as frag53 dpdk reads): a net_ring port fed from a FIFO pool whose
// buffers hold a fixed sequence of frames, written once. The pool has no per-lcore cache, so
// buffers come back in the order they were freed and the port replays the sequence in order,
// like a NIC's DMA, with no copy on the producer side (BM_TrafficProducerOnly measures it).
//   BM_FastPath            receive + decode + dispatch decision (symmetric IP-pair hash to one
//                          of 4 workers); non-DNS traffic (HTTPS, QUIC, ARP: half the frames)
//                          is dropped. Mpps per core.
//   BM_FullAnalysis        receive + Pipeline::process of DNS query/response pairs over UDP with
//                          realistic names (A, AAAA, MX, TXT; EDNS, some DO) on one core.
//   BM_WorkerPoolScaling   receive on this thread, WorkerPool::dispatch (copy into batches,
//                          software dispatch) to 1 or 2 worker threads running Pipeline; one
//                          iteration is a run of kRunPackets packets including finish(), so
//                          nothing is left queued when the clock stops. Real time.
//   BM_PolledWorkersScaling 1 or 2 workers each polling its own queue (frag53 dpdk with
//                          symmetric RSS): the same frames spread by the IP-pair hash over
//                          in-memory queues (no producer, no copy), Pipeline per worker, the
//                          main thread merging; a run of kRunPackets including finish(). Real time.
// BM_FullAnalysis and BM_WorkerPoolScaling need the analyzers library: they are built when
// bench/meson.build links it and defines FRAG53_BENCH_ANALYZERS.
//
// Needs root (or an EAL that starts unprivileged); runs hugepage-free on lcore 0:
//   sudo ./dpdk_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <rte_dev.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <time.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/decode.h"
#include "dataplane/dpdk_source.h"

#ifdef FRAG53_BENCH_ANALYZERS
#include "analyzers/findings.h"
#include "analyzers/pipeline.h"
#include "analyzers/worker_pool.h"
#endif

namespace frag53::dpdk {
namespace {

constexpr size_t kBurst = 32;

// One port, its DpdkPorts and a source, built once before the benchmarks run: a closed
// port cannot be reopened, and Google Benchmark calls each function several times.
struct Rig {
    std::unique_ptr<DpdkPorts> ports;
    std::unique_ptr<DpdkQueueSource> source;
    uint16_t port = 0;
    rte_ring* ring = nullptr;        // net_ring only
    rte_mempool* producer_pool = nullptr;
    uint16_t frame_len = 0;
};

std::unique_ptr<Rig> null_rig[2];
std::unique_ptr<Rig> ring_rig[2];

int size_index(int64_t len) { return len == 64 ? 0 : 1; }

std::unique_ptr<Rig> make_null_rig(uint16_t len) {
    auto rig = std::make_unique<Rig>();
    const std::string name = "net_null_bench" + std::to_string(len);
    const std::string devargs = name + ",size=" + std::to_string(len) + ",copy=0";
    if (rte_dev_probe(devargs.c_str()) != 0 ||
        rte_eth_dev_get_port_by_name(name.c_str(), &rig->port) != 0)
        throw DpdkError("cannot create " + devargs);
    PortOptions options;
    options.ports = {rig->port};
    options.max_burst = kBurst;
    rig->ports = std::make_unique<DpdkPorts>(options);
    rig->source = std::make_unique<DpdkQueueSource>(*rig->ports, rig->port, 0);
    rig->frame_len = len;
    return rig;
}

// A net_ring port and the DpdkPorts/source reading it.
void open_ring_port(Rig& rig, const std::string& name, uint16_t max_burst) {
    rig.ring = rte_ring_create(name.c_str(), 1024, static_cast<int>(rte_socket_id()),
                               RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (rig.ring == nullptr) throw DpdkError("rte_ring_create " + name);
    const int id = rte_eth_from_ring(rig.ring);
    if (id < 0) throw DpdkError("rte_eth_from_ring " + name);
    rig.port = static_cast<uint16_t>(id);
    PortOptions options;
    options.ports = {rig.port};
    options.max_burst = max_burst;
    rig.ports = std::make_unique<DpdkPorts>(options);
    rig.source = std::make_unique<DpdkQueueSource>(*rig.ports, rig.port, 0);
}

std::unique_ptr<Rig> make_ring_rig(uint16_t len) {
    auto rig = std::make_unique<Rig>();
    const std::string name = "bench_ring" + std::to_string(len);
    rig->producer_pool = rte_pktmbuf_pool_create(("bench_pool" + std::to_string(len)).c_str(),
                                                 2047, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                                 static_cast<int>(rte_socket_id()));
    if (rig->producer_pool == nullptr) throw DpdkError("pool for " + name);
    // Write a frame into every buffer once: mbufs come back to the same buffers, so the
    // producer only has to set lengths, as a NIC's DMA would have filled the data.
    std::vector<rte_mbuf*> all(2047);
    if (rte_pktmbuf_alloc_bulk(rig->producer_pool, all.data(), 2047) != 0)
        throw DpdkError("fill " + name);
    for (rte_mbuf* m : all) {
        auto* p = rte_pktmbuf_mtod(m, uint8_t*);
        std::memset(p, 0xab, len);
        p[12] = 0x08;  // IPv4
        p[13] = 0x00;
    }
    rte_pktmbuf_free_bulk(all.data(), 2047);
    open_ring_port(*rig, name, kBurst);
    rig->frame_len = len;
    return rig;
}

// What a NIC does between bursts: buffers from the pool, lengths set, onto the ring.
void produce(Rig& rig) {
    rte_mbuf* burst[kBurst];
    if (rte_pktmbuf_alloc_bulk(rig.producer_pool, burst, kBurst) != 0) std::abort();
    for (rte_mbuf* m : burst) {
        m->data_len = rig.frame_len;
        m->pkt_len = rig.frame_len;
    }
    if (rte_ring_enqueue_burst(rig.ring, reinterpret_cast<void**>(burst), kBurst, nullptr) !=
        kBurst)
        std::abort();
}

uint32_t consume(std::span<const PacketView> views) {
    uint32_t sum = 0;
    for (const PacketView& v : views) sum += static_cast<uint32_t>(v.data[12]);
    return sum;
}

void report(benchmark::State& state, uint64_t packets, uint16_t len) {
    state.SetItemsProcessed(static_cast<int64_t>(packets));
    state.SetBytesProcessed(static_cast<int64_t>(packets * len));
    state.counters["Mpps"] =
        benchmark::Counter(static_cast<double>(packets) / 1e6, benchmark::Counter::kIsRate);
}

void BM_NullReceiveRelease(benchmark::State& state) {
    Rig& rig = *null_rig[size_index(state.range(0))];
    std::vector<PacketView> views(kBurst);
    uint64_t packets = 0;
    for (auto _ : state) {
        const size_t n = rig.source->receive(views);
        benchmark::DoNotOptimize(consume({views.data(), n}));
        rig.source->release({views.data(), n});
        packets += n;
    }
    report(state, packets, rig.frame_len);
}
BENCHMARK(BM_NullReceiveRelease)->Arg(64)->Arg(512);

void BM_RingReceiveRelease(benchmark::State& state) {
    Rig& rig = *ring_rig[size_index(state.range(0))];
    std::vector<PacketView> views(kBurst);
    uint64_t packets = 0;
    for (auto _ : state) {
        produce(rig);
        const size_t n = rig.source->poll(views);
        benchmark::DoNotOptimize(consume({views.data(), n}));
        rig.source->release({views.data(), n});
        packets += n;
    }
    report(state, packets, rig.frame_len);
}
BENCHMARK(BM_RingReceiveRelease)->Arg(64)->Arg(512);

void BM_RingProducerOnly(benchmark::State& state) {
    Rig& rig = *ring_rig[size_index(state.range(0))];
    rte_mbuf* burst[kBurst];
    uint64_t packets = 0;
    for (auto _ : state) {
        produce(rig);
        const uint16_t n = rte_eth_rx_burst(rig.port, 0, burst, kBurst);
        rte_pktmbuf_free_bulk(burst, n);
        packets += n;
    }
    report(state, packets, rig.frame_len);
}
BENCHMARK(BM_RingProducerOnly)->Arg(64)->Arg(512);

// ---------------------------------------------------------------------------------------------
// Traffic: a fixed sequence of frames replayed in order through net_ring.

constexpr uint16_t kTrafficBurst = 64;

// Builds Ethernet / IPv4 / UDP or TCP frames and DNS messages.
class FrameBuilder {
public:
    static std::vector<uint8_t> udp4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                                     const std::vector<uint8_t>& payload) {
        std::vector<uint8_t> f = ethernet(0x0800);
        ipv4(f, src, dst, 17, 8 + payload.size());
        put16(f, sport);
        put16(f, dport);
        put16(f, static_cast<uint16_t>(8 + payload.size()));
        put16(f, 0);
        f.insert(f.end(), payload.begin(), payload.end());
        return f;
    }
    static std::vector<uint8_t> tcp4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                                     size_t payload) {
        std::vector<uint8_t> f = ethernet(0x0800);
        ipv4(f, src, dst, 6, 20 + payload);
        put16(f, sport);
        put16(f, dport);
        put32(f, 0x01020304);
        put32(f, 0x05060708);
        f.insert(f.end(), {0x50, 0x18, 0x01, 0xf5, 0, 0, 0, 0});  // ACK PSH, window 501
        f.insert(f.end(), payload, 0x17);
        return f;
    }
    static std::vector<uint8_t> arp() {
        std::vector<uint8_t> f = ethernet(0x0806);
        f.insert(f.end(), {0, 1, 8, 0, 6, 4, 0, 1});
        f.insert(f.end(), 20, 0x11);
        f.resize(60);
        return f;
    }
    // A query with EDNS (4096 bytes, DO as given) and the authoritative answer to it.
    static std::vector<uint8_t> dns(uint16_t id, bool response, const std::string& name,
                                    uint16_t qtype, bool do_bit) {
        std::vector<uint8_t> m;
        put16(m, id);
        put16(m, response ? 0x8500 : 0x0100);
        put16(m, 1);
        put16(m, response ? 1 : 0);
        put16(m, 0);
        put16(m, 1);
        size_t start = 0;
        for (size_t i = 0; i <= name.size(); ++i) {
            if (i == name.size() || name[i] == '.') {
                m.push_back(static_cast<uint8_t>(i - start));
                m.insert(m.end(), name.begin() + static_cast<ptrdiff_t>(start),
                         name.begin() + static_cast<ptrdiff_t>(i));
                start = i + 1;
            }
        }
        m.push_back(0);
        put16(m, qtype);
        put16(m, 1);
        if (response) {
            put16(m, 0xc00c);
            put16(m, qtype);
            put16(m, 1);
            put32(m, 300);
            std::vector<uint8_t> rdata;
            switch (qtype) {
                case 1: rdata = {198, 18, static_cast<uint8_t>(id), 10}; break;
                case 28: rdata = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}; break;
                case 15: rdata = {0, 10, 4, 'm', 'a', 'i', 'l', 0xc0, 0x0c}; break;
                default:  // TXT
                    rdata.push_back(32);
                    rdata.insert(rdata.end(), 32, 'v');
            }
            put16(m, static_cast<uint16_t>(rdata.size()));
            m.insert(m.end(), rdata.begin(), rdata.end());
        }
        m.insert(m.end(), {0, 0, 41, 0x10, 0x00, 0, 0, static_cast<uint8_t>(do_bit ? 0x80 : 0), 0,
                           0, 0});
        return m;
    }

private:
    static std::vector<uint8_t> ethernet(uint16_t type) {
        std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02};
        put16(f, type);
        return f;
    }
    static void ipv4(std::vector<uint8_t>& f, uint32_t src, uint32_t dst, uint8_t proto,
                     size_t l4) {
        f.insert(f.end(), {0x45, 0});
        put16(f, static_cast<uint16_t>(20 + l4));
        f.insert(f.end(), {0x12, 0x34, 0x40, 0, 64, proto, 0, 0});
        put32(f, src);
        put32(f, dst);
    }
    static void put16(std::vector<uint8_t>& f, uint16_t v) {
        f.push_back(static_cast<uint8_t>(v >> 8));
        f.push_back(static_cast<uint8_t>(v));
    }
    static void put32(std::vector<uint8_t>& f, uint32_t v) {
        put16(f, static_cast<uint16_t>(v >> 16));
        put16(f, static_cast<uint16_t>(v));
    }
};

// DNS query/response pairs from 256 clients to 8 servers; with mixed=true every DNS pair is
// followed by two frames of other traffic (HTTPS over TCP, QUIC, now and then ARP).
std::vector<std::vector<uint8_t>> traffic(size_t pairs, bool mixed) {
    static const char* const kNames[] = {
        "www.example.com",       "mail.example.org",        "api.service.example.net",
        "cdn-03.static.example", "_dmarc.example.com",      "ns1.dns.example.org",
        "login.auth.example.com", "img.news.example.co.uk", "time.example.net",
        "update.os.example.com", "a.b.c.d.example.org",     "shop.example",
    };
    static const uint16_t kTypes[] = {1, 28, 1, 15, 16, 1, 28, 1};
    std::vector<std::vector<uint8_t>> frames;
    for (size_t i = 0; i < pairs; ++i) {
        const uint32_t client = 0xc6120100u + static_cast<uint32_t>(i % 256);       // 198.18.1.x
        const uint32_t server = 0xc6120000u + 1 + static_cast<uint32_t>(i % 8);     // 198.18.0.y
        const auto sport = static_cast<uint16_t>(20000 + i * 7 % 40000);
        const auto id = static_cast<uint16_t>(i * 2654435761u >> 16);
        const std::string name = kNames[i % std::size(kNames)];
        const uint16_t qtype = kTypes[i % std::size(kTypes)];
        const bool do_bit = i % 3 == 0;
        frames.push_back(FrameBuilder::udp4(client, server, sport, 53,
                                            FrameBuilder::dns(id, false, name, qtype, do_bit)));
        frames.push_back(FrameBuilder::udp4(server, client, 53, sport,
                                            FrameBuilder::dns(id, true, name, qtype, do_bit)));
        if (mixed) {
            frames.push_back(FrameBuilder::tcp4(client, 0x5db8d822u, sport, 443, 1200 - i % 700));
            frames.push_back(i % 16 == 0 ? FrameBuilder::arp()
                                         : FrameBuilder::udp4(0x5db8d822u, client, 443, sport,
                                                              std::vector<uint8_t>(1100, 0x40)));
        }
    }
    return frames;
}

// A net_ring port fed from a cache-less pool whose buffers hold `frames`, in order.
struct TrafficRig {
    Rig rig;
    size_t frames = 0;
    size_t frame_bytes = 0;
};

std::unique_ptr<TrafficRig> traffic_rig[2];  // [0] DNS only, [1] mixed

uint16_t& stored_len(rte_mbuf* m) { return *static_cast<uint16_t*>(rte_mbuf_to_priv(m)); }

std::unique_ptr<TrafficRig> make_traffic_rig(const std::string& name,
                                             const std::vector<std::vector<uint8_t>>& frames) {
    auto t = std::make_unique<TrafficRig>();
    const auto n = static_cast<unsigned>(frames.size());
    // No per-lcore cache: a plain FIFO ring, so buffers are handed out in the order they were
    // freed and the sequence replays in order. The frame length sits in the private area.
    t->rig.producer_pool = rte_pktmbuf_pool_create((name + "_pool").c_str(), n, 0,
                                                   RTE_MBUF_PRIV_ALIGN, RTE_MBUF_DEFAULT_BUF_SIZE,
                                                   static_cast<int>(rte_socket_id()));
    if (t->rig.producer_pool == nullptr) throw DpdkError("pool for " + name);
    std::vector<rte_mbuf*> all(n);
    if (rte_pktmbuf_alloc_bulk(t->rig.producer_pool, all.data(), n) != 0)
        throw DpdkError("fill " + name);
    for (unsigned i = 0; i < n; ++i) {
        std::memcpy(rte_pktmbuf_mtod(all[i], uint8_t*), frames[i].data(), frames[i].size());
        stored_len(all[i]) = static_cast<uint16_t>(frames[i].size());
        t->frame_bytes += frames[i].size();
    }
    rte_pktmbuf_free_bulk(all.data(), n);
    t->frames = n;
    open_ring_port(t->rig, name, kTrafficBurst);
    return t;
}

// The next kTrafficBurst frames of the sequence onto the ring.
void produce_traffic(TrafficRig& t) {
    rte_mbuf* burst[kTrafficBurst];
    if (rte_pktmbuf_alloc_bulk(t.rig.producer_pool, burst, kTrafficBurst) != 0) std::abort();
    for (rte_mbuf* m : burst) {
        const uint16_t len = stored_len(m);
        m->data_len = len;
        m->pkt_len = len;
    }
    if (rte_ring_enqueue_burst(t.rig.ring, reinterpret_cast<void**>(burst), kTrafficBurst,
                               nullptr) != kTrafficBurst)
        std::abort();
}

void report_traffic(benchmark::State& state, const TrafficRig& t, uint64_t packets) {
    state.SetItemsProcessed(static_cast<int64_t>(packets));
    state.SetBytesProcessed(static_cast<int64_t>(packets * t.frame_bytes / t.frames));
    state.counters["Mpps"] =
        benchmark::Counter(static_cast<double>(packets) / 1e6, benchmark::Counter::kIsRate);
}

void BM_TrafficProducerOnly(benchmark::State& state) {
    TrafficRig& t = *traffic_rig[1];
    rte_mbuf* burst[kTrafficBurst];
    uint64_t packets = 0;
    for (auto _ : state) {
        produce_traffic(t);
        const uint16_t n = rte_eth_rx_burst(t.rig.port, 0, burst, kTrafficBurst);
        rte_pktmbuf_free_bulk(burst, n);
        packets += n;
    }
    report_traffic(state, t, packets);
}
BENCHMARK(BM_TrafficProducerOnly);

// The reader's fast path: is it DNS (or a fragment or ICMP, which DNS analysis needs), and
// which worker gets it.
void BM_FastPath(benchmark::State& state) {
    TrafficRig& t = *traffic_rig[1];
    constexpr size_t kWorkers = 4;
    std::array<PacketView, kTrafficBurst> views;
    std::array<uint64_t, kWorkers> per_worker{};
    DecodedPacket dec;
    uint64_t packets = 0, dropped = 0;
    for (auto _ : state) {
        produce_traffic(t);
        const size_t n = t.rig.source->poll(views);
        for (size_t i = 0; i < n; ++i) {
            decode_frame(views[i], dec);
            const bool dns = dec.status == DecodeStatus::ok &&
                             (dec.is_fragment || dec.transport == Transport::icmp4 ||
                              dec.transport == Transport::icmp6 ||
                              ((dec.transport == Transport::udp || dec.transport == Transport::tcp) &&
                               (dec.sport == 53 || dec.dport == 53)));
            if (!dns) {
                ++dropped;
                continue;
            }
            ++per_worker[symmetric_pair_hash(dec.src, dec.dst) % kWorkers];
        }
        t.rig.source->release({views.data(), n});
        packets += n;
    }
    benchmark::DoNotOptimize(per_worker);
    report_traffic(state, t, packets);
    state.counters["dropped_share"] =
        packets != 0 ? static_cast<double>(dropped) / static_cast<double>(packets) : 0;
}
BENCHMARK(BM_FastPath);

#ifdef FRAG53_BENCH_ANALYZERS
class CountingSink final : public FindingSink {
public:
    void on_finding(const Finding&) override { ++count; }
    uint64_t count = 0;
};

void BM_FullAnalysis(benchmark::State& state) {
    TrafficRig& t = *traffic_rig[0];
    CountingSink sink;
    Pipeline pipeline(PipelineConfig{}, sink);
    std::array<PacketView, kTrafficBurst> views;
    uint64_t packets = 0;
    for (auto _ : state) {
        produce_traffic(t);
        const size_t n = t.rig.source->poll(views);
        pipeline.process({views.data(), n});
        t.rig.source->release({views.data(), n});
        packets += n;
    }
    report_traffic(state, t, packets);
    const PipelineCounters& c = pipeline.counters();
    state.counters["matched_share"] =
        c.dns_messages != 0 ? 2.0 * static_cast<double>(c.dns_matched) / static_cast<double>(c.dns_messages) : 0;
    state.counters["findings"] = static_cast<double>(sink.count);
}
BENCHMARK(BM_FullAnalysis);

constexpr uint64_t kRunPackets = 1'000'000;

double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Also reported: packets per CPU second of the whole process (reader and workers), which a
// busy shared machine disturbs less than the wall-clock rate.
void BM_WorkerPoolScaling(benchmark::State& state) {
    TrafficRig& t = *traffic_rig[0];
    const auto workers = static_cast<size_t>(state.range(0));
    std::array<PacketView, kTrafficBurst> views;
    uint64_t packets = 0;
    double cpu = 0;
    for (auto _ : state) {
        state.PauseTiming();
        CountingSink sink;
        auto pool = std::make_unique<WorkerPool>(workers, PipelineConfig{}, sink, nullptr);
        const double cpu0 = process_cpu_seconds();
        state.ResumeTiming();
        for (uint64_t done = 0; done < kRunPackets;) {
            produce_traffic(t);
            const size_t n = t.rig.source->poll(views);
            pool->dispatch({views.data(), n});
            t.rig.source->release({views.data(), n});
            done += n;
        }
        pool->finish();
        packets += kRunPackets;
        state.PauseTiming();
        cpu += process_cpu_seconds() - cpu0;
        pool.reset();
        state.ResumeTiming();
    }
    report_traffic(state, t, packets);
    state.counters["Mpps_per_cpu_s"] = cpu > 0 ? static_cast<double>(packets) / 1e6 / cpu : 0;
}
BENCHMARK(BM_WorkerPoolScaling)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// One RSS queue's worth of frames replayed from memory: what a NIC queue hands its worker, at
// no cost to anyone (no producer, no copy), so only the workers' analysis is measured. Packets
// are stamped per burst from one clock shared by the queues, as DpdkQueueSource stamps them with
// the TSC: the workers' packet times follow the same "now", as on a live port.
class MemoryQueue final : public PolledSource {
public:
    MemoryQueue(std::vector<PacketView> views, uint64_t budget, const std::atomic<bool>& open)
        : views_(std::move(views)), budget_(budget), open_(open) {}
    size_t poll(std::span<PacketView> out) noexcept override {
        if (!open_.load(std::memory_order_relaxed)) return 0;
        const size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), budget_ - sent_));
        const uint64_t now = clock_now_ns();
        for (size_t i = 0; i < n; ++i) {
            out[i] = views_[next_];
            out[i].ts_ns = now;
            if (++next_ == views_.size()) next_ = 0;
        }
        sent_ += n;
        return n;
    }
    void release(std::span<const PacketView>) noexcept override {}
    uint64_t clock_now_ns() const noexcept override {
        return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now().time_since_epoch())
                                         .count());
    }
    bool exhausted() const noexcept { return sent_ == budget_; }

private:
    std::vector<PacketView> views_;
    uint64_t budget_, sent_ = 0, next_ = 0;
    const std::atomic<bool>& open_;  // closed while the pool (and its tables) is set up
};

// Workers polling their own queues (WorkerPool polled mode, as `frag53 dpdk` runs with symmetric
// RSS): kRunPackets packets spread over the queues by the IP-pair hash, including finish().
void BM_PolledWorkersScaling(benchmark::State& state) {
    const auto workers = static_cast<size_t>(state.range(0));
    static const std::vector<std::vector<uint8_t>> frames = traffic(4096, false);
    std::vector<std::vector<PacketView>> split(workers);
    for (const auto& f : frames) {
        PacketView v;
        v.data = Bytes(reinterpret_cast<const std::byte*>(f.data()), f.size());
        v.wire_len = static_cast<uint32_t>(f.size());
        v.link_type = static_cast<uint16_t>(LinkType::ethernet);
        IpAddress a, b;
        frame_addresses(v, a, b);
        split[symmetric_pair_hash(a, b) % workers].push_back(v);
    }
    uint64_t packets = 0;
    double cpu = 0;
    for (auto _ : state) {
        state.PauseTiming();
        std::vector<std::unique_ptr<MemoryQueue>> queues;
        std::vector<std::vector<PolledSource*>> lists(workers);
        uint64_t total = 0;
        std::atomic<bool> open{false};
        for (size_t w = 0; w < workers; ++w) {
            const uint64_t budget = kRunPackets * split[w].size() / frames.size();
            total += budget;
            queues.push_back(std::make_unique<MemoryQueue>(split[w], budget, open));
            lists[w].push_back(queues.back().get());
        }
        CountingSink sink;
        auto pool = std::make_unique<WorkerPool>(std::move(lists), PipelineConfig{}, sink, nullptr);
        const double cpu0 = process_cpu_seconds();
        state.ResumeTiming();
        open.store(true);
        while (pool->gauges().packets < total) {
            pool->service();
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        pool->finish();
        packets += total;
        state.PauseTiming();
        cpu += process_cpu_seconds() - cpu0;
        pool.reset();
        state.ResumeTiming();
    }
    state.SetItemsProcessed(static_cast<int64_t>(packets));
    state.counters["Mpps"] = benchmark::Counter(static_cast<double>(packets) / 1e6, benchmark::Counter::kIsRate);
    state.counters["Mpps_per_cpu_s"] = cpu > 0 ? static_cast<double>(packets) / 1e6 / cpu : 0;
}
BENCHMARK(BM_PolledWorkersScaling)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif

void free_rig(Rig& rig) {
    rte_ring* ring = rig.ring;
    rte_mempool* pool = rig.producer_pool;
    rig.source.reset();
    rig.ports.reset();  // stops and closes the port before its ring and pool go
    rte_ring_free(ring);
    rte_mempool_free(pool);
}

}  // namespace
}  // namespace frag53::dpdk

int main(int argc, char** argv) {
    using namespace frag53::dpdk;
    const std::string prefix = "--file-prefix=frag53-bench-" + std::to_string(getpid());
    std::unique_ptr<Eal> eal;
    auto cleanup = [] {
        for (auto& r : null_rig) r.reset();  // before the EAL goes
        for (auto& r : ring_rig)
            if (r) free_rig(*r);
        for (auto& t : traffic_rig)
            if (t) free_rig(t->rig);
    };
    try {
        eal = std::make_unique<Eal>(std::vector<std::string>{
            argv[0], "-l", "0", "--no-huge", "--no-pci", "-m", "512", prefix, "--no-shconf",
            "--no-telemetry", "--log-level=error"});
        null_rig[0] = make_null_rig(64);
        null_rig[1] = make_null_rig(512);
        ring_rig[0] = make_ring_rig(64);
        ring_rig[1] = make_ring_rig(512);
        // 4,096 pairs: more flows than a burst, fewer frames than the ring plus a burst.
        traffic_rig[0] = make_traffic_rig("dns", traffic(4096, false));
        traffic_rig[1] = make_traffic_rig("mixed", traffic(2048, true));
    } catch (const DpdkError& e) {
        std::fprintf(stderr, "dpdk_bench: %s\n", e.what());
        cleanup();
        return 1;
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    cleanup();
    return 0;
}
