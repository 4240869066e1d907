// DNSSEC public keys and signature checks with OpenSSL 3.
//
// Supported: RSA/SHA-1 (5, 7), RSA/SHA-256 (8), RSA/SHA-512 (10) with RFC 3110 keys, ECDSA
// P-256/SHA-256 (13) and P-384/SHA-384 (14) with RFC 6605 raw keys and r||s signatures, Ed25519
// (15) and Ed448 (16) per RFC 8080. Everything is noexcept and safe on hostile bytes: OpenSSL
// failures become statuses and the thread's OpenSSL error queue is left empty.
//
// Building a key is the expensive part (an EVP_PKEY from provider parameters); KeyCache keeps
// them per thread. A check reuses the thread's EVP_MD_CTX and pre-fetched digests (no provider
// lookup per call); OpenSSL 3 still allocates its own EVP_PKEY_CTX inside each DigestVerifyInit,
// which is small next to the public-key operation itself.
#pragma once

#include <cstdint>
#include <optional>

#include "analyzers/dns/message.h"
#include "analyzers/dnssec/openssl.h"
#include "dataplane/wire_reader.h"

namespace frag53::dnssec {

// RSA keys outside these sizes are refused as bad keys: RFC 3110 and RFC 5702 allow 512..4096
// bits, and a larger modulus (or an exponent past 64 bits, as OpenSSL itself enforces above 3072
// bits) only makes each check of a hostile key slower.
inline constexpr unsigned rsa_min_modulus_bits = 512;
inline constexpr unsigned rsa_max_modulus_bits = 4096;
inline constexpr unsigned rsa_max_exponent_bytes = 8;  // as encoded, leading zeros included
// No DNSKEY RDATA longer than this makes a key of any supported algorithm (RSA: 4 fixed bytes,
// 3 bytes of exponent length, the exponent, a 4096-bit modulus).
inline constexpr size_t max_key_rdata = 4 + 3 + rsa_max_exponent_bytes + rsa_max_modulus_bits / 8;

enum class KeyStatus : uint8_t {
    ok,
    unsupported_algorithm,  // no verifier for this algorithm (or OpenSSL lacks it)
    bad_key,                // key bytes that do not make a key of the algorithm
};
const char* to_string(KeyStatus s) noexcept;

class PublicKey {
public:
    // From a DNSKEY record: protocol must be 3 (RFC 4034 section 2.1.2). The Zone Key flag is
    // not checked here: whether a key may verify RRset signatures is the validator's decision.
    static std::optional<PublicKey> from_dnskey(const dns::DnskeyView& dnskey,
                                                KeyStatus* status = nullptr) noexcept;
    // From the algorithm number and the DNSKEY Public Key field.
    static std::optional<PublicKey> from_key(uint8_t algorithm, Bytes key,
                                             KeyStatus* status = nullptr) noexcept;

    uint8_t algorithm() const noexcept { return algorithm_; }
    // RSA modulus bits, or the curve's size (256, 384, 255 for Ed25519, 448 for Ed448).
    unsigned bits() const noexcept { return bits_; }
    // The exact signature length this key's signatures have (RSA: modulus bytes).
    size_t signature_size() const noexcept { return signature_size_; }
    EVP_PKEY* get() const noexcept { return pkey_.get(); }

private:
    PublicKey(ossl::Pkey pkey, uint8_t algorithm, unsigned bits, size_t signature_size) noexcept
        : pkey_(std::move(pkey)), algorithm_(algorithm), bits_(bits),
          signature_size_(signature_size) {}

    ossl::Pkey pkey_;
    uint8_t algorithm_ = 0;
    unsigned bits_ = 0;
    size_t signature_size_ = 0;
};

enum class VerifyStatus : uint8_t {
    valid,
    invalid,                // well-formed signature that does not match the data and key
    unsupported_algorithm,  // the algorithm has no verifier
    bad_key,                // the key is not of the signature's algorithm (RFC 4035 5.3.1)
    bad_signature_format,   // wrong length for the key (RSA, ECDSA, EdDSA sizes are fixed)
};
const char* to_string(VerifyStatus s) noexcept;

// Checks `signature` (the RRSIG Signature field, as on the wire) over `signed_data` (see
// canonical.h) with `key`, for the RRSIG's `algorithm`.
VerifyStatus verify(const PublicKey& key, uint8_t algorithm, Bytes signed_data,
                    Bytes signature) noexcept;

}  // namespace frag53::dnssec
