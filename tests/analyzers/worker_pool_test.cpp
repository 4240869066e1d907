#include "analyzers/worker_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "dataplane/decode.h"
#include "tests/analyzers/collecting_sink.h"
#include "tests/analyzers/test_packets.h"

namespace frag53 {
namespace {

using testing::DnsBuilder;
using testing::Frame;
using testing::make_frame;
using testing::sec;
using testing::server_ip;
using testing::udp4_frame;

// Transaction records as the aggregator would get them: kind and packet time, in arrival order.
class RecordLog final : public TransactionRecordSink {
public:
    void on_query(const QueryRecord& r) override { log.emplace_back('q', r.ts_ns); }
    void on_outcome(const OutcomeRecord& r) override { log.emplace_back(r.answered ? 'a' : 'u', r.ts_ns); }
    void on_material(ResponseMaterial&& m) override { log.emplace_back('m', m.ts_ns); }
    std::vector<std::pair<char, uint64_t>> log;
};

// What must not depend on how packets reach the pipelines: each finding by code, reason and
// evidence frames.
using FindingKey = std::tuple<int, std::string, std::vector<uint64_t>>;
std::vector<FindingKey> keys(const std::vector<Finding>& findings) {
    std::vector<FindingKey> out;
    for (const Finding& f : findings)
        out.emplace_back(static_cast<int>(f.code), std::string(f.reason),
                         std::vector<uint64_t>(f.frames.begin(), f.frames.begin() + f.frame_count));
    std::sort(out.begin(), out.end());
    return out;
}

std::map<char, size_t> kinds(const RecordLog& r) {
    std::map<char, size_t> out;
    for (const auto& [k, ts] : r.log) ++out[k];
    return out;
}

bool time_ordered(const RecordLog& r) {
    return std::is_sorted(r.log.begin(), r.log.end(),
                          [](const auto& a, const auto& b) { return a.second < b.second; });
}

std::vector<uint8_t> query(uint16_t id, uint16_t n) {
    return DnsBuilder{}.header(id, 0x0100, 1, 0, 0, 1).name("q" + std::to_string(n) + ".example").question(16)
        .opt(4096, true).data();
}

std::vector<uint8_t> answer(uint16_t id, uint16_t n, size_t txt) {
    DnsBuilder b;
    b.header(id, 0x8180, 1, 1, 0, 1).name("q" + std::to_string(n) + ".example").question(16).txt_answer(txt).opt(1232);
    return b.data();
}

uint32_t client(size_t i) { return 0xC6120100u + static_cast<uint32_t>(i); }  // 198.18.1.i

size_t worker_of(const Frame& f, size_t workers) {
    IpAddress a, b;
    EXPECT_TRUE(frame_addresses(f.view, a, b));
    return symmetric_pair_hash(a, b) % workers;
}

// Clients on one side of the pair hash (for `workers` workers) talk for 30 s of packet time; the
// others stop after 2 s, one of their queries never answered. Thousands of oversized answers,
// more findings than a worker's finding queue holds.
std::vector<Frame> traffic(size_t workers, size_t late_worker) {
    std::vector<Frame> frames;
    std::mt19937 rng(7);
    uint16_t id = 1;
    for (size_t c = 0; c < 64; ++c) {
        const uint32_t ip = client(c);
        const bool late = worker_of(make_frame(udp4_frame(ip, server_ip, 1, 53, {}), 0, 0), workers) == late_worker;
        const uint64_t span = late ? 30 * sec : 2 * sec;
        for (size_t k = 0; k < 150; ++k, ++id) {
            const uint64_t t = 1 * sec + span * k / 150 + rng() % 1000;
            const auto port = static_cast<uint16_t>(40000 + k);
            frames.push_back(make_frame(udp4_frame(ip, server_ip, port, 53, query(id, id)), t, 0));
            if (k == 60 && !late) continue;  // unanswered: times out while the late clients talk
            frames.push_back(make_frame(udp4_frame(server_ip, ip, 53, port, answer(id, id, k % 2 ? 1400 : 40)),
                                        t + 2'000'000, 0));
        }
    }
    std::stable_sort(frames.begin(), frames.end(),
                     [](const Frame& a, const Frame& b) { return a.view.ts_ns < b.view.ts_ns; });
    for (size_t i = 0; i < frames.size(); ++i) frames[i].view.frame = i + 1;
    return frames;
}

struct Reference {
    testing::CollectingSink findings;
    RecordLog records;
};

void reference(const std::vector<Frame>& frames, Reference& out) {
    Pipeline p(PipelineConfig{}, out.findings);
    p.set_record_sink(&out.records);
    for (const Frame& f : frames) p.process({&f.view, 1});
    p.finish();
}

// A replayed recording on one queue: bursts of 1-64 packets in time order, empty once exhausted.
class ReplayQueue final : public PolledSource {
public:
    explicit ReplayQueue(unsigned seed) : rng_(seed) {}
    size_t poll(std::span<PacketView> out) noexcept override {
        const size_t n = std::min({out.size(), views.size() - next_, size_t{1} + rng_() % 64});
        std::copy_n(views.begin() + static_cast<std::ptrdiff_t>(next_), n, out.begin());
        next_ += n;
        held_ += n;
        return n;
    }
    void release(std::span<const PacketView> v) noexcept override { held_ -= v.size(); }
    uint64_t clock_now_ns() const noexcept override { return 0; }
    std::vector<PacketView> views;
    size_t held() const noexcept { return held_; }

private:
    std::mt19937 rng_;
    size_t next_ = 0;
    size_t held_ = 0;
};

// A recording every replay worker reads whole, in bursts of 1-64 packets. It checks, on every
// read, that the pool never lets it run more than `lead` frames ahead of the slowest shard.
struct ShardGroup {
    std::vector<PacketView> views;
    size_t workers = 1;
    uint64_t lead = 0;
    std::vector<std::atomic<uint64_t>> position;  // frames given out, per shard
    std::atomic<uint64_t> too_far{0};
    std::atomic<uint64_t> waited{0};
    explicit ShardGroup(size_t n) : workers(n), position(n) {}
};

class FakeShard final : public ReplayShard {
public:
    FakeShard(ShardGroup& g, size_t index) : g_(g), index_(index), rng_(static_cast<unsigned>(index + 5)) {}
    size_t next(std::span<PacketView> out, std::span<bool> mine, uint64_t max_frame, Stop& why) noexcept override {
        why = Stop::full;
        if (next_ == g_.views.size()) {
            why = Stop::end;
            return 0;
        }
        uint64_t slowest = std::numeric_limits<uint64_t>::max();
        for (const auto& p : g_.position) slowest = std::min(slowest, p.load());
        size_t n = 0;
        const size_t want = std::min({out.size(), mine.size(), size_t{1} + rng_() % 64});
        while (n < want && next_ < g_.views.size()) {
            const PacketView& v = g_.views[next_];
            if (v.frame > max_frame) {
                why = Stop::ahead;
                g_.waited.fetch_add(1);
                break;
            }
            // The pool's bound is computed from positions it saw published, which are never
            // ahead of the ones kept here.
            if (v.frame > slowest + g_.lead) g_.too_far.fetch_add(1);
            out[n] = v;
            mine[n] = worker_of_view(v) == index_;
            ++n;
            ++next_;
        }
        g_.position[index_].store(next_ == g_.views.size() ? std::numeric_limits<uint64_t>::max() : next_);
        held_ += n;
        return n;
    }
    void release(std::span<const PacketView> v) noexcept override { held_ -= v.size(); }
    size_t held() const noexcept { return held_; }

private:
    size_t worker_of_view(const PacketView& v) const {
        IpAddress a, b;
        if (!frame_addresses(v, a, b)) return 0;
        return symmetric_pair_hash(a, b) % g_.workers;
    }
    ShardGroup& g_;
    size_t index_;
    std::mt19937 rng_;
    size_t next_ = 0;
    size_t held_ = 0;
};

// Findings with their packet time: replay workers see every packet's time, so even the timeouts
// fire at the same packet as in one pipeline.
using TimedKey = std::tuple<int, std::string, uint64_t, std::vector<uint64_t>>;
std::vector<TimedKey> timed_keys(const std::vector<Finding>& findings) {
    std::vector<TimedKey> out;
    for (const Finding& f : findings)
        out.emplace_back(static_cast<int>(f.code), std::string(f.reason), f.ts_ns,
                         std::vector<uint64_t>(f.frames.begin(), f.frames.begin() + f.frame_count));
    std::sort(out.begin(), out.end());
    return out;
}

struct ReplayRun {
    testing::CollectingSink sink;
    RecordLog records;
    PipelineCounters counters;
    WorkerPoolCounters pool;
};

void replay(const std::vector<Frame>& frames, size_t workers, uint64_t lead, ReplayRun& run,
            TransactionRecordSink* records = nullptr,
            size_t record_queue = WorkerPool::default_replay_record_queue) {
    ShardGroup group(workers);
    group.lead = lead;
    for (const Frame& f : frames) group.views.push_back(f.view);
    std::vector<std::unique_ptr<FakeShard>> shards;
    std::vector<ReplayShard*> list;
    for (size_t w = 0; w < workers; ++w) {
        shards.push_back(std::make_unique<FakeShard>(group, w));
        list.push_back(shards.back().get());
    }
    WorkerPool pool(list, PipelineConfig{}, run.sink, records ? records : &run.records, lead, record_queue);
    EXPECT_TRUE(pool.polled());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!pool.input_done() && std::chrono::steady_clock::now() < deadline) {
        if (!pool.service()) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    EXPECT_TRUE(pool.input_done());
    pool.finish();
    run.counters = pool.counters();
    run.pool = pool.pool_counters();
    EXPECT_EQ(group.too_far.load(), 0u) << "a shard ran more than " << lead << " frames ahead";
    for (const auto& s : shards) EXPECT_EQ(s->held(), 0u) << "every burst released";
    if (lead < 64) {
        EXPECT_GT(group.waited.load(), 0u) << "a lead this short makes workers wait";
    }
}

// Every worker reads everything and analyzes its share: the same findings, at the same packet
// times, as one pipeline; records merged in time order; nothing dropped, whatever the lead.
TEST(WorkerPool, ReplayModeMatchesOnePipeline) {
    for (size_t workers : {1, 2, 3}) {
        for (uint64_t lead : {uint64_t{16}, uint64_t{200}, WorkerPool::default_max_lead_frames}) {
            const auto frames = traffic(std::max<size_t>(workers, 2), 0);
            Reference ref;
            reference(frames, ref);
            ASSERT_GT(ref.findings.count(FindingCode::dns_unanswered), 0u);
            ReplayRun run;
            replay(frames, workers, lead, run);
            const std::string what = std::to_string(workers) + " workers, lead " + std::to_string(lead);
            EXPECT_EQ(timed_keys(run.sink.findings), timed_keys(ref.findings.findings)) << what;
            EXPECT_EQ(run.records.log.size(), ref.records.log.size()) << what;
            EXPECT_EQ(kinds(run.records), kinds(ref.records)) << what;
            EXPECT_TRUE(time_ordered(run.records)) << what;
            EXPECT_EQ(run.counters.packets, frames.size()) << what;
            EXPECT_EQ(run.pool.records_dropped, 0u) << what;
            ASSERT_EQ(run.pool.packets_per_worker.size(), workers) << what;
        }
    }
}

// Two recordings one after the other, the second made earlier: the records of the first reach
// the aggregator before any of the second although the workers cross the jump at different
// moments, and the jump is counted once, as one pipeline counts it.
TEST(WorkerPool, ReplayModeMergesTimelinesInOrder) {
    auto frames = traffic(2, 1);
    auto second = traffic(2, 0);
    const uint64_t first_end = frames.back().view.ts_ns;
    for (Frame& f : second) {
        f.view.ts_ns -= 500'000'000;  // before the first recording's start (1 s)
        frames.push_back(std::move(f));
    }
    for (size_t i = 0; i < frames.size(); ++i) frames[i].view.frame = i + 1;
    Reference ref;
    reference(frames, ref);
    ReplayRun run;
    replay(frames, 2, 300, run);
    EXPECT_EQ(run.counters.time_jumps, 1u);
    EXPECT_EQ(timed_keys(run.sink.findings), timed_keys(ref.findings.findings));
    EXPECT_EQ(kinds(run.records), kinds(ref.records));
    // One drop back in time, where the second recording starts; in order on either side.
    size_t drops = 0, at = 0;
    for (size_t i = 1; i < run.records.log.size(); ++i) {
        if (run.records.log[i].second < run.records.log[i - 1].second) {
            ++drops;
            at = i;
        }
    }
    EXPECT_EQ(drops, 1u);
    ASSERT_GT(at, 0u);
    EXPECT_GT(run.records.log[at - 1].second, 2 * sec);
    EXPECT_LE(run.records.log[at - 1].second, first_end);
    EXPECT_LT(run.records.log[at].second, 1 * sec);
}

// An aggregator slower than the workers: a full record ring makes a replay worker wait (after
// saying how far its records are certain, so the merge can empty the ring) instead of dropping.
class SlowRecords final : public TransactionRecordSink {
public:
    void on_query(const QueryRecord& r) override { step('q', r.ts_ns); }
    void on_outcome(const OutcomeRecord& r) override { step(r.answered ? 'a' : 'u', r.ts_ns); }
    void on_material(ResponseMaterial&& m) override { step('m', m.ts_ns); }
    RecordLog log;

private:
    void step(char k, uint64_t ts) {
        log.log.emplace_back(k, ts);
        if (log.log.size() % 512 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
};

// Rings of 256 records fill with many bursts' records; rings of 4 with the records of the very
// burst being analyzed, which the merge can take only because the worker says how far they go.
TEST(WorkerPool, ReplayModeWaitsInsteadOfDroppingRecords) {
    auto frames = traffic(2, 0);
    Reference ref;
    reference(frames, ref);
    for (size_t ring : {size_t{256}, size_t{4}}) {
        SlowRecords slow;
        ReplayRun run;
        replay(frames, 2, uint64_t{1} << 40, run, &slow, ring);
        EXPECT_GT(run.pool.records_waited, 0u) << "ring " << ring << " never filled: the test shows nothing";
        EXPECT_EQ(run.pool.records_dropped, 0u) << ring;
        EXPECT_EQ(kinds(slow.log), kinds(ref.records)) << ring;
        EXPECT_TRUE(time_ordered(slow.log)) << ring;
        EXPECT_EQ(timed_keys(run.sink.findings), timed_keys(ref.findings.findings)) << ring;
    }
}

TEST(WorkerPool, ReplayModeNeedsAShard) {
    testing::CollectingSink sink;
    EXPECT_THROW(WorkerPool(std::vector<ReplayShard*>{nullptr}, PipelineConfig{}, sink, nullptr),
                 std::invalid_argument);
}

TEST(WorkerPool, DispatchModeMatchesOnePipeline) {
    const auto frames = traffic(2, 0);
    Reference ref;
    reference(frames, ref);
    ASSERT_GT(ref.findings.count(FindingCode::dns_oversized_response), 4096u);
    ASSERT_GT(ref.findings.count(FindingCode::dns_unanswered), 0u);
    for (size_t workers : {1, 2, 3}) {
        testing::CollectingSink sink;
        RecordLog records;
        WorkerPool pool(workers, PipelineConfig{}, sink, &records);
        std::vector<PacketView> views;
        for (const Frame& f : frames) views.push_back(f.view);
        for (size_t i = 0; i < views.size(); i += 50)
            pool.dispatch(std::span(views).subspan(i, std::min<size_t>(50, views.size() - i)));
        pool.finish();
        EXPECT_EQ(keys(sink.findings), keys(ref.findings.findings)) << workers << " workers";
        EXPECT_EQ(kinds(records), kinds(ref.records)) << workers << " workers";
        EXPECT_TRUE(time_ordered(records)) << workers << " workers";
        EXPECT_EQ(pool.counters().packets, frames.size());
    }
}

// Each worker polls its own queue, filled as symmetric RSS would: the same findings as one
// pipeline that saw everything, records merged in time order, and a queue whose recording ends
// early still sees time pass (its unanswered query times out instead of waiting for the end).
TEST(WorkerPool, PolledModeMatchesOnePipeline) {
    for (size_t workers : {2, 3}) {
        for (size_t late : {size_t{0}, workers - 1}) {
            const auto frames = traffic(workers, late);
            Reference ref;
            reference(frames, ref);
            ASSERT_GT(ref.findings.count(FindingCode::dns_unanswered), 0u);
            std::vector<std::unique_ptr<ReplayQueue>> queues;
            std::vector<std::vector<PolledSource*>> lists(workers);
            for (size_t w = 0; w < workers; ++w) {
                queues.push_back(std::make_unique<ReplayQueue>(static_cast<unsigned>(w + 11)));
                lists[w].push_back(queues.back().get());
            }
            for (const Frame& f : frames) queues[worker_of(f, workers)]->views.push_back(f.view);

            testing::CollectingSink sink;
            RecordLog records;
            WorkerPool pool(std::move(lists), PipelineConfig{}, sink, &records);
            EXPECT_TRUE(pool.polled());
            EXPECT_EQ(pool.workers(), workers);
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            while (pool.gauges().packets < frames.size() && std::chrono::steady_clock::now() < deadline) {
                pool.service();
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            ASSERT_EQ(pool.gauges().packets, frames.size());
            const std::string what = std::to_string(workers) + " workers, late queue " + std::to_string(late);
            // Before the end: the exhausted queue's worker has let its time pass, so the merge
            // is not held back at the time its recording ended.
            while (records.log.size() < ref.records.log.size() * 9 / 10 &&
                   std::chrono::steady_clock::now() < deadline) {
                pool.service();
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            EXPECT_GE(records.log.size(), ref.records.log.size() * 9 / 10) << what;
            pool.finish();
            EXPECT_EQ(keys(sink.findings), keys(ref.findings.findings)) << what;
            EXPECT_EQ(kinds(records), kinds(ref.records)) << what;
            EXPECT_TRUE(time_ordered(records)) << what;
            EXPECT_EQ(pool.counters().packets, frames.size()) << what;
            size_t unanswered_timeout = 0;
            for (const Finding& f : sink.findings)
                unanswered_timeout += f.code == FindingCode::dns_unanswered && f.reason == "timeout";
            EXPECT_GT(unanswered_timeout, 0u) << what;
            for (const auto& q : queues) EXPECT_EQ(q->held(), 0u) << "every burst released";
            std::vector<uint64_t> per_worker = pool.pool_counters().packets_per_worker;
            EXPECT_EQ(per_worker.size(), workers);
            for (size_t w = 0; w < workers; ++w) EXPECT_EQ(per_worker[w], queues[w]->views.size());
        }
    }
}

TEST(WorkerPool, PolledModeNeedsASource) {
    testing::CollectingSink sink;
    EXPECT_THROW(WorkerPool(std::vector<std::vector<PolledSource*>>{{}, {nullptr}}, PipelineConfig{}, sink, nullptr),
                 std::invalid_argument);
}

// Stopped before its queues are exhausted (a signal on a live port): finish() still ends every
// worker cleanly with what it analyzed so far.
TEST(WorkerPool, PolledModeFinishesWhileQueuesStillHavePackets) {
    const auto frames = traffic(2, 0);
    ReplayQueue a(1), b(2);
    for (const Frame& f : frames) (worker_of(f, 2) == 0 ? a : b).views.push_back(f.view);
    testing::CollectingSink sink;
    WorkerPool pool({{&a}, {&b}}, PipelineConfig{}, sink, nullptr);
    pool.service();
    pool.finish();
    EXPECT_LE(pool.counters().packets, frames.size());
    EXPECT_EQ(a.held() + b.held(), 0u);
}

}  // namespace
}  // namespace frag53
