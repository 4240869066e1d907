#include "dataplane/defrag.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include "dataplane/decode.h"

namespace frag53 {
namespace {

using Wire = std::vector<uint8_t>;
constexpr uint64_t kSec = 1'000'000'000;
constexpr uint8_t kUdp = 17, kTcp = 6;

void put16(Wire& w, unsigned v) {
    w.push_back(static_cast<uint8_t>((v >> 8) & 0xff));
    w.push_back(static_cast<uint8_t>(v & 0xff));
}
void put32(Wire& w, uint32_t v) {
    put16(w, v >> 16);
    put16(w, v & 0xffff);
}

// A UDP datagram (header + payload) whose payload bytes depend on position and seed, so any
// misplaced or missing byte shows.
Wire udp_datagram(size_t payload_len, uint8_t seed = 1, uint16_t sport = 5353,
                  uint16_t dport = 53) {
    Wire u;
    put16(u, sport);
    put16(u, dport);
    put16(u, static_cast<unsigned>(8 + payload_len));
    put16(u, 0);
    for (size_t i = 0; i < payload_len; ++i) {
        u.push_back(static_cast<uint8_t>((i * 7 + seed + (i >> 8)) & 0xff));
    }
    return u;
}

// Builds fragments of an upper-layer unit byte by byte, for IPv4 or IPv6.
struct Fragmenter {
    int version = 4;
    uint8_t host = 1;           // last byte of the source address
    uint8_t proto = kUdp;
    Wire v6_unfragmentable;     // IPv6 extension headers before the fragment header
    uint8_t v6_first_ext = 0;   // next header of the fixed header when there are some

    // One fragment carrying unit[off, off+len).
    Wire fragment(const Wire& unit, size_t off, size_t len, bool more, uint32_t id) const {
        Wire w;
        if (version == 4) {
            const size_t total = 20 + len;
            w.push_back(0x45);
            w.push_back(0);
            put16(w, static_cast<unsigned>(total));
            put16(w, id & 0xffff);
            put16(w, static_cast<unsigned>((more ? 0x2000 : 0) | (off / 8)));
            w.push_back(64);
            w.push_back(proto);
            put16(w, 0);
            w.insert(w.end(), {192, 0, 2, host});
            w.insert(w.end(), {198, 51, 100, 7});
        } else {
            put32(w, 0x60000000);
            put16(w, static_cast<unsigned>(v6_unfragmentable.size() + 8 + len));
            w.push_back(v6_unfragmentable.empty() ? 44 : v6_first_ext);
            w.push_back(64);
            for (int i = 0; i < 15; ++i) w.push_back(i == 0 ? 0x20 : (i == 1 ? 0x01 : 0));
            w.push_back(host);
            for (int i = 0; i < 15; ++i) w.push_back(i == 0 ? 0x20 : (i == 1 ? 0x01 : 0));
            w.push_back(0x53);
            w.insert(w.end(), v6_unfragmentable.begin(), v6_unfragmentable.end());
            w.push_back(proto);
            w.push_back(0);
            put16(w, static_cast<unsigned>((off & 0xfff8) | (more ? 1 : 0)));
            put32(w, id);
        }
        w.insert(w.end(), unit.begin() + static_cast<ptrdiff_t>(off),
                 unit.begin() + static_cast<ptrdiff_t>(off + len));
        return w;
    }

    // Fragments at the given cut points (first must be 0); the last runs to the end.
    std::vector<Wire> split(const Wire& unit, std::vector<size_t> cuts, uint32_t id) const {
        std::vector<Wire> out;
        cuts.push_back(unit.size());
        for (size_t i = 0; i + 1 < cuts.size(); ++i) {
            out.push_back(fragment(unit, cuts[i], cuts[i + 1] - cuts[i], i + 2 < cuts.size(), id));
        }
        return out;
    }

    // Payload bytes per non-last fragment for a 1500-byte (IPv4) / 1280-byte (IPv6) MTU.
    size_t mtu_chunk() const { return version == 4 ? 1480 : 1232; }
    std::vector<Wire> split_mtu(const Wire& unit, uint32_t id) const {
        std::vector<size_t> cuts;
        for (size_t off = 0; off < unit.size(); off += mtu_chunk()) cuts.push_back(off);
        return split(unit, cuts, id);
    }
};

DecodedPacket decode(const Wire& w) {
    DecodedPacket d;
    decode_ip(as_bytes(w.data(), w.size()), static_cast<uint32_t>(w.size()), d);
    return d;
}

Wire payload_of(const Wire& udp) { return Wire(udp.begin() + 8, udp.end()); }

Wire to_wire(Bytes b) {
    Wire w(b.size());
    for (size_t i = 0; i < b.size(); ++i) w[i] = static_cast<uint8_t>(b[i]);
    return w;
}

size_t count(std::span<const FragmentAnomaly> events, FragmentAnomalyKind kind) {
    size_t n = 0;
    for (const FragmentAnomaly& e : events) n += e.kind == kind ? 1 : 0;
    return n;
}

class DefragTest : public ::testing::TestWithParam<int> {
protected:
    Fragmenter net() const {
        Fragmenter f;
        f.version = GetParam();
        return f;
    }
    uint64_t timeout() const {
        return GetParam() == 4 ? FragmentTableConfig{}.timeout_v4_ns
                               : FragmentTableConfig{}.timeout_v6_ns;
    }

