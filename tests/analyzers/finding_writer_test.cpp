#include "analyzers/finding_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/analyzers/collecting_sink.h"

namespace frag53 {
namespace {

using testing::CollectingSink;

dns::Name name_of(const std::string& text) {
    // Wire form of a dotted name, labels under 64 bytes.
    dns::Name n;
    uint8_t len = 0;
    size_t start = 0;
    while (start < text.size()) {
        const size_t dot = text.find('.', start);
        const size_t end = dot == std::string::npos ? text.size() : dot;
        n.wire[len++] = static_cast<uint8_t>(end - start);
        for (size_t i = start; i < end; ++i) n.wire[len++] = static_cast<uint8_t>(text[i]);
        start = end + 1;
    }
    n.wire[len++] = 0;
    n.length = len;
    return n;
}

// Findings of every shape the writer copies: with and without a question name, DNSSEC zone and
// owner names (the copy takes only their used bytes), and fields before, between and after them.
Finding numbered(uint64_t i) {
    Finding f;
    f.code = i % 3 == 0 ? FindingCode::dns_truncated : FindingCode::dns_oversized_response;
    f.ts_ns = i;
    f.id = static_cast<uint16_t>(i);
    f.add_frame(i + 1);
    if (i % 4 != 1) f.set_question(name_of("q" + std::to_string(i) + ".example"), 16);
    f.response_size = static_cast<uint32_t>(i * 3);
    if (i % 7 == 0) {
        f.code = FindingCode::dnssec_rrsig_expired;
        f.dnssec.zone = name_of("zone" + std::to_string(i % 100) + ".test");
        f.dnssec.owner = name_of(std::string(60, 'o') + "." + std::string(60, 'p') + ".test");
        f.dnssec.key_tag = static_cast<uint16_t>(i);
        f.dnssec.occurrences = static_cast<uint32_t>(i + 5);
    }
    f.rule_line = static_cast<uint32_t>(i + 9);
    f.reason_offset = static_cast<uint32_t>(i + 11);
    return f;
}

bool same_name(const dns::Name& a, const dns::Name& b) {
    return a.length == b.length && std::memcmp(a.wire.data(), b.wire.data(), a.length) == 0;
}

void expect_same(const Finding& got, const Finding& want) {
    EXPECT_EQ(got.code, want.code);
    EXPECT_EQ(got.ts_ns, want.ts_ns);
    EXPECT_EQ(got.id, want.id);
    EXPECT_EQ(got.has_question, want.has_question);
    EXPECT_TRUE(same_name(got.qname, want.qname));
    EXPECT_EQ(got.qtype, want.qtype);
    EXPECT_EQ(got.response_size, want.response_size);
    EXPECT_TRUE(same_name(got.dnssec.zone, want.dnssec.zone));
    EXPECT_TRUE(same_name(got.dnssec.owner, want.dnssec.owner));
    EXPECT_EQ(got.dnssec.key_tag, want.dnssec.key_tag);
    EXPECT_EQ(got.dnssec.occurrences, want.dnssec.occurrences);
    EXPECT_EQ(got.rule_line, want.rule_line);
    EXPECT_EQ(got.reason_offset, want.reason_offset);
    EXPECT_EQ(got.frames, want.frames);
    EXPECT_EQ(got.frame_count, want.frame_count);
}

// A downstream that is sometimes slower than the pipeline, so the ring fills and empties.
class SlowSink final : public CollectingSink {
public:
    void on_finding(const Finding& f) override {
        if (f.ts_ns % 997 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
        CollectingSink::on_finding(f);
    }
};

// Every finding reaches the downstream sink once, in the order it was found, whether the writer
// is ahead (it sleeps and is woken in batches) or behind (the pipeline waits for room).
TEST(FindingWriterTest, EveryFindingInOrder) {
    constexpr uint64_t n = 20000;
    SlowSink down;
    uint64_t waits = 0;
    {
        FindingWriter w(down, FindingWriter::wake_batch);
        for (uint64_t i = 0; i < n; ++i) {
            w.on_finding(numbered(i));
            // Now and then the pipeline is the slower side.
            if (i % 5000 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        w.finish();
        waits = w.full_waits();
        ASSERT_EQ(down.findings.size(), n) << "finish() returns once every finding was handed on";
    }
    for (uint64_t i = 0; i < n; ++i) {
        ASSERT_EQ(down.findings[i].ts_ns, i);
        expect_same(down.findings[i], numbered(i));
        if (::testing::Test::HasFailure()) FAIL() << "finding " << i;
    }
    EXPECT_GT(waits, 0u) << "a ring of one batch with a slow writer must have made the pipeline wait";
}

// The pipeline wakes a sleeping writer once per sleep, however many findings it pushes before the
// writer runs again (a thread takes tens of microseconds to wake on a virtual machine, and every
// push while it was still flagged asleep used to be another futex call).
TEST(FindingWriterTest, OneWakeUpPerSleep) {
    CollectingSink down;
    uint64_t sleeps = 0, wakeups = 0;
    {
        FindingWriter w(down);
        uint64_t i = 0;
        for (int round = 0; round < 20; ++round) {
            // More than a batch at once, then time for the writer to empty the ring and sleep.
            for (size_t k = 0; k < FindingWriter::default_capacity; ++k) w.on_finding(numbered(i++));
            std::this_thread::sleep_for(std::chrono::milliseconds(3));
        }
        w.finish();
        sleeps = w.writer_sleeps();
        wakeups = w.writer_wakeups();
        ASSERT_EQ(down.findings.size(), i);
    }
    EXPECT_GT(wakeups, 0u) << "the writer slept between the rounds and was woken";
    EXPECT_LE(wakeups, sleeps);
}

// Fewer findings than a wake-up batch: the writer is asleep with them in the ring, and finish()
// still hands every one on. The destructor finishes a writer nobody finished.
TEST(FindingWriterTest, FinishHandsOnAPartialBatch) {
    CollectingSink down;
    FindingWriter w(down);
    for (uint64_t i = 0; i < FindingWriter::wake_batch / 2; ++i) w.on_finding(numbered(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    w.finish();
    EXPECT_EQ(down.findings.size(), FindingWriter::wake_batch / 2);
    w.finish();  // once is enough; a second call does nothing
    EXPECT_EQ(down.findings.size(), FindingWriter::wake_batch / 2);

    CollectingSink down2;
    {
        FindingWriter w2(down2);
        w2.on_finding(numbered(7));
    }
    ASSERT_EQ(down2.findings.size(), 1u);
    EXPECT_EQ(down2.findings[0].ts_ns, 7u);
}

// What the downstream sink throws (an events file that cannot grow, say) comes out of finish();
// the findings after it are taken from the ring and dropped, so the pipeline never blocks.
TEST(FindingWriterTest, DownstreamFailureComesOutOfFinish) {
    class Failing final : public FindingSink {
    public:
        void on_finding(const Finding& f) override {
            if (f.ts_ns == 100) throw std::runtime_error("disk full");
            ++seen;
        }
        std::atomic<uint64_t> seen{0};
    } down;
    FindingWriter w(down, FindingWriter::wake_batch);
    for (uint64_t i = 0; i < 5000; ++i) w.on_finding(numbered(i));
    EXPECT_THROW(w.finish(), std::runtime_error);
    EXPECT_EQ(down.seen.load(), 100u);
}

TEST(FindingWriterTest, CapacityMustHoldABatch) {
    CollectingSink down;
    EXPECT_THROW(FindingWriter(down, FindingWriter::wake_batch / 2), std::invalid_argument);
    EXPECT_THROW(FindingWriter(down, 1000), std::invalid_argument);
}

}  // namespace
}  // namespace frag53
