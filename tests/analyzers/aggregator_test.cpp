#include "analyzers/aggregator.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/analyzers/collecting_sink.h"
#include "tests/analyzers/dns/wire_builder.h"

namespace frag53 {
namespace {

constexpr uint64_t sec = 1'000'000'000ull;

using Collect = testing::CollectingSink;

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

class AggregatorTest : public ::testing::Test {
protected:
    QueryRecord q(const char* qname, uint64_t ts, bool edns, uint16_t size, bool do_bit = false,
                  uint8_t server = 1, uint8_t client = 2) {
        QueryRecord r;
        r.client = v4(client);
        r.server = v4(server);
        r.client_port = 40000;
        r.server_port = 53;
        r.qname = name(qname);
        r.qtype = 16;
        r.edns = edns;
        r.udp_size = size;
        r.do_bit = do_bit;
        r.ts_ns = ts;
        r.frame = ++frame_;
        return r;
    }
    OutcomeRecord outcome(const QueryRecord& query, bool answered, uint32_t size, uint64_t ts,
                          bool truncated = false) {
        OutcomeRecord r;
        r.client = query.client;
        r.server = query.server;
        r.qname = query.qname;
        r.qtype = query.qtype;
        r.do_bit = query.do_bit;
        r.answered = answered;
        r.truncated = truncated;
        r.response_size = size;
        r.query_ts_ns = query.ts_ns;
        r.ts_ns = ts;
        r.frame = answered ? ++frame_ : 0;
        return r;
    }

