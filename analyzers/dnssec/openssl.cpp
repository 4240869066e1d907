#include "analyzers/dnssec/openssl.h"

#include <array>

namespace frag53::dnssec::ossl {
namespace {

struct ThreadState {
    std::array<Md, 4> md;
    std::array<bool, 4> fetched{};
    MdCtx digest_ctx;
    MdCtx verify_ctx;
};

ThreadState& state() noexcept {
    thread_local ThreadState s;
    return s;
}

}  // namespace

const EVP_MD* digest(Digest d) noexcept {
    static constexpr std::array<const char*, 4> names{"SHA1", "SHA256", "SHA384", "SHA512"};
    ThreadState& s = state();
    const auto i = static_cast<size_t>(d);
    if (!s.fetched[i]) {
        s.md[i].reset(EVP_MD_fetch(nullptr, names[i], nullptr));
        s.fetched[i] = true;
        if (!s.md[i]) ERR_clear_error();
    }
    return s.md[i].get();
}

EVP_MD_CTX* thread_digest_ctx() noexcept {
    ThreadState& s = state();
    if (!s.digest_ctx) s.digest_ctx.reset(EVP_MD_CTX_new());
    return s.digest_ctx.get();
}

EVP_MD_CTX* thread_verify_ctx() noexcept {
    ThreadState& s = state();
    if (!s.verify_ctx) s.verify_ctx.reset(EVP_MD_CTX_new());
    return s.verify_ctx.get();
}

}  // namespace frag53::dnssec::ossl
