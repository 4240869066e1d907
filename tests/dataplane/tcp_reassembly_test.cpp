#include "dataplane/tcp_reassembly.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace frag53 {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    const std::array<std::byte, 4> raw{std::byte{a}, std::byte{b}, std::byte{c}, std::byte{d}};
    return IpAddress::v4(raw.data());
}

struct Event {
    TcpEventType type;
    TcpDir dir;
    TcpGapReason gap_reason;
    TcpCloseReason close_reason;
    uint64_t size, differing, stream_offset, conn_id;
    uint64_t frame;
    TcpConnection conn;  // snapshot: the reference is only valid during the callback
};

// Records everything delivered; checks on every call that the stream offsets are contiguous
// (each byte delivered or skipped exactly once, in order).
struct Recorder : TcpStreamSink {
    std::string stream[2];
    uint64_t expect[2] = {0, 0};
    std::vector<uint64_t> frames[2];  // frame stamped on each chunk
    std::vector<size_t> chunk_sizes[2];
    std::vector<const std::byte*> chunk_ptrs[2];
    std::vector<Event> events;
    uint64_t conn_id = 0;

    void on_data(const TcpData& d) noexcept override {
        const unsigned i = dir_index(d.dir);
        if (d.conn->id != conn_id) {  // a new connection: offsets restart
            conn_id = d.conn->id;
            expect[0] = expect[1] = 0;
        }
        EXPECT_EQ(d.stream_offset, expect[i]);
        expect[i] += d.data.size();
        stream[i].append(reinterpret_cast<const char*>(d.data.data()), d.data.size());
        frames[i].push_back(d.frame);
        chunk_sizes[i].push_back(d.data.size());
        chunk_ptrs[i].push_back(d.data.data());
    }
    void on_event(const TcpEvent& e) noexcept override {
        if (e.type == TcpEventType::gap) {
            if (e.conn->id != conn_id) {
                conn_id = e.conn->id;
                expect[0] = expect[1] = 0;
            }
            EXPECT_EQ(e.stream_offset, expect[dir_index(e.dir)]);
            expect[dir_index(e.dir)] += e.size;
        }
        events.push_back({e.type, e.dir, e.gap_reason, e.close_reason, e.size, e.differing,
                          e.stream_offset, e.conn->id, e.frame, *e.conn});
    }
    std::vector<Event> of(TcpEventType t) const {
        std::vector<Event> out;
        for (const Event& e : events)
            if (e.type == t) out.push_back(e);
        return out;
    }
};

class TcpReassemblyTest : public ::testing::Test {
protected:
    IpAddress client = v4(192, 0, 2, 1), server = v4(198, 51, 100, 53);
    uint16_t cport = 40000, sport = 53;
    TcpReassemblyConfig cfg = TcpReassemblyConfig{}.select_port(53);
    Recorder rec;
    uint64_t frame = 0;
    uint64_t now = 1000 * kSec;

    static constexpr uint8_t S = tcp_flag::syn, A = tcp_flag::ack, F = tcp_flag::fin,
                             R = tcp_flag::rst, P = tcp_flag::psh;

    TcpReassembler::Result send(TcpReassembler& r, bool from_client, uint32_t seq, uint8_t flags,
                                const std::string& payload = {}, uint32_t ack = 0,
                                uint32_t wire_len = 0) {
        DecodedPacket p;
        p.transport = Transport::tcp;
        p.ip_version = 4;
        p.src = from_client ? client : server;
        p.dst = from_client ? server : client;
        p.sport = from_client ? cport : sport;
        p.dport = from_client ? sport : cport;
        p.tcp_seq = seq;
        p.tcp_ack = ack;
        p.tcp_flags = flags;
        p.payload = as_bytes(payload.data(), payload.size());
        p.payload_wire_len = wire_len ? wire_len : static_cast<uint32_t>(payload.size());
        p.snap_truncated = p.payload_wire_len > payload.size();
        return r.process(p, now, ++frame);
    }

    // Three-way handshake with client ISN c_isn and server ISN s_isn.
    void handshake(TcpReassembler& r, uint32_t c_isn, uint32_t s_isn) {
        send(r, true, c_isn, S);
        send(r, false, s_isn, S | A, {}, c_isn + 1);
        send(r, true, c_isn + 1, A, {}, s_isn + 1);
    }
};

