// libFuzzer target for the fragment table: the input is a stream of fragment descriptors that
// become real IPv4 / IPv6 fragments (decoded with decode_ip, as the pipeline does) fed to one
// table with small caps, so eviction, overlap, timeout and pool paths are all reachable within
// a few bytes. After every step the table's bounds are checked.
//
// Descriptor (6 bytes, then `length` data bytes taken from the input, repeated if it runs out):
//   0: bit0 IPv6, bit1 MF, bit2 snap-cut the capture, bit3 call expire(), bit4 data from a
//      fixed pattern (so overlaps are often identical), bits5-7 time step (x 100 ns)
//   1: bits0-1 ID, bits2-3 source host, bit4 protocol UDP/TCP, bit5 drain(), bits6-7 spare
//   2-3: offset in 8-byte units (13 bits used)
//   4-5: payload length: bit15 clear: the low 11 bits; set: anything one packet can carry
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "dataplane/decode.h"
#include "dataplane/defrag.h"

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

frag53::FragmentTableConfig fuzz_config() {
    frag53::FragmentTableConfig c;
    c.max_fragments_per_datagram = 6;
    c.max_datagrams = 8;
    c.max_bytes = 24 * 1024;
    c.timeout_v4_ns = 3'000;
    c.timeout_v6_ns = 5'000;
    c.linger_ns = 1'000;
    c.tiny_fragment_bytes = 64;
    return c;
}

void check_table(const frag53::FragmentTable& t) {
    const auto& c = t.config();
    check(t.bytes_buffered() <= c.max_bytes);
    check(t.bytes_pooled() <= t.bytes_buffered());
    check(t.slots_in_use() <= c.max_datagrams);
    check(t.datagrams_in_flight() <= t.slots_in_use());
    check(t.anomalies().size() <= frag53::FragmentTable::kMaxEvents);
}

void check_info(const frag53::FragmentTable& t, const frag53::DatagramInfo& info) {
    check(info.fragments.size() <= t.config().max_fragments_per_datagram);
    for (size_t i = 1; i < info.fragments.size(); ++i) {
        check(info.fragments[i - 1].offset <= info.fragments[i].offset);
    }
    for (const auto& r : info.fragments) check(r.captured <= r.length);
    check(info.bytes_received <= 65535);
}

void on_incomplete(const frag53::FragmentTable& t, const frag53::IncompleteDatagram& d) {
    check_info(t, d.info);
    check(d.head.size() <= d.head_wire_len);
    if (!d.head.empty()) {
        frag53::DecodedPacket p;
        frag53::decode_ip(d.head, d.head_wire_len, p);
        check(!p.is_fragment);
    }
}

// patterns()[id][j] == (j * 31 + id) mod 256, long enough for any offset mod 256 plus a payload.
const std::array<std::vector<uint8_t>, 4>& patterns() {
    static const auto table = [] {
        std::array<std::vector<uint8_t>, 4> t;
        for (size_t id = 0; id < t.size(); ++id) {
            t[id].resize(256 + 65536);
            for (size_t j = 0; j < t[id].size(); ++j) t[id][j] = static_cast<uint8_t>(j * 31 + id);
        }
        return t;
    }();
    return table;
}

