#include "analyzers/dnssec/validity.h"

#include <gtest/gtest.h>

namespace frag53::dnssec {
namespace {

constexpr uint64_t t2025 = 1735689600;  // 2025-01-01T00:00:00Z
constexpr uint64_t two32 = uint64_t{1} << 32;

TEST(RrsigValidity, InsideTheWindowAndAtBothEnds) {
    const uint32_t inc = static_cast<uint32_t>(t2025);
    const uint32_t exp = static_cast<uint32_t>(t2025 + 30 * 86400);
    EXPECT_EQ(rrsig_validity(inc, exp, t2025 + 86400), Validity::valid);
    EXPECT_EQ(rrsig_validity(inc, exp, t2025), Validity::valid);
    EXPECT_EQ(rrsig_validity(inc, exp, t2025 + 30 * 86400), Validity::valid);
    EXPECT_EQ(rrsig_validity(inc, exp, t2025 - 1), Validity::not_yet_valid);
    EXPECT_EQ(rrsig_validity(inc, exp, t2025 + 30 * 86400 + 1), Validity::expired);
    EXPECT_EQ(seconds_until_expiration(exp, t2025), 30 * 86400);
    EXPECT_EQ(seconds_until_expiration(exp, t2025 + 30 * 86400 + 10), -10);
}

TEST(RrsigValidity, WindowAcrossThe2106WrapAround) {
    // Inception numerically above expiration: the window straddles 2^32 seconds.
    const uint32_t inc = 0xFFFFFF00u;
    const uint32_t exp = 0x00000100u;
    EXPECT_EQ(rrsig_validity(inc, exp, two32 - 0x80), Validity::valid);
    EXPECT_EQ(rrsig_validity(inc, exp, two32), Validity::valid);
    EXPECT_EQ(rrsig_validity(inc, exp, two32 + 0x80), Validity::valid);
    EXPECT_EQ(rrsig_validity(inc, exp, two32 + 0x101), Validity::expired);
    EXPECT_EQ(rrsig_validity(inc, exp, two32 - 0x101), Validity::not_yet_valid);
    EXPECT_EQ(seconds_until_expiration(exp, two32 - 0x100), 0x200);
    EXPECT_EQ(serial_time(exp, two32 - 5), static_cast<int64_t>(two32 + 0x100));
}

TEST(RrsigValidity, SerialArithmeticAroundNow) {
    // A timestamp half a cycle away is the nearest instant with those bits: 2^31 - 1 ahead is
    // the future, 2^31 + 1 ahead is the past.
    const uint64_t now = t2025;
    const auto ahead = static_cast<uint32_t>(now + 0x7FFFFFFFu);
    EXPECT_EQ(serial_time(ahead, now), static_cast<int64_t>(now + 0x7FFFFFFFu));
    const auto behind = static_cast<uint32_t>(now + 0x80000001u);
    EXPECT_EQ(serial_time(behind, now), static_cast<int64_t>(now) - 0x7FFFFFFF);
    // A window that ended just before now, and one that starts just after.
    EXPECT_EQ(rrsig_validity(static_cast<uint32_t>(now - 100), static_cast<uint32_t>(now - 10),
                             now),
              Validity::expired);
    EXPECT_EQ(rrsig_validity(static_cast<uint32_t>(now + 10), static_cast<uint32_t>(now + 100),
                             now),
              Validity::not_yet_valid);
}

TEST(RrsigValidity, EmptyWindowIsNeverValid) {
    const uint32_t inc = static_cast<uint32_t>(t2025 + 100);
    const uint32_t exp = static_cast<uint32_t>(t2025);
    EXPECT_EQ(rrsig_validity(inc, exp, t2025 + 50), Validity::expired);
    EXPECT_EQ(rrsig_validity(inc, exp, t2025 - 50), Validity::not_yet_valid);
    EXPECT_EQ(rrsig_validity(inc, exp, t2025 + 150), Validity::expired);
}

TEST(RrsigValidity, ExtremeClockValuesDoNotOverflow) {
    EXPECT_EQ(rrsig_validity(0, 0xFFFFFFFFu, 0), Validity::expired);
    EXPECT_EQ(rrsig_validity(0, 10, 5), Validity::valid);
    const uint64_t huge = ~uint64_t{0};
    // Clamped to 2^62 - 1 (low 32 bits all ones): no signed overflow; inception 0 and
    // expiration 10 are then 1 and 11 seconds ahead.
    EXPECT_EQ(rrsig_validity(0, 10, huge), Validity::not_yet_valid);
    EXPECT_EQ(rrsig_validity(0xFFFFFFF0u, 10, huge), Validity::valid);
    EXPECT_EQ(seconds_until_expiration(static_cast<uint32_t>(huge) + 7, huge), 7);
    EXPECT_STREQ(to_string(Validity::not_yet_valid), "not_yet_valid");
}

}  // namespace
}  // namespace frag53::dnssec
