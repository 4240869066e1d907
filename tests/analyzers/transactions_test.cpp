#include "analyzers/transactions.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <vector>

namespace frag53 {
namespace {

TransactionKey key(uint16_t id, uint16_t port = 40000) {
    TransactionKey k;
    const std::byte c[4] = {std::byte{198}, std::byte{18}, std::byte{0}, std::byte{2}};
    const std::byte s[4] = {std::byte{198}, std::byte{18}, std::byte{0}, std::byte{1}};
    k.client = IpAddress::v4(c);
    k.server = IpAddress::v4(s);
    k.client_port = port;
    k.server_port = 53;
    k.id = id;
    return k;
}

dns::Name name(const char* dotted) {
    dns::Name n;
    size_t len = 0;
    const char* p = dotted;
    while (*p) {
        const char* dot = std::strchr(p, '.');
        size_t l = dot ? static_cast<size_t>(dot - p) : std::strlen(p);
        n.wire[len++] = static_cast<uint8_t>(l);
        std::memcpy(&n.wire[len], p, l);
        len += l;
        p += l + (dot ? 1 : 0);
    }
    n.wire[len++] = 0;
    n.length = static_cast<uint8_t>(len);
    return n;
}

TEST(TransactionTable, FindsByKeyAndQuestionCaseInsensitively) {
    TransactionTable t(16);
    auto& q = t.insert(key(1), 100);
    q.has_question = true;
    q.qname = name("www.example.com");
    q.qtype = 1;
    q.qclass = 1;
    auto upper = name("WWW.EXAMPLE.COM");
    EXPECT_EQ(t.find(key(1), &upper, 1, 1), &q);
    EXPECT_EQ(t.find(key(1), &upper, 28, 1), nullptr);   // other qtype
    EXPECT_EQ(t.find(key(2), &upper, 1, 1), nullptr);    // other id
    EXPECT_EQ(t.find(key(1, 40001), &upper, 1, 1), nullptr);  // other port
    EXPECT_EQ(t.find(key(1), nullptr, 0, 0), &q);        // QDCOUNT 0 response: key only
}

TEST(TransactionTable, ExpiresOldestFirstByPacketTime) {
    TransactionTable t(16);
    t.insert(key(1), 100);
    t.insert(key(2), 200);
    t.insert(key(3), 300);
    std::vector<uint16_t> expired;
    t.expire(250, 100, [&](const PendingQuery& q) { expired.push_back(q.key.id); });
    EXPECT_EQ(expired, (std::vector<uint16_t>{1}));
    EXPECT_EQ(t.size(), 2u);
    t.drain([&](const PendingQuery& q) { expired.push_back(q.key.id); });
    EXPECT_EQ(expired, (std::vector<uint16_t>{1, 2, 3}));
    EXPECT_EQ(t.size(), 0u);
}

TEST(TransactionTable, TouchMovesRetransmissionToTheBack) {
    TransactionTable t(16);
    auto& a = t.insert(key(1), 100);
    t.insert(key(2), 200);
    t.touch(a, 300, 9);
    EXPECT_EQ(a.retransmissions, 1u);
    EXPECT_EQ(a.last_frame, 9u);
    std::vector<uint16_t> order;
    t.expire(1000, 100, [&](const PendingQuery& q) { order.push_back(q.key.id); });
    EXPECT_EQ(order, (std::vector<uint16_t>{2, 1}));
}

// due() is expire()'s first test: the oldest entry's last transmission is `timeout` old, to the
// nanosecond; a retransmission moves that moment on, an answer (erase) hands it to the next.
TEST(TransactionTable, DueFromTheOldestEntryToTheNanosecond) {
    TransactionTable t(16);
    EXPECT_FALSE(t.due(1'000'000, 100));
    auto& a = t.insert(key(1), 100);
    auto& b = t.insert(key(2), 150);
    EXPECT_FALSE(t.due(199, 100));
    EXPECT_TRUE(t.due(200, 100));
    t.touch(a, 180, 5);  // to the back: the second entry is the oldest now
    EXPECT_FALSE(t.due(249, 100));
    EXPECT_TRUE(t.due(250, 100));
    t.erase(b);
    EXPECT_FALSE(t.due(279, 100));
    EXPECT_TRUE(t.due(280, 100));
    std::vector<uint16_t> expired;
    t.expire(279, 100, [&](const PendingQuery& q) { expired.push_back(q.key.id); });
    EXPECT_TRUE(expired.empty());
    t.expire(280, 100, [&](const PendingQuery& q) { expired.push_back(q.key.id); });
    EXPECT_EQ(expired, (std::vector<uint16_t>{1}));
    EXPECT_FALSE(t.due(1'000'000, 100));
}

TEST(TransactionTable, FullTableEvictsOldestAndCounts) {
    TransactionTable t(3);
    for (uint16_t i = 0; i < 10; ++i) t.insert(key(i), 100u + i);
    EXPECT_EQ(t.size(), 3u);
    EXPECT_EQ(t.evictions(), 7u);
    EXPECT_EQ(t.find(key(0), nullptr, 0, 0), nullptr);
    EXPECT_NE(t.find(key(9), nullptr, 0, 0), nullptr);
    EXPECT_EQ(t.high_water(), 3u);
}

TEST(TransactionTable, EraseKeepsProbeChainsIntact) {
    // Many entries with colliding home slots; erase in a scattered order and check every
    // survivor can still be found (backward-shift deletion).
    TransactionTable t(64);
    for (uint16_t i = 0; i < 64; ++i) t.insert(key(i), i);
    std::set<uint16_t> alive;
    for (uint16_t i = 0; i < 64; ++i) alive.insert(i);
    for (uint16_t i = 0; i < 64; i += 3) {
        t.erase(*t.find(key(i), nullptr, 0, 0));
        alive.erase(i);
        for (uint16_t a : alive) ASSERT_NE(t.find(key(a), nullptr, 0, 0), nullptr) << a;
    }
    EXPECT_EQ(t.size(), alive.size());
}

TEST(TransactionTable, ZeroCapacityIsClampedNotCrashing) {
    TransactionTable t(0);
    t.insert(key(1), 1);
    t.insert(key(2), 2);
    EXPECT_EQ(t.size(), 1u);
    EXPECT_EQ(t.evictions(), 1u);
}

TEST(TransactionTable, IndexGrowsWithWhatIsPendingAndEveryEntryStaysFindable) {
    TransactionTable t(65536);
    std::vector<PendingQuery*> live;
    for (uint32_t i = 0; i < 20000; ++i) {
        t.insert(key(static_cast<uint16_t>(i), 1000), i);
    }
    EXPECT_EQ(t.size(), 20000u);
    for (uint32_t i = 0; i < 20000; ++i) {
        PendingQuery* q = t.find(key(static_cast<uint16_t>(i), 1000), nullptr, 0, 0);
        ASSERT_NE(q, nullptr) << i;
        EXPECT_EQ(q->first_ts, i);
        if (i % 3 == 0) t.erase(*q);
    }
    for (uint32_t i = 0; i < 20000; ++i) {
        PendingQuery* q = t.find(key(static_cast<uint16_t>(i), 1000), nullptr, 0, 0);
        if (i % 3 == 0) {
            EXPECT_EQ(q, nullptr) << i;
        } else {
            ASSERT_NE(q, nullptr) << i;
            EXPECT_EQ(q->first_ts, i);
        }
    }
    EXPECT_EQ(t.evictions(), 0u);
}

TEST(TransactionTable, FullTableKeepsTheNewestFindableAcrossIndexGrowth) {
    TransactionTable t(3000);
    for (uint32_t i = 0; i < 5000; ++i) t.insert(key(static_cast<uint16_t>(i)), i);
    EXPECT_EQ(t.size(), 3000u);
    EXPECT_EQ(t.evictions(), 2000u);
    for (uint32_t i = 0; i < 5000; ++i) {
        PendingQuery* q = t.find(key(static_cast<uint16_t>(i)), nullptr, 0, 0);
        if (i < 2000) {
            EXPECT_EQ(q, nullptr) << i;
        } else {
            ASSERT_NE(q, nullptr) << i;
            EXPECT_EQ(q->first_ts, i);
        }
    }
}

}  // namespace
}  // namespace frag53
