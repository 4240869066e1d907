// RAII aliases over OpenSSL handles and the per-thread objects every DNSSEC primitive reuses.
//
// OpenSSL 3 looks algorithms up in its provider store on every implicit fetch (EVP_sha256() in
// an init call); fetching each digest once and keeping one EVP_MD_CTX per thread removes that
// lookup and the context allocation from every call. Nothing here is shared between threads.
#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>

#include <memory>

namespace frag53::dnssec::ossl {

struct PkeyFree { void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); } };
struct PkeyCtxFree { void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); } };
struct MdCtxFree { void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); } };
struct MdFree { void operator()(EVP_MD* p) const noexcept { EVP_MD_free(p); } };

using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using Md = std::unique_ptr<EVP_MD, MdFree>;

enum class Digest : uint8_t { sha1, sha256, sha384, sha512 };

// The fetched digest (null if the provider has none: callers report unsupported). Per thread.
const EVP_MD* digest(Digest d) noexcept;

// This thread's context for plain digests (DS, NSEC3): not reset between uses, so that a digest
// init on the same algorithm can keep its state allocation. Null only if OpenSSL cannot allocate.
EVP_MD_CTX* thread_digest_ctx() noexcept;
// This thread's context for signature checks, ready for a DigestVerifyInit; the user resets it
// when done (VerifyCtxReset) so that it does not keep the key it last used alive. Null only if
// OpenSSL cannot allocate one.
EVP_MD_CTX* thread_verify_ctx() noexcept;

struct VerifyCtxReset {
    EVP_MD_CTX* ctx;
    explicit VerifyCtxReset(EVP_MD_CTX* c) noexcept : ctx(c) {}
    VerifyCtxReset(const VerifyCtxReset&) = delete;
    VerifyCtxReset& operator=(const VerifyCtxReset&) = delete;
    ~VerifyCtxReset() {
        if (ctx) EVP_MD_CTX_reset(ctx);  // frees the EVP_PKEY_CTX, keeps the allocation
    }
};

// OpenSSL leaves errors on a per-thread queue; a failed call on hostile input must not leave
// them for an unrelated caller to find. Clears the queue when it goes out of scope.
struct ErrorQueueGuard {
    ErrorQueueGuard() = default;
    ErrorQueueGuard(const ErrorQueueGuard&) = delete;
    ErrorQueueGuard& operator=(const ErrorQueueGuard&) = delete;
    ~ErrorQueueGuard() { ERR_clear_error(); }
};

}  // namespace frag53::dnssec::ossl