    AggregatorConfig config_;
    Collect sink_;
    Aggregator agg_{config_, sink_};
    uint64_t frame_ = 0;
};

TEST_F(AggregatorTest, SmallerEdnsSizeAfterNoAnswerIsBufsizeFallback) {
    auto first = q("big.example", 1 * sec, true, 4096);
    agg_.on_query(first);
    agg_.on_query(q("big.example", 2 * sec, true, 1232));  // the first is still unanswered
    ASSERT_EQ(sink_.count(FindingCode::dns_bufsize_fallback), 1u);
    const Finding* f = sink_.first(FindingCode::dns_bufsize_fallback);
    EXPECT_EQ(f->advertised_size, 1232);
    EXPECT_EQ(f->limit, 4096u);
    EXPECT_EQ(f->reason, "no_answer_yet");
    EXPECT_EQ(f->frames[0], first.frame);
}

TEST_F(AggregatorTest, DroppingEdnsAfterTruncationIsBufsizeFallback) {
    auto first = q("big.example", 1 * sec, true, 1232);
    agg_.on_query(first);
    agg_.on_outcome(outcome(first, true, 60, 1 * sec + 1000, true));
    agg_.on_query(q("big.example", 2 * sec, false, 0));
    ASSERT_EQ(sink_.count(FindingCode::dns_bufsize_fallback), 1u);
    EXPECT_EQ(sink_.first(FindingCode::dns_bufsize_fallback)->advertised_size, -1);
    EXPECT_EQ(sink_.first(FindingCode::dns_bufsize_fallback)->reason, "truncated");
}

TEST_F(AggregatorTest, NoFallbackWhenAnsweredSameSizeOrTooLate) {
    auto a = q("a.example", 1 * sec, true, 4096);
    agg_.on_query(a);
    agg_.on_outcome(outcome(a, true, 300, 1 * sec + 1000));
    agg_.on_query(q("a.example", 2 * sec, true, 1232));  // answered before: not a fallback
    agg_.on_query(q("b.example", 1 * sec, true, 1232));
    agg_.on_query(q("b.example", 2 * sec, true, 1232));   // same size: a plain retry
    agg_.on_query(q("c.example", 1 * sec, true, 4096));
    agg_.on_query(q("c.example", 30 * sec, true, 1232));  // outside the window
    EXPECT_EQ(sink_.count(FindingCode::dns_bufsize_fallback), 0u);
}

TEST_F(AggregatorTest, SmallerRetryAfterALargeAnswerIsFallbackAndLoss) {
    auto first = q("big.example", 1 * sec, true, 4096);
    agg_.on_query(first);
    agg_.on_outcome(outcome(first, true, 3000, 1 * sec + 1000));
    agg_.on_query(q("big.example", 3 * sec, true, 1232));
    ASSERT_EQ(sink_.count(FindingCode::dns_bufsize_fallback), 1u);
    EXPECT_EQ(sink_.first(FindingCode::dns_bufsize_fallback)->reason, "answer_lost");
    EXPECT_EQ(sink_.first(FindingCode::dns_bufsize_fallback)->frame_count, 3);
    EXPECT_EQ(agg_.servers_by_queries(1)[0].large_reasked, 1u);
}

TEST_F(AggregatorTest, DnssecQueriesLostWhilePlainOnesAreAnswered) {
    for (int i = 0; i < 6; ++i) {
        auto plain = q("p.example", static_cast<uint64_t>(i) * sec, true, 1232, false, 1, static_cast<uint8_t>(10 + i));
        agg_.on_query(plain);
        agg_.on_outcome(outcome(plain, true, 200, plain.ts_ns + 1000));
        auto signed_q = q("s.example", static_cast<uint64_t>(i) * sec, true, 1232, true, 1, static_cast<uint8_t>(10 + i));
        agg_.on_query(signed_q);
        agg_.on_outcome(outcome(signed_q, i == 0, 900, signed_q.ts_ns + 5 * sec));
    }
    agg_.finish();
    ASSERT_EQ(sink_.count(FindingCode::path_dnssec_queries_lost), 1u);
    const Finding* f = sink_.first(FindingCode::path_dnssec_queries_lost);
    EXPECT_EQ(f->server, v4(1));
    EXPECT_EQ(f->path.do1_queries, 6u);
    EXPECT_EQ(f->path.do1_answered, 1u);
    EXPECT_EQ(f->path.do0_answered, 6u);
}

TEST_F(AggregatorTest, NoDnssecVerdictWhenEverythingIsLostOrTooFewSamples) {
    for (int i = 0; i < 6; ++i) {
        auto plain = q("p.example", static_cast<uint64_t>(i) * sec, true, 1232, false, 1, static_cast<uint8_t>(10 + i));
        agg_.on_query(plain);
        agg_.on_outcome(outcome(plain, false, 0, plain.ts_ns + 5 * sec));
        auto signed_q = q("s.example", static_cast<uint64_t>(i) * sec, true, 1232, true, 1, static_cast<uint8_t>(10 + i));
        agg_.on_query(signed_q);
        agg_.on_outcome(outcome(signed_q, false, 0, signed_q.ts_ns + 5 * sec));
    }
    // Server 2: DO=1 lost but only two samples.
    for (int i = 0; i < 2; ++i) {
        auto s = q("s.example", static_cast<uint64_t>(i) * sec, true, 1232, true, 2, static_cast<uint8_t>(30 + i));
        agg_.on_query(s);
        agg_.on_outcome(outcome(s, false, 0, s.ts_ns + 5 * sec));
    }
    agg_.finish();
    EXPECT_EQ(sink_.count(FindingCode::path_dnssec_queries_lost), 0u);
}

TEST_F(AggregatorTest, LargeAnswersFollowedByTheSameQuestionAreLostDownstream) {
    for (int i = 0; i < 3; ++i) {
        auto first = q("big.example", static_cast<uint64_t>(10 * i) * sec, true, 4096, true, 1, static_cast<uint8_t>(20 + i));
        agg_.on_query(first);
        agg_.on_outcome(outcome(first, true, 1400 + static_cast<uint32_t>(i), first.ts_ns + 1000));
        agg_.on_query(q("big.example", first.ts_ns + 2 * sec, true, 4096, true, 1, static_cast<uint8_t>(20 + i)));
    }
    // Small answers re-asked do not count.
    auto small = q("small.example", 100 * sec, true, 4096);
    agg_.on_query(small);
    agg_.on_outcome(outcome(small, true, 200, small.ts_ns + 1000));
    agg_.on_query(q("small.example", 101 * sec, true, 4096));
    agg_.finish();
    ASSERT_EQ(sink_.count(FindingCode::path_large_responses_lost), 1u);
    const Finding* f = sink_.first(FindingCode::path_large_responses_lost);
    EXPECT_EQ(f->path.large_reasked, 3u);
    EXPECT_EQ(f->path.size_min, 1400u);
    EXPECT_EQ(f->path.size_max, 1402u);
    auto servers = agg_.servers_by_queries(10);
    ASSERT_FALSE(servers.empty());
    EXPECT_EQ(servers[0].largest_answer, 1402u);
    EXPECT_EQ(servers[0].answers_over_threshold, 3u);
}

TEST(AggregatorCaps, HistoryAndServerTablesAreBoundedAndCounted) {
    AggregatorConfig cfg;
    cfg.history_slots = 1;
    cfg.max_servers = 1;
    Collect sink;
    Aggregator agg(cfg, sink);
    QueryRecord a;
    a.client = v4(2);
    a.server = v4(1);
    a.qname = name("a.example");
    a.ts_ns = sec;
    QueryRecord b = a;
    b.qname = name("b.example");
    b.server = v4(3);
    agg.on_query(a);
    agg.on_query(b);
    EXPECT_EQ(agg.history_evictions(), 1u);
    EXPECT_EQ(agg.servers_untracked(), 1u);
    EXPECT_EQ(agg.servers_by_queries(10).size(), 1u);
}

// Two questions of one slot share its pair instead of pushing each other out; a third question of
// the pair replaces the one asked longest ago.
TEST(AggregatorCaps, HistoryPairsKeepTwoQuestionsAndReplaceTheOldest) {
    AggregatorConfig cfg;
    cfg.history_slots = 2;  // one pair: every question hashes into it
    Collect sink;
    Aggregator agg(cfg, sink);
    QueryRecord q;
    q.client = v4(2);
    q.server = v4(1);
    q.edns = true;
    q.udp_size = 4096;
    // Three names whose own slot is the same one of the two.
    std::vector<std::string> names;
    for (int i = 0; names.size() < 3; ++i) {
        const std::string n = "q" + std::to_string(i) + ".example";
        if ((question_hash(q.client, name(n.c_str()), q.qtype) & 1) == 0) names.push_back(n);
    }
    auto ask = [&](const char* which, uint64_t t, uint16_t udp_size = 4096) {
        q.qname = name(names[static_cast<size_t>(which[0] - 'a')].c_str());
        q.ts_ns = t * sec;
        q.udp_size = udp_size;
        agg.on_query(q);
    };
    ask("a.example", 1);
    ask("b.example", 2);
    ask("a.example", 3);
    EXPECT_EQ(agg.history_evictions(), 0u);
    ask("c.example", 4);  // b was asked longest ago
    EXPECT_EQ(agg.history_evictions(), 1u);
    // a is still known: asked again with a smaller EDNS size and no answer yet, the fallback is seen.
    ask("a.example", 5, 1232);
    EXPECT_EQ(agg.history_evictions(), 1u);
    ASSERT_EQ(sink.findings.size(), 1u);
    EXPECT_EQ(sink.findings[0].code, FindingCode::dns_bufsize_fallback);
    // b was forgotten: its retry is a new question, which replaces c (asked at 4, a at 5).
    ask("b.example", 6, 512);
    EXPECT_EQ(agg.history_evictions(), 2u);
    EXPECT_EQ(sink.findings.size(), 1u);
    ask("a.example", 7, 512);
    EXPECT_EQ(sink.findings.size(), 2u);
    EXPECT_EQ(agg.history_evictions(), 2u);
}

// Queries alternating between servers are each counted for their own server (server() checks the
// last server found before the map).
TEST(AggregatorCaps, ServersAlternatingAreCountedApart) {
    AggregatorConfig cfg;
    cfg.history_slots = 3;  // not a power of two: the slot is taken modulo the size
    Collect sink;
    Aggregator agg(cfg, sink);
    QueryRecord q;
    q.client = v4(2);
    q.qname = name("a.example");
    const uint8_t order[] = {1, 3, 1, 1, 3, 4, 1};
    for (size_t i = 0; i < std::size(order); ++i) {
        q.server = v4(order[i]);
        q.ts_ns = sec + i;
        agg.on_query(q);
    }
    const auto servers = agg.servers_by_queries(10);
    ASSERT_EQ(servers.size(), 3u);
    EXPECT_EQ(servers[0].address, v4(1));
    EXPECT_EQ(servers[0].queries, 4u);
    EXPECT_EQ(servers[1].address, v4(3));
    EXPECT_EQ(servers[1].queries, 2u);
    EXPECT_EQ(servers[2].address, v4(4));
    EXPECT_EQ(servers[2].queries, 1u);
    EXPECT_EQ(agg.history_evictions(), 0u);  // one question: always its own slot
    EXPECT_EQ(agg.history_slots(), 3u);
}

}  // namespace
}  // namespace frag53
