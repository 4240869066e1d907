// frag53: argument parsing and wiring only; the analysis lives in analyzers/ and dataplane/.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <deque>
#include <unordered_set>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "analyzers/event_sink.h"
#include "analyzers/finding_writer.h"
#include "analyzers/metrics.h"
#include "cli/metrics_server.h"
#include "analyzers/pipeline.h"
#include "analyzers/report.h"
#include "analyzers/summary_json.h"
#include "analyzers/worker_pool.h"
#include "dataplane/pcap_file_source.h"
#include "dataplane/pcap_shard.h"
#include "dataplane/pcap_live_source.h"
#include "dataplane/privileges.h"
#include "prober/command.h"
#include "analyzers/rules/rule_set.h"
#include "analyzers/rules/zone_set.h"
#include "dataplane/packet_ring.h"
#include "dataplane/pcap_writer.h"
#include "frag53_config.h"
// Built twice where DPDK was found: frag53 (FRAG53_DPDK_COMPANION), which runs frag53-dpdk for
// `frag53 dpdk`, and frag53-dpdk, which has the DPDK capture itself. Linked into frag53, the DPDK
// libraries and their constructors were 3 ms of every run's start.
#if FRAG53_HAVE_DPDK && !FRAG53_DPDK_COMPANION
#define FRAG53_DPDK_HERE 1
#include "dataplane/dpdk_source.h"
#else
#define FRAG53_DPDK_HERE 0
#endif
#if FRAG53_DPDK_COMPANION
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cli/companions.h"
#endif

