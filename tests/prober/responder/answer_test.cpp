#include "prober/responder/answer.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "prober/query.h"

namespace frag53::probe {
namespace {

constexpr std::string_view zone = "probe.example.net";
constexpr std::string_view src4 = "198.18.0.2";

struct Parsed {
    std::unique_ptr<dns::MessageView> view = std::make_unique<dns::MessageView>();
    std::vector<std::string> txt_first;  // the first character-string of each answer TXT
    size_t answer_records = 0;
};

class AnswerTest : public ::testing::Test {
protected:
    AnswerTest() : builder_(make_config()), out_(max_answer_size) {}

    static AnswerConfig make_config() {
        AnswerConfig c;
        c.zone = std::string(zone);
        c.ttl = 7;
        return c;
    }

    static std::vector<uint8_t> query(std::string_view name, QueryOptions o = {}) {
        std::vector<uint8_t> q;
        EXPECT_TRUE(build_query(name, o, q)) << name;
        return q;
    }
    static std::string probe(uint32_t size, std::string_view modes = "fk-ti") {
        return "s" + std::to_string(size) + "-" + std::string(modes) + "-n1f." + std::string(zone);
    }

    Answer build(const std::vector<uint8_t>& q, Transport t = Transport::udp,
                 AddressFamily f = AddressFamily::ipv4, std::string_view src = src4) {
        QueryContext ctx;
        ctx.transport = t;
        ctx.family = f;
        ctx.source = src;
        return builder_.build(as_bytes(q.data(), q.size()), ctx, out_);
    }
    Bytes wire(const Answer& a) const { return Bytes(out_.data(), a.length); }

    // Parses an answer and checks what every answer must satisfy: well-formed, QR, a response
    // to query `id`, TXT strings that add up to each RDLENGTH.
    Parsed parse(const Answer& a, uint16_t id = 0) {
        Parsed p;
        const dns::ParseError e = p.view->parse(wire(a));
        EXPECT_EQ(e, dns::ParseError::none) << dns::to_string(e) << " at " << p.view->error_offset();
        EXPECT_TRUE(p.view->header().qr());
        EXPECT_EQ(p.view->header().id, id);
        for (const dns::Record& rr : p.view->records()) {
            if (rr.section != dns::Section::answer) continue;
            ++p.answer_records;
            EXPECT_EQ(rr.type, dns::rrtype::TXT);
            EXPECT_EQ(rr.ttl, 7u);
            const Bytes rd = p.view->rdata(rr);
            size_t pos = 0;
            std::string first;
            while (pos < rd.size()) {
                const size_t len = static_cast<size_t>(rd[pos]);
                EXPECT_LE(pos + 1 + len, rd.size());
                if (pos == 0)
                    first.assign(reinterpret_cast<const char*>(rd.data()) + 1,
                                 std::min(len, rd.size() - 1));
                pos += 1 + len;
            }
            EXPECT_EQ(pos, rd.size()) << "character-strings must fill the RDATA exactly";
            EXPECT_GE(rd.size(), 1u);
            p.txt_first.push_back(first);
        }
        return p;
    }

