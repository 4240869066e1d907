#include "analyzers/worker_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
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
