#include "analyzers/dnssec/key_cache.h"

#include <bit>
#include <cstring>

namespace frag53::dnssec {
namespace {

uint64_t rdata_hash(uint64_t h, Bytes rdata) noexcept {
    for (const std::byte b : rdata) {
        h ^= static_cast<uint8_t>(b);
        h *= 0x100000001b3ull;
    }
    // Final mix: the set index takes the low bits.
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

}  // namespace

KeyCache::KeyCache(size_t capacity) {
    const size_t sets = std::bit_ceil(std::max<size_t>(1, (capacity + ways - 1) / ways));
    entries_.resize(sets * ways);
    set_mask_ = sets - 1;
}

void KeyCache::clear() noexcept {
    for (Entry& e : entries_) {
        e.used = false;
        e.key.reset();
    }
    size_ = 0;
    uncached_.reset();
}

const PublicKey* KeyCache::get(const dns::Name& owner, const dns::DnskeyView& dnskey,
                               KeyStatus* status) noexcept {
    KeyStatus dummy;
    KeyStatus& st = status ? *status : dummy;
    const Bytes rdata = dnskey.rdata;
    if (rdata.size() > max_key_rdata) {
        // Cannot be a key; parse anyway for the status (it fails on the sizes, cheaply).
        ++stats_.uncacheable;
        uncached_ = PublicKey::from_dnskey(dnskey, &st);
        return uncached_ ? &*uncached_ : nullptr;
    }
    const uint64_t h = rdata_hash(owner.hash_ignore_case(), rdata);
    Entry* set = entries_.data() + (h & set_mask_) * ways;
    ++clock_;

    for (size_t i = 0; i < ways; ++i) {
        Entry& e = set[i];
        if (e.used && e.hash == h && e.rdata_length == rdata.size() &&
            std::memcmp(e.rdata.data(), rdata.data(), rdata.size()) == 0 &&
            e.owner.equals_ignore_case(owner)) {
            ++stats_.hits;
            e.last_use = clock_;
            st = e.status;
            return e.key ? &*e.key : nullptr;
        }
    }
    ++stats_.misses;

    Entry* victim = &set[0];
    for (size_t i = 0; i < ways; ++i) {
        if (!set[i].used) {
            victim = &set[i];
            break;
        }
        if (set[i].last_use < victim->last_use) victim = &set[i];
    }
    if (victim->used) {
        ++stats_.evictions;
    } else {
        ++size_;
    }
    ++stats_.inserts;
    Entry& e = *victim;
    e.key = PublicKey::from_dnskey(dnskey, &e.status);
    e.used = true;
    e.hash = h;
    e.last_use = clock_;
    e.owner = owner;
    e.rdata_length = static_cast<uint16_t>(rdata.size());
    std::memcpy(e.rdata.data(), rdata.data(), rdata.size());
    st = e.status;
    return e.key ? &*e.key : nullptr;
}

}  // namespace frag53::dnssec
