#include "analyzers/dns/message.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/analyzers/dns/wire_builder.h"

namespace frag53::dns {
namespace {

using frag53::testing::WireBuilder;

constexpr uint16_t IN = 1;
constexpr uint16_t kQuery = 0x0100;     // RD
constexpr uint16_t kResponse = 0x8180;  // QR RD RA

// MessageView is large (fixed capacity); keep it off the test's stack. The view points into `b`,
// which must outlive it.
std::unique_ptr<MessageView> parse(const WireBuilder& b) {
    auto v = std::make_unique<MessageView>();
    v->parse(b.bytes());
    return v;
}
std::unique_ptr<MessageView> parse(WireBuilder&&) = delete;

std::string owner(const MessageView& m, const Record& rr) {
    Name n;
    EXPECT_EQ(decode_name(m.wire(), rr.name_offset, n), ParseError::none);
    return n.to_string();
}

// www.example.com A? with the question at offset 12.
WireBuilder a_query(uint16_t id = 0x1234) {
    WireBuilder b;
    b.header(id, kQuery, 1, 0, 0, 0).name("www.example.com").question(rrtype::A);
    return b;
}

// ---------------------------------------------------------------------------------------------
// Header and questions

TEST(MessageView, ParsesAQuery) {
    const WireBuilder b = a_query();
    auto m = parse(b);
    ASSERT_TRUE(m->ok()) << to_string(m->error());
    EXPECT_EQ(m->header().id, 0x1234);
    EXPECT_FALSE(m->header().qr());
    EXPECT_TRUE(m->header().rd());
    ASSERT_EQ(m->questions().size(), 1u);
    EXPECT_EQ(m->questions()[0].name_offset, 12);
    Name n;
    uint16_t qtype = 0, qclass = 0;
    ASSERT_TRUE(m->first_question(n, qtype, qclass));
    EXPECT_EQ(n.to_string(), "www.example.com.");
    EXPECT_EQ(qtype, rrtype::A);
    EXPECT_EQ(qclass, IN);
    EXPECT_EQ(m->records_seen(), 0u);
    EXPECT_EQ(m->records_in(Section::question), 1u);
    EXPECT_FALSE(m->edns().present);
}

TEST(MessageView, TruncatedHeaderIsShortHeader) {
    WireBuilder b = a_query();
    auto v = std::make_unique<MessageView>();
    EXPECT_EQ(v->parse(b.bytes().first(11)), ParseError::short_header);
    EXPECT_FALSE(v->header_complete());
    EXPECT_EQ(v->error_offset(), 0u);
    EXPECT_TRUE(v->questions().empty());
    EXPECT_EQ(v->parse(Bytes{}), ParseError::short_header);
}

TEST(MessageView, ResponseWithoutQuestionIsValid) {
    // qdcount = 0 is legal (e.g. some NOTIMP / FORMERR answers).
    WireBuilder b;
    b.header(7, kResponse | rcode::FORMERR, 0, 0, 0, 0);
    auto m = parse(b);
    EXPECT_TRUE(m->ok());
    EXPECT_TRUE(m->header().qr());
    EXPECT_EQ(m->header().rcode(), rcode::FORMERR);
    Name n;
    uint16_t t = 0, c = 0;
    EXPECT_FALSE(m->first_question(n, t, c));
}

TEST(MessageView, MaxCountsOnBareHeaderAreBadCounts) {
    WireBuilder b;
    b.header(1, kResponse, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF);
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::bad_counts);
    EXPECT_EQ(m->error_offset(), 12u);
    EXPECT_TRUE(m->header_complete());
    EXPECT_EQ(m->header().qdcount, 0xFFFF);
    EXPECT_TRUE(m->questions().empty());
}

// ---------------------------------------------------------------------------------------------
// Records

WireBuilder a_response_two_answers() {
    WireBuilder b;
    b.header(0x1234, kResponse, 1, 2, 0, 0).name("www.example.com").question(rrtype::A);
    b.ptr(12).rr(rrtype::A, IN, 300, 4).raw({192, 0, 2, 1});
    b.ptr(12).rr(rrtype::A, IN, 300, 4).raw({192, 0, 2, 2});
    return b;
}

TEST(MessageView, ParsesCompressedAResponse) {
    const WireBuilder b = a_response_two_answers();
    auto m = parse(b);
    ASSERT_TRUE(m->ok()) << to_string(m->error());
    ASSERT_EQ(m->records().size(), 2u);
    EXPECT_EQ(m->records_in(Section::answer), 2u);
    EXPECT_EQ(m->records_in(Section::authority), 0u);
    const Record& rr = m->records()[1];
    EXPECT_EQ(rr.type, rrtype::A);
    EXPECT_EQ(rr.ttl, 300u);
    EXPECT_EQ(rr.section, Section::answer);
    EXPECT_EQ(owner(*m, rr), "www.example.com.");
    const Bytes rd = m->rdata(rr);
    ASSERT_EQ(rd.size(), 4u);
    EXPECT_EQ(rd[3], std::byte{2});
    EXPECT_FALSE(m->has_rrsig());
    // Not typed-viewable as anything else.
    EXPECT_FALSE(m->dnskey(rr).has_value());
    EXPECT_FALSE(m->soa(rr).has_value());
}

TEST(MessageView, CountsLargerThanContentAreBadCounts) {
    WireBuilder b = a_response_two_answers();
    b.set_u16(6, 3);  // ANCOUNT 3, two present
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::bad_counts);
    EXPECT_EQ(m->error_offset(), b.size());
    EXPECT_EQ(m->records().size(), 2u);  // what parsed is kept
}

