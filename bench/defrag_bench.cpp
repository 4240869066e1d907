// Fragment reassembly of DNS-sized answers over a 1500-byte MTU: 2 fragments (2 KB UDP) and
// 3 fragments (3 KB UDP), in order and reversed, IPv4 and IPv6. One iteration is one datagram,
// so the reported time is ns/datagram. Fragments are built and decoded once outside the loop;
// each iteration gets a fresh IP ID in the decoded view so every datagram is new to the table
// (lingering keys of finished ones are expired by packet time as a worker would).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "dataplane/decode.h"
#include "dataplane/defrag.h"

namespace {

using frag53::AddStatus;
using frag53::DecodedPacket;
using frag53::FragmentTable;

void put16(std::vector<uint8_t>& w, unsigned v) {
    w.push_back(static_cast<uint8_t>((v >> 8) & 0xff));
    w.push_back(static_cast<uint8_t>(v & 0xff));
}

// The fragments of one UDP datagram with `payload` bytes of DNS answer, cut every `chunk` bytes
// of IP payload (default: what a 1500-byte MTU carries).
std::vector<std::vector<uint8_t>> fragments(int version, size_t payload, size_t chunk = 0) {
    std::vector<uint8_t> udp;
    put16(udp, 53);
    put16(udp, 40000);
    put16(udp, static_cast<unsigned>(8 + payload));
    put16(udp, 0);
    for (size_t i = 0; i < payload; ++i) udp.push_back(static_cast<uint8_t>(i));

    if (chunk == 0) chunk = version == 4 ? 1480 : 1448;  // 1500 MTU minus headers, multiple of 8
    std::vector<std::vector<uint8_t>> out;
    for (size_t off = 0; off < udp.size(); off += chunk) {
        const size_t len = std::min(chunk, udp.size() - off);
        const bool more = off + len < udp.size();
        std::vector<uint8_t> w;
        if (version == 4) {
            put16(w, 0x4500);
            put16(w, static_cast<unsigned>(20 + len));
            put16(w, 1);
            put16(w, static_cast<unsigned>((more ? 0x2000 : 0) | (off / 8)));
            w.insert(w.end(), {64, 17, 0, 0, 192, 0, 2, 53, 198, 51, 100, 7});
        } else {
            put16(w, 0x6000);
            put16(w, 0);
            put16(w, static_cast<unsigned>(8 + len));
            w.insert(w.end(), {44, 64});
            w.insert(w.end(), {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53});
            w.insert(w.end(), {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07});
            w.insert(w.end(), {17, 0});
            put16(w, static_cast<unsigned>(off | (more ? 1 : 0)));
            put16(w, 0);
            put16(w, 1);
        }
        w.insert(w.end(), udp.begin() + static_cast<ptrdiff_t>(off),
                 udp.begin() + static_cast<ptrdiff_t>(off + len));
        out.push_back(std::move(w));
    }
    return out;
}

// Args: IP version, UDP payload bytes, reversed (0/1).
void BM_Reassemble(benchmark::State& state) {
    const int version = static_cast<int>(state.range(0));
    const auto frags = fragments(version, static_cast<size_t>(state.range(1)));
    std::vector<DecodedPacket> decoded(frags.size());
    for (size_t i = 0; i < frags.size(); ++i) {
        frag53::decode_ip(frag53::as_bytes(frags[i].data(), frags[i].size()),
                          static_cast<uint32_t>(frags[i].size()), decoded[i]);
    }
    if (state.range(2) != 0) std::reverse(decoded.begin(), decoded.end());

    FragmentTable table;
    uint64_t ts = 1'000'000'000;
    uint32_t id = 0;
    uint64_t frame = 0;
    for (auto _ : state) {
        ++id;
        ts += 10'000;  // 100k fragmented answers a second
        frag53::AddResult r;
        for (DecodedPacket& d : decoded) {
            d.frag_id = version == 4 ? (id & 0xffff) : id;
            r = table.add(d, ts, ++frame);
        }
        if (r.status != AddStatus::complete) {
            state.SkipWithError("datagram did not complete");
            break;
        }
        benchmark::DoNotOptimize(r.datagram.data());
        if ((id & 63) == 0) table.expire(ts, [](const frag53::IncompleteDatagram&) {});
    }
    state.counters["fragments"] = static_cast<double>(decoded.size());
    state.counters["allocations"] = static_cast<double>(table.counters().buffer_allocations);
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(state.range(1)));
}
BENCHMARK(BM_Reassemble)
    ->ArgNames({"ipv", "udp_payload", "reversed"})
    ->Args({4, 2000, 0})
    ->Args({4, 2000, 1})
    ->Args({4, 3000, 0})
    ->Args({4, 3000, 1})
    ->Args({6, 2000, 0})
    ->Args({6, 2000, 1})
    ->Args({6, 3000, 0})
    ->Args({6, 3000, 1});

