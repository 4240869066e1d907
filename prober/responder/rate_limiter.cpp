#include "prober/responder/rate_limiter.h"

#include <algorithm>
#include <bit>

namespace frag53::probe {

namespace {

uint64_t mix(uint64_t x) noexcept {  // splitmix64 finaliser
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

uint64_t load_be(const uint8_t* p, size_t n) noexcept {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
    return v;
}

}  // namespace

RateLimiter::RateLimiter(const RateLimitConfig& cfg, uint64_t seed) : slip_(cfg.slip), seed_(seed) {
    if (cfg.rate == 0) return;
    interval_ns_ = std::max<uint64_t>(1, 1'000'000'000ull / cfg.rate);
    const uint64_t burst = cfg.burst == 0 ? cfg.rate : cfg.burst;
    tolerance_ns_ = (burst - 1) * interval_ns_;
    const size_t sets = std::bit_ceil(std::max<size_t>(1, (cfg.table_size + ways - 1) / ways));
    slots_.resize(sets * ways);
    set_mask_ = sets - 1;
}

RateDecision RateLimiter::check_v4(const std::array<uint8_t, 4>& addr, uint64_t now_ns) noexcept {
    return check(4, 0, load_be(addr.data(), 4), now_ns);
}

RateDecision RateLimiter::check_v6(const std::array<uint8_t, 16>& addr, uint64_t now_ns) noexcept {
    return check(6, load_be(addr.data(), 8), 0, now_ns);  // the /64
}

RateDecision RateLimiter::check(uint8_t family, uint64_t hi, uint64_t lo, uint64_t now_ns) noexcept {
    if (!enabled()) {
        ++ctr_.passed;
        return RateDecision::pass;
    }
    const uint64_t h = mix(hi ^ seed_) ^ mix(lo + family + (seed_ << 1));
    Slot* set = &slots_[(h & set_mask_) * ways];
    Slot* slot = nullptr;
    for (size_t i = 0; i < ways; ++i) {
        if (set[i].family == family && set[i].key_hi == hi && set[i].key_lo == lo) {
            slot = &set[i];
            break;
        }
    }
    if (slot == nullptr) {
        // A free slot or a refilled bucket first; otherwise the bucket closest to full.
        Slot* victim = &set[0];
        for (size_t i = 0; i < ways; ++i) {
            if (set[i].family == 0 || set[i].tat <= now_ns) {
                victim = &set[i];
                break;
            }
            if (set[i].tat < victim->tat) victim = &set[i];
        }
        if (victim->family != 0 && victim->tat > now_ns) ++ctr_.evictions;
        *victim = Slot{hi, lo, now_ns, 0, family};
        slot = victim;
    }
    const uint64_t tat = std::max(slot->tat, now_ns);
    if (tat - now_ns > tolerance_ns_) {
        ++slot->limited;
        if (slip_ != 0 && slot->limited % slip_ == 0) {
            ++ctr_.slipped;
            return RateDecision::slip;
        }
        ++ctr_.dropped;
        return RateDecision::drop;
    }
    slot->tat = tat + interval_ns_;
    slot->limited = 0;
    ++ctr_.passed;
    return RateDecision::pass;
}

size_t RateLimiter::tracked(uint64_t now_ns) const noexcept {
    return static_cast<size_t>(std::count_if(slots_.begin(), slots_.end(), [&](const Slot& s) {
        return s.family != 0 && s.tat > now_ns;
    }));
}

}  // namespace frag53::probe