TEST(MessageView, TrailingBytesAfterLastRecord) {
    WireBuilder b = a_response_two_answers();
    const size_t end = b.size();
    b.raw({0xDE, 0xAD});
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::trailing_bytes);
    EXPECT_EQ(m->error_offset(), end);
    EXPECT_EQ(m->records().size(), 2u);
}

TEST(MessageView, RecordFixedFieldsPastEnd) {
    WireBuilder b;
    b.header(1, kResponse, 1, 1, 0, 0).name("example.com").question(rrtype::A);
    const size_t owner_at = b.size();
    b.ptr(12).u16(rrtype::A).u16(IN).u16(0);  // TTL cut in half, no RDLENGTH
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::record_past_end);
    EXPECT_EQ(m->error_offset(), owner_at + 2);
    EXPECT_EQ(m->questions().size(), 1u);
    EXPECT_TRUE(m->records().empty());
}

TEST(MessageView, QuestionFixedFieldsPastEnd) {
    WireBuilder b;
    b.header(1, kQuery, 1, 0, 0, 0).name("example.com").u16(rrtype::A);
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::record_past_end);
    EXPECT_TRUE(m->questions().empty());
}

TEST(MessageView, RdlengthPastEnd) {
    WireBuilder b;
    b.header(1, kResponse, 1, 1, 0, 0).name("example.com").question(rrtype::A);
    const size_t owner_at = b.size();
    b.ptr(12).rr(rrtype::A, IN, 60, 40).raw({192, 0, 2, 1});
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::rdlength_past_end);
    EXPECT_EQ(m->error_offset(), owner_at + 2 + 8);  // the RDLENGTH field
    EXPECT_TRUE(m->records().empty());
    EXPECT_EQ(m->records_seen(), 0u);
}

TEST(MessageView, ErrorKeepsEarlierRecords) {
    WireBuilder b = a_response_two_answers();
    b.set_u16(6, 3);
    const size_t bad = b.size();
    b.ptr(0x3FFF).rr(rrtype::A, IN, 1, 4).raw({1, 2, 3, 4});
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::pointer_out_of_range);
    EXPECT_EQ(m->error_offset(), bad);
    EXPECT_EQ(m->records().size(), 2u);
}

TEST(MessageView, MoreRecordsThanCapacityAreCountedNotStored) {
    constexpr uint16_t n = MessageView::max_records + 88;
    WireBuilder b;
    b.header(1, kResponse, 1, n, 0, 0).name("big.example").question(rrtype::A);
    for (uint16_t i = 0; i < n; ++i)
        b.ptr(12).rr(rrtype::A, IN, 60, 4).u32(i);
    auto m = parse(b);
    ASSERT_TRUE(m->ok()) << to_string(m->error()) << " at " << m->error_offset();
    EXPECT_EQ(m->records().size(), MessageView::max_records);
    EXPECT_EQ(m->records_seen(), n);
    EXPECT_EQ(m->records_in(Section::answer), n);
}

TEST(MessageView, RecordsBeyondCapacityAreStillValidated) {
    constexpr uint16_t n = MessageView::max_records + 10;
    WireBuilder b;
    b.header(1, kResponse, 1, n, 0, 0).name("big.example").question(rrtype::A);
    for (uint16_t i = 0; i < n - 1; ++i) b.ptr(12).rr(rrtype::A, IN, 60, 4).u32(i);
    const uint16_t loop_at = b.pos();
    b.ptr(loop_at).rr(rrtype::A, IN, 60, 4).u32(0);  // self pointer in the last, unstored, record
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::compression_loop);
    EXPECT_EQ(m->error_offset(), loop_at);
    EXPECT_EQ(m->records_seen(), n - 1u);
}