std::string pattern(size_t n, unsigned salt = 0) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + salt) % 26);
    return s;
}

TEST_F(TcpReassemblyTest, HandshakeThenDataBothWaysThenFin) {
    TcpReassembler r(cfg, rec);
    handshake(r, 1000, 5000);
    ASSERT_EQ(r.connections(), 1u);
    send(r, true, 1001, A | P, "query-bytes", 5001);
    send(r, false, 5001, A | P, "answer-bytes", 1012);
    EXPECT_EQ(rec.stream[0], "query-bytes");
    EXPECT_EQ(rec.stream[1], "answer-bytes");

    send(r, true, 1012, F | A, {}, 5013);
    send(r, false, 5013, F | A, {}, 1013);
    const auto fins = rec.of(TcpEventType::fin);
    ASSERT_EQ(fins.size(), 2u);
    EXPECT_EQ(fins[0].dir, TcpDir::to_server);
    EXPECT_EQ(fins[1].dir, TcpDir::to_client);
    const auto closed = rec.of(TcpEventType::closed);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0].close_reason, TcpCloseReason::fin);
    const TcpConnection& c = closed[0].conn;
    EXPECT_TRUE(c.syn_seen);
    EXPECT_TRUE(c.syn_ack_seen);
    EXPECT_TRUE(c.established);
    EXPECT_FALSE(c.midstream);
    EXPECT_EQ(c.client, client);
    EXPECT_EQ(c.server_port, 53);
    EXPECT_EQ(c.state(TcpDir::to_server).isn, 1000u);
    EXPECT_EQ(c.state(TcpDir::to_client).isn, 5000u);
    EXPECT_EQ(c.state(TcpDir::to_server).delivered, 11u);
    EXPECT_TRUE(c.state(TcpDir::to_client).fin);
    EXPECT_EQ(r.connections(), 0u);
    EXPECT_EQ(r.counters().closed_fin, 1u);
    EXPECT_TRUE(rec.of(TcpEventType::gap).empty());

    // The final ACK of a closed connection must not resurrect it.
    EXPECT_EQ(send(r, true, 1013, A, {}, 5014), TcpReassembler::Result::no_connection);
    EXPECT_EQ(r.connections(), 0u);
}

TEST_F(TcpReassemblyTest, UnselectedPortsAndNonTcpAreIgnored) {
    TcpReassembler r(cfg, rec);
    sport = 80;
    EXPECT_EQ(send(r, true, 1, S), TcpReassembler::Result::not_selected);
    DecodedPacket udp;
    udp.transport = Transport::udp;
    EXPECT_EQ(r.process(udp, now, 1), TcpReassembler::Result::not_tcp);
    EXPECT_EQ(r.connections(), 0u);
    EXPECT_EQ(r.counters().segments, 0u);
}

TEST_F(TcpReassemblyTest, OutOfOrderSegmentWaitsForTheGapToFill) {
    TcpReassembler r(cfg, rec);
    handshake(r, 100, 900);
    send(r, true, 106, A, "WORLD");  // frame 4, ahead of a 5-byte hole
    EXPECT_TRUE(rec.stream[0].empty());
    EXPECT_EQ(r.buffered_bytes(), 10u);  // window from the hole's start to the segment's end
    send(r, true, 101, A, "HELLO");  // frame 5 fills it
    EXPECT_EQ(rec.stream[0], "HELLOWORLD");
    // Both chunks are stamped with the segment that completed them.
    ASSERT_EQ(rec.frames[0].size(), 2u);
    EXPECT_EQ(rec.frames[0][0], 5u);
    EXPECT_EQ(rec.frames[0][1], 5u);
    EXPECT_EQ(r.counters().out_of_order_segments, 1u);
    EXPECT_EQ(r.buffered_bytes(), 0u);
}

TEST_F(TcpReassemblyTest, ReverseOrderDeliversOnceComplete) {
    TcpReassembler r(cfg, rec);
    handshake(r, 7, 70);
    const std::string data = pattern(500);
    for (int i = 4; i >= 0; --i)
        send(r, false, 71 + static_cast<uint32_t>(i) * 100, A,
             data.substr(static_cast<size_t>(i) * 100, 100));
    EXPECT_EQ(rec.stream[1], data);
    EXPECT_EQ(r.counters().out_of_order_segments, 4u);
    // The buffered tail is handed over as one contiguous chunk after the filling segment.
    ASSERT_EQ(rec.chunk_sizes[1].size(), 2u);
    EXPECT_EQ(rec.chunk_sizes[1][0], 100u);
    EXPECT_EQ(rec.chunk_sizes[1][1], 400u);
    EXPECT_EQ(r.buffered_bytes(), 0u);
}

