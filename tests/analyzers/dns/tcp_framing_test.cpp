#include "analyzers/dns/tcp_framing.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/tcp_reassembly.h"

namespace frag53::dns {
namespace {

using Wire = std::vector<uint8_t>;

// A query for <label>.example. A IN with the given ID: 12 + name + 4 bytes.
Wire query(uint16_t id, const std::string& label = "www") {
    Wire w = {static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0x01, 0x00, 0, 1, 0, 0,
              0, 0, 0, 0};
    w.push_back(static_cast<uint8_t>(label.size()));
    w.insert(w.end(), label.begin(), label.end());
    const std::string zone = "example";
    w.push_back(static_cast<uint8_t>(zone.size()));
    w.insert(w.end(), zone.begin(), zone.end());
    w.insert(w.end(), {0, 0, 1, 0, 1});
    return w;
}

Wire framed(const Wire& msg) {
    Wire w = {static_cast<uint8_t>(msg.size() >> 8), static_cast<uint8_t>(msg.size())};
    w.insert(w.end(), msg.begin(), msg.end());
    return w;
}

Wire cat(std::initializer_list<Wire> parts) {
    Wire w;
    for (const Wire& p : parts) w.insert(w.end(), p.begin(), p.end());
    return w;
}

Bytes view(const Wire& w, size_t from = 0, size_t n = SIZE_MAX) {
    n = std::min(n, w.size() - from);
    return as_bytes(w.data() + from, n);
}

struct Message {
    Wire data;
    uint64_t stream_offset, ts_ns, frame;
    std::vector<uint64_t> frames;
    uint32_t frames_omitted;
    bool zero_copy;
    const std::byte* ptr;
    uint16_t id() const { return static_cast<uint16_t>(data.at(0) << 8 | data.at(1)); }
};

struct Collector : TcpMessageSink {
    std::vector<Message> messages;
    std::vector<TcpFramingEvent> events;
    void on_message(const TcpDnsMessage& m) noexcept override {
        const auto* p = reinterpret_cast<const uint8_t*>(m.data.data());
        messages.push_back({Wire(p, p + m.data.size()), m.stream_offset, m.ts_ns, m.frame,
                            std::vector<uint64_t>(m.frames.begin(), m.frames.end()),
                            m.frames_omitted, m.zero_copy, m.data.data()});
    }
    void on_framing_event(const TcpFramingEvent& e) noexcept override { events.push_back(e); }
    size_t count(TcpFramingEventType t) const {
        size_t n = 0;
        for (const auto& e : events) n += e.type == t;
        return n;
    }
};

TEST(TcpFramingTest, WholeMessageInOneChunkIsZeroCopy) {
    TcpMessageFramer f;
    Collector c;
    const Wire w = framed(query(0x1234));
    f.feed(view(w), 777, 5, c);
    ASSERT_EQ(c.messages.size(), 1u);
    const Message& m = c.messages[0];
    EXPECT_EQ(m.data, query(0x1234));
    EXPECT_TRUE(m.zero_copy);
    EXPECT_EQ(m.ptr, reinterpret_cast<const std::byte*>(w.data() + 2));
    EXPECT_EQ(m.ts_ns, 777u);
    EXPECT_EQ(m.frame, 5u);
    EXPECT_EQ(m.frames, std::vector<uint64_t>{5});
    EXPECT_EQ(m.stream_offset, 0u);
    EXPECT_EQ(f.buffered(), 0u);
    EXPECT_TRUE(c.events.empty());
}

TEST(TcpFramingTest, PrefixAloneInItsOwnSegment) {
    TcpMessageFramer f;
    Collector c;
    const Wire w = framed(query(7));
    f.feed(view(w, 0, 2), 10, 1, c);
    EXPECT_TRUE(c.messages.empty());
    f.feed(view(w, 2), 20, 2, c);
    ASSERT_EQ(c.messages.size(), 1u);
    // The body lies in one chunk: still handed out without a copy.
    EXPECT_TRUE(c.messages[0].zero_copy);
    EXPECT_EQ(c.messages[0].data, query(7));
    EXPECT_EQ(c.messages[0].frames, (std::vector<uint64_t>{1, 2}));
    EXPECT_EQ(c.messages[0].ts_ns, 20u);
}

TEST(TcpFramingTest, PrefixSplitAcrossTwoSegments) {
    TcpMessageFramer f;
    Collector c;
    const Wire w = cat({framed(query(1)), framed(query(2))});
    const size_t second = framed(query(1)).size();
    f.feed(view(w, 0, second + 1), 1, 1, c);  // first message and one prefix byte
    ASSERT_EQ(c.messages.size(), 1u);
    f.feed(view(w, second + 1), 2, 2, c);
    ASSERT_EQ(c.messages.size(), 2u);
    EXPECT_EQ(c.messages[1].id(), 2);
    EXPECT_EQ(c.messages[1].stream_offset, second);
    EXPECT_EQ(c.messages[1].frames, (std::vector<uint64_t>{1, 2}));
}

TEST(TcpFramingTest, TwentyPipelinedQueriesInOneSegment) {
    TcpMessageFramer f;
    Collector c;
    Wire w;
    for (uint16_t id = 0; id < 20; ++id) {
        const Wire one = framed(query(id, "q" + std::to_string(id)));
        w.insert(w.end(), one.begin(), one.end());
    }
    f.feed(view(w), 1, 9, c);
    ASSERT_EQ(c.messages.size(), 20u);
    for (uint16_t id = 0; id < 20; ++id) {
        EXPECT_EQ(c.messages[id].id(), id);
        EXPECT_EQ(c.messages[id].data, query(id, "q" + std::to_string(id)));
        EXPECT_TRUE(c.messages[id].zero_copy);
        EXPECT_EQ(c.messages[id].frame, 9u);
    }
    EXPECT_EQ(f.counters().messages, 20u);
    EXPECT_EQ(f.stream_offset(), w.size());
}

TEST(TcpFramingTest, OneMessageSplitOverEightSegments) {
    TcpMessageFramer f;
    Collector c;
    const Wire msg = query(0xBEEF, std::string(60, 'x'));
    const Wire w = framed(msg);
    const size_t step = (w.size() + 7) / 8;
    for (size_t i = 0; i < 8; ++i) {
        ASSERT_TRUE(c.messages.empty());
        f.feed(view(w, i * step, step), 100 + i, 10 + i, c);
    }
    ASSERT_EQ(c.messages.size(), 1u);
    const Message& m = c.messages[0];
    EXPECT_EQ(m.data, msg);
    EXPECT_FALSE(m.zero_copy);
    EXPECT_EQ(m.ts_ns, 107u);
    EXPECT_EQ(m.frame, 17u);
    EXPECT_EQ(m.frames, (std::vector<uint64_t>{10, 11, 12, 13, 14, 15, 16, 17}));
    EXPECT_EQ(f.counters().assembled, 1u);
}

TEST(TcpFramingTest, ByteAtATimeWithManyFramesKeepsFirstAndLast) {
    TcpMessageFramer f;
    Collector c;
    const Wire w = framed(query(3));
    for (size_t i = 0; i < w.size(); ++i) f.feed(view(w, i, 1), i, i + 1, c);
    ASSERT_EQ(c.messages.size(), 1u);
    const Message& m = c.messages[0];
    EXPECT_EQ(m.data, query(3));
    ASSERT_EQ(m.frames.size(), kMaxMessageFrames);
    EXPECT_EQ(m.frames.front(), 1u);
    EXPECT_EQ(m.frames.back(), w.size());
    EXPECT_EQ(m.frames_omitted, w.size() - kMaxMessageFrames);
}

TEST(TcpFramingTest, LengthZeroIsReportedAndSkipped) {
    TcpMessageFramer f;
    Collector c;
    const Wire w = cat({Wire{0, 0}, framed(query(5))});
    f.feed(view(w), 1, 1, c);
    EXPECT_EQ(c.count(TcpFramingEventType::empty_message), 1u);
    ASSERT_EQ(c.messages.size(), 1u);
    EXPECT_EQ(c.messages[0].id(), 5);
    EXPECT_EQ(c.messages[0].stream_offset, 2u);
    EXPECT_EQ(f.counters().empty, 1u);
}

TEST(TcpFramingTest, LengthBeyondTheCapIsReportedSkippedAndFramingContinues) {
    TcpMessageFramer f(TcpFramingConfig{100});
    Collector c;
    Wire big = query(1, std::string(200, 'b'));
    const Wire w = cat({framed(big), framed(query(2))});
    // Over three chunks so the skip spans feeds; nothing of the big message is buffered.
    f.feed(view(w, 0, 50), 1, 1, c);
    EXPECT_EQ(f.buffered(), 0u);
    f.feed(view(w, 50, 150), 1, 2, c);
    f.feed(view(w, 200), 1, 3, c);
    ASSERT_EQ(c.count(TcpFramingEventType::oversize_message), 1u);
    EXPECT_EQ(c.events[0].declared_len, big.size());
    ASSERT_EQ(c.messages.size(), 1u);
    EXPECT_EQ(c.messages[0].id(), 2);
    EXPECT_EQ(f.counters().bytes_skipped, big.size());
}

TEST(TcpFramingTest, GapInsideAKnownMessageStaysAligned) {
    TcpMessageFramer f;
    Collector c;
    const Wire w = cat({framed(query(1, std::string(40, 'a'))), framed(query(2))});
    f.feed(view(w, 0, 10), 1, 1, c);
    f.gap(20, 2, 2, c);             // bytes 10..29 lost, inside the first message
    f.feed(view(w, 30), 3, 3, c);  // rest of message 1, then message 2
    ASSERT_EQ(c.count(TcpFramingEventType::abandoned_message), 1u);
    EXPECT_EQ(c.events[0].bytes, 10u);
    ASSERT_EQ(c.messages.size(), 1u);
    EXPECT_EQ(c.messages[0].id(), 2);
    EXPECT_EQ(c.count(TcpFramingEventType::resynchronised), 0u);
    EXPECT_FALSE(f.resynchronising());
}

TEST(TcpFramingTest, GapAtABoundaryResynchronisesAtTheNextSegmentStart) {
    TcpMessageFramer f;
    Collector c;
    f.feed(view(framed(query(1))), 1, 1, c);
    f.gap(300, 2, 2, c);  // unknown number of messages lost
    EXPECT_TRUE(f.resynchronising());
    const Wire next = cat({framed(query(9)), framed(query(10))});
    f.feed(view(next), 3, 3, c);
    ASSERT_EQ(c.messages.size(), 3u);
    EXPECT_EQ(c.messages[1].id(), 9);
    EXPECT_EQ(c.messages[2].id(), 10);
    ASSERT_EQ(c.count(TcpFramingEventType::resynchronised), 1u);
    EXPECT_EQ(c.events.back().bytes, 0u);
}

TEST(TcpFramingTest, GapPastTheMessageEndScansForTheNextBoundary) {
    TcpMessageFramer f;
    Collector c;
    const Wire m1 = framed(query(1, std::string(30, 'a')));
    const Wire w = cat({m1, framed(query(2)), framed(query(3))});
    f.feed(view(w, 0, 10), 1, 1, c);
    f.gap(m1.size() - 10 + 5, 2, 2, c);  // ends 5 bytes into message 2
    f.feed(view(w, m1.size() + 5), 3, 3, c);
    // Message 2's tail is passed over; message 3 is found by the header heuristic.
    ASSERT_EQ(c.messages.size(), 1u);
    EXPECT_EQ(c.messages[0].id(), 3);
    ASSERT_EQ(c.count(TcpFramingEventType::resynchronised), 1u);
    EXPECT_EQ(c.events.back().bytes, framed(query(2)).size() - 5);
    EXPECT_EQ(c.count(TcpFramingEventType::abandoned_message), 1u);
}

TEST(TcpFramingTest, GarbageAfterAGapIsDroppedUntilAPlausibleMessage) {
    TcpMessageFramer f;
    Collector c;
    f.gap(10, 1, 1, c);
    Wire junk(64, 0xFF);  // length 0xFFFF and opcode 15: never plausible
    f.feed(view(junk), 2, 2, c);
    EXPECT_TRUE(c.messages.empty());
    EXPECT_TRUE(f.resynchronising());
    EXPECT_EQ(f.counters().bytes_skipped, 64u);
    // A header with an impossible count is not taken for a boundary either.
    Wire bad = query(4);
    bad[4] = 0, bad[5] = 5;  // QDCOUNT 5
    f.feed(view(framed(bad)), 3, 3, c);
    EXPECT_TRUE(c.messages.empty());
    f.feed(view(framed(query(6))), 4, 4, c);
    ASSERT_EQ(c.messages.size(), 1u);
    EXPECT_EQ(c.messages[0].id(), 6);
    EXPECT_EQ(c.events.back().type, TcpFramingEventType::resynchronised);
    EXPECT_EQ(c.events.back().bytes, 64u + framed(bad).size());
}

TEST(TcpFramingTest, ResyncTakesHeadersWithZeroOrOneQuestionAndNothingElse) {
    // The scan rejects a position on QDCOUNT alone before the full test; QDCOUNT 256 (high byte
    // set), 2 and a QDCOUNT of 1 under an impossible opcode are all passed over, a header with
    // no question is taken.
    TcpMessageFramer f;
    Collector c;
    f.gap(10, 1, 1, c);
    Wire q256 = query(1), q2 = query(2), op15 = query(3), none = query(4);
    q256[4] = 1, q256[5] = 0;
    q2[4] = 0, q2[5] = 2;
    op15[2] = 0x78;
    none[4] = 0, none[5] = 0;
    const Wire junk = cat({framed(q256), framed(q2), framed(op15)});
    f.feed(view(cat({junk, framed(none), framed(query(5))})), 2, 2, c);
    ASSERT_EQ(c.messages.size(), 2u);
    EXPECT_EQ(c.messages[0].id(), 4);
    EXPECT_EQ(c.messages[1].id(), 5);
    ASSERT_EQ(c.count(TcpFramingEventType::resynchronised), 1u);
    EXPECT_EQ(f.counters().bytes_skipped, junk.size());
}

TEST(TcpFramingTest, StreamEndingInsideAMessageIsReported) {
    TcpMessageFramer f;
    Collector c;
    const Wire w = framed(query(1));
    f.feed(view(w, 0, 9), 1, 1, c);
    f.finish(2, 0, c);
    ASSERT_EQ(c.events.size(), 1u);
    EXPECT_EQ(c.events[0].type, TcpFramingEventType::incomplete_at_end);
    EXPECT_EQ(c.events[0].bytes, 9u);
    EXPECT_EQ(c.events[0].declared_len, query(1).size());
    // finish() starts over: a fresh stream frames from offset 0.
    f.feed(view(w), 3, 3, c);
    ASSERT_EQ(c.messages.size(), 1u);
    EXPECT_EQ(c.messages[0].stream_offset, 0u);
}

TEST(TcpFramingTest, GapInsideThePrefixAbandonsIt) {
    TcpMessageFramer f;
    Collector c;
    const Wire w = framed(query(1));
    f.feed(view(w, 0, 1), 1, 1, c);
    f.gap(1, 2, 2, c);
    EXPECT_EQ(c.count(TcpFramingEventType::abandoned_message), 1u);
    EXPECT_TRUE(f.resynchronising());
    EXPECT_EQ(f.buffered(), 0u);
}

// End to end: segments out of order and a lost segment, through the reassembler into framers.
struct Glue : TcpStreamSink {
    TcpMessageFramer framers[2];
    Collector out[2];
    void on_data(const TcpData& d) noexcept override {
        framers[dir_index(d.dir)].feed(d.data, d.ts_ns, d.frame, out[dir_index(d.dir)]);
    }
    void on_event(const TcpEvent& e) noexcept override {
        if (e.type == TcpEventType::gap)
            framers[dir_index(e.dir)].gap(e.size, e.ts_ns, e.frame, out[dir_index(e.dir)]);
    }
};

TEST(TcpFramingTest, ReassembledStreamWithReorderingAndLoss) {
    Glue g;
    TcpReassembler r(TcpReassemblyConfig{}.select_port(53), g);
    const std::array<std::byte, 4> a{std::byte{10}, std::byte{0}, std::byte{0}, std::byte{1}},
        b{std::byte{10}, std::byte{0}, std::byte{0}, std::byte{2}};
    uint64_t frame = 0;
    auto seg = [&](uint32_t seq, const Wire& w, size_t from, size_t n, uint8_t flags) {
        DecodedPacket p;
        p.transport = Transport::tcp;
        p.src = IpAddress::v4(b.data());
        p.dst = IpAddress::v4(a.data());
        p.sport = 53;
        p.dport = 5555;
        p.tcp_seq = seq;
        p.tcp_flags = flags;
        p.payload = view(w, from, n);
        p.payload_wire_len = static_cast<uint32_t>(p.payload.size());
        ++frame;
        r.process(p, frame * 1000, frame);
    };
    const Wire stream = cat({framed(query(1, std::string(50, 'a'))), framed(query(2)),
                             framed(query(3, std::string(90, 'c'))), framed(query(4))});
    const uint32_t isn = 0xFFFFFF00u;  // wraps inside the stream
    // Segments of 37 bytes: 1 and 0 swapped, 3 lost (it is inside message 3).
    const size_t n = 37;
    seg(isn - 1, {}, 0, 0, tcp_flag::syn | tcp_flag::ack);  // the stream starts at isn
    seg(isn + n, stream, n, n, tcp_flag::ack);
    seg(isn, stream, 0, n, tcp_flag::ack);
    seg(isn + 2 * n, stream, 2 * n, n, tcp_flag::ack);
    for (size_t off = 4 * n; off < stream.size(); off += n)
        seg(isn + static_cast<uint32_t>(off), stream, off, n, tcp_flag::ack);
    r.drain(frame * 1000);
    const Collector& c = g.out[dir_index(TcpDir::to_client)];
    // Message 3 spans bytes 109..227; segment 3 (111..148) lies inside it: lost, aligned after.
    ASSERT_EQ(c.messages.size(), 3u);
    EXPECT_EQ(c.messages[0].id(), 1);
    EXPECT_EQ(c.messages[1].id(), 2);
    EXPECT_EQ(c.messages[2].id(), 4);
    EXPECT_EQ(c.count(TcpFramingEventType::abandoned_message), 1u);
    EXPECT_EQ(c.count(TcpFramingEventType::resynchronised), 0u);
}

}  // namespace
}  // namespace frag53::dns