TEST(MessageView, CnameTargetIsValidated) {
    WireBuilder b;
    b.header(1, kResponse, 1, 1, 0, 0).name("www.example.com").question(rrtype::A);
    b.ptr(12).rr_head(rrtype::CNAME, IN, 60).begin_rdata().labels("cdn").ptr(16).end_rdata();
    auto good = parse(b);
    ASSERT_TRUE(good->ok()) << to_string(good->error());
    Name n;
    ASSERT_EQ(decode_name(good->wire(), good->records()[0].rdata_offset, n), ParseError::none);
    EXPECT_EQ(n.to_string(), "cdn.example.com.");

    WireBuilder bad;
    bad.header(1, kResponse, 1, 1, 0, 0).name("www.example.com").question(rrtype::A);
    bad.ptr(12).rr_head(rrtype::CNAME, IN, 60).begin_rdata();
    const uint16_t at = bad.pos();
    bad.ptr(at).end_rdata();
    auto m = parse(bad);
    EXPECT_EQ(m->error(), ParseError::compression_loop);
    EXPECT_EQ(m->error_offset(), at);
    EXPECT_EQ(m->records().size(), 1u);  // framing was intact: the record is kept
}

TEST(MessageView, RdataNameMustStayInsideRdata) {
    WireBuilder b;
    b.header(1, kResponse, 1, 1, 0, 0).name("example.com").question(rrtype::NS);
    // RDLENGTH 3 cuts "ns1" + pointer short; the pointer bytes lie outside the RDATA.
    b.ptr(12).rr_head(rrtype::NS, IN, 60).begin_rdata().labels("ns").end_rdata();
    b.ptr(12);
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::name_past_end);
}

TEST(MessageView, EmptyRdataForUpdateIsNotAName) {
    // Dynamic update "delete RRset": class ANY, RDLENGTH 0.
    WireBuilder b;
    b.header(1, 0x2800, 1, 0, 1, 0).name("example.com").question(rrtype::SOA);
    b.name("www.example.com").rr(rrtype::CNAME, 255, 0, 0);
    auto m = parse(b);
    EXPECT_TRUE(m->ok()) << to_string(m->error());
    EXPECT_EQ(m->records_in(Section::authority), 1u);
}

TEST(MessageView, ReuseResetsState) {
    auto m = std::make_unique<MessageView>();
    WireBuilder bad = a_response_two_answers();
    bad.raw({0});
    EXPECT_EQ(m->parse(bad.bytes()), ParseError::trailing_bytes);
    WireBuilder good = a_query(99);
    EXPECT_EQ(m->parse(good.bytes()), ParseError::none);
    EXPECT_EQ(m->error_offset(), 0u);
    EXPECT_TRUE(m->records().empty());
    EXPECT_EQ(m->records_in(Section::answer), 0u);
    EXPECT_EQ(m->header().id, 99);
}

// parse_head(): the header and the questions only (the first fragment of a big answer names its
// transaction; the records run on in the next fragments).

TEST(MessageView, ParseHeadStopsAfterTheQuestions) {
    WireBuilder b = a_response_two_answers();
    const size_t whole = b.size();
    // Cut inside the second answer, as a first fragment cuts a message.
    const Bytes cut = b.bytes().first(whole - 3);
    auto full = std::make_unique<MessageView>();
    EXPECT_EQ(full->parse(cut), ParseError::rdlength_past_end);
    auto m = std::make_unique<MessageView>();
    EXPECT_EQ(m->parse_head(cut), ParseError::none);
    EXPECT_TRUE(m->ok());
    EXPECT_EQ(m->header().id, 0x1234);
    EXPECT_TRUE(m->header().qr());
    EXPECT_EQ(m->header().ancount, 2);
    Name n;
    uint16_t qtype = 0, qclass = 0;
    ASSERT_TRUE(m->first_question(n, qtype, qclass));
    EXPECT_EQ(n.to_string(), "www.example.com.");
    EXPECT_EQ(qtype, rrtype::A);
    EXPECT_TRUE(m->records().empty());
    EXPECT_EQ(m->records_seen(), 0u);
}

TEST(MessageView, ParseHeadReportsWhatParseReportsInTheQuestions) {
    WireBuilder b;
    b.header(7, kResponse, 1, 1, 0, 0).name("example.com").u16(rrtype::A);
    auto full = parse(b);
    auto m = std::make_unique<MessageView>();
    EXPECT_EQ(m->parse_head(b.bytes()), full->error());
    EXPECT_EQ(m->error(), ParseError::record_past_end);
    EXPECT_EQ(m->error_offset(), full->error_offset());
    EXPECT_TRUE(m->questions().empty());
    EXPECT_EQ(m->parse_head(b.bytes().first(5)), ParseError::short_header);
    EXPECT_FALSE(m->header_complete());
}

