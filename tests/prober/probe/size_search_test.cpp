#include "prober/probe/size_search.h"

#include <gtest/gtest.h>

#include <functional>

namespace frag53::probe {
namespace {

// Runs a search against a threshold (sizes up to `limit` pass); returns the rounds used.
unsigned drive(SizeSearch& s, const std::function<bool(uint32_t)>& passes, unsigned budget) {
    unsigned rounds = 0;
    while (!s.done() && rounds < 64) {
        auto sizes = s.next_round(budget);
        if (sizes.empty()) break;
        ++rounds;
        for (uint32_t size : sizes) s.record(size, passes(size));
    }
    return rounds;
}

TEST(SizeSearch, FirstRoundIsTheLandmarksAndTheCeiling) {
    SizeSearch s(64, 3000, true);
    auto first = s.next_round(4);
    EXPECT_EQ(first, (std::vector<uint32_t>{512, 1232, 1280, 1400, 1452, 1472, 1500, 2048, 3000}));
}

TEST(SizeSearch, BisectsToTheByte) {
    for (uint32_t limit : {513u, 1232u, 1252u, 1279u, 1471u, 3999u}) {
        for (unsigned budget : {1u, 3u, 8u}) {
            SizeSearch s(64, 4096, true);
            drive(s, [&](uint32_t x) { return x <= limit; }, budget);
            EXPECT_TRUE(s.done());
            EXPECT_TRUE(s.exact());
            EXPECT_EQ(s.max_passed(), limit) << "budget " << budget;
            EXPECT_EQ(s.min_failed(), limit + 1);
            EXPECT_EQ(s.inconsistencies(), 0u);
        }
    }
}

TEST(SizeSearch, KSectionNeedsFewRounds) {
    SizeSearch s(64, 4096, true);
    // Landmarks put 1252 between 1232 and 1280: 47 sizes; 7 per round ends it in 3 more rounds.
    const unsigned rounds = drive(s, [](uint32_t x) { return x <= 1252; }, 7);
    EXPECT_EQ(s.max_passed(), 1252u);
    EXPECT_LE(rounds, 4u);
}

TEST(SizeSearch, CeilingPasses) {
    SizeSearch s(64, 4096, true);
    drive(s, [](uint32_t) { return true; }, 4);
    EXPECT_EQ(s.max_passed(), 4096u);
    EXPECT_EQ(s.min_failed(), 0u);
    EXPECT_TRUE(s.exact());
}

TEST(SizeSearch, NothingPasses) {
    SizeSearch s(64, 4096, true);
    drive(s, [](uint32_t) { return false; }, 8);
    EXPECT_TRUE(s.done());
    EXPECT_EQ(s.max_passed(), 0u);
    EXPECT_EQ(s.min_failed(), 64u);  // the floor itself failed
}

TEST(SizeSearch, LandmarksOnly) {
    SizeSearch s(64, 4096, false);
    drive(s, [](uint32_t x) { return x <= 1300; }, 8);
    EXPECT_TRUE(s.done());
    EXPECT_FALSE(s.exact());
    EXPECT_EQ(s.max_passed(), 1280u);
    EXPECT_EQ(s.min_failed(), 1400u);
}

TEST(SizeSearch, PassAboveAFailureIsCountedAndTrusted) {
    SizeSearch s(64, 4096, true);
    // 512 was lost (say, randomly), 1232 arrived: the path carries 1232.
    drive(s, [](uint32_t x) { return x != 512 && x <= 1232; }, 8);
    EXPECT_EQ(s.max_passed(), 1232u);
    EXPECT_EQ(s.inconsistencies(), 1u);
}

TEST(SizeSearch, RepeatedSizeKeepsAPass) {
    SizeSearch s(64, 4096, true);
    s.next_round(1);
    s.record(1500, true);
    s.record(1500, false);
    EXPECT_EQ(s.max_passed(), 1500u);
}

}  // namespace
}  // namespace frag53::probe