    // Feeds fragments in the given order; returns the last result. Frame numbers are 1-based
    // positions in `frags`, so tests can check them.
    AddResult feed(FragmentTable& t, const std::vector<Wire>& frags, std::vector<size_t> order,
                   uint64_t ts = 1000 * kSec) {
        AddResult r;
        for (size_t i : order) {
            const DecodedPacket d = decode(frags[i]);
            EXPECT_TRUE(d.is_fragment);
            r = t.add(d, ts, i + 1);
            if (r.status == AddStatus::complete) last_ = to_wire(r.datagram);
        }
        return r;
    }

    // The rebuilt datagram must decode as an unfragmented UDP packet carrying `udp`.
    void expect_rebuilt(const AddResult& r, const Wire& udp) {
        ASSERT_EQ(r.status, AddStatus::complete);
        const uint32_t hlen = GetParam() == 4 ? 20 : 40;
        EXPECT_EQ(r.wire_len, hlen + udp.size());
        EXPECT_EQ(r.datagram.size(), r.wire_len);
        DecodedPacket whole;
        decode_ip(r.datagram, r.wire_len, whole);
        EXPECT_EQ(whole.status, DecodeStatus::ok);
        EXPECT_FALSE(whole.is_fragment);
        EXPECT_FALSE(whole.snap_truncated);
        EXPECT_EQ(whole.ip_version, GetParam());
        EXPECT_EQ(whole.ip_length, hlen + udp.size());
        ASSERT_EQ(whole.transport, Transport::udp);
        EXPECT_EQ(whole.sport, 5353);
        EXPECT_EQ(whole.dport, 53);
        EXPECT_FALSE(whole.udp_length_mismatch);
        EXPECT_EQ(to_wire(whole.payload), payload_of(udp));
        if (GetParam() == 4) {
            // The header checksum must verify: ones-complement sum over the header is 0xffff.
            uint32_t sum = 0;
            for (size_t i = 0; i < 20; i += 2) {
                sum += (static_cast<uint32_t>(r.datagram[i]) << 8) |
                       static_cast<uint32_t>(r.datagram[i + 1]);
            }
            while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
            EXPECT_EQ(sum, 0xffffu);
        }
    }

