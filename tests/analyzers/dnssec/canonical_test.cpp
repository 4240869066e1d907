#include "analyzers/dnssec/canonical.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "tests/analyzers/dns/wire_builder.h"
#include "tests/analyzers/dnssec/fixtures.h"

namespace frag53::dnssec {
namespace {

using dns::MessageView;
using dns::Record;
using dns::Section;
using frag53::testing::WireBuilder;
using testing::find_answers;
using testing::owner_of;
using testing::zones;

namespace rr = dns::rrtype;
constexpr uint16_t IN = 1;
constexpr uint16_t kAnswer = 0x8400;  // QR AA

std::unique_ptr<MessageView> parse(const WireBuilder& b) {
    auto v = std::make_unique<MessageView>();
    v->parse(b.bytes());
    return v;
}
std::unique_ptr<MessageView> parse(WireBuilder&&) = delete;

// The RRSIG RDATA fields before the signer (18 bytes).
WireBuilder& rrsig_head(WireBuilder& b, uint16_t covered, uint8_t labels, uint32_t ottl = 3600) {
    return b.u16(covered).u8(13).u8(labels).u32(ottl).u32(0x6A000000).u32(0x67000000).u16(4711);
}
// An RRSIG record owned by the name at `owner`, signer "EXAMPLE.test", 64 signature bytes.
WireBuilder& rrsig_rr(WireBuilder& b, uint16_t owner, uint16_t covered, uint8_t labels,
                      Section = Section::answer) {
    b.ptr(owner).rr_head(rr::RRSIG, IN, 300).begin_rdata();
    rrsig_head(b, covered, labels).name("EXAMPLE.test").fill(64, 0x5A);
    return b.end_rdata();
}

const Record* first_rrsig(const MessageView& m) {
    for (const Record& r : m.records())
        if (r.type == rr::RRSIG) return &r;
    return nullptr;
}

std::vector<uint8_t> bytes(const WireBuilder& b) { return b.data(); }

bool contains(const std::vector<uint8_t>& hay, std::string_view needle) {
    return std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                       [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); }) != hay.end();
}

// Example.TEST MX: two MX records whose targets are compressed against the question and written
// in mixed case, in non-canonical order (20 before 10).
WireBuilder mx_message(bool duplicate = false) {
    WireBuilder b;
    b.header(1, kAnswer, 1, duplicate ? 4 : 3, 0, 0).name("Example.TEST").question(rr::MX);
    b.ptr(12).rr_head(rr::MX, IN, 300).begin_rdata().u16(20).labels("MX2").ptr(12).end_rdata();
    b.ptr(12).rr_head(rr::MX, IN, 300).begin_rdata().u16(10).labels("Mail").ptr(12).end_rdata();
    if (duplicate)  // the same record in another case: canonically identical
        b.ptr(12).rr_head(rr::MX, IN, 60).begin_rdata().u16(10).labels("MAIL").ptr(12).end_rdata();
    return rrsig_rr(b, 12, rr::MX, 2);
}

// What RFC 4034 says the MX signature covers, written out by hand.
std::vector<uint8_t> expected_mx_signed_data() {
    WireBuilder e;
    rrsig_head(e, rr::MX, 2).name("example.test");
    for (auto [pref, host] : {std::pair<uint16_t, const char*>{10, "mail.example.test"},
                              {20, "mx2.example.test"}}) {
        WireBuilder rd;
        rd.u16(pref).name(host);
        e.name("example.test").u16(rr::MX).u16(IN).u32(3600).u16(static_cast<uint16_t>(rd.size()));
        e.raw(rd.data());
    }
    return bytes(e);
}

TEST(SignedData, MxRrsetIsDecompressedLowercasedAndSorted) {
    const WireBuilder b = mx_message();
    auto m = parse(b);
    ASSERT_TRUE(m->ok()) << dns::to_string(m->error());
    std::vector<uint8_t> out;
    ASSERT_EQ(signed_data(*m, *first_rrsig(*m), out), CanonicalStatus::ok);
    EXPECT_EQ(out, expected_mx_signed_data());
}

TEST(SignedData, CanonicalDuplicatesAreDroppedAndTtlIsTheOriginal) {
    const WireBuilder b = mx_message(true);
    auto m = parse(b);
    ASSERT_TRUE(m->ok());
    std::vector<uint8_t> out;
    ASSERT_EQ(signed_data(*m, *first_rrsig(*m), out), CanonicalStatus::ok);
    EXPECT_EQ(out, expected_mx_signed_data());
}

