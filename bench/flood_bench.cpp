// Floods through a whole Pipeline: does memory stay within what the configuration allows, and
// does the per-packet cost stay flat while the tables are full and evicting?
//
//  * BM_TcpStreamFlood: 1,000,000 TCP connections to port 53, each from its own client address,
//    each a SYN and one data byte (one connection in eight has no SYN: picked up mid-stream),
//    never continued or closed. Arg: connections per second of packet time. 100,000/s keeps far
//    more connections alive than tcp_max_connections (the table-full eviction path); 50/s keeps
//    fewer than the cap alive for the 60 s idle timeout (the timeout path).
//  * BM_UnansweredQueryFlood: 10,000,000 DNS queries over UDP from 4,096 client addresses with
//    random source ports and IDs (fixed seed), never answered. Args: queries per second of packet
//    time, and where findings go (0 = JSON lines to /dev/null as `--events` writes them, 1 = a
//    sink that only counts, no allocation). At 100,000/s the 65,536 pending entries fill in
//    0.66 s of packet time and the cap evicts long before the 5 s timeout; at 10,000/s fewer
//    than the cap are pending and every query times out into a dns.unanswered finding.
//
// One iteration is the whole flood. Frames are written into a reusable burst of 64 from a
// template (a few fields patched per packet), so the flood is never held in memory. The run is
// cut into tenths; each tenth's thread CPU time and wall time per packet are measured, with the
// process's RSS and heap in use at its end. The peak RSS (VmHWM) is reset before the pipeline
// is built (/proc/self/clear_refs), so it is the peak of this benchmark alone.
//
// Counters: cpu_ns_first10 / cpu_ns_last10 = ns per packet over the first / last tenth (CPU
// time of the benchmark thread, which includes patching the frames, a few ns); wall_ns_* the same
// in wall time spent inside Pipeline::process; slowdown = last / first; slowest_vs_first =
// slowest tenth / first tenth; spread_after_first = slowest / fastest of the other nine tenths
// (the first one also pays for first touches of the tables); rss_*_mib, heap_*_mib at the end of
// the first and of the last tenth; peak_rss_mib = VmHWM over set-up and run; pipeline_rss_mib =
// RSS added by building the pipeline (the tables the caps size).
#include <benchmark/benchmark.h>

#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "analyzers/event_sink.h"
#include "analyzers/findings.h"
#include "analyzers/pipeline.h"
#include "dataplane/packet.h"
#include "tests/analyzers/test_packets.h"

namespace {

using frag53::PacketView;
using frag53::Pipeline;
using frag53::PipelineConfig;

constexpr size_t kBurst = 64;
constexpr size_t kTenths = 10;
constexpr double kMiB = 1024.0 * 1024.0;

// splitmix64: fixed seed, the same flood every run.
struct Random {
    uint64_t s;
    uint64_t next() noexcept {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
};

// VmRSS / VmHWM from /proc/self/status, in bytes.
uint64_t status_bytes(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    const size_t n = std::strlen(field);
    while (std::getline(in, line))
        if (line.compare(0, n, field) == 0) return std::stoull(line.substr(n + 1)) * 1024;
    return 0;
}
uint64_t rss_bytes() { return status_bytes("VmRSS"); }
uint64_t peak_rss_bytes() { return status_bytes("VmHWM"); }
// Resets VmHWM to the current RSS (Linux >= 4.0); false when the kernel refuses.
bool reset_peak_rss() {
    std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
    if (f == nullptr) return false;
    const bool ok = std::fputs("5", f) >= 0;
    return std::fclose(f) == 0 && ok;
}
uint64_t heap_in_use() {
    const struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

uint64_t thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}
uint64_t wall_ns() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

void put16(uint8_t* p, uint16_t v) noexcept {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) noexcept {
    put16(p, static_cast<uint16_t>(v >> 16));
    put16(p + 2, static_cast<uint16_t>(v));
}

// Offsets in an Ethernet + IPv4 (20-byte header) frame.
constexpr size_t kIpSrc = 14 + 12;
constexpr size_t kSrcPort = 14 + 20;
constexpr size_t kTcpSeq = 14 + 20 + 4;
constexpr size_t kDnsId = 14 + 20 + 8;

// A burst of frames written in place: slot i holds a copy of a template, patched, and its view.
class BurstBuffer {
public:
    static constexpr size_t kFrameMax = 128;

