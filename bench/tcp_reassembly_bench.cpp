// TCP reassembly plus DNS-over-TCP framing, as a worker runs them: a TcpReassembler delivering
// in-order bytes to one TcpMessageFramer per direction of each connection, whose sink only counts
// messages. Ethernet/IPv4/TCP frames are built and decoded once outside the loop; each iteration
// adjusts the decoded view (sequence number, client port, payload window) the way the next
// captured segment would differ, so only TcpReassembler::process() and what it calls are timed.
// Packet time advances with every iteration; idle timeouts never fire.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "analyzers/dns/tcp_framing.h"
#include "dataplane/decode.h"
#include "dataplane/packet.h"
#include "dataplane/tcp_reassembly.h"

namespace {

using frag53::Bytes;
using frag53::DecodedPacket;
using frag53::TcpReassembler;
using frag53::TcpReassemblyConfig;
namespace tcp_flag = frag53::tcp_flag;

constexpr uint16_t kServerPort = 53;
constexpr uint32_t kClientIsn = 0x10000000;
constexpr uint32_t kServerIsn = 0xfffff000;  // the sequence space wraps within the first 4 KB
constexpr uint32_t kMaxConnections = 4096;   // PipelineConfig::tcp_max_connections

void put16(std::vector<uint8_t>& w, unsigned v) {
    w.push_back(static_cast<uint8_t>((v >> 8) & 0xff));
    w.push_back(static_cast<uint8_t>(v & 0xff));
}
void put32(std::vector<uint8_t>& w, uint32_t v) {
    put16(w, v >> 16);
    put16(w, v & 0xffff);
}

// A DNS message of exactly `size` bytes (>= 62 for a response): www.example.com A, answered
// with one A record and, when `size` asks for more, one TXT record padding it out.
std::vector<uint8_t> dns_message(bool response, size_t size) {
    std::vector<uint8_t> m;
    put16(m, 0x5353);
    put16(m, response ? 0x8180 : 0x0100);
    put16(m, 1);
    const bool txt = response && size >= 62;
    put16(m, response ? (txt ? 2 : 1) : 0);
    put16(m, 0);
    put16(m, 0);
    m.insert(m.end(), {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0});
    put16(m, 1);  // A
    put16(m, 1);  // IN
    if (response) {
        m.insert(m.end(), {0xc0, 0x0c});
        put16(m, 1);
        put16(m, 1);
        put32(m, 300);
        put16(m, 4);
        m.insert(m.end(), {192, 0, 2, 1});
    }
    if (txt) {
        m.insert(m.end(), {0xc0, 0x0c});
        put16(m, 16);  // TXT
        put16(m, 1);
        put32(m, 300);
        size_t rdata = size - m.size() - 2;
        put16(m, static_cast<unsigned>(rdata));
        while (rdata > 0) {
            const size_t piece = std::min<size_t>(rdata, 256);
            m.push_back(static_cast<uint8_t>(piece - 1));
            for (size_t i = 1; i < piece; ++i) m.push_back(static_cast<uint8_t>('a' + i % 26));
            rdata -= piece;
        }
    }
    if (m.size() != size && response) {
        std::fprintf(stderr, "tcp_reassembly_bench: cannot build a %zu-byte message\n", size);
        std::exit(1);
    }
    return m;
}

// The message with its two-byte length prefix (RFC 1035 4.2.2).
std::vector<uint8_t> framed(const std::vector<uint8_t>& msg) {
    std::vector<uint8_t> f;
    put16(f, static_cast<unsigned>(msg.size()));
    f.insert(f.end(), msg.begin(), msg.end());
    return f;
}

// Ethernet + IPv4 + TCP (no options), client 198.18.0.2, server 198.18.0.1.
std::vector<uint8_t> tcp_frame(bool to_server, uint16_t client_port, uint32_t seq, uint32_t ack,
                               uint8_t flags, std::span<const uint8_t> payload) {
    std::vector<uint8_t> w = {0x02, 0, 0, 0, 0, to_server ? uint8_t{1} : uint8_t{2},
                              0x02, 0, 0, 0, 0, to_server ? uint8_t{2} : uint8_t{1}};
    put16(w, 0x0800);
    put16(w, 0x4500);
    put16(w, static_cast<unsigned>(40 + payload.size()));
    put16(w, 0);
    put16(w, 0x4000);  // DF
    w.insert(w.end(), {64, 6, 0, 0});
    const uint8_t client[4] = {198, 18, 0, 2}, server[4] = {198, 18, 0, 1};
    w.insert(w.end(), to_server ? client : server, (to_server ? client : server) + 4);
    w.insert(w.end(), to_server ? server : client, (to_server ? server : client) + 4);
    put16(w, to_server ? client_port : kServerPort);
    put16(w, to_server ? kServerPort : client_port);
    put32(w, seq);
    put32(w, ack);
    w.push_back(0x50);  // data offset 5
    w.push_back(flags);
    put16(w, 65535);
    put16(w, 0);
    put16(w, 0);
    w.insert(w.end(), payload.begin(), payload.end());
    return w;
}

// Frames built once and decoded once; `decoded[i].payload` points into `frames[i]`.
struct Segments {
    std::vector<std::vector<uint8_t>> frames;
    std::vector<DecodedPacket> decoded;

