// Turns the input into TCP segments on a few connections (direction, flags, sequence jitter,
// payload, time steps), feeds them through TcpReassembler with small caps and DNS framers behind
// it, and checks what must hold for every input: each stream byte is delivered or skipped exactly
// once and in order, buffers never exceed their caps, framed messages never exceed theirs, and
// end of input leaves nothing behind.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "analyzers/dns/tcp_framing.h"
#include "dataplane/tcp_reassembly.h"

using namespace frag53;
using namespace frag53::dns;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

constexpr uint32_t kMaxConns = 4;

struct Messages : TcpMessageSink {
    uint32_t cap = 0;
    void on_message(const TcpDnsMessage& m) noexcept override {
        check(!m.data.empty() && m.data.size() <= cap);
        check(!m.frames.empty() && m.frames.size() <= kMaxMessageFrames);
        check(m.frames.back() == m.frame);
        volatile std::byte sink = m.data[m.data.size() - 1];  // touch the whole span's end
        (void)sink;
    }
    void on_framing_event(const TcpFramingEvent&) noexcept override {}
};

struct Harness : TcpStreamSink {
    TcpReassemblyConfig cfg;
    std::array<std::array<TcpMessageFramer, 2>, kMaxConns> framers;
    std::array<std::array<uint64_t, 2>, kMaxConns> expect{};
    std::array<uint64_t, kMaxConns> ids{};
    Messages msgs;

