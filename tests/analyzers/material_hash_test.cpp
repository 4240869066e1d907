// The hash that tells a DNSSEC answer already handed over from a new one: both implementations
// leave out the ID, the TTLs and the order of the records, and count every other byte.
#include "analyzers/material_hash.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "analyzers/dns/message.h"
#include "tests/analyzers/dns/wire_builder.h"

namespace frag53 {
namespace {

using testing::WireBuilder;
using Fn = uint64_t (*)(uint64_t, Bytes, std::span<const dns::Record>);

struct Impl {
    const char* name;
    Fn fn;
};

std::vector<Impl> implementations() {
    std::vector<Impl> v{{"portable", &material_hash_portable}};
    if (material_hash_aes_available()) v.push_back({"aes", &material_hash_aes});
    return v;
}

struct Rec {
    std::string owner;  // "" = a pointer to the question's name
    uint16_t type = 16;
    std::vector<uint8_t> rdata;
};

// RDATA of n bytes that differ from one record to the next.
std::vector<uint8_t> rdata(size_t n, uint8_t salt) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + salt);
    return v;
}

// Records of every shape the hash treats apart: owners that are a pointer (a 6-byte head with
// type and class), the root, short and long names written out (heads of 9, 12, 13, 14 and 34
// bytes: the TTL as far into the first 16 bytes as it may be, and past),
// and RDATA of every length up to 66 bytes and some longer (every tail of the 16- and 64-byte
// steps, wherever the TTL falls in the first 16 bytes).
std::vector<Rec> varied_records() {
    std::vector<Rec> v;
    const char* owners[] = {"", ".", "a.b", "abcdef", "abcdefg", "abcdefgh", "long-owner-name.example.test"};
    std::vector<size_t> lengths;
    for (size_t n = 0; n <= 66; ++n) lengths.push_back(n);
    for (size_t n : {100, 127, 128, 129, 200, 333}) lengths.push_back(n);
    uint8_t salt = 0;
    for (const char* o : owners)
        for (size_t n : lengths) v.push_back({o, static_cast<uint16_t>(n % 2 ? 0xFF00 : 16), rdata(n, ++salt)});
    return v;
}

struct Message {
    std::vector<uint8_t> wire;
    std::vector<dns::Record> records;
};

Message build(uint16_t id, uint32_t ttl, const std::vector<Rec>& answers, size_t authority,
              const std::vector<uint8_t>& trailing = {}) {
    WireBuilder b;
    b.header(id, 0x8180, 1, static_cast<uint16_t>(answers.size() - authority),
             static_cast<uint16_t>(authority), 0)
        .name("q.example.test")
        .question(16);
    for (const Rec& r : answers) {
        if (r.owner.empty()) b.ptr(12);
        else b.name(r.owner);
        b.rr_head(r.type, 1, ttl).begin_rdata().raw(r.rdata).end_rdata();
    }
    b.raw(trailing);
    Message m{b.data(), {}};
    dns::MessageView view;
    // Bytes past the records are damage to the parser; parse without them.
    std::vector<uint8_t> parsed(m.wire.begin(), m.wire.end() - static_cast<ptrdiff_t>(trailing.size()));
    EXPECT_EQ(view.parse(as_bytes(parsed.data(), parsed.size())), dns::ParseError::none);
    m.records.assign(view.records().begin(), view.records().end());
    EXPECT_EQ(m.records.size(), answers.size());
    return m;
}

// Hashed from a heap copy of exactly the message's size, so a read past either end is a
// sanitizer error.
uint64_t hash_of(const Impl& impl, const std::vector<uint8_t>& wire, const std::vector<dns::Record>& recs,
                 uint64_t seed = 7) {
    const std::vector<uint8_t> copy(wire);
    return impl.fn(seed, as_bytes(copy.data(), copy.size()), recs);
}

TEST(MaterialHash, IdTtlsAndRecordOrderAreLeftOut) {
    const std::vector<Rec> recs = varied_records();
    std::vector<Rec> rotated(recs);
    std::rotate(rotated.begin(), rotated.begin() + 17, rotated.end());
    std::vector<Rec> reversed(recs.rbegin(), recs.rend());
    for (const Impl& impl : implementations()) {
        const Message a = build(1, 300, recs, 0);
        const Message b = build(0xBEEF, 299, rotated, 0);
        const Message c = build(2, 1, reversed, 0);
        EXPECT_EQ(hash_of(impl, a.wire, a.records), hash_of(impl, b.wire, b.records)) << impl.name;
        EXPECT_EQ(hash_of(impl, a.wire, a.records), hash_of(impl, c.wire, c.records)) << impl.name;
        // The seed counts.
        EXPECT_NE(hash_of(impl, a.wire, a.records, 7), hash_of(impl, a.wire, a.records, 8)) << impl.name;
    }
}

