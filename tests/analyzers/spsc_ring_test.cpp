#include "analyzers/spsc_ring.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace frag53 {
namespace {

TEST(SpscRing, FirstInFirstOutUpToCapacity) {
    SpscRing<std::string> r(4);
    EXPECT_EQ(r.capacity(), 4u);
    EXPECT_EQ(r.front(), nullptr);
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(r.try_emplace(std::to_string(i)));
    std::string keep = "kept";
    EXPECT_FALSE(r.try_emplace(std::move(keep)));
    EXPECT_EQ(keep, "kept") << "a refused element is not moved from";
    EXPECT_EQ(r.size_approx(), 4u);
    for (int round = 0; round < 10; ++round) {
        ASSERT_NE(r.front(), nullptr);
        EXPECT_EQ(*r.front(), std::to_string(round));
        r.pop();
        EXPECT_TRUE(r.try_emplace(std::to_string(round + 4)));
    }
    EXPECT_THROW(SpscRing<int>(3), std::invalid_argument);
    EXPECT_THROW(SpscRing<int>(0), std::invalid_argument);
}

// Elements are constructed when pushed and destroyed when popped, or with the ring.
TEST(SpscRing, DestroysWhatItHolds) {
    auto token = std::make_shared<int>(1);
    {
        SpscRing<std::shared_ptr<int>> r(8);
        for (int i = 0; i < 5; ++i) r.try_emplace(token);
        EXPECT_EQ(token.use_count(), 6);
        for (int i = 0; i < 2; ++i) {
            ASSERT_NE(r.front(), nullptr);
            r.pop();
        }
        EXPECT_EQ(token.use_count(), 4);
    }
    EXPECT_EQ(token.use_count(), 1);
}

// One producer, one consumer, a ring much smaller than the stream: every element arrives once,
// in order. A ring of megabytes comes from its own mapping (BigTableAllocator).
TEST(SpscRing, TwoThreadsInOrder) {
    for (size_t capacity : {size_t{2}, size_t{64}, size_t{1} << 16}) {
        SpscRing<std::vector<uint64_t>> r(capacity);
        constexpr uint64_t n = 200'000;
        std::thread producer([&] {
            for (uint64_t i = 0; i < n; ++i)
                while (!r.try_emplace(std::vector<uint64_t>{i, ~i})) std::this_thread::yield();
        });
        uint64_t expect = 0;
        bool ok = true;
        while (expect < n) {
            auto* v = r.front();
            if (v == nullptr) {
                std::this_thread::yield();
                continue;
            }
            ok = ok && v->size() == 2 && (*v)[0] == expect && (*v)[1] == ~expect;
            r.pop();
            ++expect;
        }
        producer.join();
        EXPECT_TRUE(ok) << capacity;
        EXPECT_EQ(r.front(), nullptr);
    }
}

}  // namespace
}  // namespace frag53