    void add(bool to_server, uint16_t client_port, uint32_t seq, uint32_t ack, uint8_t flags,
             std::span<const uint8_t> payload = {}) {
        frames.push_back(tcp_frame(to_server, client_port, seq, ack, flags, payload));
    }
    void decode() {
        decoded.assign(frames.size(), DecodedPacket{});
        for (size_t i = 0; i < frames.size(); ++i) {
            frag53::PacketView v;
            v.data = frag53::as_bytes(frames[i].data(), frames[i].size());
            v.wire_len = static_cast<uint32_t>(frames[i].size());
            frag53::decode_frame(v, decoded[i]);
            if (decoded[i].status != frag53::DecodeStatus::ok ||
                decoded[i].transport != frag53::Transport::tcp ||
                decoded[i].payload.size() != frames[i].size() - 54) {
                std::fprintf(stderr, "tcp_reassembly_bench: frame %zu does not decode as TCP\n", i);
                std::exit(1);
            }
        }
    }
};

// Stream sink of a worker, cut down: framers per connection slot, a message sink that counts.
class CountingSink final : public frag53::TcpStreamSink, public frag53::dns::TcpMessageSink {
public:
    explicit CountingSink(uint32_t slots) : framers_(slots) {}

    void on_data(const frag53::TcpData& d) noexcept override {
        framers_[d.conn->slot][frag53::dir_index(d.dir)].feed(d.data, d.ts_ns, d.frame, *this);
    }
    void on_event(const frag53::TcpEvent& e) noexcept override {
        auto& f = framers_[e.conn->slot];
        switch (e.type) {
        case frag53::TcpEventType::opened:
            f[0].reset();
            f[1].reset();
            break;
        case frag53::TcpEventType::gap:
            ++gaps;
            f[frag53::dir_index(e.dir)].gap(e.size, e.ts_ns, e.frame, *this);
            break;
        case frag53::TcpEventType::fin:
            f[frag53::dir_index(e.dir)].finish(e.ts_ns, e.frame, *this);
            break;
        case frag53::TcpEventType::closed:
            ++closed;
            for (auto& x : f) {
                x.finish(e.ts_ns, e.frame, *this);
                x.reset();
            }
            break;
        default:
            break;
        }
    }
    void on_message(const frag53::dns::TcpDnsMessage& m) noexcept override {
        ++messages;
        message_bytes += m.data.size();
        assembled += !m.zero_copy;
    }
    void on_framing_event(const frag53::dns::TcpFramingEvent&) noexcept override {
        ++framing_events;
    }

