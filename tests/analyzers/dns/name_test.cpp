#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "analyzers/dns/message.h"
#include "tests/analyzers/dns/wire_builder.h"

namespace frag53::dns {
namespace {

using frag53::testing::WireBuilder;

// A message whose byte 12 onwards is what the test writes (header contents do not matter to
// decode_name, only that names cannot start or be pointed at inside it).
WireBuilder message() {
    WireBuilder b;
    b.header(0, 0, 0, 0, 0, 0);
    return b;
}

Name decoded(const WireBuilder& b, size_t offset) {
    Name n;
    EXPECT_EQ(decode_name(b.bytes(), offset, n), ParseError::none);
    return n;
}

TEST(DecodeName, PlainName) {
    WireBuilder b = message();
    b.name("www.Example.com");
    Name n;
    size_t end = 0;
    ASSERT_EQ(decode_name(b.bytes(), 12, n, &end), ParseError::none);
    EXPECT_EQ(end, b.size());
    EXPECT_EQ(n.length, 17);
    EXPECT_EQ(n.to_string(), "www.Example.com.");
    EXPECT_EQ(n.label_count(), 3);
}

TEST(DecodeName, CompressedNameEndsAfterFirstPointer) {
    WireBuilder b = message();
    b.name("example.com");   // 12..24
    b.labels("mail").ptr(12);  // 25..31
    b.labels("a").ptr(25);     // 32..35: two hops
    Name n;
    size_t end = 0;
    ASSERT_EQ(decode_name(b.bytes(), 32, n, &end), ParseError::none);
    EXPECT_EQ(end, 36u);
    EXPECT_EQ(n.to_string(), "a.mail.example.com.");
    EXPECT_EQ(n.label_count(), 4);
}

TEST(DecodeName, Root) {
    WireBuilder b = message();
    b.u8(0);
    Name n = decoded(b, 12);
    EXPECT_EQ(n.length, 1);
    EXPECT_EQ(n.to_string(), ".");
    EXPECT_EQ(n.label_count(), 0);
}

TEST(DecodeName, SelfPointer) {
    WireBuilder b = message();
    b.ptr(12);
    Name n;
    EXPECT_EQ(decode_name(b.bytes(), 12, n), ParseError::compression_loop);
    EXPECT_EQ(n.length, 0);  // nothing half-decoded is left behind
}

TEST(DecodeName, PointerToItsOwnLabels) {
    WireBuilder b = message();
    b.labels("loop").ptr(12);  // the pointer sends the walk back to the start of this name
    EXPECT_EQ(scan_name(b.bytes(), 12, b.size(), nullptr).error, ParseError::compression_loop);
}

TEST(DecodeName, TwoPointerLoop) {
    WireBuilder b = message();
    b.ptr(14);  // 12 -> 14 (forward as seen from 12, but reached from 14 it closes a loop)
    b.ptr(12);  // 14 -> 12
    const NameScan s = scan_name(b.bytes(), 14, b.size(), nullptr);
    EXPECT_EQ(s.error, ParseError::compression_loop);
    EXPECT_EQ(s.error_offset, 12u);
    // Started from 12 the first pointer already goes forward.
    EXPECT_EQ(scan_name(b.bytes(), 12, b.size(), nullptr).error, ParseError::pointer_forward);
}

TEST(DecodeName, PointerMustBeBeforeTheLabelsItEnds) {
    // "b" at 20 points back to 12 ("a" + pointer to 17): legal so far; but 17 lies after the
    // start of the run at 12 that points there, so that pointer is not strictly backwards.
    WireBuilder b = message();
    b.labels("a").ptr(17);  // 12..15
    b.u8(0);               // 16
    b.name("x");            // 17..19
    b.labels("b").ptr(12);  // 20..23
    EXPECT_EQ(scan_name(b.bytes(), 20, b.size(), nullptr).error, ParseError::pointer_forward);
}

TEST(DecodeName, PointerOutOfRangeAndIntoHeader) {
    WireBuilder b = message();
    b.name("ok");
    b.ptr(0x3FFF);
    b.ptr(11);
    b.ptr(0);
    EXPECT_EQ(scan_name(b.bytes(), 16, b.size(), nullptr).error, ParseError::pointer_out_of_range);
    EXPECT_EQ(scan_name(b.bytes(), 18, b.size(), nullptr).error, ParseError::pointer_out_of_range);
    EXPECT_EQ(scan_name(b.bytes(), 20, b.size(), nullptr).error, ParseError::pointer_out_of_range);
    EXPECT_EQ(decoded(b, 12).to_string(), "ok.");
}

TEST(DecodeName, ReservedLabelTypes) {
    for (uint8_t lead : {uint8_t{0x41}, uint8_t{0x81}, uint8_t{0xBF}}) {
        WireBuilder b = message();
        b.u8(lead).raw({'a', 0});
        const NameScan s = scan_name(b.bytes(), 12, b.size(), nullptr);
        EXPECT_EQ(s.error, ParseError::bad_label_type) << int{lead};
        EXPECT_EQ(s.error_offset, 12u);
    }
}

TEST(DecodeName, HopLimit) {
    // Root at 12, then pointers each pointing to the one before: every hop strictly backwards,
    // no bytes added, so only the hop limit stops a long chain.
    WireBuilder b = message();
    b.u8(0);
    for (unsigned i = 0; i < max_compression_hops + 1; ++i)
        b.ptr(static_cast<uint16_t>(i == 0 ? 12 : 13 + 2 * (i - 1)));
    const size_t at_limit = 13 + 2 * (max_compression_hops - 1);  // needs exactly the limit
    const size_t past_limit = at_limit + 2;
    Name n;
    EXPECT_EQ(decode_name(b.bytes(), at_limit, n), ParseError::none);
    EXPECT_EQ(n.to_string(), ".");
    EXPECT_EQ(decode_name(b.bytes(), past_limit, n), ParseError::compression_loop);
}

TEST(DecodeName, LengthLimit) {
    const std::string l63(63, 'x');
    WireBuilder b = message();
    b.labels(l63 + "." + l63 + "." + l63 + "." + std::string(61, 'y')).u8(0);  // 255 bytes
    Name n = decoded(b, 12);
    EXPECT_EQ(n.length, 255);
    // Reaching 256 through compression is caught as well: "z" + the 255-byte name.
    b.labels("z").ptr(12);
    const NameScan s = scan_name(b.bytes(), 12 + 255, b.size(), nullptr);
    EXPECT_EQ(s.error, ParseError::name_too_long);
}

TEST(NameScanCache, StopsAtAKnownNameButKeepsTheGuards) {
    const std::string l63(63, 'x');
    WireBuilder b = message();
    b.labels(l63 + "." + l63 + "." + l63 + "." + std::string(61, 'y')).u8(0);  // 255 bytes at 12
    const size_t ptr_only = b.size();
    b.ptr(12);
    const size_t one_more = b.size();
    b.labels("z").ptr(12);  // 256 bytes through the pointer
    NameScanCache cache;
    cache.clear();
    ASSERT_EQ(scan_name(b.bytes(), 12, b.size(), nullptr, &cache).error, ParseError::none);
    ASSERT_EQ(cache.find(12), 0);
    EXPECT_EQ(cache.length[0], 255);
    // A bare pointer to it is fine and ends after the pointer...
    const NameScan p = scan_name(b.bytes(), ptr_only, b.size(), nullptr, &cache);
    EXPECT_EQ(p.error, ParseError::none);
    EXPECT_EQ(p.end, ptr_only + 2);
    // ...but one more label makes it too long, reported where the full walk reports it.
    const NameScan with = scan_name(b.bytes(), one_more, b.size(), nullptr, &cache);
    const NameScan without = scan_name(b.bytes(), one_more, b.size(), nullptr);
    EXPECT_EQ(with.error, ParseError::name_too_long);
    EXPECT_EQ(with.error, without.error);
    EXPECT_EQ(with.error_offset, without.error_offset);
}

TEST(NameScanCache, RandomMessagesScanTheSameWithAndWithoutIt) {
    // Messages of labels, pointers (mostly backwards, some anywhere) and junk; every offset is
    // scanned in order with one cache, as MessageView::parse does, and once without: the
    // verdict, the end and the error offset must agree everywhere.
    std::mt19937 gen(53);
    auto rng = [&gen]() { return static_cast<unsigned>(gen()); };
    size_t cache_stops = 0;
    for (int round = 0; round < 3000; ++round) {
        WireBuilder b = message();
        const int parts = 1 + static_cast<int>(rng() % 40);
        for (int i = 0; i < parts; ++i) {
            const unsigned kind = rng() % 10;
            if (kind < 5) {
                const unsigned len = rng() % 8;
                b.u8(static_cast<uint8_t>(len)).fill(len, 'a');
            } else if (kind < 8 && b.size() > 12) {
                b.ptr(static_cast<uint16_t>(12 + rng() % (b.size() - 12)));
            } else if (kind == 8) {
                b.ptr(static_cast<uint16_t>(rng() % (b.size() + 20)));
            } else {
                b.u8(static_cast<uint8_t>(rng()));
            }
        }
        NameScanCache cache;
        cache.clear();
        for (size_t off = 12; off < b.size(); ++off) {
            const size_t limit = (rng() % 4 == 0) ? off + rng() % 16 : b.size();
            const NameScan a = scan_name(b.bytes(), off, limit, nullptr, &cache);
            const NameScan c = scan_name(b.bytes(), off, limit, nullptr);
            ASSERT_EQ(a.error, c.error) << round << " " << off;
            if (a.error == ParseError::none) {
                ASSERT_EQ(a.end, c.end) << round << " " << off;
                ASSERT_EQ(a.jumped, c.jumped) << round << " " << off;
            } else {
                ASSERT_EQ(a.error_offset, c.error_offset) << round << " " << off;
            }
            if (a.error == ParseError::none && a.end == off + 2 && (b.bytes()[off] & std::byte{0xC0}) == std::byte{0xC0})
                ++cache_stops;
        }
    }
    EXPECT_GT(cache_stops, 1000u);  // the cache was in play, not just empty
}

TEST(WalkName, TellsTheShapesItKnowsAsTheFullWalkDoes) {
    // walk_name answers the root, in-place labels and a pointer to a cached name itself, and
    // leaves the rest to scan_name. Messages of those shapes and their near misses (labels up
    // to and past 255 bytes, labels cut by the limit, a label then a pointer, reserved label
    // types), every offset walked in order as MessageView::parse does, with a cache, without
    // one, and against scan_name without a cache: the same verdict, end, pointer and error
    // offset everywhere.
    std::mt19937 gen(1035);
    auto rng = [&gen]() { return static_cast<unsigned>(gen()); };
    size_t told[3] = {0, 0, 0};  // root, in place, pointer to a cached name
    for (int round = 0; round < 3000; ++round) {
        WireBuilder b = message();
        const int parts = 1 + static_cast<int>(rng() % 30);
        for (int i = 0; i < parts; ++i) {
            const unsigned kind = rng() % 12;
            if (kind < 3) {
                b.u8(0);
            } else if (kind < 7) {
                // A run of labels, often long enough to near or pass 255 bytes, then the root.
                const unsigned labels = 1 + rng() % 6;
                for (unsigned l = 0; l < labels; ++l) {
                    const unsigned len = (rng() % 3 == 0) ? 40 + rng() % 24 : rng() % 8;
                    b.u8(static_cast<uint8_t>(len)).fill(len, 'a');
                }
                if (rng() % 4 != 0) b.u8(0);
            } else if (kind < 10 && b.size() > 12) {
                b.ptr(static_cast<uint16_t>(12 + rng() % (b.size() - 12)));
            } else if (kind == 10) {
                b.u8(static_cast<uint8_t>(0x40 + rng() % 0x80));  // reserved label types
            } else {
                b.u8(static_cast<uint8_t>(rng()));
            }
        }
        NameScanCache cache;
        cache.clear();
        for (size_t off = 12; off <= b.size(); ++off) {
            const size_t limit = (rng() % 4 == 0) ? off + rng() % 64 : b.size();
            const NameScan a = walk_name(b.bytes(), off, limit, &cache);
            const NameScan n = walk_name(b.bytes(), off, limit, nullptr);
            const NameScan c = scan_name(b.bytes(), off, limit, nullptr);
            for (const NameScan* x : {&a, &n}) {
                ASSERT_EQ(x->error, c.error) << round << " " << off;
                if (c.error == ParseError::none) {
                    ASSERT_EQ(x->end, c.end) << round << " " << off;
                    ASSERT_EQ(x->jumped, c.jumped) << round << " " << off;
                } else {
                    ASSERT_EQ(x->error_offset, c.error_offset) << round << " " << off;
                }
            }
            if (c.error != ParseError::none) continue;
            const auto first = static_cast<uint8_t>(b.bytes()[off]);
            if (first == 0) ++told[0];
            else if (!c.jumped) ++told[1];
            else if (c.end == off + 2) ++told[2];
        }
    }
    // Every shape was met many times, valid, so the comparisons above covered each.
    EXPECT_GT(told[0], 1000u);
    EXPECT_GT(told[1], 1000u);
    EXPECT_GT(told[2], 1000u);
}

TEST(DecodeName, PastEnd) {
    WireBuilder b = message();
    b.u8(5).raw({'a', 'b'});
    EXPECT_EQ(scan_name(b.bytes(), 12, b.size(), nullptr).error, ParseError::name_past_end);
    WireBuilder half = message();
    half.u8(0xC0);  // pointer missing its second byte
    EXPECT_EQ(scan_name(half.bytes(), 12, half.size(), nullptr).error, ParseError::name_past_end);
    EXPECT_EQ(scan_name(half.bytes(), 99, half.size(), nullptr).error, ParseError::name_past_end);
}

TEST(DecodeName, LimitBoundsInPlaceBytesOnly) {
    WireBuilder b = message();
    b.name("example.com");  // 12..24
    b.labels("ns").ptr(12); // 25..29
    // The in-place bytes end at 30: a limit of 30 is enough even though the target lies earlier.
    EXPECT_EQ(scan_name(b.bytes(), 25, 30, nullptr).error, ParseError::none);
    EXPECT_EQ(scan_name(b.bytes(), 25, 29, nullptr).error, ParseError::name_past_end);
}

TEST(Name, PresentationEscapes) {
    WireBuilder b = message();
    b.u8(5).raw({'a', '.', 'b', '\\', ' '}).u8(4).raw({0x00, 0xFF, '"', ';'}).u8(0);
    EXPECT_EQ(decoded(b, 12).to_string(), "a\\.b\\\\\\032.\\000\\255\\\"\\;.");
    EXPECT_EQ(Name{}.to_string(), "");  // not decoded
}

TEST(Name, HashIgnoresCaseOfLettersOnlyAtEveryLength) {
    // Names of every length from 1 to 255 bytes: each letter's case flips one at a time (the
    // hash stays), and any other change of any byte (another letter, a byte next to the letters
    // in ASCII, the same byte with the high bit set) changes it.
    std::mt19937 rng(5);
    const std::string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_@[`{";
    for (size_t len = 1; len <= 255; ++len) {
        Name n;
        n.length = static_cast<uint8_t>(len);
        for (size_t i = 0; i < len; ++i) n.wire[i] = static_cast<uint8_t>(alphabet[rng() % alphabet.size()]);
        const uint64_t h = n.hash_ignore_case();
        for (size_t i = 0; i < len; ++i) {
            const uint8_t c = n.wire[i];
            const bool letter = (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
            if (letter) {
                n.wire[i] = c ^ 0x20;
                EXPECT_EQ(n.hash_ignore_case(), h) << len << " " << i;
            }
            for (const uint8_t other : {uint8_t(c ^ 0x80), uint8_t(c + 1), uint8_t(c - 1), uint8_t(c ^ 0x40)}) {
                if (letter && (other | 0x20) == (c | 0x20)) continue;
                n.wire[i] = other;
                EXPECT_NE(n.hash_ignore_case(), h) << len << " " << i << " " << int(other);
            }
            n.wire[i] = c;
        }
        // Bytes past the length are not part of the name.
        if (len < 255) {
            n.wire[len] = 'x';
            EXPECT_EQ(n.hash_ignore_case(), h);
            n.length = static_cast<uint8_t>(len + 1);
            EXPECT_NE(n.hash_ignore_case(), h);
        }
    }
}

TEST(Name, CaseInsensitiveComparisonAndHash) {
    WireBuilder b = message();
    b.name("WWW.Example.COM");  // 12
    b.name("www.example.com");  // 29
    b.name("www.example.org");  // 46
    Name upper = decoded(b, 12), lower = decoded(b, 29), other = decoded(b, 46);
    EXPECT_TRUE(upper.equals_ignore_case(lower));
    EXPECT_FALSE(upper.equals_ignore_case(other));
    EXPECT_EQ(upper.hash_ignore_case(), lower.hash_ignore_case());
    EXPECT_NE(lower.hash_ignore_case(), other.hash_ignore_case());
    upper.to_lower();
    EXPECT_EQ(upper.to_string(), "www.example.com.");
    ASSERT_EQ(upper.length, lower.length);
    EXPECT_TRUE(std::equal(upper.wire.begin(), upper.wire.begin() + upper.length, lower.wire.begin()));
}

TEST(Name, CaseFoldingLeavesOtherBytesAlone) {
    // '[' and '@' sit just outside A..Z, and '{' and '`' are them with bit 0x20 set: folding by
    // OR-ing 0x20 would wrongly make these names equal.
    WireBuilder b = message();
    b.labels("[@z").u8(0);
    Name n = decoded(b, 12);
    n.to_lower();
    EXPECT_EQ(n.to_string(), "[\\@z.");
    WireBuilder c = message();
    c.labels("{`z").u8(0);
    EXPECT_FALSE(n.equals_ignore_case(decoded(c, 12)));
}

}  // namespace
}  // namespace frag53::dns

namespace frag53::dns {
namespace {

// Name::assign copies with overlapping fixed-size moves: every length copies exactly its bytes,
// from a source of exactly that size (a read past it is a sanitizer error), and leaves the rest
// of the name as it was.
TEST(NameAssign, CopiesExactlyTheBytesOfEveryLength) {
    for (size_t n = 0; n <= 255; ++n) {
        std::vector<uint8_t> src(n);
        for (size_t i = 0; i < n; ++i) src[i] = static_cast<uint8_t>(i * 37 + 11);
        Name name;
        name.wire.fill(0xEE);
        name.assign(src.data(), static_cast<uint8_t>(n));
        ASSERT_EQ(name.length, n);
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(name.wire[i], src[i]) << n << " " << i;
        for (size_t i = n; i < name.wire.size(); ++i) ASSERT_EQ(name.wire[i], 0xEE) << n << " " << i;
    }
}

}  // namespace
}  // namespace frag53::dns