    uint8_t* add(const std::vector<uint8_t>& tmpl, uint64_t ts_ns, uint64_t frame) noexcept {
        uint8_t* p = bytes_[n_].data();
        std::memcpy(p, tmpl.data(), tmpl.size());
        PacketView& v = views_[n_];
        v.data = {reinterpret_cast<const std::byte*>(p), tmpl.size()};
        v.wire_len = static_cast<uint32_t>(tmpl.size());
        v.ts_ns = ts_ns;
        v.frame = frame;
        v.link_type = 1;
        ++n_;
        return p;
    }
    bool full() const noexcept { return n_ == kBurst; }
    // Hands the burst to the pipeline; returns the wall time spent in it.
    uint64_t flush(Pipeline& pipe) {
        if (n_ == 0) return 0;
        const uint64_t t0 = wall_ns();
        pipe.process({views_.data(), n_});
        n_ = 0;
        return wall_ns() - t0;
    }

private:
    std::array<std::array<uint8_t, kFrameMax>, kBurst> bytes_{};
    std::array<PacketView, kBurst> views_{};
    size_t n_ = 0;
};

class CountingFindingSink final : public frag53::FindingSink {
public:
    void on_finding(const frag53::Finding&) override { ++findings; }
    uint64_t findings = 0;
};

// Per-tenth measurements of one flood.
struct Tenths {
    std::array<uint64_t, kTenths> packets{}, cpu_ns{}, wall_ns{}, process_wall_ns{}, rss{}, heap{};

    double cpu_per_packet(size_t t) const {
        return static_cast<double>(cpu_ns[t]) /
               static_cast<double>(std::max<uint64_t>(packets[t], 1));
    }
    double wall_per_packet(size_t t) const {
        return static_cast<double>(process_wall_ns[t]) /
               static_cast<double>(std::max<uint64_t>(packets[t], 1));
    }