TEST(MessageView, ParseHeadForgetsTheLastMessagesRecordsAndEdns) {
    WireBuilder b = a_response_two_answers();
    WireBuilder with_opt;
    with_opt.header(9, kResponse, 1, 0, 0, 1).name("example.com").question(rrtype::A).opt(1232, true);
    auto m = std::make_unique<MessageView>();
    ASSERT_EQ(m->parse(with_opt.bytes()), ParseError::none);
    ASSERT_TRUE(m->edns().present);
    ASSERT_EQ(m->parse(b.bytes()), ParseError::none);
    ASSERT_EQ(m->records().size(), 2u);
    EXPECT_EQ(m->parse_head(with_opt.bytes()), ParseError::none);
    EXPECT_EQ(m->header().id, 9);
    EXPECT_TRUE(m->records().empty());
    EXPECT_EQ(m->records_in(Section::answer), 0u);
    EXPECT_FALSE(m->edns().present);
}

// ---------------------------------------------------------------------------------------------
// Hostile names in owner positions

TEST(MessageView, SelfPointerLoop) {
    WireBuilder b;
    b.header(1, kQuery, 1, 0, 0, 0).ptr(12).question(rrtype::A);
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::compression_loop);
    EXPECT_EQ(m->error_offset(), 12u);
    EXPECT_TRUE(m->questions().empty());
}

TEST(MessageView, TwoPointerLoop) {
    // Record 1 (root owner, TXT) holds in its RDATA a pointer to record 2's owner, which points
    // back into that RDATA: 25 -> 23 -> 25.
    WireBuilder b;
    b.header(1, kResponse, 0, 2, 0, 0);
    b.name(".").rr(rrtype::TXT, IN, 0, 2);
    ASSERT_EQ(b.pos(), 23);
    b.ptr(25);
    ASSERT_EQ(b.pos(), 25);
    b.ptr(23).rr(rrtype::A, IN, 0, 4).raw({1, 2, 3, 4});
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::compression_loop);
    EXPECT_EQ(m->error_offset(), 23u);
    EXPECT_EQ(m->records().size(), 1u);
}

TEST(MessageView, ForwardPointer) {
    WireBuilder b;
    b.header(1, kResponse, 1, 1, 0, 0).labels("www").ptr(22).question(rrtype::A);
    ASSERT_EQ(b.pos(), 22);
    b.name("example.com").rr(rrtype::A, IN, 0, 4).raw({1, 2, 3, 4});
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::pointer_forward);
    EXPECT_EQ(m->error_offset(), 16u);
}

TEST(MessageView, PointerOutOfRange) {
    WireBuilder b;
    b.header(1, kQuery, 1, 0, 0, 0).ptr(0x3000).question(rrtype::A);
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::pointer_out_of_range);
    EXPECT_EQ(m->error_offset(), 12u);
}

TEST(MessageView, PointerIntoHeader) {
    WireBuilder b;
    b.header(1, kResponse, 1, 1, 0, 0).name("example.com").question(rrtype::A);
    b.ptr(4).rr(rrtype::A, IN, 0, 4).raw({1, 2, 3, 4});
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::pointer_out_of_range);
    EXPECT_EQ(m->questions().size(), 1u);
}

TEST(MessageView, ReservedLabelTypes) {
    for (uint8_t type : {uint8_t{0x40}, uint8_t{0x80}}) {
        WireBuilder b;
        b.header(1, kQuery, 1, 0, 0, 0).labels("www").u8(static_cast<uint8_t>(type | 3)).raw({'a', 'b', 'c', 0});
        b.question(rrtype::A);
        auto m = parse(b);
        EXPECT_EQ(m->error(), ParseError::bad_label_type) << int{type};
        EXPECT_EQ(m->error_offset(), 16u);
    }
}

TEST(MessageView, NameRunningPastEnd) {
    WireBuilder b;
    b.header(1, kQuery, 1, 0, 0, 0).u8(10).raw({'a', 'b', 'c'});
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::name_past_end);
    EXPECT_EQ(m->error_offset(), 12u);
}

TEST(MessageView, NameWithoutTerminator) {
    WireBuilder b;
    b.header(1, kQuery, 1, 0, 0, 0).labels("example.com");
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::name_past_end);
    EXPECT_EQ(m->error_offset(), b.size());
}