// The same, with the decode of every fragment and of the rebuilt datagram inside the loop: what
// a worker pays per fragmented answer before DNS parsing.
void BM_DecodeReassembleDecode(benchmark::State& state) {
    const int version = static_cast<int>(state.range(0));
    auto frags = fragments(version, static_cast<size_t>(state.range(1)));
    FragmentTable table;
    uint64_t ts = 1'000'000'000;
    uint32_t id = 0;
    uint64_t frame = 0;
    DecodedPacket d, whole;
    const size_t id_at = version == 4 ? 4 : 44;  // IPv4 ID / low half of the IPv6 fragment ID
    for (auto _ : state) {
        ++id;
        ts += 10'000;
        frag53::AddResult r;
        for (auto& f : frags) {
            f[id_at] = static_cast<uint8_t>(id >> 8);
            f[id_at + 1] = static_cast<uint8_t>(id);
            frag53::decode_ip(frag53::as_bytes(f.data(), f.size()),
                              static_cast<uint32_t>(f.size()), d);
            r = table.add(d, ts, ++frame);
        }
        if (r.status != AddStatus::complete) {
            state.SkipWithError("datagram did not complete");
            break;
        }
        frag53::decode_ip(r.datagram, r.wire_len, whole);
        benchmark::DoNotOptimize(whole.payload.data());
        if ((id & 63) == 0) table.expire(ts, [](const frag53::IncompleteDatagram&) {});
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeReassembleDecode)
    ->ArgNames({"ipv", "udp_payload"})
    ->Args({4, 3000})
    ->Args({6, 3000});

// Fragments per datagram x arrival order. Args: fragments (2, 4, 8, 16), order (0 in order,
// 1 reverse, 2 interleaved: 8 datagrams in flight, their fragments round-robin). IPv4, 256-byte
// fragments. One iteration = 8 datagrams; items = datagrams.
void BM_Sweep(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    const int order = static_cast<int>(state.range(1));
    constexpr size_t in_flight = 8;
    constexpr size_t chunk = 256;
    const auto frags = fragments(4, n * chunk - 8, chunk);
    std::vector<DecodedPacket> one(frags.size());
    for (size_t i = 0; i < frags.size(); ++i)
        frag53::decode_ip(frag53::as_bytes(frags[i].data(), frags[i].size()),
                          static_cast<uint32_t>(frags[i].size()), one[i]);
    if (order == 1) std::reverse(one.begin(), one.end());
    // The arrival sequence of one batch: (datagram, fragment index).
    std::vector<std::pair<size_t, size_t>> seq;
    if (order == 2) {
        for (size_t f = 0; f < one.size(); ++f)
            for (size_t d = 0; d < in_flight; ++d) seq.emplace_back(d, f);
    } else {
        for (size_t d = 0; d < in_flight; ++d)
            for (size_t f = 0; f < one.size(); ++f) seq.emplace_back(d, f);
    }
    frag53::FragmentTableConfig cfg;
    cfg.tiny_fragment_bytes = 0;  // 256-byte fragments are the point here, not an anomaly
    FragmentTable table(cfg);
    uint64_t ts = 1'000'000'000;
    uint32_t id = 0;
    uint64_t frame = 0, complete = 0;
    for (auto _ : state) {
        ts += 10'000;
        for (const auto& [d, f] : seq) {
            DecodedPacket p = one[f];
            p.frag_id = (id + static_cast<uint32_t>(d)) & 0xffff;
            if (table.add(p, ts, ++frame).status == AddStatus::complete) ++complete;
        }
        id += in_flight;
        if ((id & 511) == 0) table.expire(ts, [](const frag53::IncompleteDatagram&) {});
    }
    if (complete != state.iterations() * in_flight) state.SkipWithError("datagrams did not complete");
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * in_flight));
    state.counters["fragments"] = static_cast<double>(n);
    state.counters["ns_per_fragment"] = benchmark::Counter(
        static_cast<double>(state.iterations() * in_flight * n), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Sweep)
    ->ArgNames({"frags", "order"})
    ->ArgsProduct({{2, 4, 8, 16}, {0, 1, 2}});