TEST_F(TcpReassemblyTest, ExactRetransmissionsAreDroppedAndCounted) {
    TcpReassembler r(cfg, rec);
    handshake(r, 1, 2);
    send(r, true, 2, A, "abcdef");
    send(r, true, 2, A, "abcdef");  // retransmission of delivered bytes
    send(r, true, 20, A, "zz");     // buffered ahead
    send(r, true, 20, A, "zz");     // retransmission of buffered bytes
    EXPECT_EQ(rec.stream[0], "abcdef");
    EXPECT_EQ(r.counters().retransmissions, 2u);
    EXPECT_EQ(r.counters().retransmitted_bytes, 8u);
    EXPECT_EQ(r.counters().overlap_conflicts, 0u);
    EXPECT_EQ(r.buffered_bytes(), 14u);  // from the next byte (offset 6) to the end of "zz"
}

TEST_F(TcpReassemblyTest, PartialOverlapWithSameBytesIsNotAConflict) {
    TcpReassembler r(cfg, rec);
    handshake(r, 1, 2);
    const std::string data = pattern(30);
    send(r, true, 2, A, data.substr(0, 10));
    send(r, true, 7, A, data.substr(5, 15));   // 5 old bytes, 10 new
    send(r, true, 27, A, data.substr(25, 5));  // buffered
    send(r, true, 22, A, data.substr(20, 8));  // fills 20..25, overlaps buffered 25..28
    EXPECT_EQ(rec.stream[0], data);
    EXPECT_EQ(r.counters().overlaps, 2u);
    EXPECT_EQ(r.counters().overlap_conflicts, 0u);
    EXPECT_TRUE(rec.of(TcpEventType::overlap_conflict).empty());
}

TEST_F(TcpReassemblyTest, PartialOverlapWithDifferentBytesIsReportedAndFirstWins) {
    TcpReassembler r(cfg, rec);
    handshake(r, 1, 2);
    send(r, true, 2, A, "0123456789");
    send(r, true, 7, A, "56XY9abcd");  // overlaps delivered 5..9 with two differing bytes
    EXPECT_EQ(rec.stream[0], "0123456789abcd");
    auto conflicts = rec.of(TcpEventType::overlap_conflict);
    ASSERT_EQ(conflicts.size(), 1u);
    EXPECT_EQ(conflicts[0].size, 5u);
    EXPECT_EQ(conflicts[0].differing, 2u);
    EXPECT_EQ(conflicts[0].stream_offset, 5u);

    // Against buffered (not yet delivered) bytes: the first copy is what gets delivered.
    send(r, true, 30, A, "first");
    send(r, true, 30, A, "FIRST");
    send(r, true, 16, A, pattern(14));
    EXPECT_EQ(rec.stream[0].substr(28), "first");
    conflicts = rec.of(TcpEventType::overlap_conflict);
    ASSERT_EQ(conflicts.size(), 2u);
    EXPECT_EQ(conflicts[1].differing, 5u);
    EXPECT_EQ(conflicts[1].stream_offset, 28u);
    EXPECT_EQ(r.counters().overlap_conflicts, 2u);
}

TEST_F(TcpReassemblyTest, RetransmissionOlderThanHistoryIsUnverifiedNotConflict) {
    cfg.retransmit_check_bytes = 4;
    TcpReassembler r(cfg, rec);
    handshake(r, 1, 2);
    send(r, true, 2, A, "abcdefgh");
    send(r, true, 2, A, "XXXXefgh");  // first 4 bytes are beyond the history: not compared
    EXPECT_EQ(r.counters().overlap_conflicts, 0u);
    EXPECT_EQ(r.counters().unverified_bytes, 4u);
    EXPECT_EQ(r.counters().retransmissions, 1u);
    send(r, true, 2, A, "abcdefgX");
    EXPECT_EQ(r.counters().overlap_conflicts, 1u);
}

