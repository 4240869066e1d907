#include "analyzers/tc_fallback.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/analyzers/dns/wire_builder.h"

namespace frag53 {
namespace {

IpAddress v4(uint8_t last) {
    const std::byte b[4] = {std::byte{198}, std::byte{18}, std::byte{0}, std::byte{last}};
    return IpAddress::v4(b);
}

dns::Name name(const char* dotted) {
    auto wire = testing::WireBuilder{}.name(dotted).data();
    dns::Name n;
    for (size_t i = 0; i < wire.size(); ++i) n.wire[i] = wire[i];
    n.length = static_cast<uint8_t>(wire.size());
    return n;
}

TcWatch watch(uint8_t client, const char* q, uint64_t ts) {
    TcWatch w;
    w.client = v4(client);
    w.server = v4(1);
    w.server_port = 53;
    w.qname = name(q);
    w.qtype = 16;
    w.qclass = 1;
    w.tc_ts = ts;
    w.tc_frame = ts;
    return w;
}

TEST(TcFallbackTracker, TcpQuestionResolvesOnlyTheMatchingWatch) {
    TcFallbackTracker t(16);
    t.watch(watch(2, "a.example", 1));
    t.watch(watch(2, "b.example", 2));
    t.watch(watch(3, "a.example", 3));
    EXPECT_FALSE(t.tcp_question(v4(2), v4(1), name("c.example"), 16, 1));
    EXPECT_FALSE(t.tcp_question(v4(2), v4(1), name("a.example"), 1, 1));  // other type
    EXPECT_TRUE(t.tcp_question(v4(2), v4(1), name("A.EXAMPLE"), 16, 1));
    EXPECT_FALSE(t.tcp_question(v4(2), v4(1), name("a.example"), 16, 1));  // already resolved
    std::vector<uint64_t> expired;
    t.expire(100, 10, [&](const TcWatch& w) { expired.push_back(w.tc_ts); });
    EXPECT_EQ(expired, (std::vector<uint64_t>{2, 3}));
    EXPECT_EQ(t.size(), 0u);
}

// One client and server with many watches in one pair chain, resolved out of order (middle,
// newest, oldest): the chain stays intact for the connection that comes later and for expiry.
TEST(TcFallbackTracker, ManyWatchesOfOnePairResolvedOutOfOrder) {
    TcFallbackTracker t(64);
    const char* names[] = {"q0.example", "q1.example", "q2.example", "q3.example", "q4.example"};
    for (uint64_t i = 0; i < 5; ++i) t.watch(watch(2, names[i], i + 1));
    EXPECT_TRUE(t.tcp_question(v4(2), v4(1), name("q2.example"), 16, 1));
    EXPECT_TRUE(t.tcp_question(v4(2), v4(1), name("q4.example"), 16, 1));
    EXPECT_TRUE(t.tcp_question(v4(2), v4(1), name("q0.example"), 16, 1));
    EXPECT_FALSE(t.tcp_question(v4(2), v4(1), name("q2.example"), 16, 1));
    t.tcp_opened(v4(2), v4(1), 53, 9, 50);  // the oldest still waiting: q1
    std::vector<uint64_t> failed;
    t.tcp_closed(9, v4(2), v4(1), [&](const TcWatch& w) { failed.push_back(w.tc_ts); });
    EXPECT_EQ(failed, (std::vector<uint64_t>{2}));
    std::vector<uint64_t> expired;
    t.expire(100, 10, [&](const TcWatch& w) { expired.push_back(w.tc_ts); });
    EXPECT_EQ(expired, (std::vector<uint64_t>{4}));
    EXPECT_EQ(t.size(), 0u);
    // The slots are reused: new watches link into the emptied chains.
    t.watch(watch(2, "q5.example", 200));
    EXPECT_TRUE(t.tcp_question(v4(2), v4(1), name("q5.example"), 16, 1));
}

TEST(TcFallbackTracker, ConnectionGoesToTheOldestWaitingWatchAndItsEndFailsIt) {
    TcFallbackTracker t(16);
    t.watch(watch(2, "a.example", 1));
    t.watch(watch(2, "b.example", 2));
    t.tcp_opened(v4(2), v4(1), 53, 77, 10);
    std::vector<uint64_t> failed;
    t.tcp_closed(77, v4(2), v4(1), [&](const TcWatch& w) { failed.push_back(w.tc_ts); });
    EXPECT_EQ(failed, (std::vector<uint64_t>{1}));
    // The other one is still waiting and times out without an attempt.
    std::vector<uint64_t> expired;
    t.expire(100, 10, [&](const TcWatch& w) { expired.push_back(w.tc_ts); });
    EXPECT_EQ(expired, (std::vector<uint64_t>{2}));
}

TEST(TcFallbackTracker, FullTableEvictsOldestAndCounts) {
    TcFallbackTracker t(4);
    for (uint64_t i = 1; i <= 10; ++i) t.watch(watch(static_cast<uint8_t>(i), "x.example", i));
    EXPECT_EQ(t.size(), 4u);
    EXPECT_EQ(t.evictions(), 6u);
    EXPECT_FALSE(t.tcp_question(v4(1), v4(1), name("x.example"), 16, 1));  // evicted
    EXPECT_TRUE(t.tcp_question(v4(10), v4(1), name("x.example"), 16, 1));
    size_t drained = 0;
    t.drain([&](const TcWatch&) { ++drained; });
    EXPECT_EQ(drained, 3u);
    EXPECT_EQ(t.size(), 0u);
    // Slots are reused cleanly after a drain.
    t.watch(watch(9, "y.example", 20));
    EXPECT_TRUE(t.tcp_question(v4(9), v4(1), name("y.example"), 16, 1));
}

}  // namespace
}  // namespace frag53

namespace frag53 {
namespace {

// due() is expire()'s first test: the oldest watch's window has passed, or the oldest watch was
// resolved and waits to be dropped from the front (which a full tracker's eviction can leave).
TEST(TcFallbackTracker, DueWhenTheOldestWatchEndsOrWasResolved) {
    const uint64_t window = 100;
    TcFallbackTracker t(2);
    EXPECT_FALSE(t.due(1'000'000, window));
    t.watch(watch(2, "a.example", 10));
    t.watch(watch(3, "b.example", 20));
    EXPECT_FALSE(t.due(109, window));
    EXPECT_TRUE(t.due(110, window));
    // The second watch is resolved behind an open first one: it stays until it is at the front.
    EXPECT_TRUE(t.tcp_question(v4(3), v4(1), name("b.example"), 16, 1));
    EXPECT_EQ(t.size(), 2u);
    EXPECT_FALSE(t.due(50, window));
    // Full: a third watch pushes out the first, and the resolved one is now at the front.
    t.watch(watch(4, "c.example", 30));
    EXPECT_EQ(t.evictions(), 1u);
    EXPECT_TRUE(t.due(50, window));
    size_t ended = 0;
    t.expire(50, window, [&ended](const TcWatch&) { ++ended; });
    EXPECT_EQ(ended, 0u);
    EXPECT_EQ(t.size(), 1u);  // only the third is left
    EXPECT_FALSE(t.due(129, window));
    EXPECT_TRUE(t.due(130, window));
}

}  // namespace
}  // namespace frag53
