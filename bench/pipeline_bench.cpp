// Whole-pipeline throughput on the bundled captures (pcaps/): decode, defrag, TCP reassembly and
// framing, DNS parsing, transactions, detectors and finding construction, with a FindingSink
// that only counts (no JSON, no report, no aggregator). The captures are read into memory once
// with PcapFileSource; each iteration feeds every packet once, in bursts of 64 as the CLI does,
// through one Pipeline built outside the loop.
//
// Replaying the same packets must not look like time going backwards: every pass is shifted by
// the capture's span plus kPassGap of packet time (frame numbers likewise), and kPassGap exceeds
// every timeout, so whatever a pass left pending (unanswered queries, idle TCP connections,
// truncated answers awaiting a retry, fragments) times out at the start of the next pass, as it
// would at the end of a capture. Every pass then meets the same state a fresh pipeline has.
//
// Files are found under $FRAG53_SOURCE_ROOT/pcaps, else pcaps/ or ../pcaps/ relative to the
// current directory (the source root or a build directory inside it).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "analyzers/findings.h"
#include "analyzers/pipeline.h"
#include "dataplane/packet.h"
#include "dataplane/pcap_file_source.h"

namespace {

using frag53::PacketView;
using frag53::Pipeline;
using frag53::PipelineConfig;

constexpr uint64_t kPassGap = 61'000'000'000ull;  // > TCP idle (60 s), IPv6 defrag (60 s), query (5 s)
constexpr size_t kBurst = 64;

const char* const kAllCaptures[] = {
    "clean-edns.pcap",  "big-answers.pcap",  "truncated-tcp.pcap",     "no-edns.pcap",
    "unanswered.pcap",  "snaplen-cut.pcap",  "crafted-anomalies.pcap",
};

std::string pcap_dir() {
    std::vector<std::string> candidates;
    if (const char* root = std::getenv("FRAG53_SOURCE_ROOT"))
        candidates.push_back(std::string(root) + "/pcaps");
    candidates.push_back("pcaps");
    candidates.push_back("../pcaps");
    for (const auto& dir : candidates)
        if (std::ifstream(dir + "/" + kAllCaptures[0], std::ios::binary)) return dir;
    std::fprintf(stderr,
                 "pipeline_bench: pcaps/%s not found; set FRAG53_SOURCE_ROOT to the source tree\n",
                 kAllCaptures[0]);
    std::exit(1);
}

// Packets held in memory; `views` point into `data`. Timestamps are rebased so that files follow
// each other kPassGap apart in one timeline.
struct Capture {
    std::vector<std::vector<std::byte>> data;
    std::vector<PacketView> views;
    uint64_t bytes = 0;
    uint64_t span_ns = 0;  // first to last packet
};

Capture load(const std::vector<std::string>& names) {
    const std::string dir = pcap_dir();
    Capture cap;
    std::vector<PacketView> meta;  // views with data still pointing into the source's buffers
    uint64_t next_start = 0;
    for (const auto& name : names) {
        frag53::PcapFileSource source({dir + "/" + name});
        std::array<PacketView, kBurst> burst;
        uint64_t first_ts = 0, last_ts = 0;
        const size_t before = cap.data.size();
        for (size_t n; (n = source.receive(burst)) != 0;) {
            for (size_t i = 0; i < n; ++i) {
                const PacketView& v = burst[i];
                cap.data.emplace_back(v.data.begin(), v.data.end());
                PacketView m = v;
                m.data = {};
                if (cap.data.size() - before == 1) first_ts = v.ts_ns;
                last_ts = std::max(last_ts, v.ts_ns);
                m.ts_ns = v.ts_ns - first_ts + next_start;
                meta.push_back(m);
            }
            source.release({burst.data(), n});
        }
        if (!source.errors().empty() || cap.data.size() == before) {
            std::fprintf(stderr, "pipeline_bench: %s/%s: %s\n", dir.c_str(), name.c_str(),
                         source.errors().empty() ? "no packets"
                                                 : source.errors().front().message.c_str());
            std::exit(1);
        }
        next_start += last_ts - first_ts + kPassGap;
    }
    cap.span_ns = next_start - kPassGap;
    for (size_t i = 0; i < meta.size(); ++i) {
        meta[i].data = {cap.data[i].data(), cap.data[i].size()};
        meta[i].frame = i + 1;
        cap.bytes += cap.data[i].size();
    }
    cap.views = std::move(meta);
    return cap;
}

const Capture& capture(const char* file) {
    static std::map<std::string, Capture> cache;
    const std::string key = file ? file : "all";
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    std::vector<std::string> names;
    if (file) names.emplace_back(file);
    else names.assign(std::begin(kAllCaptures), std::end(kAllCaptures));
    return cache.emplace(key, load(names)).first->second;
}

class CountingFindingSink final : public frag53::FindingSink {
public:
    void on_finding(const frag53::Finding&) override { ++findings; }
    uint64_t findings = 0;
};

// One pass over the capture, shifted to pass number `pass`.
void feed(Pipeline& pipe, const Capture& cap, uint64_t pass) {
    const uint64_t dt = pass * (cap.span_ns + kPassGap);
    const uint64_t dframe = pass * cap.views.size();
    std::array<PacketView, kBurst> burst;
    for (size_t i = 0; i < cap.views.size(); i += kBurst) {
        const size_t n = std::min(kBurst, cap.views.size() - i);
        for (size_t j = 0; j < n; ++j) {
            burst[j] = cap.views[i + j];
            burst[j].ts_ns += dt;
            burst[j].frame += dframe;
        }
        pipe.process({burst.data(), n});
    }
}

// Arg: one capture file, or nullptr for all of them in sequence. One iteration = one pass.
void BM_Pipeline(benchmark::State& state, const char* file) {
    const Capture& cap = capture(file);
    const PipelineConfig config;

    // What one pass yields from a fresh pipeline, end of input included.
    uint64_t reference = 0, reference_messages = 0;
    {
        CountingFindingSink sink;
        auto pipe = std::make_unique<Pipeline>(config, sink);
        feed(*pipe, cap, 0);
        pipe->finish();
        reference = sink.findings;
        reference_messages = pipe->counters().dns_messages;
    }

    CountingFindingSink sink;
    auto pipe = std::make_unique<Pipeline>(config, sink);
    uint64_t pass = 0;
    feed(*pipe, cap, pass++);  // warm-up: first-use allocations (framers, history buffers)
    const uint64_t warm = sink.findings, warm_messages = pipe->counters().dns_messages;
    for (auto _ : state) feed(*pipe, cap, pass++);
    // In steady state a pass reports its own findings plus what the one before left pending.
    const uint64_t timed = sink.findings - warm;
    const uint64_t timed_messages = pipe->counters().dns_messages - warm_messages;
    pipe->finish();  // the last pass's leftovers, untimed

    if (pipe->counters().time_jumps != 0) {
        state.SkipWithError("packet time went backwards between passes");
        return;
    }
    // Every pass must do the work of a fresh pipeline's one pass, or this measures something else.
    if (timed_messages != reference_messages * state.iterations()) {
        state.SkipWithError("a pass parsed a different number of DNS messages than a fresh run");
        return;
    }
    const auto passes = static_cast<double>(state.iterations());
    const auto packets = static_cast<int64_t>(cap.views.size()) * state.iterations();
    state.SetItemsProcessed(packets);
    state.SetBytesProcessed(static_cast<int64_t>(cap.bytes) * state.iterations());
    state.counters["packets"] = static_cast<double>(cap.views.size());
    state.counters["ns_per_packet"] = benchmark::Counter(
        static_cast<double>(packets), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["findings_per_pass"] = static_cast<double>(timed) / passes;
    state.counters["findings_fresh"] = static_cast<double>(reference);
    state.counters["dns_messages"] = static_cast<double>(reference_messages);
}
BENCHMARK_CAPTURE(BM_Pipeline, clean_edns, "clean-edns.pcap");
BENCHMARK_CAPTURE(BM_Pipeline, big_answers, "big-answers.pcap");
BENCHMARK_CAPTURE(BM_Pipeline, truncated_tcp, "truncated-tcp.pcap");
BENCHMARK_CAPTURE(BM_Pipeline, no_edns, "no-edns.pcap");
BENCHMARK_CAPTURE(BM_Pipeline, unanswered, "unanswered.pcap");
BENCHMARK_CAPTURE(BM_Pipeline, snaplen_cut, "snaplen-cut.pcap");
BENCHMARK_CAPTURE(BM_Pipeline, crafted_anomalies, "crafted-anomalies.pcap");
BENCHMARK_CAPTURE(BM_Pipeline, all, nullptr);

}  // namespace

BENCHMARK_MAIN();
