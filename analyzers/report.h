// The human report: totals, findings by code with one example each, top servers, sizes.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "analyzers/aggregator.h"
#include "analyzers/findings.h"
#include "analyzers/pipeline.h"
#include "dataplane/pcap_file_source.h"

namespace frag53 {

// Collects what the report needs from the finding stream. Runs on the aggregating side, once
// per finding, never per packet; its server table is capped and overflow is counted.
class ReportCollector final : public FindingSink {
public:
    static constexpr size_t max_servers = 65536;

    void on_finding(const Finding& f) override;

    const std::optional<Finding>& example(FindingCode c) const noexcept {
        return examples_[static_cast<size_t>(c)];
    }
    struct ServerStats {
        IpAddress address;
        uint64_t findings = 0;
        std::array<uint64_t, finding_code_count> by_code{};
    };
    // Servers ordered by finding count, most first.
    std::vector<ServerStats> top_servers(size_t n) const;
    uint64_t servers_untracked() const noexcept { return servers_untracked_; }
    uint64_t total() const noexcept { return total_; }
    const std::array<uint64_t, finding_code_count>& by_code() const noexcept { return by_code_; }

private:
    struct AddressHash {
        size_t operator()(const IpAddress& a) const noexcept { return a.hash(); }
    };
    std::array<std::optional<Finding>, finding_code_count> examples_{};
    std::unordered_map<IpAddress, ServerStats, AddressHash> servers_;
    uint64_t servers_untracked_ = 0;
    uint64_t total_ = 0;
    std::array<uint64_t, finding_code_count> by_code_{};
};

struct RunInfo {
    std::vector<std::string> inputs;
    std::vector<SourceError> errors;
    uint32_t size_threshold = 1232;
    bool live = false;                // inputs are interfaces
    uint64_t kernel_dropped = 0;      // live: lost in the capture ring (pcap_stats ps_drop)
    uint64_t interface_dropped = 0;   // live: dropped by the interface (ps_ifdrop)
};

// One line describing a finding for people (used by the report and by tools).
std::string describe_finding(const Finding& f);
void append_description(std::string& out, const Finding& f);  // the same line, appended
std::string format_rrsig_time(uint32_t t);       // "2026-11-23T16:20:13Z"
std::string format_duration(int64_t seconds);    // "3 days", "5 hours", ...

void print_report(std::FILE* out, const RunInfo& run, const PipelineCounters& c,
                  const ReportCollector& report, const Aggregator* servers = nullptr);

}  // namespace frag53
