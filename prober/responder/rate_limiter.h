// Per-source answer rate limit for the UDP side of `frag53 responder`.
//
// A token bucket per source (IPv4 address, IPv6 /64: one host controls a whole /64, so counting
// single IPv6 addresses would let it multiply its budget), kept in its "theoretical arrival
// time" form (GCRA): one 64-bit time per source instead of a token count and a timestamp. A
// source may send `burst` queries at once and then `rate` per second.
//
// The table is bounded: a set-associative array of fixed size. A new source takes a slot whose
// bucket has refilled (forgetting it changes nothing), or else evicts the fullest bucket of its
// set; every such eviction is counted. Set selection is keyed with a per-process random seed so
// a sender of spoofed addresses cannot aim at one set.
//
// Time is an input (nanoseconds from any monotonic origin), never read here.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace frag53::probe {

struct RateLimitConfig {
    uint32_t rate = 0;          // answers per second per source; 0 disables the limit
    uint32_t burst = 0;         // queries answered at once before the rate applies; 0: = rate
    uint32_t slip = 2;          // every slip-th limited query gets a small TC=1 answer; 0: never
    size_t table_size = 65536;  // sources tracked, rounded up to a multiple of the set size
};

enum class RateDecision : uint8_t {
    pass,  // answer normally
    drop,  // over the limit: send nothing
    slip,  // over the limit: send a minimal TC=1 answer (the client may retry over TCP)
};

struct RateLimitCounters {
    uint64_t passed = 0;
    uint64_t dropped = 0;
    uint64_t slipped = 0;
    uint64_t evictions = 0;  // a source with a partly used bucket forgotten for a new one
};

class RateLimiter {
public:
    static constexpr size_t ways = 4;

    RateLimiter(const RateLimitConfig& cfg, uint64_t seed);

    bool enabled() const noexcept { return interval_ns_ != 0; }
    RateDecision check_v4(const std::array<uint8_t, 4>& addr, uint64_t now_ns) noexcept;
    RateDecision check_v6(const std::array<uint8_t, 16>& addr, uint64_t now_ns) noexcept;

    const RateLimitCounters& counters() const noexcept { return ctr_; }
    size_t capacity() const noexcept { return slots_.size(); }
    size_t tracked(uint64_t now_ns) const noexcept;  // sources whose bucket is not full

private:
    struct Slot {
        uint64_t key_hi = 0, key_lo = 0;
        uint64_t tat = 0;    // theoretical arrival time; the bucket is full when tat <= now
        uint32_t limited = 0;  // queries over the limit, for the slip
        uint8_t family = 0;    // 0: free, 4, 6
    };
    RateDecision check(uint8_t family, uint64_t hi, uint64_t lo, uint64_t now_ns) noexcept;

    uint64_t interval_ns_ = 0;  // time one token takes to come back
    uint64_t tolerance_ns_ = 0; // (burst - 1) * interval: how far ahead tat may run
    uint32_t slip_ = 0;
    uint64_t seed_ = 0;
    std::vector<Slot> slots_;
    size_t set_mask_ = 0;
    RateLimitCounters ctr_;
};

}  // namespace frag53::probe