TEST(MessageView, NameOf255BytesParsesAnd256DoesNot) {
    const std::string l63(63, 'a');
    for (size_t last : {size_t{61}, size_t{62}}) {
        WireBuilder b;
        b.header(1, kQuery, 1, 0, 0, 0)
            .labels(l63 + "." + l63 + "." + l63 + "." + std::string(last, 'b'))
            .u8(0)
            .question(rrtype::A);
        auto m = parse(b);
        if (last == 61) {
            EXPECT_TRUE(m->ok()) << to_string(m->error());
            Name n;
            uint16_t t = 0, c = 0;
            ASSERT_TRUE(m->first_question(n, t, c));
            EXPECT_EQ(n.length, 255);
            EXPECT_EQ(n.label_count(), 4);
        } else {
            EXPECT_EQ(m->error(), ParseError::name_too_long);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// EDNS

// Appends an OPT with the given TTL and options written by `options`.
template <typename F>
void add_opt(WireBuilder& b, uint16_t udp, uint32_t ttl, F options) {
    b.name(".").u16(rrtype::OPT).u16(udp).u32(ttl).begin_rdata();
    options(b);
    b.end_rdata();
}

TEST(MessageView, EdnsQueryWithOptions) {
    WireBuilder b;
    b.header(1, kQuery, 1, 0, 0, 1).name("example.com").question(rrtype::DNSKEY);
    add_opt(b, 1232, 0x00008000, [](WireBuilder& o) {
        o.u16(edns_opt::NSID).u16(0);
        o.u16(edns_opt::COOKIE).u16(8).fill(8, 0xAB);
        o.u16(edns_opt::ECS).u16(7).u16(1).u8(24).u8(0).raw({192, 0, 2});
        o.u16(edns_opt::EDE).u16(6).u16(18).raw({'o', 'o', 'p', 's'});
        o.u16(edns_opt::KEEPALIVE).u16(2).u16(100);
        o.u16(77).u16(3).raw({1, 2, 3});
        o.u16(edns_opt::PADDING).u16(20).fill(20, 0);
    });
    auto m = parse(b);
    ASSERT_TRUE(m->ok()) << to_string(m->error());
    const Edns& e = m->edns();
    ASSERT_TRUE(e.present);
    EXPECT_EQ(e.udp_size, 1232);
    EXPECT_TRUE(e.do_bit);
    EXPECT_EQ(e.version, 0);
    EXPECT_EQ(e.z, 0);
    EXPECT_EQ(e.option_count, 7);
    EXPECT_TRUE(e.has_nsid);
    EXPECT_TRUE(e.has_cookie);
    EXPECT_EQ(e.cookie_length, 8);
    EXPECT_TRUE(e.has_ecs);
    EXPECT_TRUE(e.has_ede);
    EXPECT_EQ(e.ede_code, 18);
    EXPECT_TRUE(e.has_keepalive);
    EXPECT_TRUE(e.has_padding);
    EXPECT_EQ(e.padding_length, 20);
    EXPECT_EQ(e.unknown_options, 1);
    EXPECT_EQ(m->records_in(Section::additional), 1u);

    EdnsOptionIterator it(m->wire(), e);
    EdnsOption opt;
    std::vector<uint16_t> codes;
    std::vector<size_t> sizes;
    while (it.next(opt)) {
        codes.push_back(opt.code);
        sizes.push_back(opt.data.size());
    }
    EXPECT_FALSE(it.error());
    EXPECT_EQ(codes, (std::vector<uint16_t>{3, 10, 8, 15, 11, 77, 12}));
    EXPECT_EQ(sizes, (std::vector<size_t>{0, 8, 7, 6, 2, 3, 20}));
}

TEST(MessageView, EdnsServerCookieAndZBits) {
    WireBuilder b;
    b.header(1, kResponse, 1, 0, 0, 1).name("example.com").question(rrtype::A);
    add_opt(b, 4096, 0x00018001, [](WireBuilder& o) { o.u16(edns_opt::COOKIE).u16(24).fill(24, 1); });
    auto m = parse(b);
    ASSERT_TRUE(m->ok());
    EXPECT_EQ(m->edns().version, 1);
    EXPECT_TRUE(m->edns().do_bit);
    EXPECT_EQ(m->edns().z, 1);
    EXPECT_EQ(m->edns().cookie_length, 24);
}

TEST(MessageView, OptionLengthPastOptRdata) {
    // As seen in captures: RDLENGTH 12 covers an NSID option and a cookie header, but the cookie
    // claims 24 bytes. The OPT is the last record, so the option also runs past the message.
    WireBuilder b;
    b.header(1, kResponse, 1, 0, 0, 1).name("example.com").question(rrtype::A);
    b.name(".").u16(rrtype::OPT).u16(1232).u32(0x8000).u16(12);
    const size_t rdata_at = b.size();
    b.u16(edns_opt::NSID).u16(0).u16(edns_opt::COOKIE).u16(24).fill(4, 0xAB);
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::option_past_end);
    EXPECT_EQ(m->error_offset(), rdata_at + 4);
    EXPECT_TRUE(m->edns().present);
    EXPECT_TRUE(m->edns().do_bit);
    EXPECT_TRUE(m->edns().has_nsid);
    EXPECT_FALSE(m->edns().has_cookie);
    EXPECT_EQ(m->edns().option_count, 1);
    EXPECT_EQ(m->records().size(), 1u);

    EdnsOptionIterator it(m->wire(), m->edns());
    EdnsOption opt;
    EXPECT_TRUE(it.next(opt));
    EXPECT_FALSE(it.next(opt));
    EXPECT_TRUE(it.error());
    EXPECT_EQ(it.error_offset(), 4u);
}

TEST(MessageView, OptionHeaderCutByRdata) {
    WireBuilder b;
    b.header(1, kResponse, 1, 0, 0, 1).name("example.com").question(rrtype::A);
    add_opt(b, 1232, 0, [](WireBuilder& o) { o.u16(edns_opt::PADDING); });
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::option_past_end);
    EXPECT_TRUE(m->edns().present);
    EXPECT_EQ(m->edns().option_count, 0);
}

TEST(MessageView, BadversExtendedRcode) {
    WireBuilder b;
    b.header(1, kResponse, 1, 0, 0, 1).name("example.com").question(rrtype::A);
    add_opt(b, 1232, 0x01000000, [](WireBuilder&) {});
    auto m = parse(b);
    ASSERT_TRUE(m->ok());
    EXPECT_EQ(m->header().rcode(), 0);
    EXPECT_EQ(m->edns().ext_rcode, 1);
    EXPECT_EQ(m->full_rcode(), rcode::BADVERS);
}

TEST(MessageView, SecondOptIsBadOpt) {
    WireBuilder b;
    b.header(1, kResponse, 1, 0, 0, 3).name("example.com").question(rrtype::A);
    add_opt(b, 1232, 0x8000, [](WireBuilder&) {});
    const size_t second = b.size();
    add_opt(b, 512, 0, [](WireBuilder&) {});
    b.name("ns.example.com").rr(rrtype::A, IN, 60, 4).raw({192, 0, 2, 53});
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::bad_opt);
    EXPECT_EQ(m->error_offset(), second);
    EXPECT_EQ(m->edns().udp_size, 1232);  // the first one stands
    EXPECT_TRUE(m->edns().do_bit);
    EXPECT_EQ(m->records().size(), 3u);   // and parsing went on
}

