#include "prober/probe/size_search.h"

#include <algorithm>

namespace frag53::probe {

SizeSearch::SizeSearch(uint32_t floor, uint32_t ceiling, bool exact) noexcept
    : floor_(floor), ceiling_(std::max(floor, ceiling)), bisect_(exact) {}

std::vector<uint32_t> SizeSearch::next_round(unsigned budget) {
    std::vector<uint32_t> out;
    if (!started_) {
        started_ = true;
        for (uint32_t s : landmark_sizes)
            if (s >= floor_ && s <= ceiling_) out.push_back(s);
        if (out.empty() || out.back() != ceiling_) out.push_back(ceiling_);
        return out;
    }
    if (done()) return out;
    // Open interval (low, high): low passed (or is just below the floor), high failed.
    const uint32_t low = lo_ != 0 ? lo_ : floor_ - 1;
    const uint32_t high = hi_;
    const uint32_t gap = high - low;
    const uint32_t k = std::clamp<uint32_t>(budget, 1, gap - 1);
    for (uint32_t i = 1; i <= k; ++i) {
        const uint32_t s = low + static_cast<uint32_t>(static_cast<uint64_t>(gap) * i / (k + 1));
        if (s > low && s < high && !tested_.contains(s) && (out.empty() || out.back() != s))
            out.push_back(s);
    }
    return out;
}

void SizeSearch::record(uint32_t size, bool passed) {
    auto [it, inserted] = tested_.emplace(size, passed);
    // A size tried twice passed if either try passed: the path carried it once.
    if (!inserted) it->second = it->second || passed;
    update();
}

void SizeSearch::update() noexcept {
    lo_ = 0;
    for (const auto& [size, passed] : tested_)
        if (passed) lo_ = size;
    hi_ = 0;
    inconsistent_ = 0;
    for (const auto& [size, passed] : tested_) {
        if (passed) continue;
        if (size < lo_) ++inconsistent_;
        else if (hi_ == 0) hi_ = size;
    }
}

bool SizeSearch::exact() const noexcept {
    if (hi_ == 0) return lo_ == ceiling_;
    const uint32_t low = lo_ != 0 ? lo_ : floor_ - 1;
    return hi_ - low <= 1;
}

bool SizeSearch::done() const noexcept {
    if (!started_) return false;
    if (tested_.empty()) return false;
    return !bisect_ || exact();
}

}  // namespace frag53::probe