namespace {

using frag53::FindingFanout;
using frag53::JsonLinesSink;
using frag53::PacketView;
using frag53::PcapFileSource;
using frag53::Pipeline;
using frag53::PipelineConfig;
using frag53::ReportCollector;
using frag53::RunInfo;

struct FileCloser {
    void operator()(std::FILE* f) const noexcept {
        if (f != nullptr && f != stdout) std::fclose(f);
    }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

// Remembers the evidence frames of every finding for -w (bounded; what does not fit is counted).
class EvidenceFrames final : public frag53::FindingSink {
public:
    static constexpr size_t max_frames = size_t{1} << 24;
    void on_finding(const frag53::Finding& f) override {
        for (uint8_t i = 0; i < f.frame_count; ++i) {
            if (f.frames[i] == 0) continue;
            if (frames_.size() >= max_frames) {
                ++dropped_;
                continue;
            }
            frames_.push_back(f.frames[i]);
        }
    }
    // Sorted, without duplicates.
    std::vector<uint64_t> take() {
        std::sort(frames_.begin(), frames_.end());
        frames_.erase(std::unique(frames_.begin(), frames_.end()), frames_.end());
        return std::move(frames_);
    }
    uint64_t dropped() const noexcept { return dropped_; }

private:
    std::vector<uint64_t> frames_;
    uint64_t dropped_ = 0;
};

// Second pass over the inputs: the frames behind the findings, written to `path`. Frame numbers
// are the first pass's (same files, same filter), so the evidence is exactly what was judged.
bool write_evidence(const std::vector<std::string>& files, const std::string& filter,
                    const std::vector<uint64_t>& frames, const std::string& path) {
    PcapFileSource source(files, filter);
    std::unique_ptr<frag53::PcapWriter> out;
    std::array<PacketView, 64> burst;
    size_t next = 0;
    uint64_t other_link = 0;
    try {
        for (;;) {
            size_t n = source.receive(burst);
            if (n == 0 || next == frames.size()) break;
            for (size_t i = 0; i < n && next < frames.size(); ++i) {
                const PacketView& p = burst[i];
                while (next < frames.size() && frames[next] < p.frame) ++next;
                if (next == frames.size() || frames[next] != p.frame) continue;
                if (!out) out = std::make_unique<frag53::PcapWriter>(path, p.link_type);
                if (p.link_type != out->link_type()) {
                    ++other_link;  // one pcap file holds one link type
                    continue;
                }
                out->write(p);
            }
            source.release({burst.data(), n});
        }
        if (!out) out = std::make_unique<frag53::PcapWriter>(path, 1);  // an empty, valid file
    } catch (const std::exception& e) {
        std::fprintf(stderr, "frag53: -w: %s\n", e.what());
        return false;
    }
    if (other_link)
        std::fprintf(stderr, "frag53: -w: %llu evidence packets of another link type not written to %s\n",
                     static_cast<unsigned long long>(other_link), path.c_str());
    return out->flush();
}

struct LiveOptions {
    std::string interface_name;
    int snaplen = 65535;
    int buffer_mib = 64;
    std::string user;
    int stats_interval_s = 10;
    std::string metrics;
    int evidence_buffer_mib = 256;
};

// Live -w: the input cannot be read twice, so recent packets are kept in a ring and a finding's
// frames are written as soon as it is made (frames already overwritten are counted as missing).
class LiveEvidence final : public frag53::FindingSink {
public:
    LiveEvidence(const std::string& path, int link_type, size_t ring_bytes)
        : ring_(ring_bytes, ring_bytes / 256 + 1), writer_(path, link_type) {}
    void keep(std::span<const PacketView> burst) noexcept {
        for (const PacketView& p : burst) ring_.push(p);
    }
    void on_finding(const frag53::Finding& f) override {
        for (uint8_t i = 0; i < f.frame_count; ++i) {
            const uint64_t fr = f.frames[i];
            if (fr == 0 || written_.count(fr)) continue;
            PacketView v;
            if (!ring_.find(fr, v)) {
                ++missing_;
                continue;
            }
            writer_.write(v);
            // Remember what was written so shared evidence goes out once; bounded.
            if (order_.size() == 65536) {
                written_.erase(order_.front());
                order_.pop_front();
            }
            written_.insert(fr);
            order_.push_back(fr);
        }
    }
    bool flush() noexcept { return writer_.flush(); }
    uint64_t missing() const noexcept { return missing_; }
    uint64_t written() const noexcept { return writer_.written(); }

private:
    frag53::PacketRing ring_;
    frag53::PcapWriter writer_;
    std::unordered_set<uint64_t> written_;
    std::deque<uint64_t> order_;
    uint64_t missing_ = 0;
};

struct AnalyzeOptions {
    std::vector<std::string> files;
    std::string filter;
    std::string events;
    std::string summary_json;
    uint32_t size_threshold = 1232;
    double query_timeout_s = 5.0;
    size_t max_pending = 65536;
    std::vector<uint16_t> dns_ports{53};
    bool quiet = false;
    // IP reassembly
    uint64_t frag_memory_mib = 256;
    uint32_t frag_max_datagrams = 8192;
    uint32_t frag_max_fragments = 64;
    double frag_timeout_v4_s = 30.0;
    double frag_timeout_v6_s = 60.0;
    // TCP and fallback
    uint32_t tcp_max_connections = 4096;
    double tcp_idle_timeout_s = 60.0;
    double tcp_retry_window_s = 5.0;
    // Path verdicts
    uint32_t path_min_samples = 5;
    double path_lost_rate = 0.5;
    double retry_window_s = 10.0;
    size_t workers = 1;
    std::string write_evidence;
    // DNSSEC and qname rules
    double dnssec_expiring_days = 7.0;
    std::string rules_file;
    std::string only_zones;
};

uint64_t seconds_to_ns(double s) { return static_cast<uint64_t>(std::llround(s * 1e9)); }

bool write_file(const std::string& path, const std::string& text) {
    FilePtr f(path == "-" ? stdout : std::fopen(path.c_str(), "w"));
    if (!f) {
        std::fprintf(stderr, "frag53: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
        return false;
    }
    bool ok = std::fwrite(text.data(), 1, text.size(), f.get()) == text.size();
    ok = std::fflush(f.get()) == 0 && ok;
    if (!ok) std::fprintf(stderr, "frag53: error writing %s\n", path.c_str());
    return ok;
}

PipelineConfig pipeline_config(const AnalyzeOptions& o) {
    PipelineConfig config;
    config.size_threshold = o.size_threshold;
    config.query_timeout_ns = seconds_to_ns(o.query_timeout_s);
    config.max_pending = o.max_pending;
    config.dns_ports = o.dns_ports;
    config.fragments.max_bytes = o.frag_memory_mib << 20;
    config.fragments.max_datagrams = o.frag_max_datagrams;
    config.fragments.max_fragments_per_datagram = o.frag_max_fragments;
    config.fragments.timeout_v4_ns = seconds_to_ns(o.frag_timeout_v4_s);
    config.fragments.timeout_v6_ns = seconds_to_ns(o.frag_timeout_v6_s);
    config.tcp_max_connections = o.tcp_max_connections;
    config.tcp_idle_timeout_ns = seconds_to_ns(o.tcp_idle_timeout_s);
    config.tcp_retry_window_ns = seconds_to_ns(o.tcp_retry_window_s);
    auto fail = [](const std::string& what, const std::vector<frag53::rules::Diagnostic>& errors) {
        std::string text;
        for (const auto& e : errors) text += "\n  " + e.format(what);
        return std::runtime_error("cannot use " + what + ":" + text);
    };
    if (!o.rules_file.empty()) {
        auto r = frag53::rules::RuleSet::load_file(o.rules_file);
        if (!r.ok()) throw fail(o.rules_file, r.errors);
        for (const auto& w : r.warnings) std::fprintf(stderr, "frag53: %s\n", w.format(o.rules_file).c_str());
        config.rules = r.rules;
    }
    if (!o.only_zones.empty()) {
        auto z = frag53::rules::ZoneSet::from_argument(o.only_zones);
        if (!z.ok()) throw fail("--only-zones " + o.only_zones, z.errors);
        for (const auto& w : z.warnings) std::fprintf(stderr, "frag53: %s\n", w.format(o.only_zones).c_str());
        config.only_zones = z.zones;
    }
    return config;
}

// Set by SIGINT / SIGTERM: capture stops, pending state is flushed, the summary is written.
std::atomic<bool> g_stop{false};
std::atomic<frag53::PcapLiveSource*> g_live{nullptr};

extern "C" void on_stop_signal(int) {
    g_stop.store(true);
    if (frag53::PcapLiveSource* live = g_live.load()) live->stop();  // async-signal-safe
}

void install_stop_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

// One analysis run: the sinks, the aggregator, and either one pipeline on this thread or a pool
// of workers. Sources only feed it bursts.
class Engine {
public:
    // `polled`: one list of sources per worker, which polls them itself (DPDK queues filled by
    // symmetric RSS); feed() is then not used and idle() must be called every millisecond or so.
    // `shards`: one per worker, each reading the whole recording (replay mode); the same rule.
    // `findings_thread`: one pipeline writes what it finds on a thread of its own (FindingWriter),
    // when there are two CPUs or more and something to write besides the report. Only where
    // nothing reads the sinks before finish() (metrics() reads the report while it runs).
    explicit Engine(const AnalyzeOptions& o, frag53::FindingSink* extra = nullptr,
                    std::vector<std::vector<frag53::PolledSource*>> polled = {},
                    std::vector<frag53::ReplayShard*> shards = {}, bool findings_thread = false)
        : o_(o) {
        if (!o.events.empty()) {
            events_file_.reset(o.events == "-" ? stdout : std::fopen(o.events.c_str(), "w"));
            if (!events_file_) throw std::runtime_error("cannot write events to " + o.events + ": " + std::strerror(errno));
            // The sink hands stdio 64 KiB batches, which glibc writes straight from the batch
            // when they are larger than its buffer: no stdio buffer of our own.
            events_ = std::make_unique<JsonLinesSink>(events_file_.get());
        }
        fanout_.add(&report_);
        if (events_) fanout_.add(events_.get());
        if (extra != nullptr) fanout_.add(extra);  // live -w
        else if (!o.write_evidence.empty()) fanout_.add(&evidence_);
        frag53::AggregatorConfig agg;
        agg.size_threshold = o.size_threshold;
        agg.min_samples = o.path_min_samples;
        agg.lost_rate = o.path_lost_rate;
        agg.retry_window_ns = seconds_to_ns(o.retry_window_s);
        agg.dnssec_expiring_window_s = static_cast<uint64_t>(std::llround(o.dnssec_expiring_days * 86400.0));
        // The aggregator's findings go the same way as the pipeline's, so their order is kept.
        frag53::FindingSink* found = &fanout_;
        if (findings_thread && shards.empty() && polled.empty() && o.workers <= 1 &&
            std::thread::hardware_concurrency() >= 2 && (events_ || !o.write_evidence.empty())) {
            writer_ = std::make_unique<frag53::FindingWriter>(fanout_);
            found = writer_.get();
        }
        aggregator_ = std::make_unique<frag53::Aggregator>(agg, *found);
        const PipelineConfig config = pipeline_config(o);
        if (!shards.empty()) {
            pool_ = std::make_unique<frag53::WorkerPool>(std::move(shards), config, fanout_, aggregator_.get());
        } else if (!polled.empty()) {
            pool_ = std::make_unique<frag53::WorkerPool>(std::move(polled), config, fanout_, aggregator_.get());
        } else if (o.workers <= 1) {
            // One pipeline on this thread: no copies, no queues.
            pipeline_ = std::make_unique<Pipeline>(config, *found);
            pipeline_->set_record_sink(aggregator_.get());
        } else {
            pool_ = std::make_unique<frag53::WorkerPool>(o.workers, config, fanout_, aggregator_.get());
        }
    }

    void feed(std::span<const PacketView> burst) {
        packets_ += burst.size();
        if (pipeline_) pipeline_->process(burst); else pool_->dispatch(burst);
    }
    // Nothing captured for a while (or, polled, every millisecond): hand over what the workers
    // found. Returns whether there was anything.
    bool idle() { return pool_ && pool_->service(); }
    // Replay mode: every worker has read the whole recording.
    bool input_done() const noexcept { return pool_ && pool_->input_done(); }
    void flush_events() {
        if (events_) events_->flush();
    }
    uint64_t packets() const noexcept { return pool_ && pool_->polled() ? pool_->gauges().packets : packets_; }
    frag53::MetricsSnapshot metrics() const {
        frag53::MetricsSnapshot m;
        m.findings = report_.by_code();
        for (size_t i = 0; i < m.findings.size(); ++i) m.findings[i] += aggregator_->findings()[i];
        if (pipeline_) {
            const auto& c = pipeline_->counters();
            m.packets = c.packets;
            m.bytes = c.bytes;
            m.dns_udp = c.dns_udp;
            m.dns_tcp = c.dns_tcp;
            m.pending_queries = pipeline_->pending();
            m.pending_capacity = pipeline_->pending_capacity();
            m.pending_evicted = c.pending_evicted;
            m.worker_packets = {c.packets};
        } else {
            const auto g = pool_->gauges(&m.worker_packets);
            m.packets = g.packets;
            m.bytes = g.bytes;
            m.dns_udp = g.dns_udp;
            m.dns_tcp = g.dns_tcp;
            m.pending_queries = g.pending;
            m.pending_capacity = pool_->pending_capacity();
            m.pending_evicted = g.pending_evicted;
        }
        return m;
    }
    uint64_t findings() const noexcept { return report_.total(); }

    void finish() {
        if (pipeline_) {
            pipeline_->finish();
            counters_ = pipeline_->counters();
            pending_capacity_ = pipeline_->pending_capacity();
        } else {
            pool_->finish();
            counters_ = pool_->counters();
            pending_capacity_ = pool_->pending_capacity();
            if (pool_->pool_counters().records_dropped)
                std::fprintf(stderr, "frag53: %llu transaction records dropped (aggregator behind)\n",
                             static_cast<unsigned long long>(pool_->pool_counters().records_dropped));
        }
        aggregator_->finish();
        if (writer_) writer_->finish();  // every finding is in the sinks from here on
        for (size_t i = 0; i < counters_.findings.size(); ++i) counters_.findings[i] += aggregator_->findings()[i];
    }

    // Writes what the options ask for; false when an output failed.
    bool write_outputs(const RunInfo& run, const std::vector<std::string>& files, const std::string& filter) {
        bool ok = true;
        if (!o_.write_evidence.empty() && !run.live) {
            if (evidence_.dropped())
                std::fprintf(stderr, "frag53: -w: %llu evidence frames beyond the cap not written\n",
                             static_cast<unsigned long long>(evidence_.dropped()));
            ok = write_evidence(files, filter, evidence_.take(), o_.write_evidence) && ok;
        }
        if (events_) {
            events_->flush();
            if (events_->failed()) {
                std::fprintf(stderr, "frag53: error writing events to %s\n", o_.events.c_str());
                ok = false;
            }
        }
        if (!o_.summary_json.empty())
            ok = write_file(o_.summary_json,
                            frag53::summary_json(run, counters_, pending_capacity_, aggregator_.get())) && ok;
        if (!o_.quiet) {
            // With events on stdout the human report moves to stderr so the JSON stays parseable.
            std::FILE* out = o_.events == "-" || o_.summary_json == "-" ? stderr : stdout;
            frag53::print_report(out, run, counters_, report_, aggregator_.get());
        }
        return ok;
    }

private:
    const AnalyzeOptions& o_;
    FilePtr events_file_;
    std::unique_ptr<JsonLinesSink> events_;
    ReportCollector report_;
    EvidenceFrames evidence_;
    FindingFanout fanout_;
    std::unique_ptr<frag53::FindingWriter> writer_;  // before the aggregator and the pipeline: they
                                                     // go first, then the writer drains
    std::unique_ptr<frag53::Aggregator> aggregator_;
    std::unique_ptr<Pipeline> pipeline_;
    std::unique_ptr<frag53::WorkerPool> pool_;
    frag53::PipelineCounters counters_;
    size_t pending_capacity_ = 0;
    uint64_t packets_ = 0;
};

// What a file run prints and writes; its exit code.
int report_analyze(const AnalyzeOptions& o, Engine& engine, const std::vector<frag53::SourceError>& errors) {
    RunInfo run;
    run.inputs = o.files;
    run.errors = errors;
    run.size_threshold = o.size_threshold;
    for (const auto& e : run.errors)
        // The message names the file already.
        std::fprintf(stderr, "frag53: %s (%llu packets read%s)\n", e.message.c_str(),
                     static_cast<unsigned long long>(e.packets_read),
                     e.file_skipped ? ", file skipped" : "; what was read before is analyzed");
    if (g_stop.load()) std::fprintf(stderr, "frag53: stopped by a signal; the report covers what was read\n");
    if (!engine.write_outputs(run, o.files, o.filter)) return 2;
    return run.errors.empty() ? 0 : 1;
}

// Several workers each read the files themselves and analyze their share of address pairs
// (WorkerPool replay mode): no thread copies packets for another. Standard input can be read
// only once, so with "-" one thread reads and dispatches.
int run_analyze_sharded(const AnalyzeOptions& o) {
    // Every worker walks every frame, and the reading and merging threads come on top: as many
    // workers as CPUs or more add walking and waiting. One worker already keeps two CPUs busy (its
    // reading and findings threads). On two CPUs the comparison capture took 0.21 s with one
    // worker and 0.29 s with -j 2; before, 0.44 s with -j 2, 0.46 s with -j 3 and 0.50 s with -j 4.
    if (const unsigned cpus = std::thread::hardware_concurrency(); cpus != 0 && o.workers >= cpus)
        std::fprintf(stderr,
                     "frag53: -j %zu on %u CPUs: each worker walks the whole capture, and reading and "
                     "merging take CPUs too, so as many workers as CPUs or more make the run slower "
                     "than one worker, not faster\n",
                     o.workers, cpus);
    std::vector<std::unique_ptr<frag53::PcapShard>> shards;
    std::vector<frag53::ReplayShard*> views;
    // One read of each file for all the workers: they walk the same chunks, and the feed works
    // out each frame's worker once for all of them.
    auto feeds = std::make_shared<frag53::PcapFeedGroup>(static_cast<uint32_t>(o.workers),
                                                         static_cast<uint32_t>(o.workers));
    for (size_t i = 0; i < o.workers; ++i) {
        shards.push_back(std::make_unique<frag53::PcapShard>(o.files, o.filter, static_cast<uint32_t>(i),
                                                             static_cast<uint32_t>(o.workers), feeds));
        views.push_back(shards.back().get());
    }
    Engine engine(o, nullptr, {}, std::move(views));
    install_stop_handlers();
    while (!g_stop.load(std::memory_order_relaxed) && !engine.input_done()) {
        // The workers read and analyze; this thread writes their findings and merges their
        // records, and naps a millisecond when there was nothing to take: the rings hold tens
        // of milliseconds of a worker's output, and each wake-up is a context switch.
        if (!engine.idle()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    engine.finish();
    return report_analyze(o, engine, shards.front()->errors());
}

int run_analyze(const AnalyzeOptions& o) {
    if (o.workers > 1 && std::find(o.files.begin(), o.files.end(), "-") == o.files.end())
        return run_analyze_sharded(o);
    Engine engine(o, nullptr, {}, {}, /*findings_thread=*/true);
    install_stop_handlers();
    PcapFileSource source(o.files, o.filter);
    std::array<PacketView, 64> burst;
    while (!g_stop.load(std::memory_order_relaxed)) {
        size_t n = source.receive(burst);
        if (n == 0) break;
        engine.feed({burst.data(), n});
        source.release({burst.data(), n});
    }
    engine.finish();
    return report_analyze(o, engine, source.errors());
}

int run_live(const AnalyzeOptions& o, const LiveOptions& lo) {
    frag53::PcapLiveOptions po;
    po.interface_name = lo.interface_name;
    po.bpf_filter = o.filter;
    po.snaplen = lo.snaplen;
    po.buffer_bytes = lo.buffer_mib << 20;
    frag53::PcapLiveSource source(po);
    for (const auto& w : source.warnings()) std::fprintf(stderr, "frag53: %s: %s\n", lo.interface_name.c_str(), w.c_str());
    std::unique_ptr<LiveEvidence> evidence;
    if (!o.write_evidence.empty())
        evidence = std::make_unique<LiveEvidence>(o.write_evidence, source.link_type(),
                                                  static_cast<size_t>(lo.evidence_buffer_mib) << 20);
    if (!lo.user.empty()) frag53::drop_privileges(lo.user);
    Engine engine(o, evidence.get());
    std::unique_ptr<frag53::MetricsServer> metrics;
    if (!lo.metrics.empty()) {
        metrics = std::make_unique<frag53::MetricsServer>(lo.metrics);
        std::fprintf(stderr, "frag53: metrics on http://%s:%d/metrics\n", metrics->address().c_str(), metrics->port());
    }
    auto publish = [&] {
        if (!metrics) return;
        auto m = engine.metrics();
        const auto st = source.stats();
        m.kernel_drops = st.pcap_dropped;
        m.interface_drops = st.pcap_if_dropped;
        metrics->publish(frag53::prometheus_text(m));
    };
    publish();
    g_live.store(&source);
    // Everything is set up: from here on packets are analyzed (scripts wait for this line).
    std::fprintf(stderr, "frag53: capturing on %s\n", lo.interface_name.c_str());
    std::fflush(stderr);
    install_stop_handlers();

    using clock = std::chrono::steady_clock;  // progress output only, never packet analysis
    auto last_flush = clock::now(), last_stats = clock::now();
    uint64_t stats_packets = 0;
    std::array<PacketView, 64> burst;
    while (!source.stopped()) {
        size_t n = source.receive_or_idle(burst);
        if (n > 0) {
            if (evidence) evidence->keep({burst.data(), n});
            engine.feed({burst.data(), n});
            source.release({burst.data(), n});
        } else {
            engine.idle();
        }
        auto now = clock::now();
        if (now - last_flush >= std::chrono::seconds(1)) {
            engine.flush_events();
            publish();
            last_flush = now;
        }
        if (lo.stats_interval_s > 0 && !o.quiet && now - last_stats >= std::chrono::seconds(lo.stats_interval_s)) {
            const double secs = std::chrono::duration<double>(now - last_stats).count();
            const auto st = source.stats();
            std::fprintf(stderr, "frag53: %.0f packets/s, %llu packets, kernel drops %llu (interface %llu), %llu findings\n",
                         static_cast<double>(engine.packets() - stats_packets) / secs,
                         static_cast<unsigned long long>(engine.packets()),
                         static_cast<unsigned long long>(st.pcap_dropped),
                         static_cast<unsigned long long>(st.pcap_if_dropped),
                         static_cast<unsigned long long>(engine.findings()));
            stats_packets = engine.packets();
            last_stats = now;
        }
    }
    g_live.store(nullptr);
    engine.finish();
    if (evidence) {
        if (!evidence->flush()) std::fprintf(stderr, "frag53: -w: error writing %s\n", o.write_evidence.c_str());
        if (evidence->missing())
            std::fprintf(stderr, "frag53: -w: %llu evidence packets were no longer in the %d MiB buffer\n",
                         static_cast<unsigned long long>(evidence->missing()), lo.evidence_buffer_mib);
    }
    const auto st = source.stats();
    RunInfo run;
    run.inputs = {lo.interface_name};
    run.size_threshold = o.size_threshold;
    run.live = true;
    run.kernel_dropped = st.pcap_dropped;
    run.interface_dropped = st.pcap_if_dropped;
    if (!source.error().empty()) std::fprintf(stderr, "frag53: %s: %s\n", lo.interface_name.c_str(), source.error().c_str());
    std::fprintf(stderr, "frag53: %s: %llu packets captured, %llu dropped by the kernel, %llu by the interface\n",
                 lo.interface_name.c_str(), static_cast<unsigned long long>(st.packets),
                 static_cast<unsigned long long>(st.pcap_dropped), static_cast<unsigned long long>(st.pcap_if_dropped));
    if (!engine.write_outputs(run, {}, {})) return 2;
    return source.error().empty() ? 0 : 1;
}

#if FRAG53_DPDK_COMPANION
// `frag53 dpdk ...` is frag53-dpdk's: it is run in this process's place, with the same arguments.
int run_dpdk_companion(char** argv) {
    std::string tried;
    for (const std::string& path : frag53::companion_paths("frag53-dpdk")) {
        execv(path.c_str(), argv);
        tried += "\n  " + path + ": " + std::strerror(errno);
    }
    std::fprintf(stderr, "frag53: `frag53 dpdk` runs frag53-dpdk, which could not be run:%s\n", tried.c_str());
    return 2;
}
#endif

#if FRAG53_DPDK_HERE
struct DpdkOptions {
    double idle_exit_s = 0;  // stop after this long with no packet (0: run until a signal)
    int stats_interval_s = 10;
    unsigned rx_queues = 0;         // per port; 0: one per worker (-j)
    bool presorted_queues = false;  // queues already spread by the symmetric IP-pair hash
    unsigned rx_ring_size = 1024;
    unsigned mbuf_size = 2048;      // largest frame kept whole
    std::string user;
    std::string metrics;
};

// DPDK ethdev ports. When every port spreads packets by the symmetric IP-pair hash over one RX
// queue per worker (RSS, or queues declared presorted), worker i polls queue i of every port and
// analyzes the mbufs in place; this thread only merges what the workers produce, serves metrics
// and prints stats. Otherwise (no RSS, fewer queues than workers, one worker) this thread reads
// every queue and spreads the packets over the workers in software (WorkerPool dispatch mode).
// Frames are numbered per queue.
int run_dpdk(const std::vector<std::string>& eal_args, const AnalyzeOptions& o, const DpdkOptions& d) {
    namespace dp = frag53::dpdk;
    dp::Eal eal(eal_args);
    dp::PortOptions po;
    po.rx_queues = static_cast<uint16_t>(d.rx_queues != 0 ? d.rx_queues : std::max<size_t>(o.workers, 1));
    po.presorted_queues = d.presorted_queues;
    po.rx_ring_size = static_cast<uint16_t>(d.rx_ring_size);
    po.mbuf_data_room = static_cast<uint16_t>(d.mbuf_size + dp::kMbufHeadroom);
    dp::DpdkPorts ports(po);
    std::vector<std::unique_ptr<dp::DpdkQueueSource>> sources;
    std::vector<std::string> names;
    const size_t workers = std::max<size_t>(o.workers, 1);
    bool polled = workers > 1;
    for (const auto& p : ports.ports())
        polled = polled && p.hardware_dispatch && p.rx_queues == workers;
    for (const auto& p : ports.ports()) {
        std::string how =
            p.hardware_dispatch
                ? (d.presorted_queues ? "queues presorted by the IP-pair hash" : "symmetric RSS over IP addresses")
                : "software dispatch" + (p.dispatch_note.empty() ? std::string() : " (" + p.dispatch_note + ")");
        if (p.hardware_dispatch)
            how += polled ? ", each worker polls its own queue"
                          : ", read by one thread and dispatched in software (" + std::to_string(p.rx_queues) +
                                " queues for " + std::to_string(workers) + " workers)";
        std::fprintf(stderr, "frag53: DPDK port %u (%s): %u RX queue%s, %s; %zu worker%s\n", p.port_id,
                     p.driver.c_str(), p.rx_queues, p.rx_queues == 1 ? "" : "s", how.c_str(),
                     std::max<size_t>(o.workers, 1), o.workers > 1 ? "s" : "");
        for (uint16_t q = 0; q < p.rx_queues; ++q) {
            dp::QueueSourceOptions qo;
            qo.source_index = static_cast<int32_t>(sources.size());
            sources.push_back(std::make_unique<dp::DpdkQueueSource>(ports, p.port_id, q, qo));
        }
        names.push_back("dpdk:" + std::to_string(p.port_id));
    }
    // The ports are open and started: nothing below needs privileges.
    if (!d.user.empty()) frag53::drop_privileges(d.user);
    std::vector<std::vector<frag53::PolledSource*>> per_worker;
    if (polled) {
        per_worker.resize(workers);
        for (auto& s : sources) per_worker[s->queue_id()].push_back(s.get());
    }
    Engine engine(o, nullptr, std::move(per_worker));
    std::unique_ptr<frag53::MetricsServer> metrics;
    if (!d.metrics.empty()) {
        metrics = std::make_unique<frag53::MetricsServer>(d.metrics);
        std::fprintf(stderr, "frag53: metrics on http://%s:%d/metrics\n", metrics->address().c_str(), metrics->port());
    }
    // What the NICs dropped, summed over the ports: read once a second, never per packet.
    auto port_drops = [&] {
        dp::PortStats sum;
        for (const auto& p : ports.ports()) {
            const auto st = ports.stats(p.port_id);
            sum.ipackets += st.ipackets;
            sum.imissed += st.imissed;
            sum.ierrors += st.ierrors;
            sum.rx_nombuf += st.rx_nombuf;
        }
        return sum;
    };
    auto publish = [&] {
        if (!metrics) return;
        auto m = engine.metrics();
        const auto st = port_drops();
        m.kernel_drops = st.imissed + st.rx_nombuf;
        m.interface_drops = st.ierrors;
        metrics->publish(frag53::prometheus_text(m));
    };
    publish();
    struct sigaction sa {};
    sa.sa_handler = [](int) { frag53::dpdk::stop_flag().store(true); g_stop.store(true); };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::string joined;
    for (const auto& n : names) joined += (joined.empty() ? "" : ", ") + n;
    // Everything is set up: from here on packets are analyzed (scripts wait for this line).
    std::fprintf(stderr, "frag53: capturing on %s\n", joined.c_str());
    std::fflush(stderr);

    using clock = std::chrono::steady_clock;  // idle exit and progress output only
    auto last_packet = clock::now(), last_stats = clock::now(), last_flush = clock::now();
    uint64_t stats_packets = 0;
    std::array<PacketView, 64> burst;
    uint64_t seen = 0;
    while (!g_stop.load(std::memory_order_relaxed)) {
        bool any = false;
        if (polled) {
            // The workers poll; here only their findings and records are taken, every millisecond.
            engine.idle();
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            const uint64_t n = engine.packets();
            any = n != seen;
            seen = n;
        } else {
            for (auto& s : sources) {
                size_t n = s->poll(burst);
                if (n == 0) continue;
                any = true;
                engine.feed({burst.data(), n});
                s->release({burst.data(), n});
            }
        }
        auto now = clock::now();
        if (any) {
            last_packet = now;
        } else {
            if (!polled) engine.idle();  // polled: already serviced above, once per loop
            if (d.idle_exit_s > 0 && now - last_packet >= std::chrono::duration<double>(d.idle_exit_s)) break;
        }
        if (now - last_flush >= std::chrono::seconds(1)) {
            engine.flush_events();
            publish();
            last_flush = now;
        }
        if (d.stats_interval_s > 0 && !o.quiet && now - last_stats >= std::chrono::seconds(d.stats_interval_s)) {
            const double secs = std::chrono::duration<double>(now - last_stats).count();
            const auto st = port_drops();
            std::fprintf(stderr, "frag53: %.0f packets/s, %llu packets, imissed %llu, rx_nombuf %llu, ierrors %llu, %llu findings\n",
                         static_cast<double>(engine.packets() - stats_packets) / secs,
                         static_cast<unsigned long long>(engine.packets()),
                         static_cast<unsigned long long>(st.imissed), static_cast<unsigned long long>(st.rx_nombuf),
                         static_cast<unsigned long long>(st.ierrors), static_cast<unsigned long long>(engine.findings()));
            stats_packets = engine.packets();
            last_stats = now;
        }
    }
    engine.finish();
    RunInfo run;
    run.live = true;
    run.size_threshold = o.size_threshold;
    run.inputs = names;
    for (const auto& p : ports.ports()) {
        const auto st = ports.stats(p.port_id);
        run.kernel_dropped += st.imissed + st.rx_nombuf;
        run.interface_dropped += st.ierrors;
        std::fprintf(stderr, "frag53: DPDK port %u: %llu packets, imissed %llu, ierrors %llu, rx_nombuf %llu\n",
                     p.port_id, static_cast<unsigned long long>(st.ipackets),
                     static_cast<unsigned long long>(st.imissed), static_cast<unsigned long long>(st.ierrors),
                     static_cast<unsigned long long>(st.rx_nombuf));
    }
    uint64_t multi_segment = 0;
    for (const auto& s : sources) multi_segment += s->stats().multi_segment_drops;
    if (multi_segment)
        std::fprintf(stderr, "frag53: %llu frames larger than --mbuf-size %u dropped (jumbo frames or offloads "
                     "on the mirrored link: raise --mbuf-size)\n",
                     static_cast<unsigned long long>(multi_segment), d.mbuf_size);
    sources.clear();
    return engine.write_outputs(run, {}, {}) ? 0 : 2;
}
#endif

void add_analysis_options(CLI::App* cmd, AnalyzeOptions& ao) {
    cmd->add_option("-f,--filter", ao.filter, "BPF filter expression");
    cmd->add_option("--events", ao.events, "write findings as JSON lines to PATH ('-' for stdout)");
    cmd->add_option("--summary-json", ao.summary_json, "write the summary JSON to PATH ('-' for stdout)");
    cmd->add_option("--size-threshold", ao.size_threshold,
                        "dns.oversized_response above this many bytes")->capture_default_str()
        ->check(CLI::Range(1u, 65535u));
    cmd->add_option("--query-timeout", ao.query_timeout_s,
                        "seconds of packet time before a query counts as unanswered")->capture_default_str()
        ->check(CLI::Range(0.001, 3600.0));
    cmd->add_option("--max-pending", ao.max_pending, "pending queries tracked at once")
        ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{1} << 26));
    cmd->add_option("--dns-port", ao.dns_ports, "DNS ports (repeatable)")->capture_default_str();
    cmd->add_option("--rules", ao.rules_file,
                    "qname rules file (PATTERN TAG SEVERITY per line; docs/rules.md): rule.match findings");
    cmd->add_option("--only-zones", ao.only_zones,
                    "analyze only DNS messages whose question is under these zones (comma-separated list, or a file)");
    cmd->add_option("--dnssec-expiring", ao.dnssec_expiring_days,
                    "days before expiration within which an RRSIG is reported as expiring")
        ->capture_default_str()->check(CLI::Range(0.0, 3650.0));
    cmd->add_flag("-q,--quiet", ao.quiet, "no human report");
    cmd->add_option("-j,--workers", ao.workers, "analysis threads (flows spread by IP address pair)")
        ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{64}));
    cmd->add_option("--frag-memory", ao.frag_memory_mib, "MiB of fragment data buffered at most")
        ->capture_default_str()->check(CLI::Range(uint64_t{1}, uint64_t{65536}));
    cmd->add_option("--frag-max-datagrams", ao.frag_max_datagrams, "fragmented datagrams in flight")
        ->capture_default_str()->check(CLI::Range(1u, 1u << 24));
    cmd->add_option("--frag-max-fragments", ao.frag_max_fragments, "fragments per datagram")
        ->capture_default_str()->check(CLI::Range(2u, 8192u));
    cmd->add_option("--frag-timeout-v4", ao.frag_timeout_v4_s, "seconds an IPv4 fragment set may take")
        ->capture_default_str()->check(CLI::Range(0.001, 3600.0));
    cmd->add_option("--frag-timeout-v6", ao.frag_timeout_v6_s, "seconds an IPv6 fragment set may take")
        ->capture_default_str()->check(CLI::Range(0.001, 3600.0));
    cmd->add_option("--tcp-max-connections", ao.tcp_max_connections, "TCP connections tracked on DNS ports")
        ->capture_default_str()->check(CLI::Range(1u, 1u << 22));
    cmd->add_option("--tcp-idle-timeout", ao.tcp_idle_timeout_s, "seconds before an idle TCP connection is dropped")
        ->capture_default_str()->check(CLI::Range(0.001, 86400.0));
    cmd->add_option("--tcp-retry-window", ao.tcp_retry_window_s,
                        "seconds after TC=1 within which the TCP retry must start")
        ->capture_default_str()->check(CLI::Range(0.001, 3600.0));
    cmd->add_option("--retry-window", ao.retry_window_s,
                        "seconds within which a client asking the same again counts as a retry")
        ->capture_default_str()->check(CLI::Range(0.001, 3600.0));
    cmd->add_option("--path-min-samples", ao.path_min_samples, "queries per class before a path verdict")
        ->capture_default_str()->check(CLI::Range(1u, 1u << 30));
    cmd->add_option("--path-loss-rate", ao.path_lost_rate, "loss rate that makes a path verdict")
        ->capture_default_str()->check(CLI::Range(0.01, 1.0));
}

}  // namespace

