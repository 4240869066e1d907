// Verdicts about a path, derived from what the probes and the capture observed.
//
// derive_verdicts() is a pure function of PathFacts, and collect_facts() a pure function of the
// probe results: tests build either by hand or from a simulated path. docs/probe.md explains
// each code and the reasoning behind it.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "prober/probe/types.h"

namespace frag53::probe {

namespace verdict {
inline constexpr const char* ok = "path.ok";
inline constexpr const char* fragments_dropped = "path.fragments_dropped";
inline constexpr const char* nonfirst_fragments_dropped = "path.nonfirst_fragments_dropped";
inline constexpr const char* pmtu = "path.pmtu";
inline constexpr const char* pmtu_blackhole = "path.pmtu_blackhole";
inline constexpr const char* dns_size_filter = "path.dns_size_filter";
inline constexpr const char* edns_stripped = "path.edns_stripped";
inline constexpr const char* edns_rewritten = "path.edns_rewritten";
inline constexpr const char* do_filtered = "path.do_filtered";
inline constexpr const char* tcp_blocked = "path.tcp_blocked";
inline constexpr const char* lossy = "path.lossy";
}  // namespace verdict

struct Verdict {
    std::string code;
    std::string evidence;
    uint32_t value = 0;  // the size or MTU the verdict is about (0: none)
};

struct SearchSummary {
    bool ran = false;
    uint32_t max_passed = 0;   // largest DNS size that arrived (0: none)
    uint32_t min_failed = 0;   // smallest larger size that did not (0: none up to the ceiling)
    bool exact = false;
    uint32_t inconsistencies = 0;
    uint32_t probes = 0;
};

// Observations over the whole capture, not tied to one probe.
struct CaptureFacts {
    bool enabled = false;
    uint32_t largest_ip_from_server = 0;  // any packet from the target, fragments and TCP included
    uint32_t icmp_mtu = 0;                // MTU of a frag-needed / Packet Too Big seen (0: none)
    std::string icmp_mtu_from;            // who sent it
    uint32_t icmp_errors = 0;             // ICMP errors quoting our own packets
    std::string icmp_error_example;       // "198.18.1.1: destination unreachable (admin prohibited)"
};

struct PathFacts {
    Family family = Family::v4;
    uint32_t max_size = 4096;   // ceiling of the searches
    uint32_t floor = 64;        // smallest size searched
    bool gate_udp = false;
    bool gate_tcp = false;
    std::string tcp_failure;    // why the TCP gate failed
    std::array<std::array<SearchSummary, variant_count>, mode_count> search{};

    // `fk` search probes that were lost, and what the capture saw of them.
    uint32_t frag_lost = 0;
    uint32_t frag_lost_first_seen = 0;    // of those, with a first fragment arriving
    uint32_t frag_lost_nonfirst_seen = 0; // with a non-first fragment arriving
    uint32_t frag_lost_none_seen = 0;     // nothing of the answer arrived
    // `fk` answers that arrived in fragments, and the largest such fragment.
    uint32_t frag_arrived_fragmented = 0;
    uint32_t fragment_ip_max = 0;
    // `fp<mtu>` answers: fragments no larger than the family's minimum MTU.
    uint16_t forced_mtu = 0;
    uint32_t forced_sent = 0;
    uint32_t forced_ok = 0;

    // The responder's echo against what was sent.
    uint32_t echo_checked = 0;
    uint32_t echo_missing_opt = 0;
    uint32_t echo_size_changed = 0;
    uint32_t echo_do_changed = 0;
    uint32_t echo_options_changed = 0;
    uint16_t echo_size_sent = 0, echo_size_seen = 0;  // an example of a changed size

    // `th` probes asking for more than the advertised size: the responder must answer TC=1.
    // A full answer means the advertised size grew on the way.
    uint32_t trunc_probes = 0;
    uint32_t trunc_full = 0;

    // Sizes where a DO=1 answer was lost while the DO=0 answer of the same size and mode arrived.
    uint32_t do_lost_plain_ok = 0;
    uint32_t do_example_size = 0;

    // Small control probes interleaved with the search.
    uint32_t control_probes = 0;
    uint32_t control_attempts = 0;
    uint32_t control_attempts_lost = 0;
    uint32_t controls_lost = 0;
    // Search probes answered only after a retry, or late (within the grace window).
    uint32_t retried_answers = 0;
    uint32_t late_answers = 0;

    CaptureFacts capture;

    const SearchSummary& of(Mode m, Variant v) const noexcept {
        return search[static_cast<int>(m)][static_cast<int>(v)];
    }
    SearchSummary& of(Mode m, Variant v) noexcept {
        return search[static_cast<int>(m)][static_cast<int>(v)];
    }
};

// The path is lossy when this share (in percent) of control attempts or more went unanswered
// (with at least two lost), or when a control was lost after all its retries.
inline constexpr uint32_t lossy_percent = 5;

// What the searches, controls, echoes and captures add up to. Never empty once the UDP gate
// passed: path.ok when nothing is wrong.
std::vector<Verdict> derive_verdicts(const PathFacts& f);

// Folds the results of every probe (gate, search, control, forced, truncation) into facts.
// `searches` are the final search summaries, indexed [mode][variant].
PathFacts collect_facts(Family family, uint32_t floor, uint32_t max_size,
                        std::span<const ProbeResult> results,
                        const std::array<std::array<SearchSummary, variant_count>, mode_count>& searches,
                        const CaptureFacts& capture);

// Whether answers larger than 1232 bytes break on this path: the usual server behaviour (UDP
// fragmented by the kernel) or TCP cannot carry answers up to the ceiling.
bool breaks_large_answers(const PathFacts& f) noexcept;

// The path MTU implied by the unfragmented search (its largest DNS size plus IP and UDP
// headers), 0 when the search did not run or found nothing.
uint32_t measured_path_mtu(const PathFacts& f) noexcept;

// An EDNS buffer size that fits this path unfragmented: the unfragmented maximum, at most 1232
// (the DNS flag day 2020 value: larger buffers gain little and other paths differ), at least 512.
uint16_t recommended_edns_bufsize(const PathFacts& f) noexcept;

}  // namespace frag53::probe