TEST(MessageView, OptInAnswerIsBadOpt) {
    WireBuilder b;
    b.header(1, kResponse, 1, 1, 0, 0).name("example.com").question(rrtype::A);
    add_opt(b, 1232, 0, [](WireBuilder&) {});
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::bad_opt);
    EXPECT_EQ(m->error_offset(), 29u);
    EXPECT_FALSE(m->edns().present);
    EXPECT_EQ(m->records().size(), 1u);
}

TEST(MessageView, OptWithNonRootOwnerIsBadOpt) {
    WireBuilder b;
    b.header(1, kResponse, 1, 0, 0, 1).name("example.com").question(rrtype::A);
    b.ptr(12).u16(rrtype::OPT).u16(1232).u32(0).u16(0);
    auto m = parse(b);
    EXPECT_EQ(m->error(), ParseError::bad_opt);
    EXPECT_TRUE(m->edns().present);
    EXPECT_EQ(m->edns().udp_size, 1232);
}

// ---------------------------------------------------------------------------------------------
// Typed rdata

// A signed answer: example.com DNSKEY + RRSIG, then DS, NSEC, NSEC3, NSEC3PARAM, SOA.
struct SignedMessage {
    WireBuilder b;
    SignedMessage() {
        b.header(1, kResponse | 0x0020, 1, 7, 0, 0).name("example.com").question(rrtype::DNSKEY);
        b.ptr(12).rr_head(rrtype::DNSKEY, IN, 3600).begin_rdata().u16(257).u8(3).u8(13).fill(64, 0x5A).end_rdata();
        b.ptr(12).rr_head(rrtype::RRSIG, IN, 3600).begin_rdata()
            .u16(rrtype::DNSKEY).u8(13).u8(2).u32(3600).u32(1700000000).u32(1690000000).u16(12345)
            .name("example.com").fill(64, 0x77).end_rdata();
        b.ptr(12).rr_head(rrtype::DS, IN, 3600).begin_rdata().u16(12345).u8(13).u8(2).fill(32, 0xD5).end_rdata();
        b.ptr(12).rr_head(rrtype::NSEC, IN, 3600).begin_rdata()
            .name("a.example.com").raw({0x00, 0x06, 0x62, 0x01, 0x80, 0x08, 0x00, 0x03}).end_rdata();
        b.labels("abcd").ptr(12).rr_head(rrtype::NSEC3, IN, 3600).begin_rdata()
            .u8(1).u8(1).u16(10).u8(4).raw({0xAA, 0xBB, 0xCC, 0xDD}).u8(20).fill(20, 0x33)
            .raw({0x00, 0x01, 0x40}).end_rdata();
        b.ptr(12).rr_head(rrtype::NSEC3PARAM, IN, 0).begin_rdata().u8(1).u8(0).u16(0).u8(0).end_rdata();
        b.ptr(12).rr_head(rrtype::SOA, IN, 3600).begin_rdata()
            .labels("ns1").ptr(12).labels("hostmaster").ptr(12)
            .u32(2024010101).u32(7200).u32(3600).u32(1209600).u32(300).end_rdata();
    }
};

