#include "analyzers/dnssec/verify.h"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "analyzers/dnssec/canonical.h"
#include "analyzers/dnssec/keytag.h"
#include "tests/analyzers/dnssec/fixtures.h"

namespace frag53::dnssec {
namespace {

using dns::MessageView;
using dns::Record;
using testing::answers;
using testing::find_answers;
using testing::zone_keys;
using testing::zones;

std::vector<uint8_t> copy(Bytes b) {
    const auto* p = reinterpret_cast<const uint8_t*>(b.data());
    return {p, p + b.size()};
}
Bytes bytes_of(const std::vector<uint8_t>& v) { return as_bytes(v.data(), v.size()); }

std::string zone_of_signer(const MessageView& m, const dns::RrsigView& sig) {
    dns::Name signer;
    EXPECT_EQ(dns::decode_name(m.wire(), sig.signer_offset, signer), dns::ParseError::none);
    std::string s = signer.to_string();
    s.pop_back();
    return s;
}

// The zone key with the RRSIG's key tag and algorithm.
std::optional<PublicKey> signing_key(const MessageView& m, const dns::RrsigView& sig) {
    for (const auto& k : zone_keys(zone_of_signer(m, sig)))
        if (key_tag(k.rdata) == sig.key_tag && k.algorithm == sig.algorithm)
            return PublicKey::from_dnskey(k);
    return std::nullopt;
}

// Another key of the same zone (same algorithm, different key).
std::optional<PublicKey> other_key(const MessageView& m, const dns::RrsigView& sig) {
    for (const auto& k : zone_keys(zone_of_signer(m, sig)))
        if (key_tag(k.rdata) != sig.key_tag) return PublicKey::from_dnskey(k);
    return std::nullopt;
}

// First RRSIG of one zone's answers covering `type`, with its signed data.
struct Signed {
    const MessageView* msg = nullptr;
    dns::RrsigView sig{};
    std::vector<uint8_t> data;
};
Signed first_signed(const std::string& qname, uint16_t qtype, uint16_t covered) {
    Signed s;
    for (const auto* a : find_answers(qname, qtype))
        for (const Record& r : a->view->records())
            if (auto v = a->view->rrsig(r); v && v->type_covered == covered) {
                s.msg = a->view.get();
                s.sig = *v;
                EXPECT_EQ(signed_data(*a->view, r, s.data), CanonicalStatus::ok);
                return s;
            }
    ADD_FAILURE() << "no RRSIG over type " << covered << " for " << qname;
    return s;
}

TEST(Verify, EverySignatureNamedSentIsValid) {
    std::map<uint8_t, size_t> per_algorithm;
    std::vector<uint8_t> data;
    for (const auto& a : answers()) {
        const MessageView& m = *a->view;
        for (const Record& r : m.records()) {
            const auto sig = m.rrsig(r);
            if (!sig) continue;
            SCOPED_TRACE("frame " + std::to_string(a->frame) + " " + a->qname + " covers " +
                         std::to_string(sig->type_covered));
            ASSERT_EQ(signed_data(m, r, data), CanonicalStatus::ok);
            const auto key = signing_key(m, *sig);
            ASSERT_TRUE(key.has_value());
            EXPECT_EQ(verify(*key, sig->algorithm, bytes_of(data), sig->signature),
                      VerifyStatus::valid);
            ++per_algorithm[sig->algorithm];
        }
    }
    // Every algorithm BIND 9.18 signs with; each zone answered 9 questions with signatures on
    // SOA, NS, MX, A, TXT (twice), wildcard TXT (+ NSEC/NSEC3), DNSKEY (KSK and ZSK), NXDOMAIN.
    for (const unsigned alg : {5u, 7u, 8u, 10u, 13u, 14u, 15u, 16u})
        EXPECT_GE(per_algorithm[static_cast<uint8_t>(alg)], 12u) << alg;
    EXPECT_EQ(per_algorithm.size(), 8u);
    EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(Verify, ThreadsCheckConcurrentlyWithTheirOwnContexts) {
    // Each thread has its own digest and verification contexts (and, as workers do, its own
    // keys): run every fixture signature on four threads at once, valid and corrupted.
    constexpr int threads = 4;
    std::vector<int> valid(threads, 0), invalid(threads, 0), total(threads, 0);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            std::vector<uint8_t> data;
            for (int round = 0; round < 3; ++round)
                for (const auto& a : answers()) {
                    const MessageView& m = *a->view;
                    for (const Record& r : m.records()) {
                        const auto sig = m.rrsig(r);
                        if (!sig || signed_data(m, r, data) != CanonicalStatus::ok) continue;
                        const auto key = signing_key(m, *sig);
                        if (!key) continue;
                        ++total[t];
                        if (verify(*key, sig->algorithm, bytes_of(data), sig->signature) ==
                            VerifyStatus::valid)
                            ++valid[t];
                        data.back() ^= 0x01;
                        if (verify(*key, sig->algorithm, bytes_of(data), sig->signature) ==
                            VerifyStatus::invalid)
                            ++invalid[t];
                    }
                }
        });
    for (auto& th : pool) th.join();
    for (int t = 0; t < threads; ++t) {
        EXPECT_GT(total[t], 0);
        EXPECT_EQ(valid[t], total[t]) << "thread " << t;
        EXPECT_EQ(invalid[t], total[t]) << "thread " << t;
    }
}

TEST(Verify, OneCorruptedSignatureByteIsInvalid) {
    for (const auto& z : zones()) {
        SCOPED_TRACE(z.name);
        const Signed s = first_signed("txt." + z.name, dns::rrtype::TXT, dns::rrtype::TXT);
        ASSERT_NE(s.msg, nullptr);
        const auto key = signing_key(*s.msg, s.sig);
        ASSERT_TRUE(key.has_value());
        ASSERT_EQ(verify(*key, s.sig.algorithm, bytes_of(s.data), s.sig.signature),
                  VerifyStatus::valid);
        for (size_t at : {size_t{0}, s.sig.signature.size() / 2, s.sig.signature.size() - 1}) {
            auto bad = copy(s.sig.signature);
            bad[at] ^= 0x01;
            EXPECT_EQ(verify(*key, s.sig.algorithm, bytes_of(s.data), bytes_of(bad)),
                      VerifyStatus::invalid)
                << "byte " << at;
        }
        EXPECT_EQ(ERR_peek_error(), 0u);
    }
}

TEST(Verify, OneCorruptedRdataByteIsInvalid) {
    for (const auto& z : zones()) {
        SCOPED_TRACE(z.name);
        const auto found = find_answers("mixed." + z.name, dns::rrtype::A);
        ASSERT_EQ(found.size(), 1u);
        // Change the last octet of the first address in a copy of the message.
        auto wire = found[0]->wire;
        const MessageView& orig = *found[0]->view;
        ASSERT_EQ(orig.records()[0].type, dns::rrtype::A);
        wire[orig.records()[0].rdata_offset + 3] ^= 0x40;
        auto m = std::make_unique<MessageView>();
        ASSERT_EQ(m->parse(bytes_of(wire)), dns::ParseError::none);
        for (const Record& r : m->records()) {
            const auto sig = m->rrsig(r);
            if (!sig) continue;
            std::vector<uint8_t> data;
            ASSERT_EQ(signed_data(*m, r, data), CanonicalStatus::ok);
            const auto key = signing_key(*m, *sig);
            ASSERT_TRUE(key.has_value());
            EXPECT_EQ(verify(*key, sig->algorithm, bytes_of(data), sig->signature),
                      VerifyStatus::invalid);
        }
    }
}

TEST(Verify, WrongKeyIsInvalidAndOtherAlgorithmIsBadKey) {
    for (const auto& z : zones()) {
        SCOPED_TRACE(z.name);
        const Signed s = first_signed(z.name, dns::rrtype::SOA, dns::rrtype::SOA);
        ASSERT_NE(s.msg, nullptr);
        const auto other = other_key(*s.msg, s.sig);
        ASSERT_TRUE(other.has_value());
        const VerifyStatus st = verify(*other, s.sig.algorithm, bytes_of(s.data), s.sig.signature);
        // RSA keys of other sizes refuse the signature length; the rest check and fail.
        if (other->signature_size() == s.sig.signature.size())
            EXPECT_EQ(st, VerifyStatus::invalid);
        else
            EXPECT_EQ(st, VerifyStatus::bad_signature_format);
    }
    const Signed rsa = first_signed("alg8.test", dns::rrtype::SOA, dns::rrtype::SOA);
    const Signed ec = first_signed("alg13.test", dns::rrtype::SOA, dns::rrtype::SOA);
    const auto rsa_key = signing_key(*rsa.msg, rsa.sig);
    ASSERT_TRUE(rsa_key.has_value());
    EXPECT_EQ(verify(*rsa_key, 13, bytes_of(ec.data), ec.sig.signature), VerifyStatus::bad_key);
    // An RSA/SHA-256 key for an RSA/SHA-512 signature: the algorithm numbers must agree.
    EXPECT_EQ(verify(*rsa_key, 10, bytes_of(rsa.data), rsa.sig.signature), VerifyStatus::bad_key);
}

TEST(Verify, SignatureOfTheWrongLengthIsRefusedBeforeOpenSsl) {
    for (const auto& z : zones()) {
        SCOPED_TRACE(z.name);
        const Signed s = first_signed(z.name, dns::rrtype::SOA, dns::rrtype::SOA);
        const auto key = signing_key(*s.msg, s.sig);
        ASSERT_TRUE(key.has_value());
        EXPECT_EQ(key->signature_size(), s.sig.signature.size());
        EXPECT_EQ(verify(*key, s.sig.algorithm, bytes_of(s.data), Bytes{}),
                  VerifyStatus::bad_signature_format);
        auto longer = copy(s.sig.signature);
        longer.push_back(0);
        EXPECT_EQ(verify(*key, s.sig.algorithm, bytes_of(s.data), bytes_of(longer)),
                  VerifyStatus::bad_signature_format);
        EXPECT_EQ(verify(*key, s.sig.algorithm, bytes_of(s.data), s.sig.signature.first(
                      s.sig.signature.size() - 1)),
                  VerifyStatus::bad_signature_format);
    }
}

TEST(Verify, EcdsaSignatureWithZeroOrMaximalHalvesIsInvalid) {
    const Signed s = first_signed("alg14.test", dns::rrtype::SOA, dns::rrtype::SOA);
    const auto key = signing_key(*s.msg, s.sig);
    ASSERT_TRUE(key.has_value());
    for (const uint8_t fill : {uint8_t{0x00}, uint8_t{0xFF}}) {
        std::vector<uint8_t> sig(96, fill);
        EXPECT_EQ(verify(*key, 14, bytes_of(s.data), bytes_of(sig)), VerifyStatus::invalid);
    }
    EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(Verify, UnsupportedAlgorithms) {
    const std::vector<uint8_t> key(64, 1);
    for (const unsigned a : {0u, 1u, 3u, 6u, 12u, 17u, 253u, 255u}) {
        const auto alg = static_cast<uint8_t>(a);
        KeyStatus st = KeyStatus::ok;
        EXPECT_FALSE(PublicKey::from_key(alg, bytes_of(key), &st).has_value());
        EXPECT_EQ(st, KeyStatus::unsupported_algorithm) << +alg;
    }
    const Signed s = first_signed("alg15.test", dns::rrtype::SOA, dns::rrtype::SOA);
    const auto k = signing_key(*s.msg, s.sig);
    ASSERT_TRUE(k.has_value());
    EXPECT_EQ(verify(*k, 3, bytes_of(s.data), s.sig.signature), VerifyStatus::unsupported_algorithm);
}

// ---------------------------------------------------------------------------------------------
// Hostile keys

KeyStatus parse_status(uint8_t alg, const std::vector<uint8_t>& key) {
    KeyStatus st = KeyStatus::ok;
    const auto k = PublicKey::from_key(alg, bytes_of(key), &st);
    EXPECT_EQ(k.has_value(), st == KeyStatus::ok);
    EXPECT_EQ(ERR_peek_error(), 0u) << "error queue left behind";
    return st;
}

// A real RSA/SHA-256 key's exponent and modulus, from the fixture.
struct RsaParts {
    std::vector<uint8_t> e, n;
};
RsaParts rsa_parts() {
    const auto keys = zone_keys("alg8.test");
    EXPECT_FALSE(keys.empty());
    const auto k = copy(keys.at(0).public_key);
    const size_t elen = k[0];
    return {{k.begin() + 1, k.begin() + 1 + static_cast<ptrdiff_t>(elen)},
            {k.begin() + 1 + static_cast<ptrdiff_t>(elen), k.end()}};
}
std::vector<uint8_t> rsa_key(std::vector<uint8_t> head, const std::vector<uint8_t>& e,
                             const std::vector<uint8_t>& n) {
    head.insert(head.end(), e.begin(), e.end());
    head.insert(head.end(), n.begin(), n.end());
    return head;
}

TEST(PublicKey, RsaExponentLengthForms) {
    const auto [e, n] = rsa_parts();
    ASSERT_EQ(e.size(), 3u);  // 65537
    ASSERT_EQ(n.size(), 256u);
    const uint8_t el = static_cast<uint8_t>(e.size());
    EXPECT_EQ(parse_status(8, rsa_key({el}, e, n)), KeyStatus::ok);
    // The three-octet form (0, then a 16-bit length) is legal for short exponents too, and
    // makes the same key: the fixture's signatures verify with it.
    const auto long_form = rsa_key({0, 0, el}, e, n);
    ASSERT_EQ(parse_status(8, long_form), KeyStatus::ok);
    const Signed s = first_signed("alg8.test", dns::rrtype::SOA, dns::rrtype::SOA);
    bool verified = false;
    for (const auto& k : zone_keys("alg8.test")) {
        if (key_tag(k.rdata) != s.sig.key_tag) continue;
        const auto pk = copy(k.public_key);
        const std::vector<uint8_t> ke(pk.begin() + 1, pk.begin() + 1 + pk[0]);
        const std::vector<uint8_t> kn(pk.begin() + 1 + pk[0], pk.end());
        const auto key = PublicKey::from_key(8, bytes_of(rsa_key({0, 0, el}, ke, kn)));
        ASSERT_TRUE(key.has_value());
        EXPECT_EQ(key->bits(), 2048u);
        EXPECT_EQ(verify(*key, 8, bytes_of(s.data), s.sig.signature), VerifyStatus::valid);
        verified = true;
    }
    EXPECT_TRUE(verified);

    EXPECT_EQ(parse_status(8, rsa_key({0, 0, 0}, e, n)), KeyStatus::bad_key);  // 3-octet form, 0
    EXPECT_EQ(parse_status(8, {0}), KeyStatus::bad_key);                       // form cut short
    EXPECT_EQ(parse_status(8, {0, 0}), KeyStatus::bad_key);
    EXPECT_EQ(parse_status(8, {}), KeyStatus::bad_key);
    EXPECT_EQ(parse_status(8, rsa_key({0x03}, e, {})), KeyStatus::bad_key);  // no modulus
    EXPECT_EQ(parse_status(8, rsa_key({0xFF}, e, n)), KeyStatus::bad_key);   // past the end
    EXPECT_EQ(parse_status(8, rsa_key({0, 0x01, 0x04}, e, n)), KeyStatus::bad_key);  // 260 > 8
    EXPECT_EQ(parse_status(8, rsa_key({9}, {0, 0, 0, 0, 0, 0, 1, 0, 1}, n)), KeyStatus::bad_key);
    EXPECT_EQ(parse_status(8, rsa_key({8}, {0, 0, 0, 0, 0, 1, 0, 1}, n)), KeyStatus::ok);
}

TEST(PublicKey, RsaHostileValues) {
    const auto [e, n] = rsa_parts();
    EXPECT_EQ(parse_status(8, rsa_key({1}, {0}, n)), KeyStatus::bad_key);     // e = 0
    EXPECT_EQ(parse_status(8, rsa_key({1}, {1}, n)), KeyStatus::bad_key);     // e = 1
    EXPECT_EQ(parse_status(8, rsa_key({1}, {4}, n)), KeyStatus::bad_key);     // even
    EXPECT_EQ(parse_status(8, rsa_key({1}, {3}, n)), KeyStatus::ok);
    auto even = n;
    even.back() &= 0xFE;
    EXPECT_EQ(parse_status(8, rsa_key({3}, e, even)), KeyStatus::bad_key);
    auto lead = n;
    lead.insert(lead.begin(), 0);
    EXPECT_EQ(parse_status(8, rsa_key({3}, e, lead)), KeyStatus::bad_key);
    const std::vector<uint8_t> small(63, 0xC3);  // 504 bits
    EXPECT_EQ(parse_status(5, rsa_key({3}, e, small)), KeyStatus::bad_key);
    const std::vector<uint8_t> min(64, 0xC3);    // 512 bits
    EXPECT_EQ(parse_status(5, rsa_key({3}, e, min)), KeyStatus::ok);
    const std::vector<uint8_t> max(512, 0xC3);   // 4096 bits
    EXPECT_EQ(parse_status(10, rsa_key({3}, e, max)), KeyStatus::ok);
    const std::vector<uint8_t> huge(513, 0xC3);  // 4104 bits
    EXPECT_EQ(parse_status(10, rsa_key({3}, e, huge)), KeyStatus::bad_key);
}

std::vector<uint8_t> ec_key(const char* zone) {
    const auto keys = zone_keys(zone);
    EXPECT_FALSE(keys.empty());
    return copy(keys.at(0).public_key);
}

TEST(PublicKey, EcdsaWrongLengthOrNotOnTheCurve) {
    const auto p256 = ec_key("alg13.test");
    const auto p384 = ec_key("alg14.test");
    ASSERT_EQ(p256.size(), 64u);
    ASSERT_EQ(p384.size(), 96u);
    EXPECT_EQ(parse_status(13, p256), KeyStatus::ok);
    EXPECT_EQ(parse_status(14, p384), KeyStatus::ok);
    EXPECT_EQ(parse_status(13, p384), KeyStatus::bad_key);  // a P-384 key for P-256
    EXPECT_EQ(parse_status(14, p256), KeyStatus::bad_key);
    auto cut = p256;
    cut.pop_back();
    EXPECT_EQ(parse_status(13, cut), KeyStatus::bad_key);
    auto longer = p256;
    longer.push_back(0);
    EXPECT_EQ(parse_status(13, longer), KeyStatus::bad_key);
    EXPECT_EQ(parse_status(13, {}), KeyStatus::bad_key);
    auto off = p256;
    off.back() ^= 0x01;  // y no longer matches x
    EXPECT_EQ(parse_status(13, off), KeyStatus::bad_key);
    auto off384 = p384;
    off384[10] ^= 0x80;
    EXPECT_EQ(parse_status(14, off384), KeyStatus::bad_key);
    EXPECT_EQ(parse_status(13, std::vector<uint8_t>(64, 0x00)), KeyStatus::bad_key);
    EXPECT_EQ(parse_status(13, std::vector<uint8_t>(64, 0xFF)), KeyStatus::bad_key);  // >= p
}

TEST(PublicKey, EddsaSizes) {
    const auto ed25519 = ec_key("alg15.test");
    const auto ed448 = ec_key("alg16.test");
    ASSERT_EQ(ed25519.size(), 32u);
    ASSERT_EQ(ed448.size(), 57u);
    EXPECT_EQ(parse_status(15, ed25519), KeyStatus::ok);
    EXPECT_EQ(parse_status(16, ed448), KeyStatus::ok);
    EXPECT_EQ(parse_status(15, ed448), KeyStatus::bad_key);
    EXPECT_EQ(parse_status(16, ed25519), KeyStatus::bad_key);
    EXPECT_EQ(parse_status(15, {}), KeyStatus::bad_key);
    EXPECT_EQ(parse_status(15, std::vector<uint8_t>(31, 1)), KeyStatus::bad_key);
}

TEST(PublicKey, DnskeyProtocolMustBeThree) {
    const auto keys = zone_keys("alg13.test");
    ASSERT_FALSE(keys.empty());
    dns::DnskeyView k = keys[0];
    KeyStatus st = KeyStatus::bad_key;
    EXPECT_TRUE(PublicKey::from_dnskey(k, &st).has_value());
    EXPECT_EQ(st, KeyStatus::ok);
    k.protocol = 2;
    EXPECT_FALSE(PublicKey::from_dnskey(k, &st).has_value());
    EXPECT_EQ(st, KeyStatus::bad_key);
}

TEST(PublicKey, TruncatedDnskeyRdataHasNoView) {
    const auto found = find_answers("alg8.test", dns::rrtype::DNSKEY);
    ASSERT_EQ(found.size(), 1u);
    const MessageView& m = *found[0]->view;
    for (const Record& r : m.records()) {
        if (r.type != dns::rrtype::DNSKEY) continue;
        Record cut = r;
        cut.rdlength = 3;  // flags and protocol only
        EXPECT_FALSE(m.dnskey(cut).has_value());
        cut.rdlength = 4;  // no key bytes at all
        const auto v = m.dnskey(cut);
        ASSERT_TRUE(v.has_value());
        KeyStatus st = KeyStatus::ok;
        EXPECT_FALSE(PublicKey::from_dnskey(*v, &st).has_value());
        EXPECT_EQ(st, KeyStatus::bad_key);
        cut.rdlength = static_cast<uint16_t>(r.rdlength - 1);  // one modulus byte short
        const auto v2 = m.dnskey(cut);
        ASSERT_TRUE(v2.has_value());
        // Still an RSA key by its encoding, but of a different modulus: parses or not, it
        // must never verify the zone's signatures.
        if (auto k = PublicKey::from_dnskey(*v2)) {
            const Signed s = first_signed("alg8.test", dns::rrtype::SOA, dns::rrtype::SOA);
            EXPECT_NE(verify(*k, 8, bytes_of(s.data), s.sig.signature), VerifyStatus::valid);
        }
    }
}

}  // namespace
}  // namespace frag53::dnssec