long peak_rss_kib() {
    FILE* f = std::fopen("/proc/self/status", "r");
    if (f == nullptr) return -1;
    char line[256];
    long kib = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    std::fclose(f);
    return kib;
}

// Flood: 1,000,000 distinct datagrams of which only the first 1480-byte fragment ever arrives,
// at 100,000 fragments per second of packet time (30 s timeout: nothing expires in time, the
// caps must hold). Reports the peak RSS, the bytes the table holds against its cap,
// evictions, and ns/fragment over the first and the last 100,000 fragments (the flood must not
// slow the table down).
void BM_FragmentFlood(benchmark::State& state) {
    const auto frags = fragments(4, 2000);
    DecodedPacket first;
    frag53::decode_ip(frag53::as_bytes(frags[0].data(), frags[0].size()),
                      static_cast<uint32_t>(frags[0].size()), first);
    constexpr uint32_t total = 1'000'000, window = 100'000;
    // Arg 0: default caps (the datagram cap binds). Arg 1: room for 131,072 datagrams but a
    // 64 MiB byte cap (the byte cap binds).
    frag53::FragmentTableConfig cfg;
    if (state.range(0) == 1) {
        cfg.max_datagrams = 1u << 17;
        cfg.max_bytes = 64ull << 20;
    }
    for (auto _ : state) {
        FragmentTable table(cfg);
        uint64_t max_bytes = 0;
        double first_ns = 0, last_ns = 0;
        auto t0 = std::chrono::steady_clock::now();
        for (uint32_t i = 0; i < total; ++i) {
            DecodedPacket p = first;
            p.frag_id = i;  // distinct datagrams (IPv4 id wraps: src varies too)
            p.src.bytes[3] = static_cast<uint8_t>(i >> 16);
            const uint64_t ts = 1'000'000'000ull + uint64_t{i} * 10'000;
            table.expire(ts, [](const frag53::IncompleteDatagram&) {});
            table.add(p, ts, i + 1);
            max_bytes = std::max(max_bytes, table.bytes_buffered());
            if (i + 1 == window || i + 1 == total) {
                auto t1 = std::chrono::steady_clock::now();
                double ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / window;
                if (i + 1 == window) first_ns = ns; else last_ns = ns;
            }
            if (i + 1 == total - window) t0 = std::chrono::steady_clock::now();
        }
        const auto& c = table.counters();
        if (max_bytes > table.config().max_bytes) state.SkipWithError("byte cap exceeded");
        state.counters["peak_rss_MiB"] = static_cast<double>(peak_rss_kib()) / 1024.0;
        state.counters["table_MiB_max"] = static_cast<double>(max_bytes) / (1024.0 * 1024.0);
        state.counters["cap_MiB"] = static_cast<double>(table.config().max_bytes) / (1024.0 * 1024.0);
        state.counters["evicted"] = static_cast<double>(c.evicted);
        state.counters["expired"] = static_cast<double>(c.expired);
        state.counters["limit_events"] = static_cast<double>(c.limit);
        state.counters["ns_first_100k"] = first_ns;
        state.counters["ns_last_100k"] = last_ns;
        state.counters["slowdown"] = first_ns > 0 ? last_ns / first_ns : 0;
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * total);
}
BENCHMARK(BM_FragmentFlood)->ArgName("byte_cap")->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
