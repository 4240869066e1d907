#include "analyzers/pipeline.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/analyzers/collecting_sink.h"
#include "tests/analyzers/test_packets.h"

namespace frag53 {
namespace {

using testing::client_ip;
using testing::DnsBuilder;
using testing::make_frame;
using testing::sec;
using testing::server_ip;
using testing::udp4_frame;

using CollectSink = testing::CollectingSink;

class PipelineTest : public ::testing::Test {
protected:
    void query(const std::vector<uint8_t>& dns, uint64_t ts, uint16_t sport = 40000) {
        feed(udp4_frame(client_ip, server_ip, sport, 53, dns), ts);
    }
    void response(const std::vector<uint8_t>& dns, uint64_t ts, uint16_t dport = 40000, uint32_t captured = 0) {
        feed(udp4_frame(server_ip, client_ip, 53, dport, dns), ts, captured);
    }
    void feed(std::vector<uint8_t> bytes, uint64_t ts, uint32_t captured = 0) {
        auto f = make_frame(std::move(bytes), ts, ++frame_, captured);
        pipeline_.process_packet(f.view);
    }
    static std::vector<uint8_t> edns_query(uint16_t id, std::string_view name, uint16_t qtype,
                                           uint16_t udp = 4096, uint8_t version = 0) {
        return DnsBuilder{}.header(id, 0x0100, 1, 0, 0, 1).name(name).question(qtype).opt(udp, true, version).data();
    }
    static std::vector<uint8_t> plain_query(uint16_t id, std::string_view name, uint16_t qtype) {
        return DnsBuilder{}.header(id, 0x0100, 1, 0, 0, 0).name(name).question(qtype).data();
    }
    // Response with `txt` bytes of TXT answer and optionally an OPT.
    static std::vector<uint8_t> answer(uint16_t id, std::string_view name, uint16_t qtype, size_t txt,
                                       bool with_opt, uint16_t flags = 0x8180) {
        DnsBuilder b;
        b.header(id, flags, 1, txt ? 1 : 0, 0, with_opt ? 1 : 0).name(name).question(qtype);
        if (txt) b.txt_answer(txt);
        if (with_opt) b.opt(1232);
        return b.data();
    }

