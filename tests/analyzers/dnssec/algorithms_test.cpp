#include "analyzers/dnssec/algorithms.h"

#include <gtest/gtest.h>

#include <string>

namespace frag53::dnssec {
namespace {

TEST(AlgorithmInfo, SupportedAreExactlyTheVerifiable) {
    for (unsigned a = 0; a < 256; ++a) {
        const bool expect = a == 5 || a == 7 || a == 8 || a == 10 || (a >= 13 && a <= 16);
        EXPECT_EQ(algorithm_info(static_cast<uint8_t>(a)).supported, expect) << a;
    }
}

TEST(AlgorithmInfo, WeakFollowsRfc8624) {
    for (unsigned a = 0; a < 256; ++a) {
        const bool expect = a == 1 || a == 3 || a == 5 || a == 6 || a == 7 || a == 12;
        EXPECT_EQ(algorithm_info(static_cast<uint8_t>(a)).weak, expect) << a;
    }
}

TEST(AlgorithmInfo, NamesAreTheIanaMnemonics) {
    EXPECT_STREQ(algorithm_info(8).name, "RSASHA256");
    EXPECT_STREQ(algorithm_info(13).name, "ECDSAP256SHA256");
    EXPECT_STREQ(algorithm_info(7).name, "RSASHA1-NSEC3-SHA1");
    EXPECT_STREQ(algorithm_info(16).name, "ED448");
    EXPECT_STREQ(algorithm_info(4).name, "unassigned");
    EXPECT_STREQ(algorithm_info(200).name, "unassigned");
}

TEST(DigestInfo, TypesAndLengths) {
    EXPECT_EQ(digest_info(1).length, 20);
    EXPECT_EQ(digest_info(2).length, 32);
    EXPECT_EQ(digest_info(4).length, 48);
    EXPECT_TRUE(digest_info(1).supported && digest_info(1).weak);
    EXPECT_TRUE(digest_info(2).supported && !digest_info(2).weak);
    EXPECT_FALSE(digest_info(3).supported);
    EXPECT_TRUE(digest_info(3).weak);
    EXPECT_FALSE(digest_info(0).supported);
    EXPECT_EQ(digest_info(0).length, 0);
    EXPECT_STREQ(digest_info(9).name, "unassigned");
}

}  // namespace
}  // namespace frag53::dnssec