TEST(SignedData, WildcardExpansionSignsTheWildcardOwner) {
    // a.b.wild.example.test TXT, signed as *.wild.example.test (Labels 3).
    WireBuilder b;
    b.header(1, kAnswer, 1, 2, 0, 0).name("A.b.Wild.example.test").question(rr::TXT);
    b.ptr(12).rr_head(rr::TXT, IN, 300).begin_rdata().u8(2).raw({'H', 'i'}).end_rdata();
    rrsig_rr(b, 12, rr::TXT, 3);
    auto m = parse(b);
    std::vector<uint8_t> out;
    ASSERT_EQ(signed_data(*m, *first_rrsig(*m), out), CanonicalStatus::ok);
    WireBuilder e;
    rrsig_head(e, rr::TXT, 3).name("example.test");
    // TXT is not a type with names: its bytes keep their case.
    e.name("*.wild.example.test").u16(rr::TXT).u16(IN).u32(3600).u16(3).u8(2).raw({'H', 'i'});
    EXPECT_EQ(out, bytes(e));

    // The wildcard owner itself (asked for literally): Labels does not count the "*".
    WireBuilder w;
    w.header(1, kAnswer, 1, 2, 0, 0).name("*.WILD.example.test").question(rr::TXT);
    w.ptr(12).rr_head(rr::TXT, IN, 300).begin_rdata().u8(2).raw({'H', 'i'}).end_rdata();
    rrsig_rr(w, 12, rr::TXT, 3);
    auto mw = parse(w);
    std::vector<uint8_t> out2;
    ASSERT_EQ(signed_data(*mw, *first_rrsig(*mw), out2), CanonicalStatus::ok);
    EXPECT_EQ(out2, out);
}

TEST(SignedData, LabelsAboveTheOwnerCountIsMalformed) {
    WireBuilder b;
    b.header(1, kAnswer, 1, 2, 0, 0).name("example.test").question(rr::TXT);
    b.ptr(12).rr_head(rr::TXT, IN, 300).begin_rdata().u8(1).u8('x').end_rdata();
    rrsig_rr(b, 12, rr::TXT, 3);
    auto m = parse(b);
    std::vector<uint8_t> out{1, 2, 3};
    EXPECT_EQ(signed_data(*m, *first_rrsig(*m), out), CanonicalStatus::malformed);
    EXPECT_TRUE(out.empty());
}

TEST(SignedData, NsecNextNameKeepsItsCase) {
    // RFC 6840 section 5.1: NSEC is not in the list of types lower-cased.
    WireBuilder b;
    b.header(1, kAnswer, 1, 0, 2, 0).name("example.test").question(rr::A);
    b.ptr(12).rr_head(rr::NSEC, IN, 300).begin_rdata().name("Next.Example.TEST")
        .raw({0x00, 0x01, 0x40}).end_rdata();
    rrsig_rr(b, 12, rr::NSEC, 2);
    auto m = parse(b);
    ASSERT_TRUE(m->ok()) << dns::to_string(m->error());
    std::vector<uint8_t> out;
    ASSERT_EQ(signed_data(*m, *first_rrsig(*m), out), CanonicalStatus::ok);
    EXPECT_TRUE(contains(out, "\x04Next\x07" "Example\x04TEST"));
}

TEST(SignedData, OnlyTheRrsigsSectionOwnerClassAndType) {
    WireBuilder b;
    b.header(1, kAnswer, 1, 3, 2, 0).name("example.test").question(rr::A);
    b.ptr(12).rr_head(rr::A, IN, 300).begin_rdata().raw({198, 18, 0, 1}).end_rdata();
    b.ptr(12).rr_head(rr::A, 3 /* CH */, 300).begin_rdata().raw({198, 18, 0, 2}).end_rdata();
    b.name("other.example.test").rr_head(rr::A, IN, 300).begin_rdata().raw({198, 18, 0, 3})
        .end_rdata();
    // Authority: an A record and the RRSIG, which covers only what sits in its own section.
    b.ptr(12).rr_head(rr::A, IN, 300).begin_rdata().raw({198, 18, 0, 4}).end_rdata();
    rrsig_rr(b, 12, rr::A, 2);
    auto m = parse(b);
    ASSERT_TRUE(m->ok());
    std::vector<uint8_t> out;
    ASSERT_EQ(signed_data(*m, *first_rrsig(*m), out), CanonicalStatus::ok);
    WireBuilder e;
    rrsig_head(e, rr::A, 2).name("example.test");
    e.name("example.test").u16(rr::A).u16(IN).u32(3600).u16(4).raw({198, 18, 0, 4});
    EXPECT_EQ(out, bytes(e));

    // Covering a type the section does not hold.
    WireBuilder n;
    n.header(1, kAnswer, 1, 1, 0, 0).name("example.test").question(rr::A);
    rrsig_rr(n, 12, rr::AAAA, 2);
    auto mn = parse(n);
    EXPECT_EQ(signed_data(*mn, *first_rrsig(*mn), out), CanonicalStatus::no_rrset);
}

