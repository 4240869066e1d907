// Receive + release throughput of DpdkQueueSource on one core, from DPDK's in-memory drivers:
//   BM_NullReceiveRelease  net_null (copy=0): the driver allocates and sizes mbufs like a NIC
//                          refilling its ring, nothing is copied; the closest to a real port.
//   BM_RingReceiveRelease  net_ring fed by a producer on the same core (alloc_bulk, lengths,
//                          enqueue): the source's cost plus the producer's.
//   BM_RingProducerOnly    the producer and a bare rx_burst + free_bulk, no source: subtract
//                          it from BM_RingReceiveRelease to see what the source itself adds.
// Bursts of 32; 64- and 512-byte frames. Each packet's EtherType is read, as decode would,
// so the prefetch is exercised. Mpps is per core (the EAL runs on lcore 0 only).
//
// Needs root (or an EAL that starts unprivileged); runs hugepage-free:
//   sudo ./dpdk_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <rte_dev.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/dpdk_source.h"

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

std::unique_ptr<Rig> make_ring_rig(uint16_t len) {
    auto rig = std::make_unique<Rig>();
    const std::string name = "bench_ring" + std::to_string(len);
    rig->ring = rte_ring_create(name.c_str(), 1024, static_cast<int>(rte_socket_id()),
                                RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (rig->ring == nullptr) throw DpdkError("rte_ring_create " + name);
    const int id = rte_eth_from_ring(rig->ring);
    if (id < 0) throw DpdkError("rte_eth_from_ring " + name);
    rig->port = static_cast<uint16_t>(id);
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

    PortOptions options;
    options.ports = {rig->port};
    options.max_burst = kBurst;
    rig->ports = std::make_unique<DpdkPorts>(options);
    rig->source = std::make_unique<DpdkQueueSource>(*rig->ports, rig->port, 0);
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

}  // namespace
}  // namespace frag53::dpdk

int main(int argc, char** argv) {
    using namespace frag53::dpdk;
    const std::string prefix = "--file-prefix=frag53-bench-" + std::to_string(getpid());
    std::unique_ptr<Eal> eal;
    try {
        eal = std::make_unique<Eal>(std::vector<std::string>{
            argv[0], "-l", "0", "--no-huge", "--no-pci", "-m", "512", prefix, "--no-shconf",
            "--no-telemetry", "--log-level=error"});
        null_rig[0] = make_null_rig(64);
        null_rig[1] = make_null_rig(512);
        ring_rig[0] = make_ring_rig(64);
        ring_rig[1] = make_ring_rig(512);
    } catch (const DpdkError& e) {
        std::fprintf(stderr, "dpdk_bench: %s\n", e.what());
        for (auto& r : null_rig) r.reset();  // before the EAL goes
        for (auto& r : ring_rig) r.reset();
        return 1;
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    for (auto& r : null_rig) r.reset();
    for (auto& r : ring_rig) {
        if (!r) continue;
        rte_ring* ring = r->ring;
        rte_mempool* pool = r->producer_pool;
        r.reset();  // stops and closes the port before its ring and pool go
        rte_ring_free(ring);
        rte_mempool_free(pool);
    }
    return 0;
}