int main(int argc, char** argv) {
#if FRAG53_DPDK_COMPANION
    if (argc > 1 && std::string(argv[1]) == "dpdk") return run_dpdk_companion(argv);
#endif
#if FRAG53_DPDK_HERE
    // frag53 dpdk [EAL arguments] -- [options]: the EAL's arguments are not ours to parse.
    if (argc > 1 && std::string(argv[1]) == "dpdk") {
        std::vector<std::string> eal{"frag53"};
        int i = 2;
        for (; i < argc && std::string(argv[i]) != "--"; ++i) eal.emplace_back(argv[i]);
        if (i < argc) ++i;
        CLI::App dapp{"frag53 dpdk [EAL arguments] -- [options]: DPDK ethdev ports (net_pcap, net_af_packet, NICs)"};
        AnalyzeOptions ao;
        DpdkOptions d;
        dapp.add_option("--idle-exit", d.idle_exit_s, "stop after this many seconds without a packet (0: never)")
            ->capture_default_str();
        dapp.add_option("--stats-interval", d.stats_interval_s, "seconds between stats lines (0: none)")
            ->capture_default_str()->check(CLI::Range(0, 86400));
        dapp.add_option("--rx-queues", d.rx_queues,
                        "RX queues per port (0: one per worker, -j); more than one needs symmetric RSS "
                        "or --presorted-queues, else one queue and software dispatch")
            ->capture_default_str()->check(CLI::Range(0u, 1024u));
        dapp.add_flag("--presorted-queues", d.presorted_queues,
                      "the ports' RX queues are already spread by the symmetric IP-pair hash (a distributor "
                      "ahead of them): use them without RSS");
        dapp.add_option("--rx-ring", d.rx_ring_size, "RX descriptors per queue")
            ->capture_default_str()->check(CLI::Range(32u, 32768u));
        dapp.add_option("--mbuf-size", d.mbuf_size, "largest frame received whole, in bytes (larger ones are dropped "
                        "and counted)")
            ->capture_default_str()->check(CLI::Range(256u, 65535u - 128u));
        dapp.add_option("--user", d.user, "drop privileges to this user once the ports are started");
        dapp.add_option("--metrics", d.metrics,
                        "serve Prometheus metrics on [ADDR:]PORT (address defaults to 127.0.0.1)");
        add_analysis_options(&dapp, ao);
        std::vector<std::string> rest;
        for (int k = argc - 1; k >= i; --k) rest.emplace_back(argv[k]);  // CLI11 takes them reversed
        try {
            dapp.parse(rest);
        } catch (const CLI::ParseError& e) {
            return dapp.exit(e);
        }
        try {
            return run_dpdk(eal, ao, d);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "frag53: %s\n", e.what());
            return 2;
        }
    }
