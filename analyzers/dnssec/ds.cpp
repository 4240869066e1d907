#include "analyzers/dnssec/ds.h"

#include <algorithm>

#include "analyzers/dnssec/algorithms.h"
#include "analyzers/dnssec/keytag.h"
#include "analyzers/dnssec/openssl.h"

namespace frag53::dnssec {
namespace {

constexpr size_t dnskey_fixed_size = 4;  // flags, protocol, algorithm

// Lower-case copy of a wire-form name, in place of the caller's Name (which stays untouched).
void canonical_owner(const dns::Name& owner, std::array<uint8_t, 255>& out) noexcept {
    for (size_t i = 0; i < owner.length; ++i) {
        const uint8_t c = owner.wire[i];
        out[i] = (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + ('a' - 'A')) : c;
    }
}

}  // namespace

const char* to_string(DigestStatus s) noexcept {
    switch (s) {
    case DigestStatus::ok: return "ok";
    case DigestStatus::unsupported_digest: return "unsupported_digest";
    case DigestStatus::bad_key: return "bad_key";
    }
    return "unknown";
}

DigestStatus ds_digest(const dns::Name& owner, Bytes rdata, uint8_t digest_type,
                       std::array<uint8_t, 48>& out, size_t& out_len) noexcept {
    out_len = 0;
    ossl::Digest which;
    switch (digest_type) {
    case digest::SHA1: which = ossl::Digest::sha1; break;
    case digest::SHA256: which = ossl::Digest::sha256; break;
    case digest::SHA384: which = ossl::Digest::sha384; break;
    default: return DigestStatus::unsupported_digest;
    }
    if (owner.length == 0 || rdata.size() < dnskey_fixed_size) return DigestStatus::bad_key;
    ossl::ErrorQueueGuard errors;
    const EVP_MD* md = ossl::digest(which);
    EVP_MD_CTX* ctx = ossl::thread_digest_ctx();
    if (!md || !ctx) return DigestStatus::unsupported_digest;

    std::array<uint8_t, 255> name;
    canonical_owner(owner, name);
    unsigned len = 0;
    if (EVP_DigestInit_ex2(ctx, md, nullptr) != 1 ||
        EVP_DigestUpdate(ctx, name.data(), owner.length) != 1 ||
        EVP_DigestUpdate(ctx, rdata.data(), rdata.size()) != 1 ||
        EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len > out.size())
        return DigestStatus::unsupported_digest;
    out_len = len;
    return DigestStatus::ok;
}

bool ds_matches_dnskey(const dns::DsView& ds, const dns::Name& owner, Bytes rdata) noexcept {
    if (rdata.size() < dnskey_fixed_size) return false;
    if (static_cast<uint8_t>(rdata[3]) != ds.algorithm) return false;
    if (key_tag(rdata) != ds.key_tag) return false;
    std::array<uint8_t, 48> d;
    size_t n = 0;
    if (ds_digest(owner, rdata, ds.digest_type, d, n) != DigestStatus::ok) return false;
    return ds.digest.size() == n &&
           std::equal(d.begin(), d.begin() + static_cast<ptrdiff_t>(n), ds.digest.begin(),
                      [](uint8_t a, std::byte b) { return a == static_cast<uint8_t>(b); });
}

}  // namespace frag53::dnssec