    AnswerBuilder builder_;
    std::vector<std::byte> out_;
};

// ---------------------------------------------------------------------------------------------
// Exact sizes

TEST_F(AnswerTest, ExactSizeForEverySizeUpTo5000WithAndWithoutEdns) {
    for (bool edns : {true, false}) {
        QueryOptions o;
        o.edns = edns;
        o.id = 0x4242;
        const std::string echo = edns ? "edns=1232 do=0 ver=0 opts=none tcp=0 src=198.18.0.2"
                                      : "edns=none tcp=0 src=198.18.0.2";
        const Answer smallest = build(query(probe(12), o));
        ASSERT_EQ(smallest.kind, AnswerKind::answer);
        EXPECT_TRUE(smallest.clamped);
        EXPECT_EQ(smallest.length, min_answer_size(probe(12).size() + 2, echo.size(), edns));
        EXPECT_EQ(smallest.full_size, smallest.length);
        for (uint32_t size = 12; size <= 5000; ++size) {
            // The name grows with the digits of the size, and so does the smallest answer.
            const size_t min = min_answer_size(probe(size).size() + 2, echo.size(), edns);
            const Answer a = build(query(probe(size), o));
            ASSERT_EQ(a.kind, AnswerKind::answer) << size;
            ASSERT_EQ(a.length, std::max<size_t>(size, min)) << "size " << size << " edns " << edns;
            EXPECT_EQ(a.clamped, size < min);
            const Parsed p = parse(a, 0x4242);
            ASSERT_TRUE(p.view->ok());
            EXPECT_TRUE(p.view->header().aa());
            EXPECT_FALSE(p.view->header().tc());
            EXPECT_EQ(p.view->header().rcode(), dns::rcode::NOERROR);
            EXPECT_EQ(p.view->header().qdcount, 1);
            EXPECT_EQ(p.view->edns().present, edns);
            ASSERT_GE(p.answer_records, 1u);
            EXPECT_EQ(p.view->header().ancount, p.answer_records);
            EXPECT_EQ(p.txt_first[0], echo);
        }
    }
}

TEST_F(AnswerTest, ExactSizeAcrossTheWholeRangeOverTcp) {
    std::vector<uint32_t> sizes = {512, 1232, 1452, 1472, 1500, 4096, 4108, 4109, 4120, 4121,
                                   8192, 16384, 32768, 65000, 65507, 65527, 65534, 65535};
    for (uint32_t s = 5001; s < 65535; s += 251) sizes.push_back(s);
    for (uint32_t s = 4096 - 40; s < 4096 + 60; ++s) sizes.push_back(s);  // filler record boundary
    for (bool edns : {true, false}) {
        QueryOptions o;
        o.edns = edns;
        o.do_bit = true;
        for (uint32_t size : sizes) {
            const Answer a = build(query(probe(size, "fd-ta"), o), Transport::tcp);
            ASSERT_EQ(a.kind, AnswerKind::answer) << size;  // ta does not apply over TCP
            ASSERT_EQ(a.length, size);
            const Parsed p = parse(a);
            ASSERT_TRUE(p.view->ok()) << size;
            EXPECT_FALSE(p.view->header().tc());
            EXPECT_EQ(p.txt_first[0], edns ? "edns=1232 do=1 ver=0 opts=none tcp=1 src=198.18.0.2"
                                           : "edns=none tcp=1 src=198.18.0.2");
            if (edns) {
                EXPECT_TRUE(p.view->edns().do_bit) << "DO is copied";
            }
            // Filler records are bounded, so big answers are RRsets of many records.
            for (const dns::Record& rr : p.view->records()) {
                if (rr.section == dns::Section::answer) {
                    EXPECT_LE(rr.rdlength, filler_rdata_max);
                }
            }
        }
    }
}

TEST_F(AnswerTest, EveryTxtStringBoundaryAroundTheEchoRecord) {
    // Sizes just past the echo-only answer go into a second string of the echo record; from 13
    // bytes more a filler record starts. Every one of them must be exact.
    // Three-digit sizes keep the name length, and so the smallest answer, fixed.
    const Answer smallest = build(query(probe(100)));
    ASSERT_TRUE(smallest.clamped);
    for (size_t size = smallest.length; size < smallest.length + 300; ++size) {
        const Answer a = build(query(probe(static_cast<uint32_t>(size))));
        ASSERT_EQ(a.length, size);
        EXPECT_FALSE(a.clamped);
        const Parsed p = parse(a);
        ASSERT_TRUE(p.view->ok());
        EXPECT_EQ(p.answer_records, size - smallest.length < 13 ? 1u : 2u) << size;
    }
}

TEST_F(AnswerTest, UdpSizeIsClampedToWhatOneDatagramCarries) {
    const Answer v4 = build(query(probe(65535)), Transport::udp, AddressFamily::ipv4);
    EXPECT_EQ(v4.length, max_udp_message_v4);
    EXPECT_TRUE(v4.clamped);
    EXPECT_EQ(v4.spec.size, 65535u);
    const Answer v6 = build(query(probe(65535)), Transport::udp, AddressFamily::ipv6, "2001:db8::2");
    EXPECT_EQ(v6.length, max_udp_message_v6);
    EXPECT_TRUE(parse(v6).view->ok());
    const Answer tcp = build(query(probe(65535)), Transport::tcp);
    EXPECT_EQ(tcp.length, 65535u);
    EXPECT_FALSE(tcp.clamped);
}

TEST_F(AnswerTest, SmallOutputBufferNeverOverflows) {
    const std::vector<uint8_t> q = query(probe(3000));
    QueryContext ctx;
    ctx.source = src4;
    std::vector<std::byte> small(700);
    const Answer a = builder_.build(as_bytes(q.data(), q.size()), ctx, small);
    EXPECT_EQ(a.kind, AnswerKind::answer);
    EXPECT_EQ(a.length, 700u);  // the largest answer the buffer holds
    std::vector<std::byte> tiny(40);
    EXPECT_EQ(builder_.build(as_bytes(q.data(), q.size()), ctx, tiny).kind, AnswerKind::none);
}

// ---------------------------------------------------------------------------------------------
// Truncation modes

TEST_F(AnswerTest, HonourTruncatesAboveTheClientsEdnsSize) {
    QueryOptions o;
    o.udp_size = 1232;
    Answer a = build(query(probe(1232, "fk-th"), o));
    EXPECT_EQ(a.kind, AnswerKind::answer);
    EXPECT_EQ(a.length, 1232u);
    a = build(query(probe(1233, "fk-th"), o));
    ASSERT_EQ(a.kind, AnswerKind::truncated);
    EXPECT_EQ(a.full_size, 1233u);
    const Parsed p = parse(a);
    EXPECT_TRUE(p.view->header().tc());
    EXPECT_TRUE(p.view->header().aa());
    EXPECT_EQ(p.view->header().qdcount, 1);
    EXPECT_EQ(p.view->header().ancount, 0);
    EXPECT_TRUE(p.view->edns().present);
    EXPECT_EQ(p.view->edns().udp_size, 1232);
    EXPECT_LT(a.length, 100u);
}

TEST_F(AnswerTest, HonourWithoutEdnsMeans512AndSmallEdnsSizesMean512) {
    QueryOptions plain;
    plain.edns = false;
    EXPECT_EQ(build(query(probe(512, "fd-th"), plain)).kind, AnswerKind::answer);
    const Answer a = build(query(probe(513, "fd-th"), plain));
    ASSERT_EQ(a.kind, AnswerKind::truncated);
    EXPECT_FALSE(parse(a).view->edns().present);
    QueryOptions tiny;
    tiny.udp_size = 100;
    EXPECT_EQ(build(query(probe(512, "fd-th"), tiny)).kind, AnswerKind::answer);
    EXPECT_EQ(build(query(probe(513, "fd-th"), tiny)).kind, AnswerKind::truncated);
}

TEST_F(AnswerTest, IgnoreAlwaysSendsTheFullAnswer) {
    QueryOptions plain;
    plain.edns = false;
    const Answer a = build(query(probe(4000, "fk-ti"), plain));
    EXPECT_EQ(a.kind, AnswerKind::answer);
    EXPECT_EQ(a.length, 4000u);
}

TEST_F(AnswerTest, AlwaysTruncatesOverUdpButNeverOverTcp) {
    const Answer udp = build(query(probe(100, "fk-ta")));
    ASSERT_EQ(udp.kind, AnswerKind::truncated);
    EXPECT_TRUE(parse(udp).view->header().tc());
    const Answer tcp = build(query(probe(100, "fk-ta")), Transport::tcp);
    EXPECT_EQ(tcp.kind, AnswerKind::answer);
    const Answer big = build(query(probe(40000, "fk-th")), Transport::tcp);
    EXPECT_EQ(big.kind, AnswerKind::answer);
    EXPECT_EQ(big.length, 40000u);
}

// ---------------------------------------------------------------------------------------------
// Echo

TEST_F(AnswerTest, EchoListsOptionsInOrderAndTheTransport) {
    QueryOptions o;
    o.udp_size = 4096;
    o.do_bit = true;
    o.nsid = true;
    o.cookie = true;
    o.padding = 16;
    const Answer a = build(query(probe(800), o), Transport::udp, AddressFamily::ipv6, "2001:db8::2");
    const Parsed p = parse(a);
    ASSERT_FALSE(p.txt_first.empty());
    EXPECT_EQ(p.txt_first[0], "edns=4096 do=1 ver=0 opts=3,10,12 tcp=0 src=2001:db8::2");
}

TEST_F(AnswerTest, EchoOfManyOptionsIsCutAndMarked) {
    std::vector<uint8_t> q = query(probe(2000));
    // 120 empty options of code 65001 appended to the OPT RDATA.
    const size_t rdlen_at = q.size() - 2;
    for (int i = 0; i < 120; ++i) {
        q.push_back(0xFD);
        q.push_back(0xE9);
        q.push_back(0);
        q.push_back(0);
    }
    q[rdlen_at] = 0x01;
    q[rdlen_at + 1] = 0xE0;  // 480
    const Answer a = build(q);
    ASSERT_EQ(a.kind, AnswerKind::answer);
    EXPECT_EQ(a.length, 2000u);
    const Parsed p = parse(a);
    const std::string& echo = p.txt_first[0];
    EXPECT_LE(echo.size(), 255u);
    EXPECT_NE(echo.find("opts=65001,65001"), std::string::npos);
    EXPECT_NE(echo.find("+ tcp=0 src=198.18.0.2"), std::string::npos) << echo;
}

TEST_F(AnswerTest, NameIsMatchedInAnyCaseAndTheQuestionKeepsItsCase) {
    const std::string upper = "S900-FK-TI-N1F.Probe.EXAMPLE.net";
    const Answer a = build(query(upper));
    ASSERT_EQ(a.kind, AnswerKind::answer);
    EXPECT_EQ(a.length, 900u);
    const Parsed p = parse(a);
    dns::Name n;
    uint16_t t = 0, c = 0;
    ASSERT_TRUE(p.view->first_question(n, t, c));
    EXPECT_EQ(n.to_string(), upper + ".");
}

TEST_F(AnswerTest, AnyIsAnsweredLikeTxt) {
    QueryOptions o;
    o.qtype = dns::rrtype::ANY;
    EXPECT_EQ(build(query(probe(700), o)).length, 700u);
}

// ---------------------------------------------------------------------------------------------
// Refusals

TEST_F(AnswerTest, RefusesEverythingButProbeNamesAndNeverAnswersBigger) {
    struct Case {
        std::string name;
        uint16_t qtype;
        RefuseReason reason;
    };
    const std::vector<Case> cases = {
        {std::string(zone), 16, RefuseReason::not_probe_name},                     // apex
        {"www." + std::string(zone), 16, RefuseReason::not_probe_name},            // not the grammar
        {"x." + probe(4000), 16, RefuseReason::not_probe_name},                    // two labels deep
        {"s4000-fk-ti-n1f.other.example", 16, RefuseReason::not_probe_name},       // other zone
        {"s4000-fk-ti-n1f.example.net", 16, RefuseReason::not_probe_name},         // parent
        {"s4000-fk-ti-n1f.xprobe.example.net", 16, RefuseReason::not_probe_name},  // suffix only
        {"s4000-fk-ti-n1fg." + std::string(zone), 16, RefuseReason::not_probe_name},
        {"s04000-fk-ti-n1f." + std::string(zone), 16, RefuseReason::not_probe_name},
        {probe(4000), dns::rrtype::A, RefuseReason::qtype_qclass},
        {probe(4000), dns::rrtype::DNSKEY, RefuseReason::qtype_qclass},
    };
    for (bool edns : {true, false}) {
        for (const Case& c : cases) {
            QueryOptions o;
            o.edns = edns;
            o.qtype = c.qtype;
            o.id = 99;
            const std::vector<uint8_t> q = query(c.name, o);
            const Answer a = build(q);
            ASSERT_EQ(a.kind, AnswerKind::refused) << c.name;
            EXPECT_EQ(a.reason, c.reason) << c.name;
            EXPECT_LE(a.length, q.size()) << "a refusal is never bigger than the query";
            const Parsed p = parse(a, 99);
            EXPECT_EQ(p.view->header().rcode(), dns::rcode::REFUSED);
            EXPECT_EQ(p.view->header().qdcount, 1);
            EXPECT_EQ(p.view->header().ancount, 0);
            EXPECT_FALSE(p.view->header().aa());
            EXPECT_EQ(p.view->edns().present, edns);
        }
    }
}

TEST_F(AnswerTest, RefusesClassOtherThanIn) {
    std::vector<uint8_t> q = query(probe(4000));
    // QCLASS sits right after the name: 12 + name length + 2.
    const size_t qclass_at = 12 + (probe(4000).size() + 2) + 2;
    q[qclass_at + 1] = 3;  // CH
    EXPECT_EQ(build(q).reason, RefuseReason::qtype_qclass);
}

TEST_F(AnswerTest, ForcedFragmentsBelow1280AreRefusedOverIpv6Only) {
    const std::vector<uint8_t> q = query(probe(3000, "fp576-ti"));
    EXPECT_EQ(build(q, Transport::udp, AddressFamily::ipv4).kind, AnswerKind::answer);
    const Answer v6 = build(q, Transport::udp, AddressFamily::ipv6, "2001:db8::2");
    EXPECT_EQ(v6.kind, AnswerKind::refused);
    EXPECT_EQ(v6.reason, RefuseReason::mtu_below_1280);
    EXPECT_EQ(build(q, Transport::tcp, AddressFamily::ipv6, "2001:db8::2").kind, AnswerKind::answer);
    const Answer ok6 = build(query(probe(3000, "fp1280-ti")), Transport::udp, AddressFamily::ipv6, "2001:db8::2");
    EXPECT_EQ(ok6.kind, AnswerKind::answer);
    EXPECT_EQ(ok6.spec.frag, FragMode::forced);
    EXPECT_EQ(ok6.spec.frag_mtu, 1280);
}

TEST_F(AnswerTest, ForcedFragmentsWithoutARawSocketAreRefused) {
    const std::vector<uint8_t> q = query(probe(3000, "fp1400-ti"));
    QueryContext ctx;
    ctx.source = src4;
    ctx.forced_fragments = false;
    const Answer a = builder_.build(as_bytes(q.data(), q.size()), ctx, out_);
    EXPECT_EQ(a.kind, AnswerKind::refused);
    EXPECT_EQ(a.reason, RefuseReason::no_raw_socket);
}

TEST_F(AnswerTest, ZoneMustBeAName) {
    AnswerConfig c;
    c.zone = "a..b";
    EXPECT_THROW(AnswerBuilder{c}, std::invalid_argument);
    c.zone = std::string(64, 'x') + ".example";
    EXPECT_THROW(AnswerBuilder{c}, std::invalid_argument);
    c.zone = "example.net.";
    EXPECT_NO_THROW(AnswerBuilder{c});
}

// ---------------------------------------------------------------------------------------------
// Hostile queries

TEST_F(AnswerTest, EveryTruncationOfAValidQueryGetsFormerrOrNothing) {
    QueryOptions o;
    o.nsid = true;
    o.cookie = true;
    const std::vector<uint8_t> q = query(probe(4000), o);
    for (size_t n = 0; n < q.size(); ++n) {
        const std::vector<uint8_t> cut(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n));
        const Answer a = build(cut);
        if (n < 12) {
            EXPECT_EQ(a.kind, AnswerKind::none) << n;
            continue;
        }
        ASSERT_EQ(a.kind, AnswerKind::formerr) << n;
        EXPECT_EQ(a.length, 12u);
        const Parsed p = parse(a);
        EXPECT_EQ(p.view->header().rcode(), dns::rcode::FORMERR);
        EXPECT_EQ(p.view->header().qdcount, 0);
    }
    EXPECT_EQ(build(q).kind, AnswerKind::answer);
}

TEST_F(AnswerTest, CompressionLoopInTheQuestionIsFormerr) {
    // Header, then a name that is a pointer to itself.
    std::vector<uint8_t> q = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 16, 0, 1};
    EXPECT_EQ(build(q).kind, AnswerKind::formerr);
    // A label then a pointer back to that label.
    q = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0xC0, 12, 0, 16, 0, 1};
    EXPECT_EQ(build(q).kind, AnswerKind::formerr);
}

