// DnssecChecks: the cross-flow DNSSEC findings, fed with answers built here. Signatures are
// made with a fresh Ed25519 key, so both the valid and the tampered cases are real checks.
#include "analyzers/dnssec_checks.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "analyzers/dnssec/canonical.h"
#include "analyzers/dnssec/ds.h"
#include "analyzers/dnssec/keytag.h"
#include "collecting_sink.h"

namespace frag53 {
namespace {

constexpr uint64_t sec = 1'000'000'000ull;
constexpr uint32_t now_s = 1'795'000'000;  // 2026-11-18

void put16(std::vector<uint8_t>& o, uint16_t v) {
    o.push_back(static_cast<uint8_t>(v >> 8));
    o.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& o, uint32_t v) {
    put16(o, static_cast<uint16_t>(v >> 16));
    put16(o, static_cast<uint16_t>(v));
}
std::vector<uint8_t> wire_name(const std::string& name) {
    std::vector<uint8_t> o;
    size_t start = 0;
    while (start < name.size()) {
        size_t dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        o.push_back(static_cast<uint8_t>(dot - start));
        o.insert(o.end(), name.begin() + static_cast<std::ptrdiff_t>(start), name.begin() + static_cast<std::ptrdiff_t>(dot));
        start = dot + 1;
    }
    o.push_back(0);
    return o;
}
dns::Name make_name(const std::string& n) {
    dns::Name out;
    auto w = wire_name(n);
    std::memcpy(out.wire.data(), w.data(), w.size());
    out.length = static_cast<uint8_t>(w.size());
    return out;
}

// A DNS message with uncompressed names.
struct Msg {
    uint16_t flags = 0x8400;  // QR AA
    std::string qname;
    uint16_t qtype = 1;
    std::vector<std::vector<uint8_t>> an, ns;

    static std::vector<uint8_t> rr(const std::string& owner, uint16_t type, uint32_t ttl,
                                   const std::vector<uint8_t>& rdata) {
        std::vector<uint8_t> o = wire_name(owner);
        put16(o, type);
        put16(o, 1);
        put32(o, ttl);
        put16(o, static_cast<uint16_t>(rdata.size()));
        o.insert(o.end(), rdata.begin(), rdata.end());
        return o;
    }
    std::vector<uint8_t> wire() const {
        std::vector<uint8_t> o;
        put16(o, 0x1234);
        put16(o, flags);
        put16(o, 1);
        put16(o, static_cast<uint16_t>(an.size()));
        put16(o, static_cast<uint16_t>(ns.size()));
        put16(o, 0);
        auto q = wire_name(qname);
        o.insert(o.end(), q.begin(), q.end());
        put16(o, qtype);
        put16(o, 1);
        for (const auto& r : an) o.insert(o.end(), r.begin(), r.end());
        for (const auto& r : ns) o.insert(o.end(), r.begin(), r.end());
        return o;
    }
};

std::vector<uint8_t> soa_rdata(uint32_t serial) {
    std::vector<uint8_t> o = wire_name("ns.example.test");
    auto r = wire_name("admin.example.test");
    o.insert(o.end(), r.begin(), r.end());
    put32(o, serial);
    put32(o, 3600);
    put32(o, 600);
    put32(o, 86400);
    put32(o, 300);
    return o;
}

std::vector<uint8_t> rrsig_rdata(uint16_t covered, uint8_t alg, uint8_t labels, uint32_t inception,
                                 uint32_t expiration, uint16_t tag, const std::string& signer,
                                 size_t sig_len) {
    std::vector<uint8_t> o;
    put16(o, covered);
    o.push_back(alg);
    o.push_back(labels);
    put32(o, 300);
    put32(o, expiration);
    put32(o, inception);
    put16(o, tag);
    auto s = wire_name(signer);
    o.insert(o.end(), s.begin(), s.end());
    o.insert(o.end(), sig_len, 0xAB);
    return o;
}

IpAddress v4(uint32_t a) {
    IpAddress ip;
    ip.version = 4;
    ip.bytes[0] = static_cast<uint8_t>(a >> 24);
    ip.bytes[1] = static_cast<uint8_t>(a >> 16);
    ip.bytes[2] = static_cast<uint8_t>(a >> 8);
    ip.bytes[3] = static_cast<uint8_t>(a);
    return ip;
}
const IpAddress client = v4(0xC6120102), server_a = v4(0xC6120001), server_b = v4(0xC6120003);

ResponseMaterial material(const Msg& m, const IpAddress& server, uint64_t ts_ns, uint64_t frame = 1) {
    ResponseMaterial r;
    r.client = client;
    r.server = server;
    r.client_port = 40000;
    r.server_port = 53;
    r.query_do = true;
    r.ts_ns = ts_ns;
    r.frame = frame;
    auto w = m.wire();
    r.wire.resize(w.size());
    std::memcpy(r.wire.data(), w.data(), w.size());
    return r;
}

OutcomeRecord outcome(const IpAddress& server, const std::string& qname, uint16_t qtype, int32_t rcode,
                      bool cd, bool do_bit, bool has_rrsig, bool has_records, uint64_t ts_ns) {
    OutcomeRecord r;
    r.client = client;
    r.server = server;
    r.qname = make_name(qname);
    r.qtype = qtype;
    r.answered = true;
    r.well_formed = true;
    r.rcode = rcode;
    r.cd = cd;
    r.do_bit = do_bit;
    r.has_rrsig = has_rrsig;
    r.has_records = has_records;
    r.ts_ns = ts_ns;
    r.frame = ts_ns / sec;
    return r;
}

// An Ed25519 key with its DNSKEY RDATA.
struct Ed25519Key {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey{nullptr, EVP_PKEY_free};
    std::vector<uint8_t> dnskey;
    uint16_t tag = 0;

