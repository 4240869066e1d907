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
    EXPECT_THROW(FindingWriter(down, FindingWriter::wake_batch, nullptr, FindingWriter::record_wake_batch / 2),
                 std::invalid_argument);
    EXPECT_THROW(FindingWriter(down, FindingWriter::wake_batch, nullptr, 3000), std::invalid_argument);
}

// What reached the downstream sinks, in order, on the writer's thread: "F<ts>" for a finding,
// "Q<ts>", "O<ts>", "M<ts>" for the records; a record sink that finds something (as the
// aggregator does) sends it to the same finding sink, where it lands right after its record.
struct Log {
    std::vector<std::string> lines;
    std::thread::id thread;
    bool one_thread = true;
    void add(std::string s) {
        if (lines.empty()) thread = std::this_thread::get_id();
        else if (thread != std::this_thread::get_id()) one_thread = false;
        lines.push_back(std::move(s));
    }
};

class LoggingSink final : public FindingSink {
public:
    explicit LoggingSink(Log& log) : log_(log) {}
    void on_finding(const Finding& f) override {
        if (f.ts_ns % 997 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
        log_.add("F" + std::to_string(f.ts_ns));
    }

private:
    Log& log_;
};

class LoggingRecords final : public TransactionRecordSink {
public:
    LoggingRecords(Log& log, FindingSink& found) : log_(log), found_(found) {}
    void on_query(const QueryRecord& r) override {
        log_.add("Q" + std::to_string(r.ts_ns));
        if (r.qname.length != 3 || r.qname.wire[0] != 1 || r.qname.wire[1] != 'q') log_.add("bad qname");
        // Every hundredth query makes the "aggregator" find something of its own.
        if (r.ts_ns % 100 == 0) found_.on_finding(numbered(r.ts_ns + 1'000'000'000));
        if (r.ts_ns % 1499 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
    void on_outcome(const OutcomeRecord& r) override {
        log_.add("O" + std::to_string(r.ts_ns));
        if (r.response_size != r.ts_ns * 2) log_.add("bad size");
    }
    void on_material(ResponseMaterial&& m) override {
        log_.add("M" + std::to_string(m.ts_ns));
        if (m.wire.size() != 300 || m.wire[299] != static_cast<std::byte>(m.ts_ns & 0xFF)) log_.add("bad wire");
        kept.push_back(std::move(m));
    }
    std::vector<ResponseMaterial> kept;

private:
    Log& log_;
    FindingSink& found_;
};

// Findings and records pushed in one sequence come out in that sequence, with what the record
// sink finds right after its record, whether the writer is ahead or behind. Small rings, so both
// fill again and again, and each side waits for the other.
TEST(FindingWriterTest, RecordsAndFindingsInTheOrderTheyCame) {
    Log log;
    LoggingSink down(log);
    LoggingRecords records(log, down);
    std::vector<std::string> want;
    uint64_t waits = 0;
    uint64_t x = 88172645463325252ull;  // xorshift: a fixed, irregular interleaving
    auto next = [&x] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    {
        FindingWriter w(down, FindingWriter::wake_batch, &records, FindingWriter::record_wake_batch);
        for (uint64_t i = 1; i <= 60000; ++i) {
            switch (next() % 7) {
            case 0:
            case 1:
                w.on_finding(numbered(i));
                want.push_back("F" + std::to_string(i));
                break;
            case 2:
            case 3:
            case 4: {
                QueryRecord q;
                q.ts_ns = i;
                q.qname.wire[0] = 1, q.qname.wire[1] = 'q', q.qname.wire[2] = 0, q.qname.length = 3;
                w.on_query(q);
                want.push_back("Q" + std::to_string(i));
                if (i % 100 == 0) want.push_back("F" + std::to_string(i + 1'000'000'000));
                break;
            }
            case 5: {
                OutcomeRecord o;
                o.ts_ns = i;
                o.response_size = static_cast<uint32_t>(i * 2);
                w.on_outcome(o);
                want.push_back("O" + std::to_string(i));
                break;
            }
            default: {
                ResponseMaterial m;
                m.ts_ns = i;
                m.wire.assign(300, static_cast<std::byte>(i & 0xFF));
                w.on_material(std::move(m));
                EXPECT_TRUE(m.wire.empty()) << "moved into the ring";
                want.push_back("M" + std::to_string(i));
            }
            }
            if (i % 20000 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        w.finish();
        waits = w.full_waits();
    }
    ASSERT_EQ(log.lines.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(log.lines[i], want[i]) << "at " << i;
    EXPECT_TRUE(log.one_thread);
    EXPECT_NE(log.thread, std::this_thread::get_id()) << "handed on by the writer's thread";
    EXPECT_GT(waits, 0u) << "rings of one batch with slow sinks must have made the pipeline wait";
    EXPECT_GT(records.kept.size(), 1000u);
}

// A record sink that throws stops the writer's hand-on as a failing finding sink does.
TEST(FindingWriterTest, RecordSinkFailureComesOutOfFinish) {
    class Failing final : public TransactionRecordSink {
    public:
        void on_query(const QueryRecord& r) override {
            if (r.ts_ns == 50) throw std::runtime_error("no memory");
            ++seen;
        }
        void on_outcome(const OutcomeRecord&) override { ++seen; }
        std::atomic<uint64_t> seen{0};
    } records;
    CollectingSink down;
    FindingWriter w(down, FindingWriter::wake_batch, &records);
    for (uint64_t i = 0; i < 5000; ++i) {
        QueryRecord q;
        q.ts_ns = i;
        w.on_query(q);
        w.on_finding(numbered(i));
    }
    EXPECT_THROW(w.finish(), std::runtime_error);
    EXPECT_EQ(records.seen.load(), 50u);
    EXPECT_EQ(down.findings.size(), 50u) << "the findings before the failing record, and none after";
}

}  // namespace
}  // namespace frag53