    void report(benchmark::State& state, const std::string& name, uint64_t rss_before,
                uint64_t rss_built) const {
        uint64_t all_packets = 0, all_cpu = 0, all_process_wall = 0;
        double slowest = 0, later_fastest = 1e300, later_slowest = 0;
        for (size_t t = 0; t < kTenths; ++t) {
            all_packets += packets[t];
            all_cpu += cpu_ns[t];
            all_process_wall += process_wall_ns[t];
            slowest = std::max(slowest, cpu_per_packet(t));
            if (t == 0) continue;  // the first tenth also pays for first touches of the tables
            later_fastest = std::min(later_fastest, cpu_per_packet(t));
            later_slowest = std::max(later_slowest, cpu_per_packet(t));
        }
        state.SetIterationTime(static_cast<double>(all_process_wall) / 1e9);
        state.SetItemsProcessed(static_cast<int64_t>(all_packets));
        auto& c = state.counters;
        c["packets"] = static_cast<double>(all_packets);
        c["packets_per_cpu_s"] =
            static_cast<double>(all_packets) / (static_cast<double>(all_cpu) / 1e9);
        c["cpu_ns_first10"] = cpu_per_packet(0);
        c["cpu_ns_last10"] = cpu_per_packet(kTenths - 1);
        c["slowdown"] = cpu_per_packet(kTenths - 1) / cpu_per_packet(0);
        c["slowest_vs_first"] = slowest / cpu_per_packet(0);
        c["spread_after_first"] = later_slowest / later_fastest;
        c["wall_ns_first10"] = wall_per_packet(0);
        c["wall_ns_last10"] = wall_per_packet(kTenths - 1);
        c["rss_before_mib"] = static_cast<double>(rss_before) / kMiB;
        c["pipeline_rss_mib"] = static_cast<double>(rss_built - rss_before) / kMiB;
        c["rss_first10_mib"] = static_cast<double>(rss[0]) / kMiB;
        c["rss_last10_mib"] = static_cast<double>(rss[kTenths - 1]) / kMiB;
        c["heap_first10_mib"] = static_cast<double>(heap[0]) / kMiB;
        c["heap_last10_mib"] = static_cast<double>(heap[kTenths - 1]) / kMiB;
        c["peak_rss_mib"] = static_cast<double>(peak_rss_bytes()) / kMiB;

        std::fprintf(stderr, "%s: cpu ns/packet by tenth:", name.c_str());
        for (size_t t = 0; t < kTenths; ++t) std::fprintf(stderr, " %.0f", cpu_per_packet(t));
        std::fprintf(stderr, "; RSS MiB by tenth:");
        for (size_t t = 0; t < kTenths; ++t)
            std::fprintf(stderr, " %.1f", static_cast<double>(rss[t]) / kMiB);
        std::fprintf(stderr, "\n");
    }
};

// Runs `total` units (connections, queries) in tenths; emit(i, buffer, pipe) writes unit i's
// packets into the buffer (flushing it when full) and returns the wall time spent in the pipeline.
template <class Emit>
Tenths run_tenths(Pipeline& pipe, BurstBuffer& buf, uint64_t total, Emit&& emit) {
    Tenths tenths;
    uint64_t packets_before = pipe.counters().packets;
    for (size_t t = 0; t < kTenths; ++t) {
        const uint64_t begin = total * t / kTenths, end = total * (t + 1) / kTenths;
        const uint64_t cpu0 = thread_cpu_ns(), wall0 = wall_ns();
        uint64_t in_pipeline = 0;
        for (uint64_t i = begin; i < end; ++i) in_pipeline += emit(i);
        in_pipeline += buf.flush(pipe);
        tenths.cpu_ns[t] = thread_cpu_ns() - cpu0;
        tenths.wall_ns[t] = wall_ns() - wall0;
        tenths.process_wall_ns[t] = in_pipeline;
        tenths.packets[t] = pipe.counters().packets - packets_before;
        packets_before = pipe.counters().packets;
        tenths.rss[t] = rss_bytes();
        tenths.heap[t] = heap_in_use();
    }
    return tenths;
}

void BM_TcpStreamFlood(benchmark::State& state) {
    constexpr uint64_t kConnections = 1'000'000;
    constexpr uint64_t kStart = 1'700'000'000ull * 1'000'000'000ull;
    const auto per_second = static_cast<uint64_t>(state.range(0));
    const uint64_t spacing_ns = 1'000'000'000ull / per_second;
    using frag53::testing::server_ip;
    using frag53::testing::tcp4_frame;
    const std::vector<uint8_t> syn = tcp4_frame(0, server_ip, 0, 53, 0, 0, 0x02);
    const std::vector<uint8_t> data = tcp4_frame(0, server_ip, 0, 53, 0, 1, 0x18, {0x00});

    for (auto _ : state) {
        malloc_trim(0);  // what an earlier benchmark freed goes back, so the baseline is its own
        reset_peak_rss();
        const uint64_t rss_before = rss_bytes();
        const PipelineConfig config;
        CountingFindingSink sink;
        auto pipe = std::make_unique<Pipeline>(config, sink);
        const uint64_t rss_built = rss_bytes();
        BurstBuffer buf;
        Random rng{53};
        uint64_t frame = 0;

        const Tenths tenths = run_tenths(*pipe, buf, kConnections, [&](uint64_t i) -> uint64_t {
            const auto client = static_cast<uint32_t>(0x0A000000u + i);  // 10.0.0.0 + i
            const uint64_t r = rng.next();
            const auto port = static_cast<uint16_t>(1024 + r % 64512);
            const auto isn = static_cast<uint32_t>(r >> 32);
            const uint64_t ts = kStart + i * spacing_ns;
            uint64_t in_pipeline = 0;
            if (i % 8 != 7) {
                uint8_t* p = buf.add(syn, ts, ++frame);
                put32(p + kIpSrc, client);
                put16(p + kSrcPort, port);
                put32(p + kTcpSeq, isn);
                if (buf.full()) in_pipeline += buf.flush(*pipe);
            }
            uint8_t* p = buf.add(data, ts + 1000, ++frame);
            put32(p + kIpSrc, client);
            put16(p + kSrcPort, port);
            put32(p + kTcpSeq, isn + 1);
            if (buf.full()) in_pipeline += buf.flush(*pipe);
            return in_pipeline;
        });

        // Read before finish(): the drain at the end would count as evictions of another kind.
        const frag53::TcpReassemblyCounters tc = pipe->tcp_counters();
        tenths.report(state, "BM_TcpStreamFlood/conn_per_s:" + std::to_string(per_second),
                      rss_before, rss_built);
        pipe->finish();
        const frag53::PipelineCounters& pc = pipe->counters();
        auto& c = state.counters;
        c["connections"] = static_cast<double>(tc.connections_opened);
        c["midstream"] = static_cast<double>(tc.midstream_pickups);
        c["evicted_table_full"] = static_cast<double>(tc.evicted_table_full);
        c["evicted_idle"] = static_cast<double>(tc.evicted_timeout);
        c["drained_at_end"] = static_cast<double>(pipe->tcp_counters().evicted_drain);
        c["framing_errors"] = static_cast<double>(pc.tcp_framing_errors);
        c["findings"] = static_cast<double>(sink.findings);
        c["cap_connections"] = static_cast<double>(config.tcp_max_connections);
        c["cap_buffered_mib"] = static_cast<double>(config.tcp_max_buffered) / kMiB;
        if (tc.connections_opened != kConnections)
            state.SkipWithError("not every connection was opened");
    }
}
BENCHMARK(BM_TcpStreamFlood)
    ->ArgName("conn_per_s")
    ->Arg(100'000)
    ->Arg(50)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_UnansweredQueryFlood(benchmark::State& state) {
    constexpr uint64_t kQueries = 10'000'000;
    constexpr uint32_t kClients = 4096;
    constexpr uint64_t kStart = 1'700'000'000ull * 1'000'000'000ull;
    const auto per_second = static_cast<uint64_t>(state.range(0));
    const bool counting_sink = state.range(1) != 0;
    const uint64_t spacing_ns = 1'000'000'000ull / per_second;
    frag53::testing::DnsBuilder query;
    query.header(0, 0x0100, 1, 0, 0, 1).name("www.example.com").question(1).opt(1232);
    const std::vector<uint8_t> tmpl =
        frag53::testing::udp4_frame(0, frag53::testing::server_ip, 0, 53, query.data());

    for (auto _ : state) {
        malloc_trim(0);  // what an earlier benchmark freed goes back, so the baseline is its own
        reset_peak_rss();
        const uint64_t rss_before = rss_bytes();
        const PipelineConfig config;
        CountingFindingSink counter;
        std::unique_ptr<std::FILE, int (*)(std::FILE*)> devnull(
            counting_sink ? nullptr : std::fopen("/dev/null", "w"), &std::fclose);
        std::unique_ptr<frag53::JsonLinesSink> json;
        if (!counting_sink) {
            if (!devnull) {
                state.SkipWithError("cannot open /dev/null");
                return;
            }
            json = std::make_unique<frag53::JsonLinesSink>(devnull.get());
        }
        frag53::FindingSink& sink =
            counting_sink ? static_cast<frag53::FindingSink&>(counter) : *json;
        auto pipe = std::make_unique<Pipeline>(config, sink);
        const uint64_t rss_built = rss_bytes();
        BurstBuffer buf;
        Random rng{1035};

        const Tenths tenths = run_tenths(*pipe, buf, kQueries, [&](uint64_t i) -> uint64_t {
            const uint64_t r = rng.next();
            uint8_t* p = buf.add(tmpl, kStart + i * spacing_ns, i + 1);
            put32(p + kIpSrc, 0x0A010000u + static_cast<uint32_t>(r % kClients));  // 10.1.0.0/20
            put16(p + kSrcPort, static_cast<uint16_t>(1024 + (r >> 16) % 64512));
            put16(p + kDnsId, static_cast<uint16_t>(r >> 48));
            return buf.full() ? buf.flush(*pipe) : 0;
        });

        const frag53::PipelineCounters before_end = pipe->counters();
        const size_t pending_at_end = pipe->pending();
        tenths.report(state,
                      "BM_UnansweredQueryFlood/q_per_s:" + std::to_string(per_second) +
                          "/counting_sink:" + std::to_string(state.range(1)),
                      rss_before, rss_built);
        pipe->finish();
        const frag53::PipelineCounters& pc = pipe->counters();
        auto& c = state.counters;
        c["queries"] = static_cast<double>(before_end.dns_queries);
        c["pending_evicted"] = static_cast<double>(before_end.pending_evicted);
        c["unanswered_timeout"] = static_cast<double>(before_end.unanswered);
        c["pending_at_end"] = static_cast<double>(pending_at_end);
        c["unanswered_all"] = static_cast<double>(pc.unanswered);
        c["retransmissions"] = static_cast<double>(pc.retransmissions);
        c["findings"] = static_cast<double>(
            pc.findings[static_cast<size_t>(frag53::FindingCode::dns_unanswered)]);
        c["cap_pending"] = static_cast<double>(config.max_pending);
        c["pending_table_mib"] =
            static_cast<double>(pipe->pending_capacity() * sizeof(frag53::PendingQuery)) / kMiB;
        if (json) json->flush();
        if (before_end.dns_queries != kQueries) state.SkipWithError("not every query was parsed");
        if (pc.unanswered + pc.pending_evicted + pc.retransmissions != kQueries)
            state.SkipWithError("queries neither reported nor evicted");
    }
}
BENCHMARK(BM_UnansweredQueryFlood)
    ->ArgNames({"q_per_s", "counting_sink"})
    ->Args({100'000, 0})
    ->Args({100'000, 1})
    ->Args({10'000, 0})
    ->Args({10'000, 1})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