TEST(SignedData, SignerNameThatIsCompressedGarbageIsMalformed) {
    WireBuilder b;
    b.header(1, kAnswer, 1, 2, 0, 0).name("example.test").question(rr::A);
    b.ptr(12).rr_head(rr::A, IN, 300).begin_rdata().raw({198, 18, 0, 1}).end_rdata();
    b.ptr(12).rr_head(rr::RRSIG, IN, 300).begin_rdata();
    rrsig_head(b, rr::A, 2).ptr(0x3FFF).fill(64, 0x5A).end_rdata();  // pointer past the end
    auto m = parse(b);
    EXPECT_FALSE(m->ok());  // MessageView saw it; the record is kept for the detectors
    const Record* sig = first_rrsig(*m);
    ASSERT_NE(sig, nullptr);
    std::vector<uint8_t> out;
    EXPECT_EQ(signed_data(*m, *sig, out), CanonicalStatus::malformed);

    // A signer that loops onto itself, and an RRSIG too short for its fixed fields.
    WireBuilder l;
    l.header(1, kAnswer, 1, 2, 0, 0).name("example.test").question(rr::A);
    l.ptr(12).rr_head(rr::A, IN, 300).begin_rdata().raw({198, 18, 0, 1}).end_rdata();
    l.ptr(12).rr_head(rr::RRSIG, IN, 300).begin_rdata();
    rrsig_head(l, rr::A, 2);
    l.ptr(l.pos()).end_rdata();
    auto ml = parse(l);
    ASSERT_NE(first_rrsig(*ml), nullptr);
    EXPECT_EQ(signed_data(*ml, *first_rrsig(*ml), out), CanonicalStatus::malformed);

    WireBuilder s;
    s.header(1, kAnswer, 1, 1, 0, 0).name("example.test").question(rr::A);
    s.ptr(12).rr_head(rr::RRSIG, IN, 300).begin_rdata().u16(rr::A).u8(13).u8(2).end_rdata();
    auto ms = parse(s);
    ASSERT_NE(first_rrsig(*ms), nullptr);
    EXPECT_EQ(signed_data(*ms, *first_rrsig(*ms), out), CanonicalStatus::malformed);
}

TEST(SignedData, CoveredRecordWithBrokenRdataNameIsMalformed) {
    WireBuilder b;
    b.header(1, kAnswer, 1, 3, 0, 0).name("example.test").question(rr::NS);
    b.ptr(12).rr_head(rr::NS, IN, 300).begin_rdata().labels("ns1").ptr(12).end_rdata();
    b.ptr(12).rr_head(rr::NS, IN, 300).begin_rdata().labels("ns2").ptr(0x200).end_rdata();
    rrsig_rr(b, 12, rr::NS, 2);
    auto m = parse(b);
    std::vector<uint8_t> out;
    EXPECT_EQ(signed_data(*m, *first_rrsig(*m), out), CanonicalStatus::malformed);
}

TEST(SignedData, FiveHundredRecordRrset) {
    WireBuilder b;
    b.header(1, kAnswer, 1, 501, 0, 0).name("big.example.test").question(rr::A);
    for (unsigned i = 500; i-- > 0;)  // descending: the reverse of canonical order
        b.ptr(12).rr_head(rr::A, IN, 300).begin_rdata()
            .raw({198, 18, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)}).end_rdata();
    rrsig_rr(b, 12, rr::A, 3);
    auto m = parse(b);
    ASSERT_TRUE(m->ok());
    std::vector<uint8_t> out;
    ASSERT_EQ(signed_data(*m, *first_rrsig(*m), out), CanonicalStatus::ok);
    const size_t owner = 18, prefix = 18 + 14 /* example.test */;
    const size_t per_rr = owner + 10 + 4;
    ASSERT_EQ(out.size(), prefix + 500 * per_rr);
    for (unsigned i = 0; i < 500; ++i) {
        const size_t at = prefix + i * per_rr + owner + 10;
        ASSERT_EQ(out[at + 2] << 8 | out[at + 3], static_cast<int>(i)) << i;
    }

    // The buffer is reused: no reallocation once it is large enough.
    const uint8_t* data = out.data();
    ASSERT_EQ(signed_data(*m, *first_rrsig(*m), out), CanonicalStatus::ok);
    EXPECT_EQ(out.data(), data);
}

