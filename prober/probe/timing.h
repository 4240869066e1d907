// Timeouts from measured round-trip times (RFC 6298 estimator), with a grace window so a slow
// answer is not taken for a lost one.
#pragma once

#include <cstdint>

namespace frag53::probe {

struct TimingPolicy {
    uint32_t initial_timeout_us = 1'000'000;  // before the first RTT sample
    uint32_t min_timeout_us = 150'000;        // never wait less (scheduling, answer building)
    uint32_t max_timeout_us = 3'000'000;
    unsigned retries = 2;                     // attempts = retries + 1, each a new ID and port
    // TCP: the kernel retransmits a lost SYN after one second; an attempt must outlast that.
    uint32_t tcp_min_timeout_us = 1'500'000;
    unsigned tcp_retries = 1;
};

class RttEstimator {
public:
    explicit RttEstimator(const TimingPolicy& p) noexcept : policy_(p) {}

    void sample(uint32_t rtt_us) noexcept;
    bool has_samples() const noexcept { return samples_ != 0; }
    uint32_t srtt_us() const noexcept { return srtt_; }
    uint32_t rttvar_us() const noexcept { return rttvar_; }

    // Timeout of attempt `n` (0-based): SRTT + 4 * RTTVAR, doubled per retry, within the bounds.
    uint32_t udp_timeout_us(unsigned attempt) const noexcept;
    uint32_t tcp_timeout_us(unsigned attempt) const noexcept;
    // How long answers are still accepted after the last attempt timed out: one more timeout.
    // An answer in this window makes the probe "late", not lost.
    uint32_t grace_us() const noexcept { return udp_timeout_us(0); }

private:
    uint32_t base_us() const noexcept;

    TimingPolicy policy_;
    uint32_t srtt_ = 0, rttvar_ = 0;
    uint64_t samples_ = 0;
};

}  // namespace frag53::probe