TEST_F(TcpReassemblyTest, StreamCapSkipsTheHoleAndResynchronises) {
    cfg.max_stream_buffered = 100;
    TcpReassembler r(cfg, rec);
    handshake(r, 1000, 2000);
    send(r, false, 2001, A, "head");
    send(r, false, 2041, A, "middle");  // hole of 36 bytes, buffered (window 42)
    send(r, false, 2141, A, "far");     // would need a window of 143 > 100
    const auto gaps = rec.of(TcpEventType::gap);
    ASSERT_EQ(gaps.size(), 1u);
    EXPECT_EQ(gaps[0].gap_reason, TcpGapReason::stream_cap);
    EXPECT_EQ(gaps[0].size, 36u);
    EXPECT_EQ(gaps[0].stream_offset, 4u);
    // After "middle" the remaining hole (2047..2141) fits under the cap again: buffered.
    EXPECT_EQ(rec.stream[1], "headmiddle");
    send(r, false, 2047, A, pattern(94));
    EXPECT_EQ(rec.stream[1], "headmiddle" + pattern(94) + "far");
    EXPECT_EQ(r.counters().stream_cap_hits, 1u);
    EXPECT_EQ(r.counters().gap_bytes, 36u);
    // A segment that alone is larger than the cap, ahead of a hole: hole skipped, then delivered.
    send(r, false, 2144 + 10, A, pattern(200));
    EXPECT_EQ(rec.of(TcpEventType::gap).back().size, 10u);
    EXPECT_EQ(rec.stream[1].size(), 10u + 94 + 3 + 200);
}

TEST_F(TcpReassemblyTest, MidstreamPickupTakesSequenceFromFirstSegment) {
    TcpReassembler r(cfg, rec);
    // Server data first, no handshake seen: the server is the side on port 53 all the same.
    send(r, false, 0x12345678, A | P, "resp");
    send(r, true, 777, A | P, "qry");
    send(r, false, 0x1234567C, A | P, "onse");
    EXPECT_EQ(rec.stream[1], "response");
    EXPECT_EQ(rec.stream[0], "qry");
    const auto opened = rec.of(TcpEventType::opened);
    ASSERT_EQ(opened.size(), 1u);
    EXPECT_TRUE(opened[0].conn.midstream);
    EXPECT_EQ(opened[0].conn.client, client);
    EXPECT_EQ(opened[0].conn.client_port, cport);
    EXPECT_EQ(r.counters().midstream_pickups, 1u);
    r.drain(now);
    const auto closed = rec.of(TcpEventType::closed);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_TRUE(closed[0].conn.state(TcpDir::to_client).midstream);
    EXPECT_FALSE(closed[0].conn.state(TcpDir::to_client).syn);
    EXPECT_EQ(closed[0].conn.state(TcpDir::to_client).isn, 0x12345678u);
    EXPECT_TRUE(closed[0].conn.established);
}

TEST_F(TcpReassemblyTest, SynAckAloneGivesTheClientStreamStart) {
    TcpReassembler r(cfg, rec);
    send(r, false, 5000, S | A, {}, 301);  // the client's SYN is missing from the capture
    send(r, true, 305, A, "late");          // 4 bytes after the client's first byte: ahead
    send(r, true, 301, A, "ab12");
    EXPECT_EQ(rec.stream[0], "ab12late");
    const auto opened = rec.of(TcpEventType::opened);
    ASSERT_EQ(opened.size(), 1u);
    EXPECT_EQ(opened[0].conn.client, client);
    EXPECT_FALSE(opened[0].conn.midstream);
}

TEST_F(TcpReassemblyTest, SequenceNumbersWrapAround) {
    TcpReassembler r(cfg, rec);
    handshake(r, 0xFFFFFFF0u, 10);
    const std::string data = pattern(64);
    // Bytes 0..14 before the wrap, the rest after; the second half arrives first.
    send(r, true, 0xFFFFFFF1u + 32u, A, data.substr(32));
    send(r, true, 0xFFFFFFF1u, A, data.substr(0, 32));
    send(r, true, 0xFFFFFFF1u + 16u, A, data.substr(16, 16));  // retransmission across the wrap
    EXPECT_EQ(rec.stream[0], data);
    EXPECT_EQ(r.counters().retransmissions, 1u);
    EXPECT_EQ(r.counters().gaps, 0u);
}