#endif
    CLI::App app{"frag53: DNS-aware packet analyzer for big DNSSEC answers, fragments and truncation"};
    app.require_subcommand(1);
    app.set_version_flag("--version", FRAG53_VERSION);

    AnalyzeOptions ao;
    LiveOptions lo;
    auto* analyze = app.add_subcommand("analyze", "analyze pcap / pcapng capture files");
    analyze->add_option("files", ao.files, "capture files, read in order")->required();
    analyze->add_option("-w,--write-evidence", ao.write_evidence,
                        "write the packets behind every finding to this pcap file");
    add_analysis_options(analyze, ao);

    auto* live = app.add_subcommand("live", "analyze a network interface (mirror / SPAN port) until stopped");
    live->add_option("-i,--interface", lo.interface_name, "interface to capture on")->required();
    live->add_option("--snaplen", lo.snaplen, "bytes kept of each packet")->capture_default_str()
        ->check(CLI::Range(64, 262144));
    live->add_option("--buffer-mib", lo.buffer_mib, "kernel capture buffer")->capture_default_str()
        ->check(CLI::Range(1, 4096));
    live->add_option("--user", lo.user, "drop privileges to this user once the capture is open");
    live->add_option("--stats-interval", lo.stats_interval_s, "seconds between stats lines on stderr (0: none)")
        ->capture_default_str()->check(CLI::Range(0, 86400));
    live->add_option("-w,--write-evidence", ao.write_evidence,
                     "write the packets behind every finding to this pcap file (from a buffer of recent packets)");
    live->add_option("--evidence-buffer-mib", lo.evidence_buffer_mib, "recent packets kept for -w")
        ->capture_default_str()->check(CLI::Range(1, 65536));
    live->add_option("--metrics", lo.metrics,
                     "serve Prometheus metrics on [ADDR:]PORT (address defaults to 127.0.0.1)");
    add_analysis_options(live, ao);

    frag53::probe::Subcommand responder = frag53::probe::add_responder_command(app);
    frag53::probe::Subcommand prober = frag53::probe::add_probe_command(app);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        if (analyze->parsed()) return run_analyze(ao);
        if (live->parsed()) return run_live(ao, lo);
        if (responder.app->parsed()) return responder.run();
        if (prober.app->parsed()) return prober.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "frag53: %s\n", e.what());
        return 2;
    }
    return 0;
}
