// Arbitrary bytes as a DNS message, then every DNSSEC primitive on what the view hands out: the
// signed data of every RRSIG, a key, key tag and DS digests for every DNSKEY, DS matching, NSEC3
// hashes of the names, one signature check, the key cache. The checks below hold for every
// input, so the fuzzer finds logic errors (and OpenSSL errors left on the queue) as well as
// memory errors.
#include <openssl/err.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

#include "analyzers/dns/message.h"
#include "analyzers/dnssec/algorithms.h"
#include "analyzers/dnssec/canonical.h"
#include "analyzers/dnssec/ds.h"
#include "analyzers/dnssec/key_cache.h"
#include "analyzers/dnssec/keytag.h"
#include "analyzers/dnssec/nsec3.h"
#include "analyzers/dnssec/validity.h"
#include "analyzers/dnssec/verify.h"

using namespace frag53;
using namespace frag53::dnssec;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

// NSEC3 hashing is linear in the iterations; a few are enough to cover the loop.
constexpr uint16_t fuzz_iterations = 3;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static auto* view = new dns::MessageView;
    static auto* cache = new KeyCache(64);
    static std::vector<uint8_t> signed_bytes, again;

    const Bytes wire = as_bytes(data, size);
    view->parse(wire);

    std::optional<PublicKey> first_key;
    const dns::Record* first_sig = nullptr;
    std::vector<uint8_t> first_signed;

    for (const dns::Record& rr : view->records()) {
        dns::Name owner;
        const bool have_owner = dns::decode_name(wire, rr.name_offset, owner) == dns::ParseError::none;

        if (auto sig = view->rrsig(rr)) {
            const CanonicalStatus st = signed_data(*view, rr, signed_bytes);
            if (st == CanonicalStatus::ok) {
                check(signed_bytes.size() > 18 && signed_bytes.size() <= max_signed_data);
                check(signed_bytes[0] == static_cast<uint8_t>(sig->type_covered >> 8));
                check(signed_data(*view, rr, again) == CanonicalStatus::ok && again == signed_bytes);
                if (!first_sig) {
                    first_sig = &rr;
                    first_signed = signed_bytes;
                }
            } else {
                check(signed_bytes.empty());
            }
            const Validity v = rrsig_validity(sig->inception, sig->expiration, sig->inception);
            check(v != Validity::expired || sig->expiration != sig->inception);
            (void)seconds_until_expiration(sig->expiration, uint64_t{sig->inception} << 8);
            (void)algorithm_info(sig->algorithm);
        }

        if (auto key = view->dnskey(rr)) {
            KeyStatus ks = KeyStatus::ok;
            auto pk = PublicKey::from_dnskey(*key, &ks);
            check(pk.has_value() == (ks == KeyStatus::ok));
            if (pk) {
                check(pk->algorithm() == key->algorithm && pk->signature_size() > 0);
                check(algorithm_info(key->algorithm).supported);
                if (!first_key) first_key = std::move(pk);
            }
            KeyStatus cs = KeyStatus::ok;
            const PublicKey* cached = have_owner ? cache->get(owner, *key, &cs) : nullptr;
            if (have_owner) check((cached != nullptr) == (cs == KeyStatus::ok) && cs == ks);
            const uint16_t tag = key_tag(key->rdata);
            if (have_owner) {
                for (uint8_t t : {uint8_t{1}, uint8_t{2}, uint8_t{4}}) {
                    std::array<uint8_t, 48> d{};
                    size_t n = 0;
                    check(ds_digest(owner, key->rdata, t, d, n) == DigestStatus::ok);
                    check(n == digest_info(t).length);
                    // The DS made from this key must designate it.
                    const dns::DsView ds{tag, key->algorithm, t, as_bytes(d.data(), n)};
                    check(ds_matches_dnskey(ds, owner, key->rdata));
                }
            }
        }

        if (auto ds = view->ds(rr); ds && have_owner) {
            // Against every DNSKEY of the message: must not crash, whatever the answer.
            for (const dns::Record& k : view->records())
                if (auto key = view->dnskey(k)) (void)ds_matches_dnskey(*ds, owner, key->rdata);
        }

        if (auto n3 = view->nsec3(rr); n3 && have_owner) {
            std::array<uint8_t, 20> h{};
            const uint16_t it = n3->iterations < fuzz_iterations ? n3->iterations : fuzz_iterations;
            check(nsec3_hash(owner, n3->salt, it, h));
            const std::string text = base32hex(n3->next_hashed);
            std::array<uint8_t, 255> back{};
            size_t len = 0;
            check(base32hex_decode(std::string_view(text), back, len));
            check(len == n3->next_hashed.size());
            // The owner's first label, read as a hash.
            if (owner.length > 1)
                (void)base32hex_decode(as_bytes(owner.wire.data() + 1, owner.wire[0]), back, len);
        }
    }

    if (first_key && first_sig) {
        const auto sig = view->rrsig(*first_sig);
        check(sig.has_value());
        const VerifyStatus vs = verify(*first_key, sig->algorithm,
                                       as_bytes(first_signed.data(), first_signed.size()),
                                       sig->signature);
        check(vs <= VerifyStatus::bad_signature_format);
        if (sig->algorithm != first_key->algorithm())
            check(vs == VerifyStatus::bad_key || vs == VerifyStatus::unsupported_algorithm);
    }
    check(ERR_peek_error() == 0);
    return 0;
}