TEST_F(AnswerTest, QuestionCountOtherThanOneIsFormerr) {
    std::vector<uint8_t> q = query(probe(4000));
    q[5] = 0;  // QDCOUNT 0: the question bytes become trailing garbage
    EXPECT_EQ(build(q).kind, AnswerKind::formerr);
    std::vector<uint8_t> two = query(probe(4000), QueryOptions{.edns = false});
    const std::vector<uint8_t> question(two.begin() + 12, two.end());
    two.insert(two.end(), question.begin(), question.end());
    two[5] = 2;
    EXPECT_EQ(build(two).kind, AnswerKind::formerr);
}

TEST_F(AnswerTest, OptOutsideTheAdditionalSectionOrTwiceIsFormerr) {
    QueryOptions o;
    std::vector<uint8_t> q = query(probe(4000), o);
    // Move the OPT from the additional to the authority section.
    std::vector<uint8_t> ns = q;
    ns[9] = 1;
    ns[11] = 0;
    EXPECT_EQ(build(ns).kind, AnswerKind::formerr);
    // Answer section.
    std::vector<uint8_t> an = q;
    an[7] = 1;
    an[11] = 0;
    EXPECT_EQ(build(an).kind, AnswerKind::formerr);
    // Two OPTs.
    std::vector<uint8_t> twice = q;
    twice.insert(twice.end(), q.end() - 11, q.end());
    twice[11] = 2;
    EXPECT_EQ(build(twice).kind, AnswerKind::formerr);
}

