#include "analyzers/finding_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/analyzers/collecting_sink.h"

namespace frag53 {
namespace {

using testing::CollectingSink;

Finding numbered(uint64_t i) {
    Finding f;
    f.code = i % 3 == 0 ? FindingCode::dns_truncated : FindingCode::dns_oversized_response;
    f.ts_ns = i;
    f.id = static_cast<uint16_t>(i);
    f.add_frame(i + 1);
    return f;
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
        ASSERT_EQ(down.findings[i].code, numbered(i).code);
        ASSERT_EQ(down.findings[i].frames[0], i + 1);
    }
    EXPECT_GT(waits, 0u) << "a ring of one batch with a slow writer must have made the pipeline wait";
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
