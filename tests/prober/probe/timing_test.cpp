#include "prober/probe/timing.h"

#include <gtest/gtest.h>

namespace frag53::probe {
namespace {

TEST(RttEstimator, InitialTimeoutBeforeSamples) {
    TimingPolicy p;
    RttEstimator e(p);
    EXPECT_FALSE(e.has_samples());
    EXPECT_EQ(e.udp_timeout_us(0), p.initial_timeout_us);
    EXPECT_EQ(e.udp_timeout_us(1), 2 * p.initial_timeout_us);
}

TEST(RttEstimator, Rfc6298Smoothing) {
    TimingPolicy p;
    RttEstimator e(p);
    e.sample(100'000);
    EXPECT_EQ(e.srtt_us(), 100'000u);
    EXPECT_EQ(e.rttvar_us(), 50'000u);
    EXPECT_EQ(e.udp_timeout_us(0), 300'000u);  // SRTT + 4 RTTVAR
    e.sample(200'000);
    // RTTVAR = 3/4 * 50000 + 1/4 * |100000 - 200000| = 62500; SRTT = 7/8 * 100000 + 1/8 * 200000.
    EXPECT_EQ(e.rttvar_us(), 62'500u);
    EXPECT_EQ(e.srtt_us(), 112'500u);
    EXPECT_EQ(e.udp_timeout_us(0), 362'500u);
}

TEST(RttEstimator, FastPathsKeepTheFloorAndBackOff) {
    TimingPolicy p;
    RttEstimator e(p);
    for (int i = 0; i < 20; ++i) e.sample(300);
    EXPECT_EQ(e.udp_timeout_us(0), p.min_timeout_us);
    EXPECT_EQ(e.udp_timeout_us(1), 2 * p.min_timeout_us);
    EXPECT_EQ(e.grace_us(), p.min_timeout_us);
    EXPECT_EQ(e.tcp_timeout_us(0), p.tcp_min_timeout_us);
}

TEST(RttEstimator, CappedAtTheMaximum) {
    TimingPolicy p;
    RttEstimator e(p);
    e.sample(2'000'000);
    EXPECT_EQ(e.udp_timeout_us(0), p.max_timeout_us);
    EXPECT_EQ(e.udp_timeout_us(5), p.max_timeout_us);
}

}  // namespace
}  // namespace frag53::probe