TEST(MessageView, TypedDnssecRdata) {
    SignedMessage s;
    auto m = parse(s.b);
    ASSERT_TRUE(m->ok()) << to_string(m->error()) << " at " << m->error_offset();
    ASSERT_EQ(m->records().size(), 7u);
    EXPECT_TRUE(m->has_rrsig());
    const auto rr = m->records();

    auto key = m->dnskey(rr[0]);
    ASSERT_TRUE(key);
    EXPECT_EQ(key->flags, 257);
    EXPECT_EQ(key->protocol, 3);
    EXPECT_EQ(key->algorithm, 13);
    EXPECT_EQ(key->public_key.size(), 64u);
    EXPECT_EQ(key->rdata.size(), 68u);

    auto sig = m->rrsig(rr[1]);
    ASSERT_TRUE(sig);
    EXPECT_EQ(sig->type_covered, rrtype::DNSKEY);
    EXPECT_EQ(sig->algorithm, 13);
    EXPECT_EQ(sig->labels, 2);
    EXPECT_EQ(sig->original_ttl, 3600u);
    EXPECT_EQ(sig->expiration, 1700000000u);
    EXPECT_EQ(sig->inception, 1690000000u);
    EXPECT_EQ(sig->key_tag, 12345);
    EXPECT_EQ(sig->signature.size(), 64u);
    Name signer;
    ASSERT_EQ(decode_name(m->wire(), sig->signer_offset, signer), ParseError::none);
    EXPECT_EQ(signer.to_string(), "example.com.");

    auto ds = m->ds(rr[2]);
    ASSERT_TRUE(ds);
    EXPECT_EQ(ds->key_tag, 12345);
    EXPECT_EQ(ds->digest_type, 2);
    EXPECT_EQ(ds->digest.size(), 32u);

    auto nsec = m->nsec(rr[3]);
    ASSERT_TRUE(nsec);
    Name next;
    ASSERT_EQ(decode_name(m->wire(), nsec->next_offset, next), ParseError::none);
    EXPECT_EQ(next.to_string(), "a.example.com.");
    EXPECT_EQ(nsec->type_bitmaps.size(), 8u);

    auto n3 = m->nsec3(rr[4]);
    ASSERT_TRUE(n3);
    EXPECT_EQ(n3->hash_algorithm, 1);
    EXPECT_EQ(n3->flags, 1);
    EXPECT_EQ(n3->iterations, 10);
    EXPECT_EQ(n3->salt.size(), 4u);
    EXPECT_EQ(n3->next_hashed.size(), 20u);
    EXPECT_EQ(n3->type_bitmaps.size(), 3u);
    EXPECT_EQ(owner(*m, rr[4]), "abcd.example.com.");

    auto p = m->nsec3param(rr[5]);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->hash_algorithm, 1);
    EXPECT_EQ(p->iterations, 0);
    EXPECT_TRUE(p->salt.empty());

    auto soa = m->soa(rr[6]);
    ASSERT_TRUE(soa);
    EXPECT_EQ(soa->serial, 2024010101u);
    EXPECT_EQ(soa->refresh, 7200u);
    EXPECT_EQ(soa->retry, 3600u);
    EXPECT_EQ(soa->expire, 1209600u);
    EXPECT_EQ(soa->minimum, 300u);
    Name mname, rname;
    ASSERT_EQ(decode_name(m->wire(), soa->mname_offset, mname), ParseError::none);
    ASSERT_EQ(decode_name(m->wire(), soa->rname_offset, rname), ParseError::none);
    EXPECT_EQ(mname.to_string(), "ns1.example.com.");
    EXPECT_EQ(rname.to_string(), "hostmaster.example.com.");

    // Wrong type asked for: nothing.
    EXPECT_FALSE(m->rrsig(rr[0]));
    EXPECT_FALSE(m->dnskey(rr[1]));
}