TEST_F(TcpReassemblyTest, ResetFlushesHolesAndSaysWhoReset) {
    TcpReassembler r(cfg, rec);
    handshake(r, 1, 100);
    send(r, true, 2, A, "ab");
    send(r, true, 10, A, "tail");  // hole 4..9
    send(r, false, 101, R | A, {}, 4);
    const auto gaps = rec.of(TcpEventType::gap);
    ASSERT_EQ(gaps.size(), 1u);
    EXPECT_EQ(gaps[0].gap_reason, TcpGapReason::reset);
    EXPECT_EQ(gaps[0].size, 6u);
    EXPECT_EQ(rec.stream[0], "abtail");
    const auto resets = rec.of(TcpEventType::reset);
    ASSERT_EQ(resets.size(), 1u);
    EXPECT_EQ(resets[0].dir, TcpDir::to_client);
    EXPECT_TRUE(resets[0].conn.state(TcpDir::to_client).reset);
    EXPECT_FALSE(resets[0].conn.state(TcpDir::to_server).reset);
    EXPECT_TRUE(resets[0].conn.reset());
    EXPECT_EQ(rec.of(TcpEventType::closed).back().close_reason, TcpCloseReason::reset);
    EXPECT_EQ(r.connections(), 0u);
    EXPECT_EQ(r.buffered_bytes(), 0u);
}

TEST_F(TcpReassemblyTest, ResetFarOutsideTheSequenceSpaceIsIgnored) {
    TcpReassembler r(cfg, rec);
    handshake(r, 1, 100);
    send(r, false, 101 + 0x40000000u, R);
    EXPECT_EQ(r.counters().rst_ignored, 1u);
    EXPECT_EQ(r.connections(), 1u);
    EXPECT_TRUE(rec.of(TcpEventType::reset).empty());
}

TEST_F(TcpReassemblyTest, FinBehindAHoleSkipsItAndLaterDataIsLate) {
    TcpReassembler r(cfg, rec);
    handshake(r, 1, 100);
    send(r, false, 101, A, "abc");
    send(r, false, 110, A | F, "xyz");  // hole 104..109, FIN at 113
    const auto gaps = rec.of(TcpEventType::gap);
    ASSERT_EQ(gaps.size(), 1u);
    EXPECT_EQ(gaps[0].gap_reason, TcpGapReason::fin);
    EXPECT_EQ(gaps[0].size, 6u);
    EXPECT_EQ(rec.stream[1], "abcxyz");
    ASSERT_EQ(rec.of(TcpEventType::fin).size(), 1u);
    send(r, false, 113, A, "after-fin");
    EXPECT_EQ(r.counters().late_segments, 1u);
    EXPECT_EQ(rec.stream[1], "abcxyz");
    // FIN whose own sequence is ahead of everything delivered: the missing bytes are a gap.
    send(r, true, 2, A, "q");
    send(r, true, 8, F);
    EXPECT_EQ(rec.of(TcpEventType::gap).back().size, 5u);
    EXPECT_EQ(rec.of(TcpEventType::closed).back().close_reason, TcpCloseReason::fin);
}

TEST_F(TcpReassemblyTest, IdleTimeoutFollowsPacketTime) {
    cfg.idle_timeout_ns = 60 * kSec;
    TcpReassembler r(cfg, rec);
    handshake(r, 1, 100);
    send(r, true, 2, A, "ab");
    send(r, true, 9, A, "zz");  // hole: must become a gap when the connection times out
    now += 59 * kSec;
    r.expire(now);
    EXPECT_EQ(r.connections(), 1u);
    // A packet of another connection 60 s after the last activity expires the first one.
    now += 1 * kSec;
    cport = 40001;
    send(r, true, 50, S);
    EXPECT_EQ(r.connections(), 1u);
    EXPECT_EQ(r.counters().evicted_timeout, 1u);
    const auto closed = rec.of(TcpEventType::closed);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0].close_reason, TcpCloseReason::timeout);
    EXPECT_EQ(closed[0].frame, 0u);
    const auto gaps = rec.of(TcpEventType::gap);
    ASSERT_EQ(gaps.size(), 1u);
    EXPECT_EQ(gaps[0].gap_reason, TcpGapReason::closed);
    EXPECT_EQ(gaps[0].size, 5u);
    now += 61 * kSec;
    r.expire(now);
    EXPECT_EQ(r.connections(), 0u);
    EXPECT_EQ(r.counters().evicted_timeout, 2u);
}

