// frag53: argument parsing and wiring only; the analysis lives in analyzers/ and dataplane/.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "analyzers/event_sink.h"
#include "analyzers/pipeline.h"
#include "analyzers/report.h"
#include "analyzers/summary_json.h"
#include "analyzers/worker_pool.h"
#include "dataplane/pcap_file_source.h"
#include "dataplane/pcap_writer.h"
#include "frag53_config.h"

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

int run_analyze(const AnalyzeOptions& o) {
    PipelineConfig config;
    config.size_threshold = o.size_threshold;
    config.query_timeout_ns = static_cast<uint64_t>(std::llround(o.query_timeout_s * 1e9));
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

    FilePtr events_file;
    std::unique_ptr<JsonLinesSink> events;
    if (!o.events.empty()) {
        events_file.reset(o.events == "-" ? stdout : std::fopen(o.events.c_str(), "w"));
        if (!events_file) {
            std::fprintf(stderr, "frag53: cannot write events to %s: %s\n", o.events.c_str(),
                         std::strerror(errno));
            return 2;
        }
        events = std::make_unique<JsonLinesSink>(events_file.get());
    }
    ReportCollector report;
    EvidenceFrames evidence;
    FindingFanout fanout;
    fanout.add(&report);
    if (!o.write_evidence.empty()) fanout.add(&evidence);
    if (events) fanout.add(events.get());

    frag53::AggregatorConfig agg_config;
    agg_config.size_threshold = o.size_threshold;
    agg_config.min_samples = o.path_min_samples;
    agg_config.lost_rate = o.path_lost_rate;
    agg_config.retry_window_ns = seconds_to_ns(o.retry_window_s);
    frag53::Aggregator aggregator(agg_config, fanout);
    PcapFileSource source(o.files, o.filter);
    std::array<PacketView, 64> burst;
    frag53::PipelineCounters counters;
    size_t pending_capacity = 0;
    if (o.workers <= 1) {
        // One pipeline on this thread: no copies, no queues.
        auto pipeline = std::make_unique<Pipeline>(config, fanout);
        pipeline->set_record_sink(&aggregator);
        for (;;) {
            size_t n = source.receive(burst);
            if (n == 0) break;
            pipeline->process({burst.data(), n});
            source.release({burst.data(), n});
        }
        pipeline->finish();
        counters = pipeline->counters();
        pending_capacity = pipeline->pending_capacity();
    } else {
        frag53::WorkerPool pool(o.workers, config, fanout, &aggregator);
        for (;;) {
            size_t n = source.receive(burst);
            if (n == 0) break;
            pool.dispatch({burst.data(), n});
            source.release({burst.data(), n});
        }
        pool.finish();
        counters = pool.counters();
        pending_capacity = pool.pending_capacity();
        if (pool.pool_counters().records_dropped)
            std::fprintf(stderr, "frag53: %llu transaction records dropped (aggregator behind)\n",
                         static_cast<unsigned long long>(pool.pool_counters().records_dropped));
    }
    aggregator.finish();
    for (size_t i = 0; i < counters.findings.size(); ++i) counters.findings[i] += aggregator.findings()[i];

    RunInfo run;
    run.inputs = o.files;
    run.errors = source.errors();
    run.size_threshold = o.size_threshold;
    for (const auto& e : run.errors)
        // The message names the file already.
        std::fprintf(stderr, "frag53: %s (%llu packets read%s)\n", e.message.c_str(),
                     static_cast<unsigned long long>(e.packets_read),
                     e.file_skipped ? ", file skipped" : "; what was read before is analyzed");

    bool ok = true;
    if (!o.write_evidence.empty()) {
        if (evidence.dropped())
            std::fprintf(stderr, "frag53: -w: %llu evidence frames beyond the cap not written\n",
                         static_cast<unsigned long long>(evidence.dropped()));
        ok = write_evidence(o.files, o.filter, evidence.take(), o.write_evidence) && ok;
    }
    if (events) {
        events->flush();
        if (events->failed()) {
            std::fprintf(stderr, "frag53: error writing events to %s\n", o.events.c_str());
            ok = false;
        }
    }
    if (!o.summary_json.empty())
        ok = write_file(o.summary_json, frag53::summary_json(run, counters, pending_capacity,
                                                             &aggregator)) && ok;
    if (!o.quiet) {
        // With events on stdout the human report moves to stderr so the JSON stays parseable.
        std::FILE* out = o.events == "-" || o.summary_json == "-" ? stderr : stdout;
        frag53::print_report(out, run, counters, report, &aggregator);
    }
    if (!ok) return 2;
    return run.errors.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"frag53: DNS-aware packet analyzer for big DNSSEC answers, fragments and truncation"};
    app.require_subcommand(1);
    app.set_version_flag("--version", FRAG53_VERSION);

    AnalyzeOptions ao;
    auto* analyze = app.add_subcommand("analyze", "analyze pcap / pcapng capture files");
    analyze->add_option("files", ao.files, "capture files, read in order")->required();
    analyze->add_option("-f,--filter", ao.filter, "BPF filter expression");
    analyze->add_option("--events", ao.events, "write findings as JSON lines to PATH ('-' for stdout)");
    analyze->add_option("--summary-json", ao.summary_json, "write the summary JSON to PATH ('-' for stdout)");
    analyze->add_option("--size-threshold", ao.size_threshold,
                        "dns.oversized_response above this many bytes")->capture_default_str()
        ->check(CLI::Range(1u, 65535u));
    analyze->add_option("--query-timeout", ao.query_timeout_s,
                        "seconds of packet time before a query counts as unanswered")->capture_default_str()
        ->check(CLI::Range(0.001, 3600.0));
    analyze->add_option("--max-pending", ao.max_pending, "pending queries tracked at once")
        ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{1} << 26));
    analyze->add_option("--dns-port", ao.dns_ports, "DNS ports (repeatable)")->capture_default_str();
    analyze->add_flag("-q,--quiet", ao.quiet, "no human report");
    analyze->add_option("-w,--write-evidence", ao.write_evidence,
                        "write the packets behind every finding to this pcap file");
    analyze->add_option("-j,--workers", ao.workers, "analysis threads (flows spread by IP address pair)")
        ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{64}));
    analyze->add_option("--frag-memory", ao.frag_memory_mib, "MiB of fragment data buffered at most")
        ->capture_default_str()->check(CLI::Range(uint64_t{1}, uint64_t{65536}));
    analyze->add_option("--frag-max-datagrams", ao.frag_max_datagrams, "fragmented datagrams in flight")
        ->capture_default_str()->check(CLI::Range(1u, 1u << 24));
    analyze->add_option("--frag-max-fragments", ao.frag_max_fragments, "fragments per datagram")
        ->capture_default_str()->check(CLI::Range(2u, 8192u));
    analyze->add_option("--frag-timeout-v4", ao.frag_timeout_v4_s, "seconds an IPv4 fragment set may take")
        ->capture_default_str()->check(CLI::Range(0.001, 3600.0));
    analyze->add_option("--frag-timeout-v6", ao.frag_timeout_v6_s, "seconds an IPv6 fragment set may take")
        ->capture_default_str()->check(CLI::Range(0.001, 3600.0));
    analyze->add_option("--tcp-max-connections", ao.tcp_max_connections, "TCP connections tracked on DNS ports")
        ->capture_default_str()->check(CLI::Range(1u, 1u << 22));
    analyze->add_option("--tcp-idle-timeout", ao.tcp_idle_timeout_s, "seconds before an idle TCP connection is dropped")
        ->capture_default_str()->check(CLI::Range(0.001, 86400.0));
    analyze->add_option("--tcp-retry-window", ao.tcp_retry_window_s,
                        "seconds after TC=1 within which the TCP retry must start")
        ->capture_default_str()->check(CLI::Range(0.001, 3600.0));
    analyze->add_option("--retry-window", ao.retry_window_s,
                        "seconds within which a client asking the same again counts as a retry")
        ->capture_default_str()->check(CLI::Range(0.001, 3600.0));
    analyze->add_option("--path-min-samples", ao.path_min_samples, "queries per class before a path verdict")
        ->capture_default_str()->check(CLI::Range(1u, 1u << 30));
    analyze->add_option("--path-loss-rate", ao.path_lost_rate, "loss rate that makes a path verdict")
        ->capture_default_str()->check(CLI::Range(0.01, 1.0));

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        if (analyze->parsed()) return run_analyze(ao);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "frag53: %s\n", e.what());
        return 2;
    }
    return 0;
}