// Rewrites the RDLENGTH of `rr` to `len` in a copy of the record (the bytes stay as they are).
Record shortened(Record rr, uint16_t len) {
    rr.rdlength = len;
    return rr;
}

TEST(MessageView, TypedRdataTooShortOrInconsistent) {
    SignedMessage s;
    auto m = parse(s.b);
    ASSERT_TRUE(m->ok());
    const auto rr = m->records();
    EXPECT_FALSE(m->dnskey(shortened(rr[0], 3)));
    EXPECT_FALSE(m->rrsig(shortened(rr[1], 17)));
    EXPECT_FALSE(m->rrsig(shortened(rr[1], 20)));  // signer name cut by the RDATA
    EXPECT_FALSE(m->ds(shortened(rr[2], 4)));       // no digest
    EXPECT_FALSE(m->nsec(shortened(rr[3], 16)));    // bitmap window cut
    EXPECT_FALSE(m->nsec(shortened(rr[3], 5)));     // next name cut
    EXPECT_FALSE(m->nsec3(shortened(rr[4], 8)));    // salt cut
    EXPECT_FALSE(m->nsec3(shortened(rr[4], 25)));   // hash cut
    EXPECT_FALSE(m->nsec3param(shortened(rr[5], 4)));
    EXPECT_FALSE(m->soa(shortened(rr[6], 20)));
    // A record claiming more than the wire holds is refused, not read out of bounds.
    Record outside = rr[0];
    outside.rdata_offset = static_cast<uint16_t>(m->wire().size() - 2);
    EXPECT_TRUE(m->rdata(outside).empty());
    EXPECT_FALSE(m->dnskey(outside));
}

TEST(MessageView, SoaWithExtraBytesIsInconsistent) {
    WireBuilder b;
    b.header(1, kResponse, 1, 0, 1, 0).name("example.com").question(rrtype::A);
    b.ptr(12).rr_head(rrtype::SOA, IN, 3600).begin_rdata()
        .ptr(12).ptr(12).u32(1).u32(2).u32(3).u32(4).u32(5).u8(0).end_rdata();
    auto m = parse(b);
    ASSERT_TRUE(m->ok());
    EXPECT_FALSE(m->soa(m->records()[0]));
}

TEST(MessageView, Nsec3BitmapWindowsOutOfOrder) {
    WireBuilder b;
    b.header(1, kResponse, 1, 0, 1, 0).name("example.com").question(rrtype::A);
    b.labels("h").ptr(12).rr_head(rrtype::NSEC3, IN, 3600).begin_rdata()
        .u8(1).u8(0).u16(0).u8(0).u8(1).u8(0xFF).raw({0x01, 0x01, 0x01, 0x00, 0x01, 0x40}).end_rdata();
    auto m = parse(b);
    ASSERT_TRUE(m->ok());
    EXPECT_FALSE(m->nsec3(m->records()[0]));
}

TEST(ParseError, NamesMatchEnumerators) {
    EXPECT_STREQ(to_string(ParseError::none), "none");
    EXPECT_STREQ(to_string(ParseError::short_header), "short_header");
    EXPECT_STREQ(to_string(ParseError::compression_loop), "compression_loop");
    EXPECT_STREQ(to_string(ParseError::pointer_forward), "pointer_forward");
    EXPECT_STREQ(to_string(ParseError::pointer_out_of_range), "pointer_out_of_range");
    EXPECT_STREQ(to_string(ParseError::bad_label_type), "bad_label_type");
    EXPECT_STREQ(to_string(ParseError::label_too_long), "label_too_long");
    EXPECT_STREQ(to_string(ParseError::name_too_long), "name_too_long");
    EXPECT_STREQ(to_string(ParseError::name_past_end), "name_past_end");
    EXPECT_STREQ(to_string(ParseError::record_past_end), "record_past_end");
    EXPECT_STREQ(to_string(ParseError::rdlength_past_end), "rdlength_past_end");
    EXPECT_STREQ(to_string(ParseError::option_past_end), "option_past_end");
    EXPECT_STREQ(to_string(ParseError::bad_opt), "bad_opt");
    EXPECT_STREQ(to_string(ParseError::trailing_bytes), "trailing_bytes");
    EXPECT_STREQ(to_string(ParseError::bad_counts), "bad_counts");
}

}  // namespace
}  // namespace frag53::dns