TEST_F(TcpReassemblyTest, ConnectionCapEvictsLeastRecentlyActive) {
    cfg.max_connections = 2;
    TcpReassembler r(cfg, rec);
    cport = 1;
    send(r, true, 10, S);
    cport = 2;
    send(r, true, 20, S);
    cport = 1;
    send(r, true, 11, A, "x");  // connection 1 is now the most recent
    cport = 3;
    send(r, true, 30, S);
    EXPECT_EQ(r.connections(), 2u);
    EXPECT_EQ(r.counters().evicted_table_full, 1u);
    const auto closed = rec.of(TcpEventType::closed);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0].close_reason, TcpCloseReason::evicted);
    EXPECT_EQ(closed[0].conn.client_port, 2);
    // Slots are dense and reused.
    const auto opened = rec.of(TcpEventType::opened);
    ASSERT_EQ(opened.size(), 3u);
    EXPECT_EQ(opened[2].conn.slot, opened[1].conn.slot);
    EXPECT_NE(opened[2].conn.id, opened[1].conn.id);
}

TEST_F(TcpReassemblyTest, TotalCapGivesUpOnTheNeedingStreamsHole) {
    cfg.max_total_buffered = 150;
    TcpReassembler r(cfg, rec);
    cport = 1;
    handshake(r, 0, 0);
    send(r, true, 101, A, pattern(20));  // window 120
    cport = 2;
    handshake(r, 0, 0);
    send(r, true, 41, A, pattern(20));  // window 60: 180 > 150
    EXPECT_EQ(r.counters().total_cap_hits, 1u);
    const auto gaps = rec.of(TcpEventType::gap);
    ASSERT_EQ(gaps.size(), 1u);
    EXPECT_EQ(gaps[0].gap_reason, TcpGapReason::total_cap);
    EXPECT_EQ(gaps[0].size, 40u);
    EXPECT_EQ(rec.stream[0], pattern(20));  // delivered past the gap
    EXPECT_EQ(r.buffered_bytes(), 120u);
    EXPECT_LE(r.buffered_bytes(), cfg.max_total_buffered);
}

TEST_F(TcpReassemblyTest, HoleCapSkipsTheFirstHole) {
    cfg.max_stream_holes = 2;
    TcpReassembler r(cfg, rec);
    handshake(r, 0, 0);
    send(r, true, 11, A, "b");
    send(r, true, 21, A, "c");
    send(r, true, 31, A, "d");  // third separate island
    EXPECT_EQ(r.counters().hole_cap_hits, 1u);
    const auto gaps = rec.of(TcpEventType::gap);
    ASSERT_EQ(gaps.size(), 1u);
    EXPECT_EQ(gaps[0].gap_reason, TcpGapReason::hole_cap);
    EXPECT_EQ(gaps[0].size, 10u);
    EXPECT_EQ(rec.stream[0], "b");
    // A segment touching an existing island adds no hole and is buffered normally.
    send(r, true, 22, A, "c2");
    EXPECT_EQ(r.counters().hole_cap_hits, 1u);
}

TEST_F(TcpReassemblyTest, GroSizedSegmentsAreOrdinarySegments) {
    TcpReassembler r(cfg, rec);
    handshake(r, 10, 20);
    const std::string big = pattern(32 * 1024, 3);
    send(r, false, 21, A, big);
    ASSERT_EQ(rec.chunk_sizes[1].size(), 1u);
    EXPECT_EQ(rec.stream[1], big);
    // In order: handed over without a copy (the pointer is into the segment's payload).
    // Out of order: buffered whole, then delivered whole.
    const std::string big2 = pattern(32 * 1024, 5), small = pattern(100, 7);
    const uint32_t next = 21 + 32 * 1024;
    send(r, false, next + 100, A, big2);
    EXPECT_EQ(r.buffered_bytes(), 100u + 32 * 1024);
    send(r, false, next, A, small);
    EXPECT_EQ(rec.stream[1], big + small + big2);
    EXPECT_EQ(r.buffered_bytes(), 0u);
    EXPECT_EQ(r.counters().gaps, 0u);
}