    Ed25519Key() {
        pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
        uint8_t pub[32];
        size_t len = sizeof pub;
        EVP_PKEY_get_raw_public_key(pkey.get(), pub, &len);
        put16(dnskey, 257);
        dnskey.push_back(3);
        dnskey.push_back(15);
        dnskey.insert(dnskey.end(), pub, pub + len);
        tag = dnssec::key_tag({reinterpret_cast<const std::byte*>(dnskey.data()), dnskey.size()});
    }
    std::vector<uint8_t> sign(const std::vector<uint8_t>& data) const {
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
        EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get());
        std::vector<uint8_t> sig(64);
        size_t n = sig.size();
        EVP_DigestSign(ctx.get(), sig.data(), &n, data.data(), data.size());
        sig.resize(n);
        return sig;
    }
};

// www.example.test A answer signed by `key` (the signature over the real signed data).
Msg signed_a_answer(const Ed25519Key& key, bool tamper) {
    Msg m;
    m.qname = "www.example.test";
    m.an.push_back(Msg::rr("www.example.test", 1, 300, {198, 18, 0, 10}));
    m.an.push_back(Msg::rr("www.example.test", 46, 300,
                           rrsig_rdata(1, 15, 3, now_s - 86400, now_s + 30 * 86400, key.tag, "example.test", 64)));
    // Sign what a validator would rebuild from this very message.
    auto w = m.wire();
    dns::MessageView view;
    EXPECT_EQ(view.parse({reinterpret_cast<const std::byte*>(w.data()), w.size()}), dns::ParseError::none);
    std::vector<uint8_t> data;
    EXPECT_EQ(dnssec::signed_data(view, view.records()[1], data), dnssec::CanonicalStatus::ok);
    auto sig = key.sign(data);
    if (tamper) sig[10] ^= 0x01;
    auto rd = rrsig_rdata(1, 15, 3, now_s - 86400, now_s + 30 * 86400, key.tag, "example.test", 0);
    rd.insert(rd.end(), sig.begin(), sig.end());
    m.an[1] = Msg::rr("www.example.test", 46, 300, rd);
    return m;
}

Msg dnskey_answer(const std::string& zone, const std::vector<uint8_t>& rdata) {
    Msg m;
    m.qname = zone;
    m.qtype = 48;
    m.an.push_back(Msg::rr(zone, 48, 3600, rdata));
    return m;
}

class DnssecChecksTest : public ::testing::Test {
protected:
    size_t count(FindingCode c) const {
        size_t n = 0;
        for (const auto& f : sink_.findings) n += f.code == c;
        return n;
    }
    const Finding* first(FindingCode c) const {
        for (const auto& f : sink_.findings)
            if (f.code == c) return &f;
        return nullptr;
    }
    frag53::testing::CollectingSink sink_;
    DnssecConfig config_;
    DnssecChecks checks_{config_, sink_};
};

TEST_F(DnssecChecksTest, SoaSerialsOfTwoServersDifferOncePerPair) {
    Msg a;
    a.qname = "example.test";
    a.qtype = 6;
    a.an.push_back(Msg::rr("example.test", 6, 300, soa_rdata(5)));
    Msg b = a;
    b.an[0] = Msg::rr("EXAMPLE.test", 6, 300, soa_rdata(6));
    checks_.on_material(material(a, server_a, 1 * sec));
    EXPECT_EQ(count(FindingCode::dns_soa_serial_mismatch), 0u);
    checks_.on_material(material(b, server_b, 2 * sec));
    ASSERT_EQ(count(FindingCode::dns_soa_serial_mismatch), 1u);
    const Finding* f = first(FindingCode::dns_soa_serial_mismatch);
    EXPECT_EQ(f->dnssec.serial, 6u);
    EXPECT_EQ(f->dnssec.other_serial, 5u);
    EXPECT_EQ(f->dnssec.other_server, server_a);
    EXPECT_EQ(f->dnssec.zone.to_string(), "example.test.");
    // The same disagreement again is not news; a non-authoritative (cached) answer never counts.
    checks_.on_material(material(a, server_a, 3 * sec));
    checks_.on_material(material(b, server_b, 4 * sec));
    Msg cached = a;
    cached.flags = 0x8180;
    cached.an[0] = Msg::rr("example.test", 6, 300, soa_rdata(7));
    checks_.on_material(material(cached, client, 5 * sec));
    EXPECT_EQ(count(FindingCode::dns_soa_serial_mismatch), 1u);
}

TEST_F(DnssecChecksTest, ServfailWithoutCdAndDataWithCdIsValidationFailureInEitherOrder) {
    checks_.on_outcome(outcome(server_a, "bad.example.test", 1, 2, false, true, false, false, 1 * sec));
    EXPECT_EQ(count(FindingCode::dnssec_validation_failure), 0u);
    checks_.on_outcome(outcome(server_a, "bad.example.test", 1, 0, true, true, true, true, 2 * sec));
    ASSERT_EQ(count(FindingCode::dnssec_validation_failure), 1u);
    const Finding* f = first(FindingCode::dnssec_validation_failure);
    EXPECT_EQ(f->frame_count, 2);
    EXPECT_EQ(f->rcode, 0);

    // CD answer first, then the SERVFAIL.
    checks_.on_outcome(outcome(server_a, "other.example.test", 1, 3, true, true, true, true, 3 * sec));
    checks_.on_outcome(outcome(server_a, "other.example.test", 1, 2, false, true, false, false, 4 * sec));
    EXPECT_EQ(count(FindingCode::dnssec_validation_failure), 2u);

    // An hour apart, the zone may have changed in between: not paired.
    checks_.on_outcome(outcome(server_a, "later.example.test", 1, 2, false, true, false, false, 10 * sec));
    checks_.on_outcome(outcome(server_a, "later.example.test", 1, 0, true, true, true, true, 3610 * sec));
    EXPECT_EQ(count(FindingCode::dnssec_validation_failure), 2u);

    // Another server's SERVFAIL, or SERVFAIL with CD, proves nothing about validation.
    checks_.on_outcome(outcome(server_a, "x.example.test", 1, 0, true, true, true, true, 5 * sec));
    checks_.on_outcome(outcome(server_b, "x.example.test", 1, 2, false, true, false, false, 6 * sec));
    checks_.on_outcome(outcome(server_a, "x.example.test", 1, 2, true, true, false, false, 7 * sec));
    EXPECT_EQ(count(FindingCode::dnssec_validation_failure), 2u);
}

TEST_F(DnssecChecksTest, UnsignedAnswerWhereAnotherServerSignsIsMissingRrsig) {
    Ed25519Key key;
    // Unsigned first (kept), then the signed answer from the other server reveals it.
    checks_.on_outcome(outcome(server_b, "www.example.test", 1, 0, false, true, false, true, 1 * sec));
    EXPECT_EQ(count(FindingCode::dnssec_missing_rrsig), 0u);
    checks_.on_material(material(signed_a_answer(key, false), server_a, 2 * sec));
    ASSERT_EQ(count(FindingCode::dnssec_missing_rrsig), 1u);
    const Finding* f = first(FindingCode::dnssec_missing_rrsig);
    EXPECT_EQ(f->server, server_b);
    EXPECT_EQ(f->dnssec.other_server, server_a);
    EXPECT_EQ(f->dnssec.zone.to_string(), "example.test.");
    // Once per server and zone, however many questions show it.
    checks_.on_outcome(outcome(server_b, "www.example.test", 1, 0, false, true, false, true, 3 * sec));
    EXPECT_EQ(count(FindingCode::dnssec_missing_rrsig), 1u);
    // DO=0 answers are rightly unsigned.
    checks_.on_outcome(outcome(v4(0xC6120009), "www.example.test", 1, 0, false, false, false, true, 4 * sec));
    EXPECT_EQ(count(FindingCode::dnssec_missing_rrsig), 1u);
}

TEST_F(DnssecChecksTest, SignatureChecksWithKeysFromOtherAnswersBeforeOrAfter) {
    Ed25519Key key;
    // Key first.
    checks_.on_material(material(dnskey_answer("example.test", key.dnskey), server_a, 1 * sec));
    checks_.on_material(material(signed_a_answer(key, false), server_a, 2 * sec));
    EXPECT_EQ(checks_.counters().verified, 1u);
    EXPECT_EQ(count(FindingCode::dnssec_signature_invalid), 0u);
    checks_.on_material(material(signed_a_answer(key, true), server_b, 3 * sec));
    ASSERT_EQ(count(FindingCode::dnssec_signature_invalid), 1u);
    const Finding* f = first(FindingCode::dnssec_signature_invalid);
    EXPECT_EQ(f->server, server_b);
    EXPECT_EQ(f->dnssec.key_tag, key.tag);
    EXPECT_EQ(f->dnssec.type_covered, 1);
    EXPECT_EQ(f->dnssec.owner.to_string(), "www.example.test.");
    // The same bad signature again is checked once.
    checks_.on_material(material(signed_a_answer(key, true), server_b, 4 * sec));
    EXPECT_EQ(count(FindingCode::dnssec_signature_invalid), 1u);
}

TEST_F(DnssecChecksTest, SignaturesWaitForTheirKey) {
    Ed25519Key key;
    checks_.on_material(material(signed_a_answer(key, true), server_a, 1 * sec));
    EXPECT_EQ(count(FindingCode::dnssec_signature_invalid), 0u);
    EXPECT_EQ(checks_.counters().pending_added, 1u);
    checks_.on_material(material(dnskey_answer("example.test", key.dnskey), server_a, 2 * sec));
    EXPECT_EQ(count(FindingCode::dnssec_signature_invalid), 1u);
    // A key with another tag does not release it.
    Ed25519Key other;
    DnssecChecks fresh(config_, sink_);
    fresh.on_material(material(signed_a_answer(key, true), server_a, 1 * sec));
    fresh.on_material(material(dnskey_answer("example.test", other.dnskey), server_a, 2 * sec));
    EXPECT_EQ(count(FindingCode::dnssec_signature_invalid), 1u);
}

TEST_F(DnssecChecksTest, DsMatchingNoKeyBreaksTheChain) {
    Ed25519Key key;
    const dns::Name zone = make_name("child.test");
    std::array<uint8_t, 48> digest{};
    size_t len = 0;
    ASSERT_EQ(dnssec::ds_digest(zone, {reinterpret_cast<const std::byte*>(key.dnskey.data()), key.dnskey.size()}, 2,
                                digest, len),
              dnssec::DigestStatus::ok);
    auto ds_rdata = [&](bool corrupt) {
        std::vector<uint8_t> o;
        put16(o, key.tag);
        o.push_back(15);
        o.push_back(2);
        o.insert(o.end(), digest.begin(), digest.begin() + static_cast<std::ptrdiff_t>(len));
        if (corrupt) o.back() ^= 0xFF;
        return o;
    };
    Msg ds;
    ds.qname = "child.test";
    ds.qtype = 43;
    ds.an.push_back(Msg::rr("child.test", 43, 3600, ds_rdata(false)));
    checks_.on_material(material(ds, server_b, 1 * sec));
    checks_.on_material(material(dnskey_answer("child.test", key.dnskey), server_a, 2 * sec));
    EXPECT_EQ(count(FindingCode::dnssec_ds_mismatch), 0u);

    Msg bad = ds;
    bad.qname = "other.test";
    bad.an[0] = Msg::rr("other.test", 43, 3600, ds_rdata(true));
    checks_.on_material(material(dnskey_answer("other.test", key.dnskey), server_a, 3 * sec));
    checks_.on_material(material(bad, server_b, 4 * sec));
    ASSERT_EQ(count(FindingCode::dnssec_ds_mismatch), 1u);
    const Finding* f = first(FindingCode::dnssec_ds_mismatch);
    EXPECT_EQ(f->dnssec.zone.to_string(), "other.test.");
    EXPECT_EQ(f->dnssec.ds_count, 1);
    EXPECT_EQ(f->dnssec.key_count, 1);
    EXPECT_EQ(f->dnssec.ds_tags[0], key.tag);
    // Seen again: reported once until the keys or the DS set change.
    checks_.on_material(material(bad, server_b, 5 * sec));
    EXPECT_EQ(count(FindingCode::dnssec_ds_mismatch), 1u);
}

TEST_F(DnssecChecksTest, SignatureWindowsAgainstThePacketTime) {
    auto answer = [](uint32_t inception, uint32_t expiration, uint16_t tag) {
        Msg m;
        m.qname = "www.example.test";
        m.an.push_back(Msg::rr("www.example.test", 1, 300, {198, 18, 0, 10}));
        m.an.push_back(Msg::rr("www.example.test", 46, 300,
                               rrsig_rdata(1, 13, 3, inception, expiration, tag, "example.test", 64)));
        return m;
    };
    const uint64_t ts = static_cast<uint64_t>(now_s) * sec;
    checks_.on_material(material(answer(now_s - 30 * 86400, now_s - 2 * 86400, 1), server_a, ts));
    checks_.on_material(material(answer(now_s + 3600, now_s + 30 * 86400, 2), server_a, ts));
    checks_.on_material(material(answer(now_s - 20 * 86400, now_s + 3 * 86400, 3), server_a, ts));
    // A week-long signature with six days left is how short-lived signatures look: not news.
    checks_.on_material(material(answer(now_s - 86400, now_s + 6 * 86400, 5), server_a, ts));
    checks_.on_material(material(answer(now_s - 86400, now_s + 20 * 86400, 4), server_a, ts));
    ASSERT_EQ(count(FindingCode::dnssec_rrsig_expired), 1u);
    ASSERT_EQ(count(FindingCode::dnssec_rrsig_not_yet_valid), 1u);
    ASSERT_EQ(count(FindingCode::dnssec_rrsig_expiring), 1u);
    EXPECT_EQ(first(FindingCode::dnssec_rrsig_expired)->dnssec.seconds, 2 * 86400);
    EXPECT_EQ(first(FindingCode::dnssec_rrsig_not_yet_valid)->dnssec.seconds, 3600);
    EXPECT_EQ(first(FindingCode::dnssec_rrsig_expiring)->dnssec.seconds, 3 * 86400);
    EXPECT_EQ(first(FindingCode::dnssec_rrsig_expired)->dnssec.key_tag, 1);
    // Once per signing window, not per answer.
    checks_.on_material(material(answer(now_s - 30 * 86400, now_s - 2 * 86400, 1), server_b, ts + sec));
    EXPECT_EQ(count(FindingCode::dnssec_rrsig_expired), 1u);
    EXPECT_EQ(count(FindingCode::dnssec_weak_algorithm), 0u);
}

TEST_F(DnssecChecksTest, WeakAlgorithmsAndNsec3IterationsOncePerZone) {
    std::vector<uint8_t> rsasha1;
    put16(rsasha1, 256);
    rsasha1.push_back(3);
    rsasha1.push_back(5);
    rsasha1.insert(rsasha1.end(), {1, 3, 0xC1, 0x02, 0x03, 0x04});
    checks_.on_material(material(dnskey_answer("old.test", rsasha1), server_a, 1 * sec));
    checks_.on_material(material(dnskey_answer("old.test", rsasha1), server_b, 2 * sec));
    ASSERT_EQ(count(FindingCode::dnssec_weak_algorithm), 1u);
    EXPECT_EQ(first(FindingCode::dnssec_weak_algorithm)->dnssec.algorithm, 5);

    auto nsec3param = [](uint16_t iterations, std::vector<uint8_t> salt) {
        std::vector<uint8_t> o{1, 0};
        put16(o, iterations);
        o.push_back(static_cast<uint8_t>(salt.size()));
        o.insert(o.end(), salt.begin(), salt.end());
        return o;
    };
    Msg m;
    m.qname = "zone.test";
    m.qtype = 51;
    m.an.push_back(Msg::rr("zone.test", 51, 0, nsec3param(0, {})));
    checks_.on_material(material(m, server_a, 3 * sec));
    EXPECT_EQ(count(FindingCode::dnssec_nsec3_iterations), 0u);
    m.an[0] = Msg::rr("zone.test", 51, 0, nsec3param(10, {0xAA, 0xBB, 0xCC, 0xDD}));
    checks_.on_material(material(m, server_a, 4 * sec));
    checks_.on_material(material(m, server_b, 5 * sec));
    ASSERT_EQ(count(FindingCode::dnssec_nsec3_iterations), 1u);
    EXPECT_EQ(first(FindingCode::dnssec_nsec3_iterations)->dnssec.iterations, 10);
    EXPECT_EQ(first(FindingCode::dnssec_nsec3_iterations)->dnssec.salt_length, 4);
}

TEST(DnssecChecksCaps, ZonesAreBoundedAndEvictionsCounted) {
    frag53::testing::CollectingSink sink;
    DnssecConfig cfg;
    cfg.max_zones = 8;
    DnssecChecks checks(cfg, sink);
    for (int i = 0; i < 100; ++i) {
        Msg a;
        a.qname = "z" + std::to_string(i) + ".test";
        a.qtype = 6;
        a.an.push_back(Msg::rr(a.qname, 6, 300, soa_rdata(1)));
        checks.on_material(material(a, server_a, static_cast<uint64_t>(i + 1) * sec));
    }
    EXPECT_LE(checks.zones(), 8u);
    EXPECT_EQ(checks.counters().zones_evicted, 92u);
}

TEST(DnssecChecksHostile, GarbageAndTruncatedAnswersAreCountedNotTrusted) {
    frag53::testing::CollectingSink sink;
    DnssecConfig cfg;
    DnssecChecks checks(cfg, sink);
    Ed25519Key key;
    const auto good = signed_a_answer(key, false).wire();
    for (size_t cut = 0; cut < good.size(); ++cut) {
        ResponseMaterial m;
        m.server = server_a;
        m.ts_ns = sec;
        m.wire.resize(cut);
        if (cut != 0) std::memcpy(m.wire.data(), good.data(), cut);  // data() may be null
        checks.on_material(m);
    }
    EXPECT_EQ(checks.counters().unparsable, good.size());
    EXPECT_TRUE(sink.findings.empty());
}

}  // namespace
}  // namespace frag53