    PipelineConfig config_;
    CollectSink sink_;
    Pipeline pipeline_{config_, sink_};
    uint64_t frame_ = 0;
};

// Answers with DNSSEC records are handed to the aggregator once per answer content: the ID, the
// TTLs and the order of the records (servers rotate RRsets) do not make an answer new.
class MaterialHandOverTest : public PipelineTest {
protected:
    struct Counting final : TransactionRecordSink {
        void on_query(const QueryRecord&) override {}
        void on_outcome(const OutcomeRecord&) override {}
        void on_material(ResponseMaterial&& m) override { wires.push_back(std::move(m.wire)); }
        std::vector<std::vector<std::byte>> wires;
    };
    void SetUp() override { pipeline_.set_record_sink(&records_); }
    // A signed TXT answer: one TXT record per text (in this order), then an RRSIG.
    static std::vector<uint8_t> signed_txt(uint16_t id, uint32_t ttl, const std::vector<std::string>& texts,
                                           std::string_view qname = "s.example.test") {
        DnsBuilder b;
        b.header(id, 0x8180, 1, static_cast<uint16_t>(texts.size() + 1), 0, 0).name(qname).question(16);
        for (const std::string& t : texts) {
            b.ptr(12).rr_head(16, 1, ttl).begin_rdata().u8(static_cast<uint8_t>(t.size()));
            for (char c : t) b.u8(static_cast<uint8_t>(c));
            b.end_rdata();
        }
        // RRSIG: type covered, algorithm, labels, original TTL, expiration, inception, tag, signer, signature.
        b.ptr(12).rr_head(46, 1, ttl).begin_rdata().u16(16).u8(13).u8(3).u32(300);
        b.u32(2'000'000'000u).u32(1'000'000'000u).u16(4242).name("example.test").fill(64, 0xAB).end_rdata();
        return b.data();
    }
    Counting records_;
};

TEST_F(MaterialHandOverTest, RotatedRrsetWithOtherIdAndTtlsIsARepeat) {
    response(signed_txt(1, 300, {"alpha", "beta", "gamma"}), 1 * sec);
    response(signed_txt(2, 299, {"gamma", "alpha", "beta"}), 2 * sec);  // rotated, as BIND does
    response(signed_txt(3, 250, {"beta", "gamma", "alpha"}), 3 * sec);
    EXPECT_EQ(pipeline_.counters().dnssec_material, 1u);
    EXPECT_EQ(pipeline_.counters().dnssec_material_repeats, 2u);
    ASSERT_EQ(records_.wires.size(), 1u);

    // One changed byte of one record is a new answer, in any order.
    response(signed_txt(4, 300, {"alpha", "betb", "gamma"}), 4 * sec);
    // The same records, one of them twice: not the same answer either.
    response(signed_txt(5, 300, {"alpha", "beta", "gamma", "gamma"}), 5 * sec);
    EXPECT_EQ(pipeline_.counters().dnssec_material, 3u);
    EXPECT_EQ(records_.wires.size(), 3u);
}

TEST_F(MaterialHandOverTest, EveryRecordsOwnerTypeAndClassCount) {
    // One RRSIG whose owner is a pointer (2 bytes in place) or a whole name written out (up to 40
    // bytes): the owner, type and class each make a new answer, at every owner length.
    auto answer = [](uint16_t id, std::string_view owner, uint16_t type, uint16_t klass) {
        DnsBuilder b;
        b.header(id, 0x8180, 1, 1, 0, 0).name("s.example.test").question(46);
        if (owner.empty()) b.ptr(12); else b.name(owner);
        b.rr_head(type, klass, 300).begin_rdata().u16(16).u8(13).u8(3).u32(300);
        b.u32(2'000'000'000u).u32(1'000'000'000u).u16(4242).name("example.test").fill(64, 0xAB).end_rdata();
        return b.data();
    };
    uint64_t t = 1;
    const std::vector<std::string> owners = {"", "a.b", "ab.test", "a.example.test", "www.example.test",
                                             "abcdefghijklmnopqrstuvwxyz.example.test"};
    for (const std::string& owner : owners) {
        const uint64_t before = pipeline_.counters().dnssec_material;
        response(answer(1, owner, 46, 1), t++ * sec);
        response(answer(2, owner, 46, 1), t++ * sec);  // only the ID differs: a repeat
        response(answer(3, owner, 46, 3), t++ * sec);  // class CH
        response(answer(4, owner, 48, 1), t++ * sec);  // type DNSKEY
        if (!owner.empty()) {
            std::string other = owner;
            other.back() = other.back() == 'a' ? 'b' : 'a';  // last label's last letter
            response(answer(5, other, 46, 1), t++ * sec);
        }
        EXPECT_EQ(pipeline_.counters().dnssec_material - before, owner.empty() ? 3u : 4u) << owner;
    }
}

TEST_F(MaterialHandOverTest, AlternatingAnswersDoNotEvictEachOther) {
    // A client alternating between a few answers (keys, then a TXT, then keys...) is not handed
    // over again and again: the remembered answers are kept four to a set.
    for (int round = 0; round < 50; ++round)
        for (int k = 0; k < 4; ++k)
            response(signed_txt(static_cast<uint16_t>(round), 300, {"answer" + std::to_string(k)}),
                     static_cast<uint64_t>(round * 4 + k + 1) * 1'000'000);
    EXPECT_EQ(pipeline_.counters().dnssec_material, 4u);
    EXPECT_EQ(pipeline_.counters().dnssec_material_repeats, 196u);
    EXPECT_EQ(pipeline_.counters().dnssec_material_evicted, 0u);
}

TEST_F(MaterialHandOverTest, MoreAnswersThanTheTableHoldsAreCountedAsEvicted) {
    for (int i = 0; i < 6000; ++i)
        response(signed_txt(1, 300, {"n" + std::to_string(i)}), static_cast<uint64_t>(i + 1) * 1'000'000);
    EXPECT_EQ(pipeline_.counters().dnssec_material, 6000u);
    EXPECT_GE(pipeline_.counters().dnssec_material_evicted, 6000u - 4096u);
    // The most recent answers are still remembered.
    const uint64_t before = pipeline_.counters().dnssec_material;
    response(signed_txt(9, 300, {"n5999"}), 7 * sec);
    EXPECT_EQ(pipeline_.counters().dnssec_material, before);
}

// The aggregator's per-question slot: the pipeline works its hash out once per query, announces it
// (expect_question, a prefetch) before each UDP record, and hands it over in both records; the
// timeout's record too. TCP questions are not announced (the history is UDP's).
TEST_F(PipelineTest, QuestionHashIsAnnouncedAndCarriedByBothRecords) {
    struct Recording final : TransactionRecordSink {
        void on_query(const QueryRecord& r) override { events.push_back({'q', r.question_hash}); }
        void on_outcome(const OutcomeRecord& r) override {
            events.push_back({r.answered ? 'a' : 'u', r.question_hash});
        }
        void expect_question(uint64_t h) noexcept override { events.push_back({'e', h}); }
        std::vector<std::pair<char, uint64_t>> events;
    } records;
    pipeline_.set_record_sink(&records);
    query(edns_query(7, "Hash.Example.test", 16), 1 * sec);
    response(answer(7, "hash.example.test", 16, 40, true), 1 * sec + 1000);
    query(edns_query(8, "other.example.test", 1), 2 * sec, 40001);
    pipeline_.finish();  // the second query is given up

    dns::Name hash_name, other;
    const auto w1 = DnsBuilder{}.name("Hash.Example.test").data();
    const auto w2 = DnsBuilder{}.name("other.example.test").data();
    hash_name.assign(w1.data(), static_cast<uint8_t>(w1.size()));
    other.assign(w2.data(), static_cast<uint8_t>(w2.size()));
    const std::byte c[4] = {std::byte{198}, std::byte{18}, std::byte{0}, std::byte{2}};  // client_ip
    const IpAddress client = IpAddress::v4(c);
    const uint64_t h1 = question_hash(client, hash_name, 16);
    const uint64_t h2 = question_hash(client, other, 1);
    ASSERT_NE(h1, h2);
    // The query's name differs from the answer's in case only: the same question.
    const std::vector<std::pair<char, uint64_t>> want = {
        {'e', h1}, {'q', h1}, {'e', h1}, {'a', h1}, {'e', h2}, {'q', h2}, {'u', h2}};
    EXPECT_EQ(records.events, want);
}

TEST_F(PipelineTest, MatchesQueryAndResponseWithoutFindings) {
    query(edns_query(1, "www.example.com", 1), 1 * sec);
    response(answer(1, "WWW.Example.COM", 1, 20, true), 1 * sec + 2'000'000);
    pipeline_.finish();
    const auto& c = pipeline_.counters();
    EXPECT_EQ(c.dns_queries, 1u);
    EXPECT_EQ(c.dns_responses, 1u);
    EXPECT_EQ(c.dns_matched, 1u);
    EXPECT_EQ(c.rtt_max_ns, 2'000'000u);
    EXPECT_TRUE(sink_.findings.empty()) << code_name(sink_.findings.front().code);
}

TEST_F(PipelineTest, DifferentQuestionWithSameIdDoesNotMatch) {
    query(edns_query(7, "a.example", 1), 1 * sec);
    response(answer(7, "b.example", 1, 10, true), 1 * sec + 1000);
    pipeline_.finish();
    EXPECT_EQ(pipeline_.counters().dns_matched, 0u);
    EXPECT_EQ(pipeline_.counters().unmatched_responses, 1u);
    EXPECT_EQ(sink_.count(FindingCode::dns_unanswered), 1u);
}

TEST_F(PipelineTest, TruncatedResponseIsReported) {
    query(edns_query(2, "big.example", 16, 1232), 1 * sec);
    response(answer(2, "big.example", 16, 0, true, 0x8380), 1 * sec + 1000);
    ASSERT_EQ(sink_.count(FindingCode::dns_truncated), 1u);
    EXPECT_EQ(sink_.first(FindingCode::dns_truncated)->qname.to_string(), "big.example.");
}

TEST_F(PipelineTest, EdnsDroppedWhenOptMissingFromCompleteResponse) {
    query(edns_query(3, "x.example", 1), 1 * sec);
    response(answer(3, "x.example", 1, 10, false), 1 * sec + 1000);
    ASSERT_EQ(sink_.count(FindingCode::dns_edns_dropped), 1u);
    const Finding* f = sink_.first(FindingCode::dns_edns_dropped);
    EXPECT_EQ(f->advertised_size, 4096);
    ASSERT_EQ(f->frame_count, 2);
    EXPECT_EQ(f->frames[0], 1u);  // the query first
    EXPECT_EQ(f->frames[1], 2u);
    EXPECT_EQ(sink_.count(FindingCode::dns_edns_unsupported), 0u);
}

TEST_F(PipelineTest, PlainQueryAnsweredWithoutOptIsFine) {
    query(plain_query(4, "x.example", 1), 1 * sec);
    response(answer(4, "x.example", 1, 10, false), 1 * sec + 1000);
    EXPECT_TRUE(sink_.findings.empty());
}

TEST_F(PipelineTest, FormerrWithoutOptIsEdnsUnsupportedNotDropped) {
    query(edns_query(5, "x.example", 1), 1 * sec);
    response(answer(5, "x.example", 1, 0, false, 0x8181), 1 * sec + 1000);
    EXPECT_EQ(sink_.count(FindingCode::dns_edns_unsupported), 1u);
    EXPECT_EQ(sink_.count(FindingCode::dns_edns_dropped), 0u);
}

TEST_F(PipelineTest, BadversToVersionZeroIsUnsupportedButNotToHigherVersions) {
    auto badvers = [](uint16_t id) {
        return DnsBuilder{}.header(id, 0x8180, 1, 0, 0, 1).name("x.example").question(1).opt(1232, false, 0, 1).data();
    };
    query(edns_query(6, "x.example", 1, 4096, 0), 1 * sec, 40001);
    response(badvers(6), 1 * sec + 1000, 40001);
    query(edns_query(8, "x.example", 1, 4096, 1), 1 * sec, 40002);
    response(badvers(8), 1 * sec + 1000, 40002);
    EXPECT_EQ(sink_.count(FindingCode::dns_edns_unsupported), 1u);
    EXPECT_EQ(sink_.count(FindingCode::dns_edns_dropped), 0u);
    EXPECT_EQ(sink_.first(FindingCode::dns_edns_unsupported)->rcode, 16);
}

TEST_F(PipelineTest, OversizedResponseUsesThreshold) {
    query(edns_query(9, "a.example", 16), 1 * sec, 40001);
    auto big = answer(9, "a.example", 16, 1300, true);
    response(big, 1 * sec + 1000, 40001);
    query(edns_query(10, "b.example", 16), 1 * sec, 40002);
    auto small = answer(10, "b.example", 16, 1000, true);
    response(small, 1 * sec + 1000, 40002);
    ASSERT_EQ(sink_.count(FindingCode::dns_oversized_response), 1u);
    EXPECT_EQ(sink_.first(FindingCode::dns_oversized_response)->response_size, big.size());
    EXPECT_EQ(sink_.first(FindingCode::dns_oversized_response)->limit, 1232u);
}

TEST_F(PipelineTest, ExceedsAdvertisedSize) {
    // No EDNS: 512 is the limit.
    query(plain_query(11, "a.example", 16), 1 * sec, 40001);
    response(answer(11, "a.example", 16, 600, false), 1 * sec + 1000, 40001);
    // EDNS size 0 is treated as 512.
    query(edns_query(12, "b.example", 16, 0), 1 * sec, 40002);
    response(answer(12, "b.example", 16, 600, true), 1 * sec + 1000, 40002);
    // Within the advertised size: nothing.
    query(edns_query(13, "c.example", 16, 1232), 1 * sec, 40003);
    response(answer(13, "c.example", 16, 1100, true), 1 * sec + 1000, 40003);
    EXPECT_EQ(sink_.count(FindingCode::dns_exceeds_advertised_size), 2u);
    for (const auto& f : sink_.findings) {
        if (f.code == FindingCode::dns_exceeds_advertised_size) {
            EXPECT_EQ(f.limit, 512u);
        }
    }
}

TEST_F(PipelineTest, UnansweredByPacketTimeAndAtEndOfInput) {
    query(edns_query(14, "lost.example", 1), 1 * sec, 40001);
    // Packet time moves past the 5 s timeout: the first query expires.
    query(edns_query(15, "late.example", 1), 7 * sec, 40002);
    ASSERT_EQ(sink_.count(FindingCode::dns_unanswered), 1u);
    EXPECT_EQ(sink_.first(FindingCode::dns_unanswered)->reason, "timeout");
    pipeline_.finish();
    ASSERT_EQ(sink_.count(FindingCode::dns_unanswered), 2u);
    EXPECT_EQ(sink_.findings.back().reason, "end_of_input");
    EXPECT_EQ(sink_.findings.back().qname.to_string(), "late.example.");
}

TEST_F(PipelineTest, TimeGoingBackEndsTheOldTimelineInsteadOfExpiringTheNewOne) {
    // A second capture file recorded earlier than the first: its queries must still match.
    query(edns_query(30, "old.example", 1), 1000 * sec, 40001);
    query(edns_query(31, "new.example", 1), 10 * sec, 40002);
    response(answer(31, "new.example", 1, 10, true), 10 * sec + 1000, 40002);
    pipeline_.finish();
    EXPECT_EQ(pipeline_.counters().time_jumps, 1u);
    EXPECT_EQ(pipeline_.counters().dns_matched, 1u);
    ASSERT_EQ(sink_.count(FindingCode::dns_unanswered), 1u);
    EXPECT_EQ(sink_.first(FindingCode::dns_unanswered)->qname.to_string(), "old.example.");
    EXPECT_EQ(sink_.first(FindingCode::dns_unanswered)->reason, "end_of_input");
}

TEST_F(PipelineTest, RetransmissionsFoldIntoOneTransaction) {
    query(edns_query(16, "r.example", 1), 1 * sec);
    query(edns_query(16, "r.example", 1), 4 * sec);
    query(edns_query(16, "r.example", 1), 8 * sec);  // within 5 s of the previous send
    response(answer(16, "r.example", 1, 10, true), 9 * sec);
    pipeline_.finish();
    EXPECT_EQ(pipeline_.counters().retransmissions, 2u);
    EXPECT_EQ(pipeline_.counters().dns_matched, 1u);
    EXPECT_EQ(sink_.count(FindingCode::dns_unanswered), 0u);
}

TEST_F(PipelineTest, CaptureTruncatedResponseIsNeitherMalformedNorMissingOpt) {
    query(edns_query(17, "cut.example", 16), 1 * sec);
    auto big = answer(17, "cut.example", 16, 900, true);
    response(big, 1 * sec + 1000, 40000, 200);  // snap length 200
    EXPECT_EQ(sink_.count(FindingCode::dns_capture_truncated), 1u);
    EXPECT_EQ(sink_.count(FindingCode::dns_malformed), 0u);
    EXPECT_EQ(sink_.count(FindingCode::dns_edns_dropped), 0u);
    EXPECT_EQ(pipeline_.counters().capture_truncated_frames, 1u);
    EXPECT_EQ(pipeline_.counters().dns_matched, 1u);  // header and question survived the cut
}

TEST_F(PipelineTest, MalformedResponseReportsReason) {
    query(edns_query(18, "m.example", 1), 1 * sec);
    // Answer owner is a pointer to itself: a compression loop.
    auto bad = DnsBuilder{}.header(18, 0x8180, 1, 1, 0, 0).name("m.example").question(1)
                   .raw({0xC0, 27}).u16(1).u16(1).u32(60).u16(4).u32(0x01020304).data();
    response(bad, 1 * sec + 1000);
    ASSERT_EQ(sink_.count(FindingCode::dns_malformed), 1u);
    EXPECT_FALSE(sink_.first(FindingCode::dns_malformed)->reason.empty());
    EXPECT_EQ(sink_.count(FindingCode::dns_edns_dropped), 0u);  // not judged on a broken message
    EXPECT_EQ(pipeline_.counters().dns_malformed, 1u);
}

TEST_F(PipelineTest, ShortPayloadOnDnsPortIsMalformedNotAMessage) {
    feed(udp4_frame(client_ip, server_ip, 40000, 53, {1, 2, 3}), 1 * sec);
    EXPECT_EQ(pipeline_.counters().dns_messages, 0u);
    EXPECT_EQ(sink_.count(FindingCode::dns_malformed), 1u);
    EXPECT_EQ(sink_.first(FindingCode::dns_malformed)->reason, "short_header");
}

TEST_F(PipelineTest, UdpLengthPastIpPayloadIsDroppedAsReceiversDo) {
    query(edns_query(21, "u.example", 1), 1 * sec);
    auto frame = udp4_frame(server_ip, client_ip, 53, 40000, answer(21, "u.example", 1, 10, true));
    uint16_t udp_len = static_cast<uint16_t>((frame[14 + 24] << 8 | frame[14 + 25]) + 16);
    frame[14 + 24] = static_cast<uint8_t>(udp_len >> 8);
    frame[14 + 25] = static_cast<uint8_t>(udp_len);
    feed(frame, 1 * sec + 1000);
    pipeline_.finish();
    ASSERT_EQ(sink_.count(FindingCode::dns_malformed), 1u);
    EXPECT_EQ(sink_.first(FindingCode::dns_malformed)->reason, "udp_length");
    EXPECT_FALSE(sink_.first(FindingCode::dns_malformed)->has_question);
    EXPECT_EQ(pipeline_.counters().dns_responses, 0u);
    EXPECT_EQ(sink_.count(FindingCode::dns_unanswered), 1u);
}

TEST_F(PipelineTest, NonDnsPortsAreIgnored) {
    feed(udp4_frame(client_ip, server_ip, 40000, 5353, plain_query(1, "x.local", 1)), 1 * sec);
    EXPECT_EQ(pipeline_.counters().dns_messages, 0u);
    EXPECT_EQ(pipeline_.counters().udp, 1u);
}

TEST_F(PipelineTest, IcmpFragNeededQuotingDnsResponseIsTiedToItsQuery) {
    query(edns_query(20, "big.example", 48), 1 * sec);
    auto resp = udp4_frame(server_ip, client_ip, 53, 40000, answer(20, "big.example", 48, 1400, true));
    constexpr uint32_t router = 0xC6120101;  // 198.18.1.1
    feed(testing::icmp4_frag_needed_frame(router, server_ip, 1280, resp, 20 + 8 + 60), 1 * sec + 1000);
    ASSERT_EQ(sink_.count(FindingCode::icmp_frag_needed), 1u);
    const Finding* f = sink_.first(FindingCode::icmp_frag_needed);
    EXPECT_EQ(f->mtu, 1280u);
    EXPECT_EQ(f->quoted_ip_length, resp.size() - 14);
    EXPECT_EQ(f->id, 20);
    EXPECT_EQ(f->qname.to_string(), "big.example.");
    EXPECT_EQ(f->client_port, 40000);
    EXPECT_EQ(f->response_size, resp.size() - 14 - 28);
    ASSERT_EQ(f->frame_count, 2);
    EXPECT_EQ(f->frames[0], 1u);  // the query it answers
    // The quoted DNS is not a message of its own.
    EXPECT_EQ(pipeline_.counters().dns_messages, 1u);
    EXPECT_EQ(pipeline_.counters().dns_responses, 0u);
}

TEST_F(PipelineTest, IcmpFragNeededQuotingOtherTrafficIsCountedOnly) {
    auto other = udp4_frame(server_ip, client_ip, 443, 40000, std::vector<uint8_t>(1400, 0xAB));
    feed(testing::icmp4_frag_needed_frame(0xC6120101, server_ip, 1280, other, 64), 1 * sec);
    EXPECT_EQ(sink_.count(FindingCode::icmp_frag_needed), 0u);
    EXPECT_EQ(pipeline_.counters().icmp_too_big, 1u);
    EXPECT_EQ(pipeline_.counters().icmp_too_big_dns, 0u);
    EXPECT_EQ(pipeline_.counters().dns_messages, 0u);
}

TEST_F(PipelineTest, FragmentedResponseIsReassembledAndReported) {
    query(edns_query(40, "frag.example", 16), 1 * sec);
    auto resp = udp4_frame(server_ip, client_ip, 53, 40000, answer(40, "frag.example", 16, 2500, true));
    auto frags = testing::fragment4(resp, 1480);
    ASSERT_EQ(frags.size(), 2u);
    // Out of order: the last fragment first.
    feed(frags[1], 1 * sec + 1000);
    feed(frags[0], 1 * sec + 2000);
    pipeline_.finish();
    const auto& c = pipeline_.counters();
    EXPECT_EQ(c.ip_fragments, 2u);
    EXPECT_EQ(c.ip_reassembled, 1u);
    EXPECT_EQ(c.dns_matched, 1u);
    ASSERT_EQ(sink_.count(FindingCode::dns_fragmented_response), 1u);
    const Finding* f = sink_.first(FindingCode::dns_fragmented_response);
    EXPECT_EQ(f->fragment_count, 2);
    EXPECT_EQ(f->fragment_sizes[0], 1480);
    EXPECT_EQ(f->fragment_sizes[1], resp.size() - 14 - 20 - 1480);
    EXPECT_EQ(f->first_fragment_size, 1500u);
    EXPECT_EQ(f->response_size, resp.size() - 14 - 28);
    EXPECT_EQ(f->qname.to_string(), "frag.example.");
    EXPECT_EQ(sink_.count(FindingCode::dns_oversized_response), 1u);
    EXPECT_EQ(sink_.count(FindingCode::dns_unanswered), 0u);
    EXPECT_EQ(sink_.count(FindingCode::ip_fragment_incomplete), 0u);
}

TEST_F(PipelineTest, LostFragmentsNameTheDnsMessageAndItsQuery) {
    query(edns_query(41, "lost.example", 16), 1 * sec);
    auto resp = udp4_frame(server_ip, client_ip, 53, 40000, answer(41, "lost.example", 16, 2500, true));
    auto frags = testing::fragment4(resp, 1480);
    feed(frags[0], 1 * sec + 1000);  // the second fragment never arrives
    pipeline_.finish();
    ASSERT_EQ(sink_.count(FindingCode::ip_fragment_incomplete), 1u);
    const Finding* inc = sink_.first(FindingCode::ip_fragment_incomplete);
    EXPECT_TRUE(inc->has_id);
    EXPECT_EQ(inc->id, 41);
    EXPECT_EQ(inc->qname.to_string(), "lost.example.");
    EXPECT_EQ(inc->client_port, 40000);
    EXPECT_EQ(inc->frames[0], 1u);  // tied to the query
    EXPECT_EQ(pipeline_.counters().ip_incomplete, 1u);
    ASSERT_EQ(sink_.count(FindingCode::dns_unanswered), 1u);
    EXPECT_EQ(sink_.first(FindingCode::dns_unanswered)->reason, "fragments_lost");
    EXPECT_EQ(sink_.count(FindingCode::dns_fragmented_response), 0u);
}

TEST_F(PipelineTest, ConflictingOverlapIsReported) {
    auto resp = udp4_frame(server_ip, client_ip, 53, 40000, answer(42, "c.example", 16, 2500, true));
    auto frags = testing::fragment4(resp, 1480);
    auto evil = frags[1];
    evil.back() ^= 0xFF;  // same offset, different bytes
    feed(frags[1], 1 * sec);
    feed(evil, 1 * sec + 10);
    feed(frags[0], 1 * sec + 20);
    EXPECT_EQ(sink_.count(FindingCode::ip_fragment_conflict), 1u);
}

TEST_F(PipelineTest, TinyFragmentsAreReportedOncePerDatagram) {
    auto q = udp4_frame(client_ip, server_ip, 40000, 53, edns_query(43, "tiny.example", 1));
    for (auto& f : testing::fragment4(q, 8)) feed(f, 1 * sec);
    EXPECT_EQ(sink_.count(FindingCode::ip_fragment_tiny), 1u);
    EXPECT_EQ(sink_.count(FindingCode::dns_fragmented_query), 1u);
    EXPECT_EQ(pipeline_.counters().dns_queries, 1u);
}

// TCP exchanges between client port 50000 and the server, with a real handshake.
class TcpPipelineTest : public PipelineTest {
protected:
    static constexpr uint8_t SYN = 0x02, ACK = 0x10, PSH = 0x08, RST = 0x04, FIN = 0x01;
    void c2s(uint8_t flags, uint32_t seq, uint32_t ack, const std::vector<uint8_t>& data, uint64_t ts) {
        feed(testing::tcp4_frame(client_ip, server_ip, 50000, 53, seq, ack, flags, data), ts);
    }
    void s2c(uint8_t flags, uint32_t seq, uint32_t ack, const std::vector<uint8_t>& data, uint64_t ts) {
        feed(testing::tcp4_frame(server_ip, client_ip, 53, 50000, seq, ack, flags, data), ts);
    }
    void handshake(uint64_t ts) {
        c2s(SYN, 1000, 0, {}, ts);
        s2c(SYN | ACK, 5000, 1001, {}, ts + 100);
        c2s(ACK, 1001, 5001, {}, ts + 200);
    }
    void truncated_udp(uint16_t id, const char* name, uint64_t ts) {
        query(edns_query(id, name, 16, 1232), ts, 40000);
        response(answer(id, name, 16, 0, true, 0x8380), ts + 1000, 40000);
    }
};

TEST_F(TcpPipelineTest, MessagesSplitAcrossSegmentsAreFramedAndMatched) {
    handshake(1 * sec);
    auto q = testing::tcp_framed(edns_query(50, "tcp.example", 16));
    // The length prefix alone, then the rest.
    c2s(ACK | PSH, 1001, 5001, {q.begin(), q.begin() + 2}, 1 * sec + 300);
    c2s(ACK | PSH, 1003, 5001, {q.begin() + 2, q.end()}, 1 * sec + 400);
    auto r = testing::tcp_framed(answer(50, "tcp.example", 16, 3000, true));
    // The answer in two segments, the second one first.
    size_t half = r.size() / 2;
    s2c(ACK | PSH, 5001 + static_cast<uint32_t>(half), static_cast<uint32_t>(1001 + q.size()),
        {r.begin() + static_cast<long>(half), r.end()}, 1 * sec + 600);
    s2c(ACK | PSH, 5001, static_cast<uint32_t>(1001 + q.size()), {r.begin(), r.begin() + static_cast<long>(half)},
        1 * sec + 700);
    pipeline_.finish();
    const auto& c = pipeline_.counters();
    EXPECT_EQ(c.dns_tcp, 2u);
    EXPECT_EQ(c.dns_matched, 1u);
    EXPECT_EQ(sink_.count(FindingCode::dns_oversized_response), 0u);  // a UDP finding only
    EXPECT_TRUE(sink_.findings.empty()) << code_name(sink_.findings.front().code);
}

// Packet time that reaches a connection's idle timeout forgets it, whatever packet brings the
// time there (here a UDP one: the timeouts are checked before each packet, not per protocol),
// and not a nanosecond earlier; a second connection opened later goes at its own deadline.
TEST_F(TcpPipelineTest, IdleConnectionsAreForgottenExactlyAtTheirTimeout) {
    const uint64_t idle = config_.tcp_idle_timeout_ns;
    handshake(1 * sec);  // last segment at 1 s + 200 ns
    feed(testing::tcp4_frame(client_ip, server_ip, 50001, 53, 7000, 0, SYN), 2 * sec);
    EXPECT_EQ(pipeline_.tcp_counters().connections_opened, 2u);
    query(plain_query(1, "a.example", 1), 1 * sec + 199 + idle);
    EXPECT_EQ(pipeline_.tcp_counters().evicted_timeout, 0u);
    query(plain_query(2, "a.example", 1), 1 * sec + 200 + idle);
    EXPECT_EQ(pipeline_.tcp_counters().evicted_timeout, 1u);
    query(plain_query(3, "a.example", 1), 2 * sec - 1 + idle);
    EXPECT_EQ(pipeline_.tcp_counters().evicted_timeout, 1u);
    query(plain_query(4, "a.example", 1), 2 * sec + idle);
    EXPECT_EQ(pipeline_.tcp_counters().evicted_timeout, 2u);
}

TEST_F(TcpPipelineTest, TruncatedAnswerRetriedOverTcpIsFine) {
    truncated_udp(51, "big.example", 1 * sec);
    handshake(1 * sec + 2000);
    c2s(ACK | PSH, 1001, 5001, testing::tcp_framed(edns_query(777, "big.example", 16)), 1 * sec + 3000);
    pipeline_.finish();
    EXPECT_EQ(sink_.count(FindingCode::dns_truncated), 1u);
    EXPECT_EQ(sink_.count(FindingCode::dns_truncated_no_tcp_retry), 0u);
    // The TCP query itself got no answer: that is the failed retry.
    ASSERT_EQ(sink_.count(FindingCode::dns_tcp_retry_failed), 1u);
    EXPECT_EQ(sink_.first(FindingCode::dns_tcp_retry_failed)->reason, "no_response");
    EXPECT_EQ(sink_.count(FindingCode::dns_unanswered), 0u);
}

TEST_F(TcpPipelineTest, TruncatedAnswerWithoutRetryWithinTheWindow) {
    truncated_udp(52, "big.example", 1 * sec);
    query(edns_query(53, "later.example", 1), 7 * sec, 40001);  // time moves on
    ASSERT_EQ(sink_.count(FindingCode::dns_truncated_no_tcp_retry), 1u);
    const Finding* f = sink_.first(FindingCode::dns_truncated_no_tcp_retry);
    EXPECT_EQ(f->reason, "timeout");
    EXPECT_EQ(f->qname.to_string(), "big.example.");
    ASSERT_EQ(f->frame_count, 2);
    EXPECT_EQ(f->frames[0], 1u);
}

TEST_F(TcpPipelineTest, RetrySynNeverAnswered) {
    truncated_udp(54, "big.example", 1 * sec);
    c2s(SYN, 1000, 0, {}, 1 * sec + 2000);
    c2s(SYN, 1000, 0, {}, 2 * sec);
    pipeline_.finish();
    ASSERT_EQ(sink_.count(FindingCode::dns_tcp_retry_failed), 1u);
    EXPECT_EQ(sink_.first(FindingCode::dns_tcp_retry_failed)->reason, "syn_unanswered");
    EXPECT_EQ(sink_.count(FindingCode::dns_truncated_no_tcp_retry), 0u);
}

TEST_F(TcpPipelineTest, RetryConnectionReset) {
    truncated_udp(55, "big.example", 1 * sec);
    handshake(1 * sec + 2000);
    s2c(RST | ACK, 5001, 1001, {}, 1 * sec + 3000);
    pipeline_.finish();
    ASSERT_EQ(sink_.count(FindingCode::dns_tcp_retry_failed), 1u);
    EXPECT_EQ(sink_.first(FindingCode::dns_tcp_retry_failed)->reason, "reset");
}

TEST_F(TcpPipelineTest, RetrySynAnsweredWithResetIsAReset) {
    truncated_udp(57, "big.example", 1 * sec);
    c2s(SYN, 1000, 0, {}, 1 * sec + 2000);
    s2c(RST | ACK, 0, 1001, {}, 1 * sec + 2100);
    pipeline_.finish();
    ASSERT_EQ(sink_.count(FindingCode::dns_tcp_retry_failed), 1u);
    EXPECT_EQ(sink_.first(FindingCode::dns_tcp_retry_failed)->reason, "reset");
}

TEST_F(TcpPipelineTest, RetryAnsweredOverTcpGivesNoFinding) {
    truncated_udp(56, "ok.example", 1 * sec);
    handshake(1 * sec + 2000);
    auto q = testing::tcp_framed(edns_query(900, "ok.example", 16));
    c2s(ACK | PSH, 1001, 5001, q, 1 * sec + 3000);
    s2c(ACK | PSH, 5001, static_cast<uint32_t>(1001 + q.size()),
        testing::tcp_framed(answer(900, "ok.example", 16, 2000, true)), 1 * sec + 4000);
    c2s(FIN | ACK, static_cast<uint32_t>(1001 + q.size()), 5001, {}, 1 * sec + 5000);
    pipeline_.finish();
    EXPECT_EQ(sink_.count(FindingCode::dns_truncated), 1u);
    EXPECT_EQ(sink_.count(FindingCode::dns_tcp_retry_failed), 0u);
    EXPECT_EQ(sink_.count(FindingCode::dns_truncated_no_tcp_retry), 0u);
    EXPECT_EQ(pipeline_.counters().dns_matched, 2u);
}

TEST(PipelineConfigTest, ConfiguredPortsAndEvictionUnderCap) {
    PipelineConfig cfg;
    cfg.dns_ports = {5353};
    cfg.max_pending = 2;
    CollectSink sink;
    Pipeline p(cfg, sink);
    std::vector<testing::Frame> frames;
    for (uint16_t i = 0; i < 3; ++i) {
        auto q = DnsBuilder{}.header(i, 0x0100, 1, 0, 0, 0).name("q.example").question(1).data();
        frames.push_back(make_frame(udp4_frame(client_ip, server_ip, static_cast<uint16_t>(40000 + i), 5353, q),
                                    sec + i, i + 1u));
        p.process_packet(frames.back().view);
    }
    EXPECT_EQ(p.counters().dns_queries, 3u);
    EXPECT_EQ(p.counters().pending_evicted, 1u);
    EXPECT_EQ(p.pending(), 2u);
    p.finish();
    EXPECT_EQ(sink.count(FindingCode::dns_unanswered), 2u);
}

}  // namespace
}  // namespace frag53