    Wire last_;
};

INSTANTIATE_TEST_SUITE_P(IpVersions, DefragTest, ::testing::Values(4, 6),
                         [](const ::testing::TestParamInfo<int>& p) {
                             return "ipv" + std::to_string(p.param);
                         });

TEST_P(DefragTest, InOrder) {
    FragmentTable t;
    const Wire udp = udp_datagram(3000);
    const auto frags = net().split_mtu(udp, 0x1234);
    ASSERT_EQ(frags.size(), 3u);
    EXPECT_EQ(feed(t, frags, {0}).status, AddStatus::need_more);
    EXPECT_EQ(feed(t, frags, {1}).status, AddStatus::need_more);
    const AddResult r = feed(t, frags, {2});
    expect_rebuilt(r, udp);
    EXPECT_EQ(r.info.fragments.size(), 3u);
    EXPECT_EQ(r.info.fragments[0].frame, 1u);
    EXPECT_EQ(r.info.fragments[2].frame, 3u);
    EXPECT_EQ(r.info.fragments[0].length, net().mtu_chunk());
    EXPECT_EQ(r.info.first_ip_length, frags[0].size());
    EXPECT_EQ(r.info.ip_version, GetParam());
    EXPECT_EQ(r.info.bytes_received, udp.size());
    EXPECT_EQ(r.info.holes, 0);
    EXPECT_FALSE(r.info.overlap || r.info.conflict || r.info.tiny);
    EXPECT_TRUE(t.anomalies().empty());
    EXPECT_EQ(t.counters().reassembled, 1u);
    EXPECT_EQ(t.counters().fragments, 3u);
}

TEST_P(DefragTest, ReverseOrder) {
    FragmentTable t;
    const Wire udp = udp_datagram(3000, 9);
    const auto frags = net().split_mtu(udp, 77);
    const AddResult r = feed(t, frags, {2, 1, 0});
    expect_rebuilt(r, udp);
    EXPECT_EQ(r.info.first_frame, 3u);  // arrival order: frame 3 came first
    EXPECT_EQ(r.info.last_frame, 1u);
    EXPECT_EQ(r.info.fragments[0].offset, 0u);  // records are sorted by offset
    EXPECT_EQ(t.datagrams_in_flight(), 0u);
}

TEST_P(DefragTest, InterleavedDatagramsAndSources) {
    FragmentTable t;
    Fragmenter a = net(), b = net();
    b.host = 2;  // same ID, other source: a different datagram
    const Wire ua = udp_datagram(3000, 3), ub = udp_datagram(2000, 4);
    const auto fa = a.split_mtu(ua, 5);
    const auto fb = b.split_mtu(ub, 5);
    const auto fc = a.split_mtu(ub, 6);
    std::vector<std::pair<const Wire*, int>> stream = {
        {&fa[2], 0}, {&fb[0], 1}, {&fc[1], 2}, {&fa[0], 0}, {&fb[1], 1}, {&fc[0], 2}, {&fa[1], 0}};
    int completed = 0;
    for (size_t i = 0; i < stream.size(); ++i) {
        const DecodedPacket d = decode(*stream[i].first);
        const AddResult r = t.add(d, kSec, i + 1);
        if (r.status != AddStatus::complete) continue;
        ++completed;
        expect_rebuilt(r, stream[i].second == 0 ? ua : ub);
    }
    EXPECT_EQ(completed, 3);
    EXPECT_EQ(t.counters().reassembled, 3u);
    EXPECT_EQ(t.counters().overlap + t.counters().conflict, 0u);
}

TEST_P(DefragTest, ExactDuplicateIsCountedNotAnOverlap) {
    FragmentTable t;
    const Wire udp = udp_datagram(3000);
    const auto frags = net().split_mtu(udp, 9);
    feed(t, frags, {0, 1});
    const AddResult dup = feed(t, frags, {1});
    EXPECT_EQ(dup.reason, DropReason::duplicate);
    EXPECT_TRUE(t.anomalies().empty());
    const AddResult r = feed(t, frags, {2});
    expect_rebuilt(r, udp);
    EXPECT_EQ(r.info.duplicates, 1u);
    EXPECT_EQ(r.info.fragments.size(), 3u);
    EXPECT_EQ(t.counters().duplicates, 1u);
    EXPECT_EQ(t.counters().overlap, 0u);

    // A late copy after completion (mirror ports) is absorbed, not a new datagram.
    const AddResult late = feed(t, frags, {0});
    EXPECT_EQ(late.reason, DropReason::duplicate);
    EXPECT_EQ(t.counters().duplicates_after_complete, 1u);
    EXPECT_EQ(t.datagrams_in_flight(), 0u);
    EXPECT_EQ(t.drain([](const IncompleteDatagram&) {}), 0u);
}

TEST_P(DefragTest, IdenticalOverlap) {
    FragmentTable t;
    const Wire udp = udp_datagram(3000);
    const Fragmenter f = net();
    const size_t c = f.mtu_chunk();
    // [0,c) and [c-16, 2c): 16 bytes overlap with the same bytes.
    const std::vector<Wire> frags = {f.fragment(udp, 0, c, true, 3),
                                     f.fragment(udp, c - 16, c + 16, true, 3),
                                     f.fragment(udp, 2 * c, udp.size() - 2 * c, false, 3)};
    feed(t, frags, {0});
    const AddResult r1 = feed(t, frags, {1});
    ASSERT_EQ(count(t.anomalies(), FragmentAnomalyKind::overlap), 1u);
    const FragmentAnomaly& e = t.anomalies()[0];
    EXPECT_EQ(e.other_offset, c - 16);
    EXPECT_EQ(e.other_length, 16u);
    EXPECT_EQ(e.frame, 2u);
    EXPECT_EQ(e.other_frame, 1u);
    EXPECT_EQ(t.counters().overlap, 1u);
    EXPECT_EQ(t.counters().conflict, 0u);
    const AddResult r = feed(t, frags, {2});
    if (GetParam() == 4) {
        EXPECT_EQ(r1.status, AddStatus::need_more);
        expect_rebuilt(r, udp);
        EXPECT_TRUE(r.info.overlap);
        EXPECT_FALSE(r.info.conflict);
        EXPECT_EQ(t.counters().reassembled_flagged, 1u);
    } else {
        // RFC 5722: any overlap discards the datagram, and later fragments with it.
        EXPECT_EQ(r1.reason, DropReason::ipv6_overlap);
        EXPECT_EQ(r.status, AddStatus::dropped);
        EXPECT_EQ(r.reason, DropReason::discarded);
        EXPECT_EQ(t.counters().reassembled, 0u);
        EXPECT_EQ(t.counters().discarded, 1u);
    }
}

TEST_P(DefragTest, ConflictingOverlapIsNeverMergedSilently) {
    const Wire udp = udp_datagram(3000);
    Wire evil = udp;
    const Fragmenter f = net();
    const size_t c = f.mtu_chunk();
    for (size_t i = c - 16; i < c; ++i) evil[i] ^= 0xff;
    const std::vector<Wire> frags = {f.fragment(udp, 0, c, true, 4),
                                     f.fragment(evil, c - 16, c + 16, true, 4),
                                     f.fragment(udp, 2 * c, udp.size() - 2 * c, false, 4)};
    for (bool deliver : {true, false}) {
        FragmentTableConfig cfg;
        cfg.deliver_conflicted = deliver;
        FragmentTable t(cfg);
        feed(t, frags, {0, 1});
        ASSERT_EQ(count(t.anomalies(), FragmentAnomalyKind::conflict), 1u);
        EXPECT_EQ(count(t.anomalies(), FragmentAnomalyKind::overlap), 0u);
        EXPECT_EQ(t.anomalies()[0].other_frame, 1u);
        EXPECT_EQ(t.counters().conflict, 1u);
        const AddResult r = feed(t, frags, {2});
        if (GetParam() == 4 && deliver) {
            // First arrival wins: the rebuilt bytes are the original ones, flagged.
            expect_rebuilt(r, udp);
            EXPECT_TRUE(r.info.conflict);
            EXPECT_EQ(t.counters().reassembled_flagged, 1u);
        } else {
            EXPECT_EQ(r.status, AddStatus::dropped);
            EXPECT_EQ(r.reason, DropReason::discarded);
            EXPECT_EQ(t.counters().reassembled, 0u);
            EXPECT_EQ(t.counters().discarded, 1u);
        }
    }
}

// IPv6 discards on any overlap (ConflictingOverlapIsNeverMergedSilently covers it).
TEST(DefragIpv4, ConflictingReverseOverlapKeepsFirstArrival) {
    FragmentTable t;
    const Wire udp = udp_datagram(3000);
    Wire evil = udp;
    const Fragmenter f;
    for (size_t i = 0; i < 64; ++i) evil[i] ^= 0x5a;  // rewrite the UDP header and DNS header
    // The honest first fragment arrives last: the attacker's bytes came first and win, and
    // the datagram says so.
    const std::vector<Wire> frags = {f.fragment(udp, 0, 1480, true, 8),
                                     f.fragment(evil, 0, 64, true, 8),
                                     f.fragment(udp, 1480, udp.size() - 1480, false, 8)};
    AddResult r;
    for (size_t i : {1u, 2u, 0u}) r = t.add(decode(frags[i]), kSec, i + 1);
    ASSERT_EQ(r.status, AddStatus::complete);
    EXPECT_TRUE(r.info.conflict);
    EXPECT_EQ(count(t.anomalies(), FragmentAnomalyKind::conflict), 1u);
    EXPECT_EQ(static_cast<uint8_t>(r.datagram[20]), evil[0]);
}

TEST_P(DefragTest, DifferentLastFragmentIsAConflict) {
    FragmentTable t;
    const Wire udp = udp_datagram(3000);
    const Fragmenter f = net();
    const size_t c = f.mtu_chunk();
    const std::vector<Wire> frags = {f.fragment(udp, 0, c, true, 11),
                                     f.fragment(udp, c, udp.size() - c, false, 11),
                                     f.fragment(udp, c, 200, false, 11)};
    feed(t, frags, {1});
    const AddResult r = feed(t, frags, {2});
    EXPECT_EQ(r.status, AddStatus::dropped);
    EXPECT_EQ(count(t.anomalies(), FragmentAnomalyKind::conflict), 1u);
    EXPECT_EQ(t.anomalies()[0].other_offset, udp.size());
    const AddResult done = feed(t, frags, {0});
    if (GetParam() == 4) {
        expect_rebuilt(done, udp);  // the first claim of the end stood
        EXPECT_TRUE(done.info.conflict);
    } else {
        EXPECT_EQ(done.reason, DropReason::discarded);
    }
}

TEST_P(DefragTest, MissingMiddleExpiresWithHead) {
    FragmentTable t;
    const Wire udp = udp_datagram(3000, 5);
    const auto frags = net().split_mtu(udp, 21);
    const uint64_t t0 = 50 * kSec;
    feed(t, frags, {0, 2}, t0);
    size_t calls = 0;
    EXPECT_EQ(t.expire(t0 + timeout() - 1, [&](const IncompleteDatagram&) { ++calls; }), 0u);
    EXPECT_EQ(calls, 0u);
    t.expire(t0 + timeout(), [&](const IncompleteDatagram& d) {
        ++calls;
        EXPECT_FALSE(d.drained);
        EXPECT_EQ(d.info.fragments.size(), 2u);
        EXPECT_EQ(d.info.holes, 1);
        EXPECT_TRUE(d.info.have_first);
        EXPECT_TRUE(d.info.have_last);
        EXPECT_EQ(d.info.payload_length, udp.size());
        EXPECT_EQ(d.info.bytes_received, udp.size() - net().mtu_chunk());
        EXPECT_EQ(d.info.fragments[0].frame, 1u);
        EXPECT_EQ(d.info.fragments[1].frame, 3u);
        ASSERT_FALSE(d.head.empty());
        // The head decodes like a datagram cut by the snap length: ports and the start of the
        // DNS message are there.
        DecodedPacket h;
        decode_ip(d.head, d.head_wire_len, h);
        EXPECT_FALSE(h.is_fragment);
        EXPECT_TRUE(h.snap_truncated);
        ASSERT_EQ(h.transport, Transport::udp);
        EXPECT_EQ(h.sport, 5353);
        EXPECT_EQ(h.dport, 53);
        const Wire want(udp.begin() + 8,
                        udp.begin() + static_cast<ptrdiff_t>(net().mtu_chunk()));
        EXPECT_EQ(to_wire(h.payload), want);
    });
    EXPECT_EQ(calls, 1u);
    EXPECT_EQ(t.counters().incomplete, 1u);
    EXPECT_EQ(t.counters().expired, 1u);
    EXPECT_EQ(t.datagrams_in_flight(), 0u);
    EXPECT_EQ(t.slots_in_use(), 0u);
}

// due() follows the oldest datagram of each list: when the oldest completes, the one opened after
// it is the next to time out, and expire() reports it exactly at its own deadline; the completed
// one lingers for linger_ns and then goes too.
TEST_P(DefragTest, WhenTheOldestCompletesTheNextOldestTimesOutAtItsOwnDeadline) {
    FragmentTable t;
    const Wire a = udp_datagram(3000, 1), b = udp_datagram(3000, 2);
    const auto fa = net().split_mtu(a, 31), fb = net().split_mtu(b, 32);
    const uint64_t t0 = 10 * kSec, t1 = t0 + kSec;
    EXPECT_FALSE(t.due(0));
    feed(t, fa, {0}, t0);
    feed(t, fb, {0}, t1);
    EXPECT_FALSE(t.due(t0 + timeout() - 1));
    EXPECT_TRUE(t.due(t0 + timeout()));
    std::vector<size_t> order(fa.size() - 1);
    for (size_t i = 0; i < order.size(); ++i) order[i] = i + 1;
    expect_rebuilt(feed(t, fa, order, t1), a);
    size_t calls = 0;
    auto count = [&calls](const IncompleteDatagram&) { ++calls; };
    EXPECT_TRUE(t.due(t1));  // the completed datagram is put away at the next expire()
    t.expire(t1, count);
    EXPECT_EQ(calls, 0u);
    EXPECT_EQ(t.datagrams_in_flight(), 1u);
    const uint64_t linger = FragmentTableConfig{}.linger_ns;
    ASSERT_LT(linger, timeout());
    EXPECT_FALSE(t.due(t1 + linger - 1));
    EXPECT_TRUE(t.due(t1 + linger));  // the completed key stops lingering
    t.expire(t1 + linger, count);
    EXPECT_EQ(calls, 0u);
    EXPECT_EQ(t.slots_in_use(), 1u);
    EXPECT_FALSE(t.due(t1 + timeout() - 1));
    EXPECT_TRUE(t.due(t1 + timeout()));
    t.expire(t1 + timeout() - 1, count);
    EXPECT_EQ(calls, 0u);
    t.expire(t1 + timeout(), count);
    EXPECT_EQ(calls, 1u);
    EXPECT_EQ(t.slots_in_use(), 0u);
    EXPECT_FALSE(t.due(t1 + 1000 * timeout()));
}

TEST_P(DefragTest, ExpiredWithoutFirstFragmentHasNoHead) {
    FragmentTable t;
    const auto frags = net().split_mtu(udp_datagram(3000), 22);
    feed(t, frags, {1}, kSec);
    size_t calls = 0;
    t.drain([&](const IncompleteDatagram& d) {
        ++calls;
        EXPECT_TRUE(d.drained);
        EXPECT_TRUE(d.head.empty());
        EXPECT_FALSE(d.info.have_first);
        EXPECT_FALSE(d.info.have_last);
        EXPECT_EQ(d.info.holes, 2);  // before it, and the unknown end
    });
    EXPECT_EQ(calls, 1u);
    EXPECT_EQ(t.counters().drained, 1u);
}

TEST_P(DefragTest, TimeoutFollowsPacketTimeNotWallClock) {
    FragmentTable t;
    const Wire udp = udp_datagram(3000);
    const auto frags = net().split_mtu(udp, 30);
    // Timestamps from 1970: a wall-clock timeout would have expired these long ago.
    feed(t, frags, {0}, 1);
    EXPECT_EQ(feed(t, frags, {1}, timeout()).status, AddStatus::need_more);
    EXPECT_TRUE(t.anomalies().empty());
    // One nanosecond past the first fragment's timeout: the old datagram is stale, reported,
    // and this fragment starts a new one instead of completing it.
    const AddResult r = feed(t, frags, {2}, timeout() + 1);
    EXPECT_EQ(r.status, AddStatus::need_more);
    ASSERT_EQ(count(t.anomalies(), FragmentAnomalyKind::incomplete), 1u);
    EXPECT_EQ(t.anomalies()[0].fragments, 2u);
    EXPECT_EQ(t.counters().incomplete, 1u);
    EXPECT_EQ(t.datagrams_in_flight(), 1u);
}

TEST_P(DefragTest, TinyFirstFragmentWithoutTransportHeader) {
    FragmentTableConfig cfg;
    cfg.tiny_fragment_bytes = 0;  // only the transport-header rule
    FragmentTable t(cfg);
    Fragmenter f = net();
    f.proto = kTcp;  // 20-byte header, first fragment carries 16
    Wire unit(40, 0x11);
    const std::vector<Wire> frags = {f.fragment(unit, 0, 16, true, 40),
                                     f.fragment(unit, 16, 24, false, 40)};
    feed(t, frags, {0});
    ASSERT_EQ(count(t.anomalies(), FragmentAnomalyKind::tiny), 1u);
    EXPECT_EQ(t.anomalies()[0].length, 16u);
    const AddResult r = feed(t, frags, {1});
    EXPECT_EQ(r.status, AddStatus::complete);  // reported, still reassembled
    EXPECT_TRUE(r.info.tiny);
    EXPECT_EQ(t.counters().tiny, 1u);
}

TEST_P(DefragTest, TinyNonLastFragmentBelowThreshold) {
    FragmentTable t;  // default threshold 256
    const Wire udp = udp_datagram(3000);
    const Fragmenter f = net();
    const std::vector<Wire> frags = {f.fragment(udp, 0, 64, true, 41),
                                     f.fragment(udp, 64, 1000, true, 41),
                                     f.fragment(udp, 1064, udp.size() - 1064, false, 41)};
    const AddResult r = feed(t, frags, {0, 1, 2});
    expect_rebuilt(r, udp);
    EXPECT_TRUE(r.info.tiny);
    EXPECT_EQ(t.counters().tiny, 1u);  // only the 64-byte one; the last fragment may be small

    // An empty non-last fragment is tiny and dropped.
    const std::vector<Wire> empty = {f.fragment(udp, 0, 0, true, 42)};
    const AddResult e = feed(t, empty, {0});
    EXPECT_EQ(e.reason, DropReason::empty);
    EXPECT_EQ(t.counters().tiny, 2u);
    EXPECT_EQ(t.datagrams_in_flight(), 0u);
}

TEST_P(DefragTest, OversizeIsDroppedNotBuffered) {
    FragmentTable t;
    const Fragmenter f = net();
    Wire unit(65528 + 100, 0x22);
    const std::vector<Wire> frags = {f.fragment(unit, 0, 1000, true, 50),
                                     f.fragment(unit, 65528, 100, false, 50)};
    feed(t, frags, {0});
    const AddResult r = feed(t, frags, {1});
    EXPECT_EQ(r.status, AddStatus::dropped);
    EXPECT_EQ(r.reason, DropReason::oversize);
    ASSERT_EQ(count(t.anomalies(), FragmentAnomalyKind::oversize), 1u);
    EXPECT_EQ(t.anomalies()[0].offset, 65528u);
    EXPECT_EQ(t.counters().oversize, 1u);
    t.drain([](const IncompleteDatagram& d) {
        EXPECT_TRUE(d.info.oversize);
        EXPECT_EQ(d.info.fragments.size(), 1u);
    });
    // Just inside the limit is fine: 65,535 minus the header(s).
    FragmentTable ok;
    const uint32_t room = GetParam() == 4 ? 65535 - 20 : 65535;
    Wire big(room, 0x33);
    const auto edge = f.split(big, {0, 32768, (room - 1) / 8 * 8}, 51);
    const AddResult r_ok = feed(ok, edge, {0, 1, 2});
    EXPECT_EQ(r_ok.status, AddStatus::complete);
    EXPECT_EQ(r_ok.wire_len, GetParam() == 4 ? 65535u : 65575u);
    EXPECT_EQ(ok.counters().oversize, 0u);
}

TEST_P(DefragTest, FragmentsPerDatagramCap) {
    FragmentTableConfig cfg;
    cfg.max_fragments_per_datagram = 4;
    FragmentTable t(cfg);
    const Wire udp = udp_datagram(3000);
    const auto frags = net().split(udp, {0, 256, 512, 768, 1024, 1280}, 60);
    feed(t, frags, {0, 1, 2, 3});
    const AddResult r = feed(t, frags, {4});
    EXPECT_EQ(r.reason, DropReason::fragment_limit);
    ASSERT_EQ(count(t.anomalies(), FragmentAnomalyKind::limit), 1u);
    const FragmentAnomaly& e = t.anomalies()[0];
    EXPECT_EQ(e.limit, FragmentLimit::fragments);
    EXPECT_EQ(e.fragments, 4u);
    EXPECT_EQ(e.bytes, 1024u);
    EXPECT_EQ(e.other_frame, 1u);
    EXPECT_EQ(t.counters().limit_fragments, 1u);
    EXPECT_EQ(t.counters().discarded, 1u);
    EXPECT_EQ(t.bytes_buffered() - t.bytes_pooled(), 0u);  // its data went back at once
    // The rest of it is swallowed, not reassembled from a fresh start.
    EXPECT_EQ(feed(t, frags, {5}).reason, DropReason::discarded);
    EXPECT_EQ(t.counters().discarded_fragments, 1u);
}

TEST_P(DefragTest, DatagramsInFlightCapEvictsOldest) {
    FragmentTableConfig cfg;
    cfg.max_datagrams = 2;
    FragmentTable t(cfg);
    const Wire udp = udp_datagram(3000);
    std::vector<std::vector<Wire>> d;
    for (uint32_t id = 1; id <= 3; ++id) d.push_back(net().split_mtu(udp, id));
    feed(t, d[0], {0}, 1 * kSec);
    feed(t, d[1], {0}, 2 * kSec);
    feed(t, d[2], {0}, 3 * kSec);
    ASSERT_EQ(count(t.anomalies(), FragmentAnomalyKind::limit), 1u);
    const FragmentAnomaly& e = t.anomalies()[0];
    EXPECT_EQ(e.limit, FragmentLimit::datagrams);
    EXPECT_EQ(e.key.id, 1u);
    EXPECT_EQ(e.fragments, 1u);
    EXPECT_EQ(t.counters().limit_datagrams, 1u);
    EXPECT_EQ(t.counters().evicted, 1u);
    EXPECT_EQ(t.datagrams_in_flight(), 2u);
    // The survivors still complete.
    expect_rebuilt(feed(t, d[1], {1, 2}, 4 * kSec), udp);
    expect_rebuilt(feed(t, d[2], {1, 2}, 4 * kSec), udp);
}

TEST_P(DefragTest, ByteCapEvictsOldestAndHolds) {
    FragmentTableConfig cfg;
    cfg.max_bytes = 8192;  // two 4 KiB buffers
    FragmentTable t(cfg);
    const Wire udp = udp_datagram(3000);
    std::vector<std::vector<Wire>> d;
    for (uint32_t id = 1; id <= 3; ++id) d.push_back(net().split_mtu(udp, id));
    feed(t, d[0], {0, 1}, 1 * kSec);
    feed(t, d[1], {0, 1}, 2 * kSec);
    EXPECT_EQ(t.bytes_buffered(), 8192u);
    feed(t, d[2], {0}, 3 * kSec);
    ASSERT_EQ(count(t.anomalies(), FragmentAnomalyKind::limit), 1u);
    EXPECT_EQ(t.anomalies()[0].limit, FragmentLimit::bytes);
    EXPECT_EQ(t.anomalies()[0].key.id, 1u);
    EXPECT_EQ(t.anomalies()[0].fragments, 2u);
    EXPECT_EQ(t.counters().limit_bytes, 1u);
    EXPECT_EQ(t.counters().evicted, 1u);
    EXPECT_LE(t.bytes_buffered(), cfg.max_bytes);
    expect_rebuilt(feed(t, d[2], {1, 2}, 4 * kSec), udp);
    EXPECT_LE(t.bytes_buffered(), cfg.max_bytes);
    // A datagram that cannot fit at all is refused, not half-kept.
    FragmentTableConfig tiny_cfg;
    tiny_cfg.max_bytes = 1024;
    FragmentTable none(tiny_cfg);
    EXPECT_EQ(feed(none, d[0], {0}).reason, DropReason::byte_limit);
    EXPECT_EQ(none.bytes_buffered(), 0u);
    EXPECT_EQ(none.slots_in_use(), 0u);
}

TEST_P(DefragTest, SteadyStateReusesBuffers) {
    FragmentTable t;
    const Wire udp = udp_datagram(3000);
    for (uint32_t id = 1; id <= 200; ++id) {
        const auto frags = net().split_mtu(udp, id);
        ASSERT_EQ(feed(t, frags, {2, 0, 1}, id * kSec).status, AddStatus::complete);
    }
    EXPECT_EQ(t.counters().reassembled, 200u);
    EXPECT_EQ(t.counters().buffer_allocations, 1u);
}

TEST_P(DefragTest, SnapTruncatedFragmentDeliversPrefix) {
    FragmentTable t;
    const Wire udp = udp_datagram(3000);
    const auto frags = net().split_mtu(udp, 70);
    feed(t, frags, {0, 2});
    // The middle fragment as a capture with a 200-byte snap length holds it.
    const Wire& mid = frags[1];
    DecodedPacket d;
    decode_ip(as_bytes(mid.data(), 200), static_cast<uint32_t>(mid.size()), d);
    ASSERT_TRUE(d.is_fragment);
    ASSERT_TRUE(d.snap_truncated);
    const AddResult r = t.add(d, kSec, 9);
    ASSERT_EQ(r.status, AddStatus::complete);
    EXPECT_TRUE(r.info.snap_truncated);
    // Captured: 200 bytes of the frame minus its headers (IPv6: 40 + the fragment header).
    const size_t frame_headers = GetParam() == 4 ? 20 : 48;
    const size_t datagram_header = GetParam() == 4 ? 20 : 40;
    EXPECT_EQ(r.datagram.size(), datagram_header + net().mtu_chunk() + 200 - frame_headers);
    EXPECT_EQ(r.wire_len, datagram_header + udp.size());
    DecodedPacket whole;
    decode_ip(r.datagram, r.wire_len, whole);
    EXPECT_TRUE(whole.snap_truncated);
    EXPECT_EQ(whole.payload_wire_len, 3000u);
    EXPECT_LT(whole.payload.size(), 3000u);
}

TEST_P(DefragTest, ReusedIdAfterCompletionStartsNewDatagram) {
    FragmentTable t;
    const Wire a = udp_datagram(3000, 1), b = udp_datagram(2500, 2);
    const auto fa = net().split_mtu(a, 99);
    const auto fb = net().split(b, {0, 1024}, 99);  // same key, other cut points
    expect_rebuilt(feed(t, fa, {0, 1, 2}), a);
    const AddResult r = feed(t, fb, {1, 0});
    expect_rebuilt(r, b);
    EXPECT_EQ(t.counters().ids_reused, 1u);
}

TEST(DefragIpv6, AtomicFragmentNeverReachesTheTable) {
    // RFC 6946: offset 0 and M=0 is a whole packet with a fragment header.
    Fragmenter f;
    f.version = 6;
    const Wire udp = udp_datagram(100);
    const Wire pkt = f.fragment(udp, 0, udp.size(), false, 1234);
    const DecodedPacket d = decode(pkt);
    EXPECT_TRUE(d.has_frag_header);
    EXPECT_FALSE(d.is_fragment);
    ASSERT_EQ(d.transport, Transport::udp);
    EXPECT_EQ(to_wire(d.payload), payload_of(udp));
    FragmentTable t;
    const AddResult r = t.add(d, kSec, 1);
    EXPECT_EQ(r.status, AddStatus::not_fragment);
    EXPECT_EQ(t.counters().fragments, 0u);
    EXPECT_EQ(t.counters().not_fragments, 1u);
    EXPECT_EQ(t.slots_in_use(), 0u);
}

TEST(DefragIpv6, UnfragmentableExtensionHeadersAreKeptAndRelinked) {
    Fragmenter f;
    f.version = 6;
    f.v6_first_ext = 0;  // hop-by-hop, 8 bytes, pointing at the fragment header
    f.v6_unfragmentable = {44, 0, 1, 4, 0, 0, 0, 0};
    const Wire udp = udp_datagram(3000);
    const auto frags = f.split(udp, {0, 1232, 2464}, 5);
    FragmentTable t;
    AddResult r;
    for (size_t i : {1u, 2u, 0u}) r = t.add(decode(frags[i]), kSec, i + 1);
    ASSERT_EQ(r.status, AddStatus::complete);
    EXPECT_EQ(r.wire_len, 48 + udp.size());
    EXPECT_EQ(static_cast<uint8_t>(r.datagram[40]), kUdp);  // hop-by-hop now points at UDP
    DecodedPacket whole;
    decode_ip(r.datagram, r.wire_len, whole);
    EXPECT_EQ(whole.status, DecodeStatus::ok);
    EXPECT_FALSE(whole.has_frag_header);
    ASSERT_EQ(whole.transport, Transport::udp);
    EXPECT_EQ(whole.ip_length, 48 + udp.size());
    EXPECT_EQ(to_wire(whole.payload), payload_of(udp));
}

TEST(DefragIpv4, KeysIncludeProtocol) {
    // Same addresses and ID, other protocol: two datagrams (RFC 791 key).
    Fragmenter u, x;
    x.proto = 253;
    const Wire unit = udp_datagram(3000);
    const auto fu = u.split_mtu(unit, 7);
    const auto fx = x.split_mtu(unit, 7);
    FragmentTable t;
    t.add(decode(fu[0]), kSec, 1);
    t.add(decode(fx[1]), kSec, 2);
    EXPECT_EQ(t.datagrams_in_flight(), 2u);
    EXPECT_EQ(t.counters().overlap + t.counters().conflict, 0u);
}

TEST(DefragIpv4, DontFragmentAndOptionsFromFirstFragment) {
    Fragmenter f;
    const Wire udp = udp_datagram(3000);
    auto frags = f.split_mtu(udp, 3);
    frags[0][6] |= 0x40;  // DF on the first fragment (contradictory, but reported as seen)
    FragmentTable t;
    AddResult r;
    for (size_t i : {0u, 1u, 2u}) r = t.add(decode(frags[i]), kSec, i + 1);
    ASSERT_EQ(r.status, AddStatus::complete);
    EXPECT_TRUE(r.info.dont_fragment);
    EXPECT_EQ(static_cast<uint8_t>(r.datagram[6]) & 0x40, 0x40);
    EXPECT_EQ(static_cast<uint8_t>(r.datagram[6]) & 0x3f, 0);  // MF and offset cleared
    EXPECT_EQ(static_cast<uint8_t>(r.datagram[7]), 0);
}

TEST(DefragConfig, RejectsNonsense) {
    FragmentTableConfig cfg;
    cfg.max_datagrams = 0;
    EXPECT_THROW(FragmentTable{cfg}, std::invalid_argument);
    cfg = {};
    cfg.max_fragments_per_datagram = 0;
    EXPECT_THROW(FragmentTable{cfg}, std::invalid_argument);
}

TEST(DefragMalformed, NonFragmentsAndBrokenHeadersAreRefused) {
    FragmentTable t;
    DecodedPacket d;  // not IP at all
    EXPECT_EQ(t.add(d, 0, 1).status, AddStatus::not_fragment);
    d.is_fragment = true;  // claims to be a fragment but carries no header
    d.ip_version = 4;
    const AddResult r = t.add(d, 0, 2);
    EXPECT_EQ(r.reason, DropReason::malformed);
    EXPECT_EQ(t.counters().malformed, 1u);
    EXPECT_EQ(t.slots_in_use(), 0u);
}

}  // namespace
}  // namespace frag53
