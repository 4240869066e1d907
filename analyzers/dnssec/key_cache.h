// Bounded per-thread cache of parsed DNSSEC public keys.
//
// Turning DNSKEY bytes into an OpenSSL key costs a large share of a signature check (ECDSA P-256
// about 40% of a verification, RSA-2048 about 25%) while a cache hit costs about 0.1 us (see
// bench/dnssec_bench.cpp), and the same few keys sign everything a zone sends, so a worker keeps
// one cache and asks it for every key.
// Set-associative with LRU inside each set: a fixed number of slots allocated once, no
// allocation afterwards, every eviction counted. Keys that do not parse are cached too (as
// failures), so a hostile key is parsed once, not once per signature that names it.
//
// Entries are keyed by owner name (ignoring case) and the full DNSKEY RDATA (compared byte for
// byte, never trusted to a hash), which also fixes the key tag and the algorithm. A slot holds
// its RDATA inline (max_key_rdata bytes): about 850 bytes per slot plus the OpenSSL key.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "analyzers/dns/message.h"
#include "analyzers/dnssec/verify.h"

namespace frag53::dnssec {

class KeyCache {
public:
    static constexpr size_t ways = 8;

    struct Stats {
        uint64_t hits = 0;
        uint64_t misses = 0;
        uint64_t inserts = 0;
        uint64_t evictions = 0;
        uint64_t uncacheable = 0;  // RDATA too long to be any key: refused without a slot
    };

    // Room for at least `capacity` keys (rounded up to a power-of-two number of sets of `ways`).
    // Throws std::bad_alloc like any container; configuration time only.
    explicit KeyCache(size_t capacity = 1024);
    KeyCache(const KeyCache&) = delete;
    KeyCache& operator=(const KeyCache&) = delete;

    // The key of `dnskey` owned by `owner`: cached, or parsed and cached. Null when the DNSKEY
    // does not make a key (`status`, when given, says why). The pointer stays valid until the
    // next call to get() or clear().
    const PublicKey* get(const dns::Name& owner, const dns::DnskeyView& dnskey,
                         KeyStatus* status = nullptr) noexcept;

    void clear() noexcept;
    const Stats& stats() const noexcept { return stats_; }
    size_t capacity() const noexcept { return entries_.size(); }
    size_t size() const noexcept { return size_; }

private:
    struct Entry {
        bool used = false;
        KeyStatus status = KeyStatus::bad_key;
        uint16_t rdata_length = 0;
        uint64_t hash = 0;
        uint64_t last_use = 0;
        std::optional<PublicKey> key;
        dns::Name owner;
        std::array<uint8_t, max_key_rdata> rdata;
    };

    std::vector<Entry> entries_;
    size_t set_mask_ = 0;
    size_t size_ = 0;
    uint64_t clock_ = 0;
    Stats stats_;
    std::optional<PublicKey> uncached_;  // result of the last uncacheable get()
};

}  // namespace frag53::dnssec