void put16(std::vector<uint8_t>& w, unsigned v) {
    w.push_back(static_cast<uint8_t>((v >> 8) & 0xff));
    w.push_back(static_cast<uint8_t>(v & 0xff));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    frag53::FragmentTable table(fuzz_config());
    std::vector<uint8_t> pkt;
    pkt.reserve(70000);
    uint64_t now = 1'000'000;
    uint64_t frame = 0;
    size_t pos = 0;

    while (size - pos >= 6) {
        const uint8_t flags = data[pos];
        const uint8_t sel = data[pos + 1];
        const unsigned offset_units = ((static_cast<unsigned>(data[pos + 2]) << 8) | data[pos + 3]) & 0x1fff;
        unsigned length = (static_cast<unsigned>(data[pos + 4]) << 8) | data[pos + 5];
        pos += 6;
        const bool v6 = (flags & 0x01) != 0;
        const bool more = (flags & 0x02) != 0;
        // Mostly DNS-sized, sometimes as large as one packet allows (oversize, byte cap).
        length = (length & 0x8000) != 0 ? length % (v6 ? 65527u : 65515u) : length & 0x7ff;
        now += static_cast<uint64_t>(flags >> 5) * 100;

        pkt.clear();
        const uint8_t proto = (sel & 0x10) != 0 ? 6 : 17;
        const uint8_t host = static_cast<uint8_t>(1 + ((sel >> 2) & 3));
        if (!v6) {
            put16(pkt, 0x4500);
            put16(pkt, 20 + length);
            put16(pkt, sel & 3);
            put16(pkt, (more ? 0x2000u : 0u) | offset_units);
            pkt.push_back(64);
            pkt.push_back(proto);
            put16(pkt, 0);
            pkt.insert(pkt.end(), {192, 0, 2, host, 198, 51, 100, 7});
        } else {
            put16(pkt, 0x6000);
            put16(pkt, 0);
            put16(pkt, 8 + length);
            pkt.push_back(44);
            pkt.push_back(64);
            pkt.insert(pkt.end(), {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, host});
            pkt.insert(pkt.end(), {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53});
            pkt.push_back(proto);
            pkt.push_back(0);
            put16(pkt, (offset_units << 3) | (more ? 1u : 0u));
            put16(pkt, 0);
            put16(pkt, sel & 3);
        }
        // Payload: input bytes while they last (unless bit 4 asks for the pattern), then the
        // pattern byte of each absolute offset, (offset * 31 + id) mod 256. Copied in runs: a
        // per-byte loop under coverage instrumentation was most of an execution's time.
        const size_t header = pkt.size();
        pkt.resize(header + length);
        size_t from_input = 0;
        if ((flags & 0x10) == 0) {
            from_input = std::min<size_t>(length, size - pos);
            std::memcpy(pkt.data() + header, data + pos, from_input);
            pos += from_input;
        }
        const size_t start = (static_cast<size_t>(offset_units) * 8 + from_input) % 256;
        std::memcpy(pkt.data() + header + from_input, patterns()[sel & 3].data() + start, length - from_input);

        size_t captured = pkt.size();
        if ((flags & 0x04) != 0) captured = header + (captured - header) / 2;
        frag53::DecodedPacket p;
        frag53::decode_ip(frag53::as_bytes(pkt.data(), captured), static_cast<uint32_t>(pkt.size()), p);
        const frag53::AddResult r = table.add(p, now, ++frame);
        check_table(table);
        if (r.status == frag53::AddStatus::complete) {
            check_info(table, r.info);
            check(r.datagram.size() <= r.wire_len);
            check(r.wire_len <= 65535 + 40);
            frag53::DecodedPacket whole;
            frag53::decode_ip(r.datagram, r.wire_len, whole);
            check(!whole.is_fragment);
            check(whole.ip_length == r.wire_len);
        } else if (!p.is_fragment) {
            check(r.status == frag53::AddStatus::not_fragment);
        }

        if ((flags & 0x08) != 0) {
            table.expire(now, [&](const frag53::IncompleteDatagram& d) { on_incomplete(table, d); });
            check_table(table);
        }
        if ((sel & 0x20) != 0) {
            table.drain([&](const frag53::IncompleteDatagram& d) { on_incomplete(table, d); });
            check(table.slots_in_use() == 0);
            check(table.bytes_buffered() == table.bytes_pooled());
        }
    }
    table.drain([&](const frag53::IncompleteDatagram& d) { on_incomplete(table, d); });
    check(table.slots_in_use() == 0);
    check(table.datagrams_in_flight() == 0);
    check(table.bytes_buffered() == table.bytes_pooled());
    return 0;
}
