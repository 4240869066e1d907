// Verdicts of the server mode (no responder) from its answers.
#include "prober/probe/server_probe.h"

#include <gtest/gtest.h>

namespace frag53::probe {
namespace {

ServerProbeReport report_with(UdpFate fate, uint32_t tcp_size, ArrivalSeen arrival, bool capture) {
    ServerProbeReport r;
    r.gate_udp = r.gate_tcp = true;
    r.capture.enabled = capture;
    ServerAnswer a;
    a.label = "DNSKEY example.";
    a.tcp_size = tcp_size;
    UdpTry large;
    large.edns_size = 4096;
    large.fate = fate;
    large.size = fate == UdpFate::full ? tcp_size : 0;
    large.arrival = arrival;
    a.udp.push_back(large);
    a.fits = fate == UdpFate::full;
    r.answers.push_back(a);
    return r;
}

TEST(ServerProbe, AllFit) {
    auto r = report_with(UdpFate::full, 1800, {}, true);
    auto v = server_verdicts(r, Family::v4);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].code, verdict::ok);
    EXPECT_EQ(server_exit_status(r), 0);
}

TEST(ServerProbe, FirstFragmentOnly) {
    ArrivalSeen a;
    a.first_fragments = 3;
    auto r = report_with(UdpFate::lost, 1800, a, true);
    auto v = server_verdicts(r, Family::v6);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].code, verdict::nonfirst_fragments_dropped);
    EXPECT_EQ(v[0].value, 1800u);
    EXPECT_EQ(server_exit_status(r), 1);
}

TEST(ServerProbe, NothingArrives) {
    auto r = report_with(UdpFate::lost, 3000, {}, true);
    auto v = server_verdicts(r, Family::v4);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].code, verdict::fragments_dropped);
}

TEST(ServerProbe, SmallLostAnswerSaysNothingAboutFragments) {
    // 1000 bytes fit one packet: its loss is not a fragment problem.
    auto r = report_with(UdpFate::lost, 1000, {}, true);
    auto v = server_verdicts(r, Family::v4);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].code, verdict::ok);
    EXPECT_EQ(server_exit_status(r), 1);  // but it did not reach the client
}

TEST(ServerProbe, TcpBlocked) {
    auto r = report_with(UdpFate::full, 1800, {}, false);
    r.gate_tcp = false;
    auto v = server_verdicts(r, Family::v4);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].code, verdict::tcp_blocked);
    EXPECT_EQ(server_exit_status(r), 1);
}

TEST(ServerProbe, GateFailed) {
    ServerProbeReport r;
    EXPECT_TRUE(server_verdicts(r, Family::v4).empty());
    EXPECT_EQ(server_exit_status(r), 2);
}

}  // namespace
}  // namespace frag53::probe