TEST_F(AnswerTest, HugeOptionLengthsAreFormerr) {
    QueryOptions o;
    o.nsid = true;
    std::vector<uint8_t> q = query(probe(4000), o);
    // The NSID option length (last two bytes) claims 65535 bytes.
    q[q.size() - 2] = 0xFF;
    q[q.size() - 1] = 0xFF;
    EXPECT_EQ(build(q).kind, AnswerKind::formerr);
    // OPT RDLENGTH past the end of the message.
    std::vector<uint8_t> r = query(probe(4000));
    r[r.size() - 2] = 0xFF;
    r[r.size() - 1] = 0xF0;
    EXPECT_EQ(build(r).kind, AnswerKind::formerr);
}

TEST_F(AnswerTest, ResponsesAreNeverAnswered) {
    std::vector<uint8_t> q = query(probe(4000));
    q[2] |= 0x80;
    EXPECT_EQ(build(q).kind, AnswerKind::none);
}

TEST_F(AnswerTest, OtherOpcodesAreNotImplemented) {
    std::vector<uint8_t> q = query(probe(4000));
    q[2] = static_cast<uint8_t>(4 << 3);  // NOTIFY
    const Answer a = build(q);
    ASSERT_EQ(a.kind, AnswerKind::notimp);
    const Parsed p = parse(a);
    EXPECT_EQ(p.view->header().rcode(), dns::rcode::NOTIMP);
    EXPECT_EQ(p.view->header().opcode(), 4);
}

