#include "analyzers/dnssec/verify.h"

#include <openssl/core_names.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <bit>

#include "analyzers/dnssec/algorithms.h"

namespace frag53::dnssec {
namespace {

enum class Family : uint8_t { none, rsa, ecdsa, eddsa };

struct AlgorithmParams {
    Family family = Family::none;
    ossl::Digest digest = ossl::Digest::sha256;
    size_t coordinate_size = 0;  // ECDSA: bytes per coordinate / per r and s; EdDSA: key size
    size_t signature_size = 0;   // ECDSA and EdDSA: fixed signature size
    const char* group = nullptr; // ECDSA curve / EdDSA key type
    unsigned bits = 0;
};

AlgorithmParams params_of(uint8_t alg) noexcept {
    switch (alg) {
    case algorithm::RSASHA1:
    case algorithm::RSASHA1_NSEC3_SHA1: return {Family::rsa, ossl::Digest::sha1};
    case algorithm::RSASHA256: return {Family::rsa, ossl::Digest::sha256};
    case algorithm::RSASHA512: return {Family::rsa, ossl::Digest::sha512};
    case algorithm::ECDSAP256SHA256:
        return {Family::ecdsa, ossl::Digest::sha256, 32, 64, "P-256", 256};
    case algorithm::ECDSAP384SHA384:
        return {Family::ecdsa, ossl::Digest::sha384, 48, 96, "P-384", 384};
    case algorithm::ED25519: return {Family::eddsa, ossl::Digest::sha256, 32, 64, "ED25519", 255};
    case algorithm::ED448: return {Family::eddsa, ossl::Digest::sha256, 57, 114, "ED448", 448};
    default: return {};
    }
}

// Big-endian wire integer into the native-endian buffer OSSL_PARAM_construct_BN expects.
void to_native(Bytes be, unsigned char* out) noexcept {
    const size_t n = be.size();
    for (size_t i = 0; i < n; ++i) {
        const auto b = static_cast<unsigned char>(be[i]);
        if constexpr (std::endian::native == std::endian::little)
            out[n - 1 - i] = b;
        else
            out[i] = b;
    }
}

ossl::Pkey from_params(const char* type, OSSL_PARAM* params) noexcept {
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return {};
    EVP_PKEY* pkey = nullptr;
    if (EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) return {};
    return ossl::Pkey(pkey);
}

// RFC 3110 section 2: exponent length (1 octet, or 0 then 2 octets), exponent, modulus.
// Null when the bytes do not make an acceptable RSA public key.
ossl::Pkey rsa_key(Bytes key, unsigned& bits) noexcept {
    WireReader r(key);
    size_t elen = r.u8();
    if (elen == 0) elen = r.u16();
    if (!r.ok() || elen == 0 || elen > rsa_max_exponent_bytes || elen >= r.remaining()) return {};
    Bytes e = r.bytes(elen);
    const Bytes n = r.rest();
    // Leading zeros of the exponent are harmless; one on the modulus would make its size (and the
    // signature size derived from it) lie.
    while (!e.empty() && e[0] == std::byte{0}) e = e.subspan(1);
    if (e.empty() || n[0] == std::byte{0}) return {};
    // An even exponent (or 1) is not an RSA public key.
    if ((static_cast<uint8_t>(e.back()) & 1) == 0 || (e.size() == 1 && e[0] == std::byte{1}))
        return {};
    bits = static_cast<unsigned>(n.size() * 8 - static_cast<size_t>(std::countl_zero(
                                                    static_cast<uint8_t>(n[0]))));
    if (bits < rsa_min_modulus_bits || bits > rsa_max_modulus_bits) return {};
    // The modulus must be odd too (a product of two odd primes).
    if ((static_cast<uint8_t>(n.back()) & 1) == 0) return {};

    std::array<unsigned char, rsa_max_modulus_bits / 8> n_native;
    std::array<unsigned char, rsa_max_exponent_bytes> e_native;
    to_native(n, n_native.data());
    to_native(e, e_native.data());
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_N, n_native.data(), n.size()),
        OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_E, e_native.data(), e.size()),
        OSSL_PARAM_construct_end(),
    };
    return from_params("RSA", params);
}

}  // namespace

const char* to_string(KeyStatus s) noexcept {
    switch (s) {
    case KeyStatus::ok: return "ok";
    case KeyStatus::unsupported_algorithm: return "unsupported_algorithm";
    case KeyStatus::bad_key: return "bad_key";
    }
    return "unknown";
}

const char* to_string(VerifyStatus s) noexcept {
    switch (s) {
    case VerifyStatus::valid: return "valid";
    case VerifyStatus::invalid: return "invalid";
    case VerifyStatus::unsupported_algorithm: return "unsupported_algorithm";
    case VerifyStatus::bad_key: return "bad_key";
    case VerifyStatus::bad_signature_format: return "bad_signature_format";
    }
    return "unknown";
}

std::optional<PublicKey> PublicKey::from_dnskey(const dns::DnskeyView& dnskey,
                                                KeyStatus* status) noexcept {
    if (dnskey.protocol != 3) {
        if (status) *status = KeyStatus::bad_key;
        return std::nullopt;
    }
    return from_key(dnskey.algorithm, dnskey.public_key, status);
}

