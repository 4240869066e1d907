#include "analyzers/report.h"

#include <algorithm>
#include <string>

#include "analyzers/finding_text.h"
#include "frag53_config.h"

namespace frag53 {

using namespace std::string_view_literals;

void ReportCollector::on_finding(const Finding& f) {
    ++total_;
    ++by_code_[static_cast<size_t>(f.code)];
    auto& ex = examples_[static_cast<size_t>(f.code)];
    if (!ex) ex = f;
    auto it = servers_.find(f.server);
    if (it == servers_.end()) {
        if (servers_.size() >= max_servers) {
            ++servers_untracked_;
            return;
        }
        it = servers_.emplace(f.server, ServerStats{f.server, 0, {}}).first;
    }
    ++it->second.findings;
    ++it->second.by_code[static_cast<size_t>(f.code)];
}

std::vector<ReportCollector::ServerStats> ReportCollector::top_servers(size_t n) const {
    std::vector<ServerStats> v;
    v.reserve(servers_.size());
    for (const auto& [addr, s] : servers_) v.push_back(s);
    std::sort(v.begin(), v.end(), [](const ServerStats& a, const ServerStats& b) {
        return a.findings != b.findings ? a.findings > b.findings : a.address < b.address;
    });
    if (v.size() > n) v.resize(n);
    return v;
}

namespace {

using text::append;
using text::append_all;

void append_endpoint(std::string& s, const IpAddress& a, uint16_t port) {
    if (a.version == 6) append_all(s, '[', a, "]:"sv, port);
    else append_all(s, a, ':', port);
}

void append_question(std::string& s, const Finding& f) {
    if (!f.has_question) {
        s += "(no question)"sv;
        return;
    }
    append_all(s, f.qname, ' ');
    text::append_qtype(s, f.qtype);
}

void append_rrsig_time(std::string& s, uint32_t t) {
    // The timestamp without its fraction: "2026-11-23T16:20:13Z".
    text::append_timestamp(s, static_cast<uint64_t>(t) * 1000000000ull);
    s.resize(s.size() - 8);
    s += 'Z';
}

void append_duration(std::string& s, int64_t seconds) {
    uint64_t v = seconds < 0 ? static_cast<uint64_t>(-seconds) : static_cast<uint64_t>(seconds);
    if (v >= 2 * 86400) append_all(s, v / 86400, " days"sv);
    else if (v >= 2 * 3600) append_all(s, v / 3600, " hours"sv);
    else if (v >= 2 * 60) append_all(s, v / 60, " minutes"sv);
    else append_all(s, v, " seconds"sv);
}

}  // namespace

std::string describe_finding(const Finding& f) {
    std::string s;
    append_description(s, f);
    return s;
}

void append_description(std::string& s, const Finding& f) {
    const size_t start = s.size();
    text::append_timestamp(s, f.ts_ns);
    s += ' ';
    if (f.code == FindingCode::path_dnssec_queries_lost || f.code == FindingCode::path_large_responses_lost) {
        append_all(s, "server "sv, f.server, ": "sv);
    } else if (is_ip_level(f)) {
        append_all(s, f.client, " -> "sv, f.server, ": "sv);
    } else {
        append_endpoint(s, f.client, f.client_port);
        s += " -> "sv;
        append_endpoint(s, f.server, f.server_port);
        append_all(s, ' ', transport_name(f.transport));
        if (f.has_id) append_all(s, " id "sv, f.id);
        s += ' ';
        append_question(s, f);
        s += ": "sv;
    }
    switch (f.code) {
    case FindingCode::dns_truncated:
        append_all(s, "response of "sv, f.response_size, " B with TC=1"sv);
        break;
    case FindingCode::dns_edns_dropped:
        append_all(s, "query advertised EDNS (UDP size "sv, f.advertised_size, "), the "sv);
        text::append_rcode(s, f.rcode);
        s += " response carries no OPT"sv;
        break;
    case FindingCode::dns_edns_unsupported:
        if (f.rcode == 16) {
            s += "BADVERS answer to an EDNS version 0 query"sv;
        } else {
            s += "EDNS query answered "sv;
            text::append_rcode(s, f.rcode);
            s += " without OPT"sv;
        }
        break;
    case FindingCode::dns_oversized_response:
        append_all(s, "UDP response of "sv, f.response_size, " B, above "sv, f.limit, " B"sv);
        break;
    case FindingCode::dns_exceeds_advertised_size:
        append_all(s, "UDP response of "sv, f.response_size, " B, the requester "sv);
        if (f.advertised_size < 0) s += "sent no EDNS (512 B)"sv;
        else append_all(s, "advertised "sv, f.limit, " B"sv);
        break;
    case FindingCode::dns_unanswered:
        s += f.reason == "end_of_input"sv ? "no response before the end of the capture"sv
                                        : "no response within the timeout"sv;
        if (f.retransmissions) append_all(s, " ("sv, f.retransmissions, " retransmissions)"sv);
        break;
    case FindingCode::dns_capture_truncated:
        append_all(s, "message of "sv, f.query_size + f.response_size, " B, the capture holds "sv, f.captured_size,
                   " B (snap length)"sv);
        break;
    case FindingCode::dns_malformed:
        append_all(s, "malformed: "sv, f.reason);
        if (f.reason_offset) append_all(s, " at offset "sv, f.reason_offset);
        break;
    case FindingCode::icmp_frag_needed:
        // Told from the reporter's side: the prefix above is replaced.
        s.resize(start);
        text::append_timestamp(s, f.ts_ns);
        append_all(s, ' ', f.reporter, " reports MTU "sv, f.mtu, " for a "sv, f.quoted_ip_length, " B IP packet of "sv);
        append_endpoint(s, f.server, f.server_port);
        s += " <-> "sv;
        append_endpoint(s, f.client, f.client_port);
        if (f.has_id) append_all(s, " id "sv, f.id);
        s += ' ';
        append_question(s, f);
        break;
    case FindingCode::dns_fragmented_response:
    case FindingCode::dns_fragmented_query:
        append_all(s, f.code == FindingCode::dns_fragmented_response ? "response of "sv : "query of "sv,
                   f.response_size + f.query_size, " B arrived in ", f.fragment_count, " IPv", f.ip_version,
                   " fragments (first fragment "sv, f.first_fragment_size, " B"sv, f.dont_fragment ? ", DF"sv : ""sv, ")"sv);
        break;
    case FindingCode::ip_fragment_incomplete:
        append_all(s, "fragments of IP id "sv, f.frag_id, " never completed: "sv, f.fragment_count, " fragments, "sv,
                   f.bytes_received, " B received", f.has_id ? "" : " (no DNS header seen)");
        break;
    case FindingCode::ip_fragment_overlap:
    case FindingCode::ip_fragment_conflict:
    case FindingCode::ip_fragment_tiny:
    case FindingCode::ip_fragment_oversize:
    case FindingCode::ip_fragment_limit:
        append_all(s, code_name(f.code), " in IP id "sv, f.frag_id, ": fragment at offset "sv, f.offset, ", "sv,
                   f.length, " B");
        if (!f.reason.empty()) append_all(s, " ("sv, f.reason, " cap)"sv);
        break;
    case FindingCode::dns_truncated_no_tcp_retry:
        append_all(s, "TC=1 answer ("sv, f.response_size, " B) and no TCP retry "sv,
                   f.reason == "end_of_input" ? "before the end of the capture" : "within the retry window");
        break;
    case FindingCode::dns_tcp_retry_failed:
        append_all(s, "TCP retry after TC=1 failed: "sv,
                   f.reason == "syn_unanswered" ? "SYN never answered"
                   : f.reason == "reset"        ? "connection reset"
                   : f.reason == "no_query"     ? "connection closed before the query"
                                                : "no DNS answer over TCP"sv);
        break;
    case FindingCode::dns_bufsize_fallback:
        s += "asked again with "sv;
        if (f.advertised_size < 0) s += "no EDNS"sv;
        else append_all(s, "EDNS size "sv, f.advertised_size);
        append_all(s, " after an attempt with EDNS size "sv, f.limit, " ("sv, f.reason, ")"sv);
        break;
    case FindingCode::path_dnssec_queries_lost:
        append_all(s, "DO=1 queries answered "sv, f.path.do1_answered, "/"sv, f.path.do1_queries,
                   ", DO=0 queries answered "sv, f.path.do0_answered, "/"sv, f.path.do0_queries);
        break;
    case FindingCode::path_large_responses_lost:
        append_all(s, f.path.large_reasked, " of "sv, f.path.large_answers, " large UDP answers ("sv, f.path.size_min,
                   "-"sv, f.path.size_max, " B) were followed by the client asking again"sv);
        break;
    case FindingCode::dnssec_rrsig_expired:
    case FindingCode::dnssec_rrsig_not_yet_valid:
    case FindingCode::dnssec_rrsig_expiring: {
        const auto& d = f.dnssec;
        s += "RRSIG "sv;
        text::append_qtype(s, d.type_covered);
        append_all(s, " of "sv, d.owner, " by "sv, d.zone, " (key "sv, d.key_tag, ", algorithm "sv, d.algorithm, ") valid "sv);
        append_rrsig_time(s, d.inception);
        s += " to "sv;
        append_rrsig_time(s, d.expiration);
        s += ": "sv;
        s += f.code == FindingCode::dnssec_rrsig_expired        ? "expired "sv
             : f.code == FindingCode::dnssec_rrsig_not_yet_valid ? "valid only "
                                                                 : "expires "sv;
        append_duration(s, d.seconds);
        s += f.code == FindingCode::dnssec_rrsig_expired ? " before this packet"sv : " after this packet"sv;
        break;
    }
    case FindingCode::dnssec_ds_mismatch: {
        const auto& d = f.dnssec;
        append_all(s, "DS of "sv, d.zone, " (key tags"sv);
        for (uint8_t i = 0; i < d.ds_count && i < d.ds_tags.size(); ++i) append_all(s, ' ', d.ds_tags[i]);
        s += ") matches none of its DNSKEYs (key tags"sv;
        for (uint8_t i = 0; i < d.key_count && i < d.key_tags.size(); ++i) append_all(s, ' ', d.key_tags[i]);
        s += "): the chain of trust is broken"sv;
        break;
    }
    case FindingCode::dnssec_signature_invalid:
        s += "RRSIG "sv;
        text::append_qtype(s, f.dnssec.type_covered);
        append_all(s, " of "sv, f.dnssec.owner, " by "sv, f.dnssec.zone, " (key "sv, f.dnssec.key_tag, ", algorithm "sv,
                   f.dnssec.algorithm, ") does not verify");
        if (!f.reason.empty()) append_all(s, " ("sv, f.reason, ")"sv);
        break;
    case FindingCode::dnssec_missing_rrsig:
        append_all(s, "DO=1 answer without RRSIGs for signed zone "sv, f.dnssec.zone, " ("sv, f.dnssec.other_server,
                   " answers it signed)"sv);
        break;
    case FindingCode::dnssec_validation_failure:
        s += "SERVFAIL without CD, "sv;
        text::append_rcode(s, f.rcode);
        s += " with CD: the resolver's DNSSEC validation fails"sv;
        break;
    case FindingCode::dnssec_weak_algorithm:
        append_all(s, "zone "sv, f.dnssec.zone, " uses DNSSEC algorithm "sv, f.dnssec.algorithm, " ("sv, f.reason,
                   "), which RFC 8624 says not to sign with"sv);
        break;
    case FindingCode::dnssec_nsec3_iterations:
        append_all(s, "zone "sv, f.dnssec.zone, " uses NSEC3 with "sv, f.dnssec.iterations, " extra iterations and a "sv,
                   f.dnssec.salt_length, "-byte salt (RFC 9276: 0 and none)");
        break;
    case FindingCode::dns_soa_serial_mismatch:
        append_all(s, "zone "sv, f.dnssec.zone, ": SOA serial "sv, f.dnssec.serial, " from "sv, f.server, ", "sv,
                   f.dnssec.other_serial, " from ", f.dnssec.other_server);
        break;
    case FindingCode::rule_match:
        append_all(s, "matched rule "sv, f.rule_tag, " ("sv, f.rule_severity, ", line "sv, f.rule_line, ": "sv,
                   f.rule_pattern, ")");
        break;
    case FindingCode::count_:
        break;
    }
}

std::string format_rrsig_time(uint32_t t) {
    std::string s;
    append_rrsig_time(s, t);
    return s;
}

std::string format_duration(int64_t seconds) {
    std::string s;
    append_duration(s, seconds);
    return s;
}

void print_report(std::FILE* out, const RunInfo& run, const PipelineCounters& c,
                  const ReportCollector& report, const Aggregator* servers) {
    std::fprintf(out, "frag53 %s report\n", FRAG53_VERSION);
    std::fprintf(out, "\nInput\n");
    for (const auto& in : run.inputs) std::fprintf(out, "  %-10s %s\n", run.live ? "interface" : "file", in.c_str());
    if (run.live)
        std::fprintf(out, "  dropped    %llu by the kernel, %llu by the interface\n",
                     static_cast<unsigned long long>(run.kernel_dropped),
                     static_cast<unsigned long long>(run.interface_dropped));
    std::fprintf(out, "  packets    %llu (%llu bytes captured)\n",
                 static_cast<unsigned long long>(c.packets), static_cast<unsigned long long>(c.bytes));
    std::fprintf(out, "  cut by snap length  %llu frames\n",
                 static_cast<unsigned long long>(c.capture_truncated_frames));
    for (const auto& e : run.errors)
        std::fprintf(out, "  ERROR      %s (%llu packets read%s)\n", e.message.c_str(),
                     static_cast<unsigned long long>(e.packets_read), e.file_skipped ? ", file skipped" : "");

    auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
    std::fprintf(out, "\nDNS\n");
    std::fprintf(out, "  messages   %llu (queries %llu, responses %llu; UDP %llu, TCP %llu)\n",
                 u(c.dns_messages), u(c.dns_queries), u(c.dns_responses), u(c.dns_udp), u(c.dns_tcp));
    std::fprintf(out, "  matched    %llu   unanswered %llu   retransmissions %llu   unmatched responses %llu\n",
                 u(c.dns_matched), u(c.unanswered), u(c.retransmissions), u(c.unmatched_responses));
    if (c.rtt_count)
        std::fprintf(out, "  RTT        mean %.3f ms, max %.3f ms\n",
                     static_cast<double>(c.rtt_total_ns) / static_cast<double>(c.rtt_count) / 1e6,
                     static_cast<double>(c.rtt_max_ns) / 1e6);
    std::fprintf(out, "  malformed  %llu   cut by the capture %llu   TCP segments on DNS ports %llu\n",
                 u(c.dns_malformed), u(c.dns_capture_truncated), u(c.dns_tcp_segments));
    if (c.pending_evicted)
        std::fprintf(out, "  pending-query table full: %llu queries evicted\n", u(c.pending_evicted));
    if (c.tcp_connections)
        std::fprintf(out, "  TCP        %llu connections (%llu picked up mid-way), %llu gaps (%llu B), "
                     "%llu conflicting overlaps, evicted %llu full / %llu idle\n",
                     u(c.tcp_connections), u(c.tcp_midstream), u(c.tcp_gaps), u(c.tcp_gap_bytes),
                     u(c.tcp_overlap_conflicts), u(c.tcp_evicted_full), u(c.tcp_evicted_idle));
    if (c.ip_fragments)
        std::fprintf(out, "  fragments  %llu reassembled, %llu incomplete, %llu duplicates, %llu evicted by a cap\n",
                     u(c.ip_reassembled), u(c.ip_incomplete), u(c.frag_duplicates), u(c.frag_evicted));
    std::fprintf(out, "  IP fragments seen %llu   ICMP too-big %llu (quoting DNS %llu)\n", u(c.ip_fragments),
                 u(c.icmp_too_big), u(c.icmp_too_big_dns));

    std::fprintf(out, "\nFindings\n");
    bool any = false;
    for (size_t i = 0; i < finding_code_count; ++i) {
        auto code = static_cast<FindingCode>(i);
        if (c.findings[i] == 0) continue;
        any = true;
        std::fprintf(out, "  %-30s %8llu  %s\n", std::string(code_name(code)).c_str(), u(c.findings[i]),
                     std::string(severity_name(default_severity(code))).c_str());
        if (const auto& ex = report.example(code))
            std::fprintf(out, "      e.g. %s\n", describe_finding(*ex).c_str());
    }
    if (!any) std::fprintf(out, "  none\n");

    auto top = report.top_servers(10);
    if (!top.empty()) {
        std::fprintf(out, "\nTop servers by findings\n");
        for (const auto& s : top) {
            std::string codes;
            for (size_t i = 0; i < finding_code_count; ++i) {
                if (!s.by_code[i]) continue;
                if (!codes.empty()) codes += ", ";
                codes += std::string(code_name(static_cast<FindingCode>(i))) + " " + std::to_string(s.by_code[i]);
            }
            std::fprintf(out, "  %-40s %8llu  %s\n", s.address.to_string().c_str(), u(s.findings), codes.c_str());
        }
    }

    if (servers != nullptr) {
        auto list = servers->servers_by_queries(10);
        if (!list.empty()) {
            std::fprintf(out, "\nServers (by queries)\n");
            const std::string over = ">" + std::to_string(run.size_threshold);
            std::fprintf(out, "  %-28s %7s %9s %9s %8s %7s %5s %5s %9s\n", "server", "queries", "ans DO=0",
                         "ans DO=1", "largest", over.c_str(), "frag", "TC", "TCP ok");
            auto pct = [](uint64_t a, uint64_t t) {
                char b[16];
                if (t == 0) return std::string("-");
                std::snprintf(b, sizeof b, "%.0f%%", 100.0 * static_cast<double>(a) / static_cast<double>(t));
                return std::string(b);
            };
            for (const auto& s : list) {
                std::string tcp = s.tcp_retries ? std::to_string(s.tcp_retries_answered) + "/" +
                                                      std::to_string(s.tcp_retries)
                                                : "-";
                std::fprintf(out, "  %-28s %7llu %9s %9s %8u %7s %5llu %5llu %9s\n", s.address.to_string().c_str(),
                             u(s.queries), pct(s.do0_answered, s.do0_queries).c_str(),
                             pct(s.do1_answered, s.do1_queries).c_str(), s.largest_answer,
                             pct(s.answers_over_threshold, s.answers).c_str(), u(s.fragmented), u(s.truncated),
                             tcp.c_str());
            }
        }
    }

    std::fprintf(out, "\nResponse sizes (DNS message bytes)\n");
    static constexpr const char* labels[] = {"<= 512", "<= 1232", "<= 1472", "<= 4096", "> 4096"};
    uint64_t total = 0, peak = 0;
    for (uint64_t v : c.response_sizes) {
        total += v;
        peak = std::max(peak, v);
    }
    for (size_t i = 0; i < c.response_sizes.size(); ++i) {
        uint64_t v = c.response_sizes[i];
        int bar = peak ? static_cast<int>((v * 40 + peak - 1) / peak) : 0;
        double pct = total ? 100.0 * static_cast<double>(v) / static_cast<double>(total) : 0.0;
        std::fprintf(out, "  %-8s %8llu %5.1f%%  %.*s\n", labels[i], u(v), pct, bar,
                     "########################################");
    }
}

}  // namespace frag53
