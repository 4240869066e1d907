// The size search of one (mode, variant): landmark sizes first, then k-section down to the byte.
//
// The search assumes a threshold: every answer up to some size passes, every larger one is lost.
// A pass above a failure breaks that assumption (loss, or a filter that is not a size limit); the
// search then trusts the pass (the path did carry that size) and counts the inconsistency so the
// verdicts can discount the result.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <vector>

namespace frag53::probe {

// Sizes that matter to DNS operators: the classic limit, the DNS flag day 2020 default, the IPv6
// minimum MTU, common tunnel MTUs, Ethernet minus IPv6/IPv4 headers, Ethernet, and the two
// usual EDNS buffer sizes.
inline constexpr std::array<uint32_t, 9> landmark_sizes{512, 1232, 1280, 1400, 1452, 1472, 1500,
                                                        2048, 4096};

class SizeSearch {
public:
    // Searches [floor, ceiling]; `exact`: bisect down to one byte after the landmarks (otherwise
    // the landmarks are the whole search).
    SizeSearch(uint32_t floor, uint32_t ceiling, bool exact) noexcept;

    // The sizes to try next: all landmarks within range (and the ceiling) on the first call, then
    // up to `budget` (at least 1) sizes splitting the open interval evenly. Empty when done.
    std::vector<uint32_t> next_round(unsigned budget);
    void record(uint32_t size, bool passed);

    bool done() const noexcept;
    // The largest size that passed (0: none), and the smallest larger one that failed (0: none,
    // the ceiling passed).
    uint32_t max_passed() const noexcept { return lo_; }
    uint32_t min_failed() const noexcept { return hi_; }
    // Failures below max_passed(): sizes that were lost although a larger one passed.
    uint32_t inconsistencies() const noexcept { return inconsistent_; }
    // The search ended with max_passed() and min_failed() one byte apart, or at the ceiling.
    bool exact() const noexcept;
    const std::map<uint32_t, bool>& tested() const noexcept { return tested_; }
    uint32_t floor() const noexcept { return floor_; }
    uint32_t ceiling() const noexcept { return ceiling_; }

private:
    void update() noexcept;

    uint32_t floor_, ceiling_;
    bool bisect_;
    bool started_ = false;
    std::map<uint32_t, bool> tested_;
    uint32_t lo_ = 0, hi_ = 0;
    uint32_t inconsistent_ = 0;
};

}  // namespace frag53::probe