    uint64_t messages = 0, message_bytes = 0, assembled = 0, framing_events = 0, gaps = 0,
             closed = 0;

private:
    std::vector<std::array<frag53::dns::TcpMessageFramer, 2>> framers_;
};

TcpReassemblyConfig reassembly_config() {
    TcpReassemblyConfig cfg;
    cfg.select_port(kServerPort);
    cfg.max_connections = kMaxConnections;
    return cfg;
}

// SYN, SYN-ACK, ACK for client port 40000, processed outside the timed loop.
void handshake(TcpReassembler& r, uint64_t ts, uint64_t& frame) {
    Segments hs;
    hs.add(true, 40000, kClientIsn, 0, tcp_flag::syn);
    hs.add(false, 40000, kServerIsn, kClientIsn + 1, tcp_flag::syn | tcp_flag::ack);
    hs.add(true, 40000, kClientIsn + 1, kServerIsn + 1, tcp_flag::ack);
    hs.decode();
    for (const auto& d : hs.decoded) r.process(d, ts, ++frame);
}

bool report_errors(benchmark::State& state, const CountingSink& sink, const TcpReassembler& r) {
    if (sink.gaps || sink.framing_events || r.counters().overlap_conflicts) {
        state.SkipWithError("unexpected gap, framing event or overlap conflict");
        return false;
    }
    return true;
}

// (a), (d): one long-lived connection, the server sending pipelined answers in order.
// Args: TCP payload bytes per segment (1,400: one Ethernet MTU; 32,768: a GRO/LRO aggregate),
// DNS message bytes (each preceded by its 2-byte length; messages straddle segment boundaries
// wherever they fall). The stream repeats with the period of one framed message, so segment
// payloads are windows of one buffer holding a few repetitions: its bytes stay cache-hot, as
// the last-written bytes of a NIC ring would not always be.
void BM_InOrderStream(benchmark::State& state) {
    const auto seg = static_cast<size_t>(state.range(0));
    const auto unit = framed(dns_message(true, static_cast<size_t>(state.range(1))));
    const size_t period = unit.size();
    std::vector<uint8_t> stream;
    while (stream.size() < period + seg) stream.insert(stream.end(), unit.begin(), unit.end());

    // Decoded once from a real frame; the loop moves the payload window and the sequence number.
    Segments tmpl;
    tmpl.add(false, 40000, kServerIsn + 1, kClientIsn + 1, tcp_flag::ack | tcp_flag::psh,
             std::span<const uint8_t>(stream.data(), seg));
    tmpl.decode();
    DecodedPacket pkt = tmpl.decoded[0];

    CountingSink sink(kMaxConnections);
    TcpReassembler reasm(reassembly_config(), sink);
    uint64_t ts = 1'000'000'000'000'000'000ull, frame = 0;
    handshake(reasm, ts, frame);

    uint64_t off = 0;  // server stream offset
    for (auto _ : state) {
        pkt.tcp_seq = kServerIsn + 1 + static_cast<uint32_t>(off);
        pkt.payload = frag53::as_bytes(stream.data() + off % period, seg);
        ts += 1'000;
        benchmark::DoNotOptimize(reasm.process(pkt, ts, ++frame));
        off += seg;
    }
    if (!report_errors(state, sink, reasm)) return;
    if (sink.messages != off / period) {
        state.SkipWithError("messages lost");
        return;
    }
    const auto it = static_cast<double>(state.iterations());
    state.SetBytesProcessed(static_cast<int64_t>(off));
    state.counters["messages"] =
        benchmark::Counter(static_cast<double>(sink.messages), benchmark::Counter::kIsRate);
    state.counters["msgs_per_seg"] = static_cast<double>(sink.messages) / it;
    state.counters["assembled_pct"] =
        100.0 * static_cast<double>(sink.assembled) / static_cast<double>(sink.messages);
}
BENCHMARK(BM_InOrderStream)
    ->ArgNames({"segment", "message"})
    ->Args({1400, 100})     // (a)
    ->Args({32768, 100})    // (d)
    ->Args({1400, 4096})
    ->Args({32768, 4096});

// (b): 4,096-byte answers (4,098 stream bytes with the prefix) in three segments of 1,400,
// 1,400 and 1,298 bytes on one connection. Arg order: 0 in order, 1 last, first, middle (the
// last is buffered ahead of a hole, the first is delivered past it, the middle fills the hole
// and releases the buffered bytes). One iteration = one answer.
void BM_ThreeSegmentAnswer(benchmark::State& state) {
    const bool reordered = state.range(0) != 0;
    const auto unit = framed(dns_message(true, 4096));
    const size_t cut[4] = {0, 1400, 2800, unit.size()};
    Segments segs;
    for (int i = 0; i < 3; ++i)
        segs.add(false, 40000, kServerIsn + 1 + static_cast<uint32_t>(cut[i]), kClientIsn + 1,
                 tcp_flag::ack | (i == 2 ? tcp_flag::psh : 0),
                 std::span<const uint8_t>(unit.data() + cut[i], cut[i + 1] - cut[i]));
    segs.decode();
    const std::array<size_t, 3> order = reordered ? std::array<size_t, 3>{2, 0, 1}
                                                  : std::array<size_t, 3>{0, 1, 2};

    CountingSink sink(kMaxConnections);
    TcpReassembler reasm(reassembly_config(), sink);
    uint64_t ts = 1'000'000'000'000'000'000ull, frame = 0;
    handshake(reasm, ts, frame);

    uint32_t base = kServerIsn + 1;
    for (auto _ : state) {
        ts += 1'000;
        for (size_t i : order) {
            DecodedPacket& p = segs.decoded[i];
            p.tcp_seq = base + static_cast<uint32_t>(cut[i]);
            benchmark::DoNotOptimize(reasm.process(p, ts, ++frame));
        }
        base += static_cast<uint32_t>(unit.size());
    }
    if (!report_errors(state, sink, reasm)) return;
    if (sink.messages != static_cast<uint64_t>(state.iterations()) ||
        (reordered && reasm.counters().out_of_order_segments != sink.messages)) {
        state.SkipWithError("answers lost or not reordered");
        return;
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(unit.size()));
    state.counters["ns_per_segment"] =
        benchmark::Counter(3.0 * static_cast<double>(state.iterations()),
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ThreeSegmentAnswer)->ArgNames({"reordered"})->Arg(0)->Arg(1);

// (c): one DNS lookup per connection, as dig +tcp does it: SYN, SYN-ACK, [ACK], query,
// answer (100 bytes), client FIN, server FIN (both FINs close the connection), [last ACK,
// which finds no connection]. Args: acks (0: the six segments that carry state, 1: with the two
// pure ACKs a real trace has), in_flight (connections interleaved segment by segment, so the
// table holds that many live connections and each step touches a different one). Every
// connection gets a fresh client port; all are closed by the end of an iteration.
// One iteration = in_flight connections; items = connections.
void BM_ShortConnections(benchmark::State& state) {
    const bool acks = state.range(0) != 0;
    const auto in_flight = static_cast<uint32_t>(state.range(1));
    const auto query = framed(dns_message(false, 0));
    const auto answer = framed(dns_message(true, 100));
    const auto qlen = static_cast<uint32_t>(query.size()), alen = static_cast<uint32_t>(answer.size());
    constexpr uint8_t ack = tcp_flag::ack, psh = tcp_flag::psh, fin = tcp_flag::fin;

    Segments segs;
    segs.add(true, 40000, kClientIsn, 0, tcp_flag::syn);
    segs.add(false, 40000, kServerIsn, kClientIsn + 1, tcp_flag::syn | ack);
    if (acks) segs.add(true, 40000, kClientIsn + 1, kServerIsn + 1, ack);
    segs.add(true, 40000, kClientIsn + 1, kServerIsn + 1, ack | psh, query);
    segs.add(false, 40000, kServerIsn + 1, kClientIsn + 1 + qlen, ack | psh, answer);
    segs.add(true, 40000, kClientIsn + 1 + qlen, kServerIsn + 1 + alen, fin | ack);
    segs.add(false, 40000, kServerIsn + 1 + alen, kClientIsn + 2 + qlen, fin | ack);
    if (acks) segs.add(true, 40000, kClientIsn + 2 + qlen, kServerIsn + 2 + alen, ack);
    segs.decode();
    std::vector<bool> to_server;
    for (const auto& d : segs.decoded) to_server.push_back(d.dport == kServerPort);

    CountingSink sink(kMaxConnections);
    TcpReassembler reasm(reassembly_config(), sink);
    uint64_t ts = 1'000'000'000'000'000'000ull, frame = 0;
    uint32_t next_port = 0;
    for (auto _ : state) {
        ts += 1'000;
        const uint32_t first_port = next_port;
        for (size_t i = 0; i < segs.decoded.size(); ++i) {
            DecodedPacket& p = segs.decoded[i];
            for (uint32_t c = 0; c < in_flight; ++c) {
                const auto port = static_cast<uint16_t>(1024 + (first_port + c) % 64000);
                (to_server[i] ? p.sport : p.dport) = port;
                benchmark::DoNotOptimize(reasm.process(p, ts, ++frame));
            }
        }
        next_port = (first_port + in_flight) % 64000;
    }
    if (!report_errors(state, sink, reasm)) return;
    const uint64_t conns = static_cast<uint64_t>(state.iterations()) * in_flight;
    if (sink.messages != 2 * conns || reasm.counters().closed_fin != conns ||
        reasm.connections() != 0) {
        state.SkipWithError("connections did not complete");
        return;
    }
    state.SetItemsProcessed(static_cast<int64_t>(conns));
    state.counters["segments"] = static_cast<double>(segs.decoded.size());
    state.counters["ns_per_segment"] =
        benchmark::Counter(static_cast<double>(conns * segs.decoded.size()),
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ShortConnections)
    ->ArgNames({"acks", "in_flight"})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Args({1, 1000});

}  // namespace

BENCHMARK_MAIN();
