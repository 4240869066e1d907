#include "analyzers/finding_text.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "analyzers/findings.h"

namespace frag53 {
namespace {

// What format_timestamp printed with gmtime_r and strftime before it did its own arithmetic.
std::string libc_timestamp(uint64_t ts_ns) {
    auto secs = static_cast<std::time_t>(ts_ns / 1000000000ull);
    auto usec = static_cast<unsigned>((ts_ns % 1000000000ull) / 1000ull);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%06uZ", usec);
    return buf;
}

TEST(FindingTextTest, TimestampsMatchGmtime) {
    constexpr uint64_t s = 1000000000ull;
    const uint64_t cases[] = {0, 951782400 * s /* 2000-02-29 */, 951868799 * s + 999999999,
                              4107542400 * s /* 2100-03-01 */, 4294967295 * s /* RRSIG time limit */,
                              1795455998313108000ull, UINT64_MAX};
    for (uint64_t t : cases) {
        EXPECT_EQ(format_timestamp(t), libc_timestamp(t)) << t;
    }
    std::mt19937_64 rng(8);
    for (int i = 0; i < 100000; ++i) {
        const uint64_t t = rng();
        ASSERT_EQ(format_timestamp(t), libc_timestamp(t)) << t;
    }
}

TEST(FindingTextTest, RepeatedSecondsAndAddressesFormatAsFresh) {
    // The formatter reuses the last second's text and the last few addresses' text: runs of
    // times within one second, back and forth across seconds, and more addresses than it keeps.
    constexpr uint64_t s = 1000000000ull;
    std::mt19937_64 rng(9);
    uint64_t t = 1795455998 * s;
    for (int i = 0; i < 200000; ++i) {
        const unsigned step = static_cast<unsigned>(rng() % 4);
        if (step == 0) t += rng() % (2 * s);           // forward, often into the next second
        else if (step == 1 && t > s) t -= rng() % s;   // back, sometimes into the previous one
        else t += rng() % 1000;                         // within the second
        ASSERT_EQ(format_timestamp(t), libc_timestamp(t)) << t;
    }
    std::vector<IpAddress> hosts;
    for (uint8_t i = 0; i < 7; ++i) {
        const std::byte v4[4] = {std::byte{198}, std::byte{18}, std::byte{0}, std::byte{i}};
        hosts.push_back(IpAddress::v4(v4));
        std::byte v6[16] = {std::byte{0x20}, std::byte{0x01}, std::byte{0x0d}, std::byte{0xb8}};
        v6[15] = std::byte{i};
        hosts.push_back(IpAddress::v6(v6));
    }
    for (int i = 0; i < 20000; ++i) {
        const IpAddress& a = hosts[rng() % (i % 3 == 0 ? hosts.size() : 3)];
        std::string got;
        text::append(got, a);
        char ref[INET6_ADDRSTRLEN];
        ASSERT_NE(inet_ntop(a.version == 4 ? AF_INET : AF_INET6, a.bytes.data(), ref, sizeof ref), nullptr);
        ASSERT_EQ(got, ref);
    }
}

TEST(FindingTextTest, RepeatedNamesFormatAsFresh) {
    // The last few names' text is reused: more names than it keeps, names differing only in
    // case or in their last byte, and one name that is a prefix of another.
    auto wire = [](std::initializer_list<std::string> labels) {
        dns::Name n;
        size_t at = 0;
        for (const std::string& l : labels) {
            n.wire[at++] = static_cast<uint8_t>(l.size());
            for (char c : l) n.wire[at++] = static_cast<uint8_t>(c);
        }
        n.wire[at++] = 0;
        n.length = static_cast<uint8_t>(at);
        return n;
    };
    const std::vector<dns::Name> names = {
        wire({"www", "example"}), wire({"WWW", "example"}), wire({"www", "examplf"}),
        wire({"www", "exampl"}),  wire({"a\"s\\", "test"}), wire({}), wire({"x"})};
    std::mt19937_64 rng(10);
    for (int i = 0; i < 20000; ++i) {
        const dns::Name& n = names[rng() % (i % 3 == 0 ? names.size() : 2)];
        std::string got = "prefix ";
        text::append(got, n);
        std::string ref = "prefix ";
        n.append_to(ref);
        ASSERT_EQ(got, ref);
    }
}

TEST(FindingTextTest, AppendsWhatTheStringHelpersReturn) {
    std::string s = "x";
    text::append_all(s, ' ', uint8_t{6}, ' ', int32_t{-5}, ' ', uint64_t{18446744073709551615ull}, ' ',
                     std::string_view{"sv"});
    EXPECT_EQ(s, "x 6 -5 18446744073709551615 sv");
    EXPECT_EQ(qtype_name(48), "DNSKEY");
    EXPECT_EQ(qtype_name(65280), "TYPE65280");
    EXPECT_EQ(rcode_name(3), "NXDOMAIN");
    EXPECT_EQ(rcode_name(24), "RCODE24");
    EXPECT_EQ(rcode_name(-1), "");
}

}  // namespace
}  // namespace frag53
