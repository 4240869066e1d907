// Fragment reassembly of DNS-sized answers over a 1500-byte MTU: 2 fragments (2 KB UDP) and
// 3 fragments (3 KB UDP), in order and reversed, IPv4 and IPv6. One iteration is one datagram,
// so the reported time is ns/datagram. Fragments are built and decoded once outside the loop;
// each iteration gets a fresh IP ID in the decoded view so every datagram is new to the table
// (lingering keys of finished ones are expired by packet time as a worker would).
#include <benchmark/benchmark.h>

#include <algorithm>
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

// The fragments of one UDP datagram with `payload` bytes of DNS answer.
std::vector<std::vector<uint8_t>> fragments(int version, size_t payload) {
    std::vector<uint8_t> udp;
    put16(udp, 53);
    put16(udp, 40000);
    put16(udp, static_cast<unsigned>(8 + payload));
    put16(udp, 0);
    for (size_t i = 0; i < payload; ++i) udp.push_back(static_cast<uint8_t>(i));

    const size_t chunk = version == 4 ? 1480 : 1448;  // 1500 MTU minus headers, multiple of 8
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

}  // namespace

BENCHMARK_MAIN();