TEST(SignedData, MoreRecordsThanTheViewStoresIsIncomplete) {
    const size_t n = MessageView::max_records + 8;
    WireBuilder b;
    b.header(1, kAnswer, 1, static_cast<uint16_t>(n + 1), 0, 0).name("big.example.test")
        .question(rr::A);
    rrsig_rr(b, 12, rr::A, 3);
    for (size_t i = 0; i < n; ++i)
        b.ptr(12).rr_head(rr::A, IN, 300).begin_rdata()
            .raw({198, 18, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)}).end_rdata();
    auto m = parse(b);
    ASSERT_EQ(m->records_seen(), n + 1);
    std::vector<uint8_t> out;
    EXPECT_EQ(signed_data(*m, *first_rrsig(*m), out), CanonicalStatus::incomplete);
}

TEST(SignedData, MessageCutShortIsIncomplete) {
    const WireBuilder b = mx_message();
    auto m = std::make_unique<MessageView>();
    // Cut inside the second MX: the RRSIG record (taken from the complete message) would cover
    // an RRset of which only one record arrived.
    auto full = parse(b);
    const Record sig = *first_rrsig(*full);
    m->parse(b.bytes().first(full->records()[1].rdata_offset + 2));
    std::vector<uint8_t> out;
    EXPECT_EQ(signed_data(*m, sig, out), CanonicalStatus::incomplete);
}

// ---------------------------------------------------------------------------------------------
// On the answers named sent (answers.pcap).

const Record* rrsig_covering(const MessageView& m, uint16_t type) {
    for (const Record& r : m.records())
        if (auto v = m.rrsig(r); v && v->type_covered == type) return &r;
    return nullptr;
}

std::vector<uint8_t> signed_for(const MessageView& m, uint16_t type) {
    std::vector<uint8_t> out;
    const Record* sig = rrsig_covering(m, type);
    EXPECT_NE(sig, nullptr);
    if (sig) {
        EXPECT_EQ(signed_data(m, *sig, out), CanonicalStatus::ok);
    }
    return out;
}

// The TXT rdata of the RRset in wire order.
std::vector<std::vector<uint8_t>> txt_order(const MessageView& m) {
    std::vector<std::vector<uint8_t>> out;
    for (const Record& r : m.records())
        if (r.type == rr::TXT) {
            const Bytes rd = m.rdata(r);
            const auto* p = reinterpret_cast<const uint8_t*>(rd.data());
            out.emplace_back(p, p + rd.size());
        }
    return out;
}

TEST(SignedDataFromBind, RotatedRrsetSignsTheSameBytes) {
    ASSERT_EQ(zones().size(), 8u);
    size_t out_of_order = 0;
    for (const auto& z : zones()) {
        SCOPED_TRACE(z.name);
        const auto txt = find_answers("txt." + z.name, rr::TXT);
        ASSERT_EQ(txt.size(), 2u);
        const auto a = txt_order(*txt[0]->view), b = txt_order(*txt[1]->view);
        ASSERT_EQ(a.size(), 4u);
        EXPECT_NE(a, b);  // named rotated the RRset between the two answers
        out_of_order += !std::is_sorted(a.begin(), a.end()) + !std::is_sorted(b.begin(), b.end());
        EXPECT_EQ(signed_for(*txt[0]->view, rr::TXT), signed_for(*txt[1]->view, rr::TXT));
    }
    EXPECT_GE(out_of_order, 8u);
}