TEST_F(TcpReassemblyTest, InOrderDeliveryIsZeroCopy) {
    TcpReassembler r(cfg, rec);
    handshake(r, 10, 20);
    const std::string payload = "zero-copy";
    send(r, true, 11, A, payload);
    ASSERT_EQ(rec.chunk_ptrs[0].size(), 1u);
    EXPECT_EQ(rec.chunk_ptrs[0][0], reinterpret_cast<const std::byte*>(payload.data()));
}

TEST_F(TcpReassemblyTest, SnapTruncatedSegmentLeavesAGapForItsTail) {
    TcpReassembler r(cfg, rec);
    handshake(r, 10, 20);
    send(r, false, 21, A, "abcd", 0, 100);  // 96 bytes not captured
    send(r, false, 121, A, "next");
    EXPECT_EQ(rec.stream[1], "abcdnext");
    const auto gaps = rec.of(TcpEventType::gap);
    ASSERT_EQ(gaps.size(), 1u);
    EXPECT_EQ(gaps[0].gap_reason, TcpGapReason::snap_truncated);
    EXPECT_EQ(gaps[0].size, 96u);
    EXPECT_EQ(r.buffered_bytes(), 0u);
}

TEST_F(TcpReassemblyTest, NewSynAfterFinReusesTheTuple) {
    TcpReassembler r(cfg, rec);
    handshake(r, 10, 20);
    send(r, true, 11, A | F, "q");  // one side finished: the tuple may be reused
    send(r, true, 5000, S);
    EXPECT_EQ(r.counters().reused, 1u);
    EXPECT_EQ(rec.of(TcpEventType::closed).back().close_reason, TcpCloseReason::reused);
    EXPECT_EQ(rec.of(TcpEventType::opened).size(), 2u);
    // The same SYN again is a retransmission, and a different SYN on a connection that carries
    // data in flight is ignored rather than wiping it.
    send(r, true, 5000, S);
    EXPECT_EQ(r.counters().syn_retransmissions, 1u);
    send(r, true, 5001, A, "data");
    send(r, true, 9999, S);
    EXPECT_EQ(r.counters().syn_ignored, 1u);
    EXPECT_EQ(r.connections(), 1u);
}

TEST_F(TcpReassemblyTest, DrainFlushesEverything) {
    TcpReassembler r(cfg, rec);
    handshake(r, 10, 20);
    send(r, true, 11, A, "a");
    send(r, true, 20, A, "b");
    r.drain(now);
    EXPECT_EQ(rec.stream[0], "ab");
    EXPECT_EQ(r.connections(), 0u);
    EXPECT_EQ(r.counters().evicted_drain, 1u);
    EXPECT_EQ(rec.of(TcpEventType::gap).at(0).size, 8u);
    EXPECT_EQ(r.buffered_bytes(), 0u);
}

TEST_F(TcpReassemblyTest, PayloadlessSegmentsDoNotCreateConnections) {
    TcpReassembler r(cfg, rec);
    EXPECT_EQ(send(r, true, 1, A), TcpReassembler::Result::no_connection);
    EXPECT_EQ(send(r, true, 1, F | A), TcpReassembler::Result::no_connection);
    EXPECT_EQ(send(r, true, 1, R), TcpReassembler::Result::no_connection);
    EXPECT_EQ(r.counters().no_connection, 3u);
    EXPECT_EQ(r.connections(), 0u);
}

TEST_F(TcpReassemblyTest, HostileOneByteSegmentStormStaysWithinCaps) {
    cfg.max_stream_buffered = 4096;
    cfg.max_total_buffered = 8192;
    cfg.max_stream_holes = 16;
    TcpReassembler r(cfg, rec);
    handshake(r, 0, 0);
    // Every other byte, backwards, far beyond the caps; then random-looking overlaps.
    for (uint32_t i = 20000; i > 1; i -= 2) {
        send(r, true, 1 + i, A, "x");
        ASSERT_LE(r.buffered_bytes(), cfg.max_total_buffered);
    }
    for (uint32_t i = 0; i < 3000; i += 7) send(r, true, 1 + (i * 2654435761u) % 30000, A, "yy");
    EXPECT_LE(r.buffered_bytes(), cfg.max_total_buffered);
    r.drain(now);
    EXPECT_EQ(r.buffered_bytes(), 0u);
    EXPECT_GT(r.counters().gaps, 0u);
}

}  // namespace
}  // namespace frag53