TEST_F(AnswerTest, EdnsVersionAboveZeroIsBadvers) {
    std::vector<uint8_t> q = query(probe(4000));
    q[q.size() - 5] = 1;  // OPT TTL: ext-rcode, version, flags (4 bytes before RDLENGTH)
    const Answer a = build(q);
    ASSERT_EQ(a.kind, AnswerKind::badvers);
    const Parsed p = parse(a);
    EXPECT_EQ(p.view->full_rcode(), dns::rcode::BADVERS);
    EXPECT_EQ(p.view->edns().version, 0);
    EXPECT_LE(a.length, q.size());
}

TEST_F(AnswerTest, SlipIsAMinimalTruncatedAnswer) {
    const std::vector<uint8_t> q = query(probe(4000));
    const Answer a = builder_.build_slip(as_bytes(q.data(), q.size()), out_);
    ASSERT_EQ(a.kind, AnswerKind::truncated);
    const Parsed p = parse(a);
    EXPECT_TRUE(p.view->header().tc());
    EXPECT_EQ(p.view->header().ancount, 0);
    EXPECT_FALSE(p.view->edns().present);
    EXPECT_LT(a.length, q.size());
    std::vector<uint8_t> bad = q;
    bad.resize(20);
    EXPECT_EQ(builder_.build_slip(as_bytes(bad.data(), bad.size()), out_).kind, AnswerKind::none);
}

}  // namespace
}  // namespace frag53::probe
