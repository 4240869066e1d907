#include "prober/probe/timing.h"

#include <algorithm>

namespace frag53::probe {

void RttEstimator::sample(uint32_t rtt_us) noexcept {
    // RFC 6298 2.2 / 2.3 with alpha = 1/8, beta = 1/4.
    if (samples_++ == 0) {
        srtt_ = rtt_us;
        rttvar_ = rtt_us / 2;
        return;
    }
    const uint32_t diff = srtt_ > rtt_us ? srtt_ - rtt_us : rtt_us - srtt_;
    rttvar_ = rttvar_ - rttvar_ / 4 + diff / 4;
    srtt_ = srtt_ - srtt_ / 8 + rtt_us / 8;
}

uint32_t RttEstimator::base_us() const noexcept {
    if (samples_ == 0) return policy_.initial_timeout_us;
    return static_cast<uint32_t>(std::min<uint64_t>(uint64_t{srtt_} + 4ull * rttvar_, UINT32_MAX));
}

uint32_t RttEstimator::udp_timeout_us(unsigned attempt) const noexcept {
    uint64_t t = std::max(base_us(), policy_.min_timeout_us);
    t <<= std::min(attempt, 8u);
    return static_cast<uint32_t>(std::min<uint64_t>(t, policy_.max_timeout_us));
}

uint32_t RttEstimator::tcp_timeout_us(unsigned attempt) const noexcept {
    uint64_t t = std::max(base_us(), policy_.tcp_min_timeout_us);
    t <<= std::min(attempt, 8u);
    return static_cast<uint32_t>(std::min<uint64_t>(t, std::max(policy_.max_timeout_us, policy_.tcp_min_timeout_us)));
}

}  // namespace frag53::probe