    void on_data(const TcpData& d) noexcept override {
        const uint32_t s = d.conn->slot;
        const unsigned i = dir_index(d.dir);
        check(s < kMaxConns && ids[s] == d.conn->id);
        check(!d.data.empty());
        check(d.stream_offset == expect[s][i]);
        check(d.conn->dir[i].buffered <= cfg.max_stream_buffered);
        expect[s][i] += d.data.size();
        framers[s][i].feed(d.data, d.ts_ns, d.frame, msgs);
        check(framers[s][i].buffered() <= msgs.cap);
        check(framers[s][i].stream_offset() == expect[s][i]);
    }
    void on_event(const TcpEvent& e) noexcept override {
        const uint32_t s = e.conn->slot;
        const unsigned i = dir_index(e.dir);
        check(s < kMaxConns);
        switch (e.type) {
        case TcpEventType::opened:
            ids[s] = e.conn->id;
            expect[s] = {0, 0};
            framers[s][0].reset();
            framers[s][1].reset();
            break;
        case TcpEventType::gap:
            check(ids[s] == e.conn->id && e.size > 0);
            check(e.stream_offset == expect[s][i]);
            expect[s][i] += e.size;
            framers[s][i].gap(e.size, e.ts_ns, e.frame, msgs);
            break;
        case TcpEventType::closed:
            check(ids[s] == e.conn->id);
            for (unsigned k = 0; k < 2; ++k) {
                check(e.conn->dir[k].next_offset == expect[s][k]);
                check(e.conn->dir[k].delivered + e.conn->dir[k].gap_bytes == expect[s][k]);
                framers[s][k].finish(e.ts_ns, e.frame, msgs);
            }
            ids[s] = 0;
            break;
        default:
            check(ids[s] == e.conn->id);
            break;
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 5) return 0;
    Harness h;
    h.cfg.select_port(53);
    h.cfg.max_connections = 1 + data[0] % kMaxConns;
    h.cfg.max_stream_buffered = 16u + data[1] * 8u;
    h.cfg.max_total_buffered = 32u + data[2] * 16u;
    h.cfg.max_stream_holes = 1u + data[3] % 8u;
    h.cfg.retransmit_check_bytes = data[3] & 0x80 ? 0u : 64u;
    h.cfg.idle_timeout_ns = 1'000'000'000ull;
    h.msgs.cap = 12u + data[4] * 4u;
    for (auto& pair : h.framers)
        for (auto& f : pair) f = TcpMessageFramer(TcpFramingConfig{h.msgs.cap});
    TcpReassembler r(h.cfg, h);

    const std::array<std::byte, 4> client_ip{std::byte{10}, std::byte{0}, std::byte{0},
                                             std::byte{1}},
        server_ip{std::byte{10}, std::byte{0}, std::byte{0}, std::byte{2}};
    const IpAddress client = IpAddress::v4(client_ip.data()),
                    server = IpAddress::v4(server_ip.data());
    // Per connection and direction, where the next in-order segment would start; starting near
    // the top of the sequence space makes wrap-around common.
    std::array<std::array<uint32_t, 2>, 6> cursor{};
    for (size_t c = 0; c < cursor.size(); ++c)
        cursor[c] = {0xFFFFF000u + static_cast<uint32_t>(c) * 1000u, 7u * static_cast<uint32_t>(c)};
    std::vector<std::byte> big;
    uint64_t ts = 1'000'000'000ull, frame = 0;

    size_t pos = 5;
    while (pos + 5 <= size) {
        const uint8_t op = data[pos], len_byte = data[pos + 3], step = data[pos + 4];
        const auto delta = static_cast<int16_t>(static_cast<uint16_t>(data[pos + 1] << 8 | data[pos + 2]));
        pos += 5;
        const size_t conn = (op & 0x03u) % cursor.size();
        const bool to_server = op & 0x04;
        uint8_t flags = tcp_flag::ack;
        if (op & 0x08) flags |= tcp_flag::syn;
        if (op & 0x10) flags = static_cast<uint8_t>(flags & ~tcp_flag::ack);
        if (op & 0x20) flags |= tcp_flag::fin;
        if ((op & 0x60) == 0x60) flags = tcp_flag::rst;
        const bool truncate = op & 0x80;

        Bytes payload;
        if (len_byte == 0xFF) {
            // A GRO/TSO-sized segment built from the rest of the input.
            // The input from pos on, repeated: copied in runs, not byte by byte (the per-byte
            // loop under coverage instrumentation was most of an execution's time).
            big.resize(6000);
            for (size_t filled = 0, from = pos % size; filled < big.size(); from = 0) {
                const size_t n = std::min(big.size() - filled, size - from);
                std::memcpy(big.data() + filled, data + from, n);
                filled += n;
            }
            payload = Bytes(big.data(), big.size());
        } else {
            const size_t n = std::min<size_t>(len_byte & 0x7Fu, size - pos);
            payload = Bytes(reinterpret_cast<const std::byte*>(data + pos), n);
            pos += n;
        }

        uint32_t& cur = cursor[conn][to_server ? 0 : 1];
        DecodedPacket p;
        p.transport = Transport::tcp;
        p.ip_version = 4;
        p.src = to_server ? client : server;
        p.dst = to_server ? server : client;
        p.sport = to_server ? static_cast<uint16_t>(40000 + conn) : 53;
        p.dport = to_server ? 53 : static_cast<uint16_t>(40000 + conn);
        p.tcp_seq = cur + static_cast<uint32_t>(static_cast<int32_t>(delta));
        p.tcp_ack = cursor[conn][to_server ? 1 : 0];
        p.tcp_flags = flags;
        p.payload = payload;
        p.payload_wire_len = static_cast<uint32_t>(payload.size());
        if (truncate && payload.size() > 2) {
            p.payload = payload.first(payload.size() / 2);
            p.snap_truncated = true;
        }
        cur = p.tcp_seq + p.payload_wire_len + ((flags & tcp_flag::syn) ? 1u : 0u);

        ts += step < 200 ? step * 1'000'000ull : (step - 199ull) * 100'000'000ull;
        r.process(p, ts, ++frame);
        check(r.buffered_bytes() <= h.cfg.max_total_buffered);
        check(r.connections() <= h.cfg.max_connections);
        if (step == 0xFF) r.expire(ts);
    }
    r.drain(ts);
    check(r.buffered_bytes() == 0);
    check(r.connections() == 0);
    const TcpReassemblyCounters& c = r.counters();
    check(c.connections_opened == c.closed_fin + c.resets + c.evicted_timeout +
                                      c.evicted_table_full + c.evicted_drain + c.reused);
    return 0;
}
