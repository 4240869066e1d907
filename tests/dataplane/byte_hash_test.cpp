#include "dataplane/byte_hash.h"

#include <gtest/gtest.h>

#include <array>
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "dataplane/big_table.h"

#if defined(__SANITIZE_ADDRESS__)
#define FRAG53_TEST_HEAP_TABLES 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FRAG53_TEST_HEAP_TABLES 1
#endif
#endif

namespace frag53 {
namespace {

TEST(ByteHash, EveryLengthAndEveryByteMatters) {
    std::mt19937_64 rng(7);
    std::vector<uint8_t> buf(200);
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    std::set<uint64_t> seen;
    // Every prefix length hashes differently, including runs of zero bytes (the lengths of the
    // tail reads cover 0-15 bytes in several ways).
    std::vector<uint8_t> zeros(200, 0);
    for (size_t n = 0; n <= buf.size(); ++n) {
        EXPECT_TRUE(seen.insert(hash_bytes(1, buf.data(), n)).second) << n;
        if (n > 0) {
            EXPECT_TRUE(seen.insert(hash_bytes(1, zeros.data(), n)).second) << n;
        }
    }
    // Flipping any one bit of any byte changes the hash, at every length up to 100.
    for (size_t n = 1; n <= 100; ++n) {
        const uint64_t h = hash_bytes(1, buf.data(), n);
        for (size_t i = 0; i < n; ++i) {
            for (int bit = 0; bit < 8; bit += 3) {
                buf[i] ^= static_cast<uint8_t>(1u << bit);
                EXPECT_NE(hash_bytes(1, buf.data(), n), h) << n << " " << i;
                buf[i] ^= static_cast<uint8_t>(1u << bit);
            }
        }
    }
    // The seed matters.
    EXPECT_NE(hash_bytes(1, buf.data(), 50), hash_bytes(2, buf.data(), 50));
}

TEST(ByteHash, ShortRangesEveryLengthEveryBitAndTheSeed) {
    std::mt19937_64 rng(11);
    std::array<uint8_t, 16> buf{};
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    const std::array<uint8_t, 16> zeros{};
    std::set<uint64_t> seen;
    for (size_t n = 0; n <= 16; ++n) {
        EXPECT_TRUE(seen.insert(hash_short(0, buf.data(), n)).second) << n;
        if (n > 0) EXPECT_TRUE(seen.insert(hash_short(0, zeros.data(), n)).second) << n;
        // Every bit of every byte counts, the ones the two reads overlap on too.
        const uint64_t h = hash_short(0, buf.data(), n);
        for (size_t i = 0; i < n; ++i) {
            for (int bit = 0; bit < 8; ++bit) {
                buf[i] ^= static_cast<uint8_t>(1u << bit);
                EXPECT_NE(hash_short(0, buf.data(), n), h) << n << " " << i << " " << bit;
                buf[i] ^= static_cast<uint8_t>(1u << bit);
            }
        }
        // A record's section is the seed: the same bytes in another section differ.
        for (uint64_t seed = 1; seed < 4; ++seed) EXPECT_NE(hash_short(seed, buf.data(), n), h) << n;
    }
    // Bytes past n are never read into the hash.
    std::array<uint8_t, 16> other = buf;
    other[15] ^= 0xff;
    EXPECT_EQ(hash_short(0, buf.data(), 7), hash_short(0, other.data(), 7));
}

TEST(ByteHash, LowBitsSpreadOverATable) {
    // Tables index with the low bits: 4,096 keys differing in one counter fill most of 4,096
    // buckets (a uniform hash leaves about 1/e of them empty).
    std::vector<int> buckets(4096);
    for (uint32_t i = 0; i < 4096; ++i) ++buckets[hash_bytes(0, &i, sizeof i) & 4095];
    int empty = 0;
    for (int c : buckets) empty += c == 0;
    EXPECT_GT(empty, 1300);
    EXPECT_LT(empty, 1700);
    // And hash_mix spreads a counter as well.
    std::fill(buckets.begin(), buckets.end(), 0);
    for (uint64_t i = 0; i < 4096; ++i) ++buckets[hash_mix(12345, i) & 4095];
    empty = 0;
    for (int c : buckets) empty += c == 0;
    EXPECT_GT(empty, 1300);
    EXPECT_LT(empty, 1700);
}

TEST(BigTable, ZeroedWritableAndReleased) {
    for (size_t bytes : {size_t{100}, big_table_threshold - 1, big_table_threshold, size_t{5} << 20}) {
        auto* p = static_cast<unsigned char*>(big_table_alloc(bytes));
        ASSERT_NE(p, nullptr);
        for (size_t i = 0; i < bytes; i += 4093) EXPECT_EQ(p[i], 0) << bytes;
        EXPECT_EQ(p[bytes - 1], 0);
        p[0] = 1;
        p[bytes - 1] = 2;
        EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % alignof(std::max_align_t), 0u);
        big_table_free(p, bytes);
    }
    std::vector<uint64_t, BigTableAllocator<uint64_t>> v(300'000, 7);
    EXPECT_EQ(v[299'999], 7u);
    v.resize(10);
    v.shrink_to_fit();
    EXPECT_EQ(v.size(), 10u);
}

TEST(BigTable, SparseTablesAreZeroedAndReleased) {
    for (size_t bytes : {size_t{100}, big_table_threshold, size_t{7} << 20}) {
        auto* p = static_cast<unsigned char*>(sparse_table_alloc(bytes));
        ASSERT_NE(p, nullptr);
        for (size_t i = 0; i < bytes; i += 4093) EXPECT_EQ(p[i], 0) << bytes;
        p[bytes / 2] = 3;
        EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % alignof(std::max_align_t), 0u);
        big_table_free(p, bytes);
    }
}

// A table of slots that are never constructed: zeroed slots read as unused, written slots keep
// what was written, and only the pages of written slots become resident.
TEST(BigTable, ZeroedTableTouchesOnlyWhatIsUsed) {
    struct Slot {
        bool used = false;
        uint64_t key = 0;
        std::array<uint8_t, 500> name{};
        int32_t rcode = -1;  // not zero: a claimed slot is assigned Slot{} first
    };
    ZeroedTable<Slot> t(20'000);  // about 10 MB
    EXPECT_EQ(t.size(), 20'000u);
    for (size_t i = 0; i < t.size(); i += 997) EXPECT_FALSE(t[i].used);
    t[12'345] = Slot{};
    t[12'345].used = true;
    t[12'345].key = 9;
    EXPECT_TRUE(t[12'345].used);
    EXPECT_EQ(t[12'345].rcode, -1);
    EXPECT_FALSE(t[12'346].used);
    EXPECT_EQ(ZeroedTable<Slot>(0).size(), 1u);
#ifndef FRAG53_TEST_HEAP_TABLES  // under ASan the tables come from the heap, memset whole
    // Resident pages of the table (4 KiB pages, not huge ones): the checks above read 21 slots.
    const long page = sysconf(_SC_PAGESIZE);
    auto* base = reinterpret_cast<unsigned char*>(&t[0]);
    const size_t len = t.size() * sizeof(Slot);
    std::vector<unsigned char> in_core((len + static_cast<size_t>(page) - 1) / static_cast<size_t>(page));
    ASSERT_EQ(mincore(base, len, in_core.data()), 0);
    size_t resident = 0;
    for (unsigned char c : in_core) resident += c & 1;
    EXPECT_LE(resident, 30u) << "of " << in_core.size() << " pages";
#endif
}

}  // namespace
}  // namespace frag53