std::optional<PublicKey> PublicKey::from_key(uint8_t alg, Bytes key, KeyStatus* status) noexcept {
    KeyStatus dummy;
    KeyStatus& st = status ? *status : dummy;
    ossl::ErrorQueueGuard errors;
    const AlgorithmParams p = params_of(alg);
    ossl::Pkey pkey;
    unsigned bits = p.bits;
    size_t sig_size = p.signature_size;
    switch (p.family) {
    case Family::none:
        st = KeyStatus::unsupported_algorithm;
        return std::nullopt;
    case Family::rsa:
        st = KeyStatus::bad_key;
        pkey = rsa_key(key, bits);
        if (!pkey) return std::nullopt;
        sig_size = (bits + 7) / 8;
        break;
    case Family::ecdsa: {
        st = KeyStatus::bad_key;
        if (key.size() != 2 * p.coordinate_size) return std::nullopt;
        // RFC 6605 keys are x || y; OpenSSL takes the SEC 1 uncompressed point 04 || x || y,
        // and refuses a point that is not on the curve or has a coordinate >= p.
        std::array<unsigned char, 1 + 2 * 48> point;
        point[0] = 0x04;
        std::transform(key.begin(), key.end(), point.begin() + 1,
                       [](std::byte b) { return static_cast<unsigned char>(b); });
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                             const_cast<char*>(p.group), 0),
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                              1 + key.size()),
            OSSL_PARAM_construct_end(),
        };
        pkey = from_params("EC", params);
        if (!pkey) return std::nullopt;
        // OpenSSL 3.0's import already refuses such points; the explicit on-curve and range
        // check (without the costly order check) keeps that true whatever a later version's
        // import does, for about 3 us per key, which the key cache pays once.
        ossl::PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
        if (!check || EVP_PKEY_public_check_quick(check.get()) != 1) return std::nullopt;
        break;
    }
    case Family::eddsa:
        st = KeyStatus::bad_key;
        if (key.size() != p.coordinate_size) return std::nullopt;
        pkey.reset(EVP_PKEY_new_raw_public_key_ex(
            nullptr, p.group, nullptr, reinterpret_cast<const unsigned char*>(key.data()),
            key.size()));
        if (!pkey) return std::nullopt;
        break;
    }
    st = KeyStatus::ok;
    return PublicKey(std::move(pkey), alg, bits, sig_size);
}

namespace {

// One DER INTEGER from an unsigned big-endian value: leading zeros dropped, a zero octet added
// when the top bit is set. Returns the bytes written (at most 2 + 1 + n).
size_t der_integer(Bytes v, unsigned char* out) noexcept {
    size_t i = 0;
    while (i + 1 < v.size() && v[i] == std::byte{0}) ++i;
    const bool pad = (static_cast<uint8_t>(v[i]) & 0x80) != 0;
    const size_t len = v.size() - i + (pad ? 1 : 0);
    size_t o = 0;
    out[o++] = 0x02;
    out[o++] = static_cast<unsigned char>(len);
    if (pad) out[o++] = 0x00;
    for (; i < v.size(); ++i) out[o++] = static_cast<unsigned char>(v[i]);
    return o;
}

const unsigned char* uc(Bytes b) noexcept {
    return reinterpret_cast<const unsigned char*>(b.data());
}

}  // namespace

VerifyStatus verify(const PublicKey& key, uint8_t alg, Bytes data, Bytes sig) noexcept {
    const AlgorithmParams p = params_of(alg);
    if (p.family == Family::none) return VerifyStatus::unsupported_algorithm;
    if (!key.get() || key.algorithm() != alg) return VerifyStatus::bad_key;
    if (sig.size() != key.signature_size()) return VerifyStatus::bad_signature_format;

    ossl::ErrorQueueGuard errors;
    EVP_MD_CTX* ctx = ossl::thread_verify_ctx();
    if (!ctx) return VerifyStatus::unsupported_algorithm;
    const ossl::VerifyCtxReset reset{ctx};

    if (p.family == Family::eddsa) {
        // EdDSA hashes the message itself and has no streaming interface: one-shot.
        if (EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key.get()) != 1)
            return VerifyStatus::bad_key;
        return EVP_DigestVerify(ctx, uc(sig), sig.size(), uc(data), data.size()) == 1
                   ? VerifyStatus::valid
                   : VerifyStatus::invalid;
    }

    const EVP_MD* md = ossl::digest(p.digest);
    if (!md) return VerifyStatus::unsupported_algorithm;
    if (EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, key.get()) != 1)
        return VerifyStatus::bad_key;
    if (EVP_DigestVerifyUpdate(ctx, data.data(), data.size()) != 1) return VerifyStatus::invalid;

    if (p.family == Family::rsa)
        return EVP_DigestVerifyFinal(ctx, uc(sig), sig.size()) == 1 ? VerifyStatus::valid
                                                                    : VerifyStatus::invalid;

    // ECDSA: RFC 6605 r || s to the DER ECDSA-Sig-Value OpenSSL verifies. At most
    // 2 * (2 + 1 + 48) content bytes, so the SEQUENCE length fits one octet.
    std::array<unsigned char, 2 + 2 * (3 + 48)> der;
    const size_t half = p.coordinate_size;
    size_t n = 2;
    n += der_integer(sig.first(half), der.data() + n);
    n += der_integer(sig.subspan(half), der.data() + n);
    der[0] = 0x30;
    der[1] = static_cast<unsigned char>(n - 2);
    return EVP_DigestVerifyFinal(ctx, der.data(), n) == 1 ? VerifyStatus::valid
                                                          : VerifyStatus::invalid;
}

}  // namespace frag53::dnssec