TEST(SignedDataFromBind, UpperCaseOwnersAndRdataNamesAreLowercased) {
    for (const auto& z : zones()) {
        SCOPED_TRACE(z.name);
        const auto soa = find_answers(z.name, rr::SOA);
        ASSERT_EQ(soa.size(), 1u);
        const MessageView& m = *soa[0]->view;
        // On the wire the SOA names keep the zone file's case.
        EXPECT_TRUE(contains(soa[0]->wire, "NS1"));
        EXPECT_TRUE(contains(soa[0]->wire, "HostMaster"));
        const auto s = signed_for(m, rr::SOA);
        const std::string label = std::string(1, static_cast<char>(z.name.find('.'))) +
                                  z.name.substr(0, z.name.find('.'));
        EXPECT_TRUE(contains(s, "\x03ns1" + label + "\x04test"));       // mname NS1.ALGn.TEST.
        EXPECT_TRUE(contains(s, "\x0ahostmaster" + label + "\x04test"));  // rname HostMaster.
        EXPECT_FALSE(contains(s, "NS1"));
        EXPECT_FALSE(contains(s, "HostMaster"));

        const auto mx = find_answers(z.name, rr::MX);
        ASSERT_EQ(mx.size(), 1u);
        // named compressed the targets (a pointer ends each RDATA), in the zone file's case.
        size_t compressed = 0;
        for (const Record& r : mx[0]->view->records()) {
            const Bytes rd = mx[0]->view->rdata(r);
            if (r.type == rr::MX && (static_cast<uint8_t>(rd[rd.size() - 2]) & 0xC0) == 0xC0)
                ++compressed;
        }
        EXPECT_EQ(compressed, 2u);
        EXPECT_TRUE(contains(mx[0]->wire, "Mail"));
        const auto smx = signed_for(*mx[0]->view, rr::MX);
        EXPECT_TRUE(contains(smx, "\x04mail" + label));
        EXPECT_TRUE(contains(smx, "\x03mx2" + label));
        EXPECT_FALSE(contains(smx, "Mail"));

        const auto a = find_answers("mixed." + z.name, rr::A);
        ASSERT_EQ(a.size(), 1u);
        // The owner in the zone file's case.
        EXPECT_EQ(owner_of(*a[0]->view, a[0]->view->records()[0]).to_string(),
                  "MiXeD." + z.name + ".");
        EXPECT_TRUE(contains(signed_for(*a[0]->view, rr::A), "\x05mixed" + label));
    }
}

TEST(SignedDataFromBind, WildcardAnswerUsesTheRrsigLabels) {
    for (const auto& z : zones()) {
        SCOPED_TRACE(z.name);
        const auto w = find_answers("a.b.wild." + z.name, rr::TXT);
        ASSERT_EQ(w.size(), 1u);
        const MessageView& m = *w[0]->view;
        const Record* sig = rrsig_covering(m, rr::TXT);
        ASSERT_NE(sig, nullptr);
        EXPECT_EQ(m.rrsig(*sig)->labels, 3);
        EXPECT_EQ(owner_of(m, *sig).label_count(), 5);
        const auto s = signed_for(m, rr::TXT);
        EXPECT_TRUE(contains(s, std::string("\x01*\x04wild", 7)));
        EXPECT_FALSE(contains(s, "Wild"));
    }
}

TEST(SignedDataFromBind, NsecNextNameKeepsTheZoneFileCase) {
    // "nonexistent" falls between mx2 and NS1 in the NSEC zones: the proof is mx2's NSEC with
    // next name NS1.algN.test. as the zone file wrote it. Lower-casing it (RFC 4034's original
    // list) would break the signature Verify.EverySignatureNamedSentIsValid checks.
    size_t checked = 0;
    for (const auto& z : zones()) {
        if (z.denial != "nsec") continue;
        SCOPED_TRACE(z.name);
        const auto nx = find_answers("nonexistent." + z.name, rr::A);
        ASSERT_EQ(nx.size(), 1u);
        const MessageView& m = *nx[0]->view;
        bool found = false;
        for (const Record& r : m.records()) {
            if (r.type != rr::NSEC) continue;
            const Bytes rd = m.rdata(r);
            const std::vector<uint8_t> rdata(reinterpret_cast<const uint8_t*>(rd.data()),
                                             reinterpret_cast<const uint8_t*>(rd.data()) + rd.size());
            if (!contains(rdata, "\x03NS1")) continue;
            found = true;
            const Record* sig = nullptr;
            for (const Record& s : m.records())
                if (auto v = m.rrsig(s); v && v->type_covered == rr::NSEC &&
                                         owner_of(m, s).equals_ignore_case(owner_of(m, r)))
                    sig = &s;
            ASSERT_NE(sig, nullptr);
            std::vector<uint8_t> out;
            ASSERT_EQ(signed_data(m, *sig, out), CanonicalStatus::ok);
            EXPECT_TRUE(contains(out, "\x03NS1"));
        }
        EXPECT_TRUE(found);
        ++checked;
    }
    EXPECT_EQ(checked, 5u);
}

}  // namespace
}  // namespace frag53::dnssec