TEST(MaterialHash, EveryByteButTheIdAndTheTtlsCounts) {
    const Message m = build(0x1234, 3600, varied_records(), 40, {0xde, 0xad, 0xbe});
    std::vector<bool> left_out(m.wire.size(), false);
    left_out[0] = left_out[1] = true;
    for (const dns::Record& rr : m.records)
        for (size_t i = rr.rdata_offset - 6u; i < rr.rdata_offset - 2u; ++i) left_out[i] = true;
    for (const Impl& impl : implementations()) {
        const uint64_t h = hash_of(impl, m.wire, m.records);
        size_t counted = 0;
        for (size_t i = 0; i < m.wire.size(); ++i) {
            for (const uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}}) {
                std::vector<uint8_t> w(m.wire);
                w[i] ^= flip;
                if (left_out[i]) {
                    EXPECT_EQ(hash_of(impl, w, m.records), h) << impl.name << " byte " << i;
                } else {
                    EXPECT_NE(hash_of(impl, w, m.records), h) << impl.name << " byte " << i;
                    ++counted;
                }
            }
        }
        EXPECT_GT(counted, 2 * 20000u) << impl.name;  // the message is mostly RDATA
    }
}

TEST(MaterialHash, ARecordsSectionCounts) {
    const Message m = build(1, 300, varied_records(), 10);
    for (const Impl& impl : implementations()) {
        const uint64_t h = hash_of(impl, m.wire, m.records);
        for (size_t i = 0; i < m.records.size(); i += 13) {
            std::vector<dns::Record> moved(m.records);
            moved[i].section = moved[i].section == dns::Section::answer ? dns::Section::additional
                                                                        : dns::Section::answer;
            EXPECT_NE(hash_of(impl, m.wire, moved), h) << impl.name << " record " << i;
        }
    }
}

TEST(MaterialHash, RepeatedRecordsAndBytesPastTheRecordsCount) {
    const Rec x{"", 16, rdata(40, 1)}, y{"", 16, rdata(40, 2)};
    for (const Impl& impl : implementations()) {
        // Sums of record hashes: {x, x, y, y} is not {x, y}, nor {x, x, x, y}.
        const Message two = build(1, 300, {x, y}, 0);
        const Message pairs = build(1, 300, {x, x, y, y}, 0);
        const Message threes = build(1, 300, {x, x, x, y}, 0);
        EXPECT_NE(hash_of(impl, two.wire, two.records), hash_of(impl, pairs.wire, pairs.records));
        EXPECT_NE(hash_of(impl, pairs.wire, pairs.records), hash_of(impl, threes.wire, threes.records));
        // Bytes past the last record the parser kept are hashed, in order.
        const Message t1 = build(1, 300, {x}, 0, {1, 2, 3});
        const Message t2 = build(1, 300, {x}, 0, {1, 3, 2});
        const Message t3 = build(1, 300, {x}, 0, {});
        EXPECT_NE(hash_of(impl, t1.wire, t1.records), hash_of(impl, t2.wire, t2.records)) << impl.name;
        EXPECT_NE(hash_of(impl, t1.wire, t1.records), hash_of(impl, t3.wire, t3.records)) << impl.name;
    }
}

TEST(MaterialHash, AMessageWithoutRecordsIsHashedWholeButItsId) {
    for (const Impl& impl : implementations()) {
        for (size_t n = 3; n < 80; ++n) {
            std::vector<uint8_t> a(n), b(n);
            for (size_t i = 0; i < n; ++i) a[i] = b[i] = static_cast<uint8_t>(i + 1);
            b[0] = 0x55;
            b[1] = 0xAA;
            EXPECT_EQ(hash_of(impl, a, {}), hash_of(impl, b, {})) << impl.name << " " << n;
            b[n - 1] ^= 1;
            EXPECT_NE(hash_of(impl, a, {}), hash_of(impl, b, {})) << impl.name << " " << n;
            // One more byte of zero is another message.
            std::vector<uint8_t> longer(a);
            longer.push_back(0);
            EXPECT_NE(hash_of(impl, a, {}), hash_of(impl, longer, {})) << impl.name << " " << n;
        }
    }
}

TEST(MaterialHash, TheDispatcherUsesTheFastestImplementationThereIs) {
    const Message m = build(1, 300, varied_records(), 3);
    const Bytes w = as_bytes(m.wire.data(), m.wire.size());
    const Fn expected = material_hash_aes_available() ? &material_hash_aes : &material_hash_portable;
    EXPECT_EQ(material_hash(5, w, m.records), expected(5, w, m.records));
}

}  // namespace
}  // namespace frag53
