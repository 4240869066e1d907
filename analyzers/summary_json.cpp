#include "analyzers/summary_json.h"

#include "analyzers/dnssec_checks.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "analyzers/aggregator.h"
#include "frag53_config.h"

namespace frag53 {

std::string summary_json(const RunInfo& run, const PipelineCounters& c, size_t pending_capacity,
                         const Aggregator* servers) {
    rapidjson::StringBuffer buf;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.SetIndent(' ', 2);
    auto num = [&w](const char* key, uint64_t v) {
        w.Key(key);
        w.Uint64(v);
    };
    w.StartObject();
    w.Key("version");
    w.String(FRAG53_VERSION);

    w.Key("input");
    w.StartObject();
    num("packets", c.packets);
    num("bytes", c.bytes);
    num("capture_truncated_frames", c.capture_truncated_frames);
    num("time_jumps_back", c.time_jumps);
    if (run.live) {
        num("kernel_dropped", run.kernel_dropped);
        num("interface_dropped", run.interface_dropped);
    }
    w.Key("files");
    w.StartArray();
    for (const auto& f : run.inputs) w.String(f.c_str());
    w.EndArray();
    w.Key("errors");
    w.StartArray();
    for (const auto& e : run.errors) {
        w.StartObject();
        w.Key("file");
        w.String(e.file.c_str());
        num("packets_read", e.packets_read);
        w.Key("message");
        w.String(e.message.c_str());
        w.Key("file_skipped");
        w.Bool(e.file_skipped);
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();

    w.Key("decode");
    w.StartObject();
    static constexpr DecodeStatus statuses[] = {
        DecodeStatus::truncated_l2, DecodeStatus::not_ip, DecodeStatus::bad_ip, DecodeStatus::truncated_l3,
        DecodeStatus::bad_l4, DecodeStatus::truncated_l4, DecodeStatus::unsupported_link};
    for (DecodeStatus s : statuses) num(to_string(s), c.decode_status[static_cast<size_t>(s)]);
    num("ipv4", c.ipv4);
    num("ipv6", c.ipv6);
    num("udp", c.udp);
    num("tcp", c.tcp);
    num("icmp", c.icmp);
    num("udp_length_mismatch", c.udp_length_mismatch);
    num("icmp_too_big", c.icmp_too_big);
    num("icmp_too_big_dns", c.icmp_too_big_dns);
    w.EndObject();

    w.Key("dns");
    w.StartObject();
    num("messages", c.dns_messages);
    num("queries", c.dns_queries);
    num("responses", c.dns_responses);
    num("udp", c.dns_udp);
    num("tcp", c.dns_tcp);
    num("matched", c.dns_matched);
    num("malformed", c.dns_malformed);
    num("capture_truncated", c.dns_capture_truncated);
    num("too_short", c.dns_short);
    num("outside_only_zones", c.zone_filtered);
    num("rule_scanned", c.rule_scanned);
    num("unanswered", c.unanswered);
    num("retransmissions", c.retransmissions);
    num("unmatched_responses", c.unmatched_responses);
    w.Key("rtt_ms");
    w.StartObject();
    w.Key("mean");
    w.Double(c.rtt_count ? static_cast<double>(c.rtt_total_ns) / static_cast<double>(c.rtt_count) / 1e6 : 0.0);
    w.Key("max");
    w.Double(static_cast<double>(c.rtt_max_ns) / 1e6);
    w.EndObject();
    w.Key("response_sizes");
    w.StartObject();
    static constexpr const char* labels[] = {"le_512", "le_1232", "le_1472", "le_4096", "gt_4096"};
    for (size_t i = 0; i < c.response_sizes.size(); ++i) num(labels[i], c.response_sizes[i]);
    w.EndObject();
    w.EndObject();

    w.Key("ip");
    w.StartObject();
    num("fragments", c.ip_fragments);
    num("reassembled", c.ip_reassembled);
    num("incomplete", c.ip_incomplete);
    w.EndObject();

    w.Key("tables");
    w.StartObject();
    w.Key("pending_queries");
    w.StartObject();
    num("capacity", pending_capacity);
    num("evicted", c.pending_evicted);
    w.EndObject();
    w.Key("fragments");
    w.StartObject();
    num("evicted", c.frag_evicted);
    num("expired", c.frag_expired);
    num("discarded", c.frag_discarded);
    num("duplicates", c.frag_duplicates);
    num("events_lost", c.frag_events_lost);
    w.EndObject();
    w.Key("tcp");
    w.StartObject();
    num("connections", c.tcp_connections);
    num("midstream", c.tcp_midstream);
    num("evicted_table_full", c.tcp_evicted_full);
    num("evicted_idle", c.tcp_evicted_idle);
    num("gaps", c.tcp_gaps);
    num("gap_bytes", c.tcp_gap_bytes);
    num("overlap_conflicts", c.tcp_overlap_conflicts);
    num("retransmissions", c.tcp_retransmissions);
    num("framing_errors", c.tcp_framing_errors);
    w.EndObject();
    w.Key("tc_retry_watch");
    w.StartObject();
    num("evicted", c.tc_watch_evicted);
    w.EndObject();
    w.Key("dnssec_answers_seen");
    w.StartObject();
    num("repeats", c.dnssec_material_repeats);
    num("evicted", c.dnssec_material_evicted);
    w.EndObject();
    if (servers != nullptr) {
        w.Key("question_history");
        w.StartObject();
        num("slots", servers->history_slots());
        num("evicted", servers->history_evictions());
        w.EndObject();
    }
    w.EndObject();

    if (servers != nullptr) {
        const DnssecCounters& d = servers->dnssec_counters();
        w.Key("dnssec");
        w.StartObject();
        num("answers_checked", d.answers);
        num("answers_unparsable", d.unparsable);
        num("signatures", d.signatures);
        num("signatures_verified", d.verified);
        num("signatures_failed", d.verify_failed);
        num("signatures_not_checkable", d.verify_skipped);
        num("signatures_waiting_evicted", d.pending_evicted);
        num("checked_set_resets", d.checked_resets);
        num("keys", d.keys);
        num("keys_evicted", d.keys_evicted);
        num("ds", d.ds);
        num("ds_evicted", d.ds_evicted);
        num("zones_evicted", d.zones_evicted);
        num("question_evictions", d.question_evictions);
        w.EndObject();
        w.Key("servers");
        w.StartArray();
        for (const auto& s : servers->servers_by_queries(20)) {
            w.StartObject();
            w.Key("address");
            w.String(s.address.to_string().c_str());
            num("queries", s.queries);
            num("do0_queries", s.do0_queries);
            num("do0_answered", s.do0_answered);
            num("do1_queries", s.do1_queries);
            num("do1_answered", s.do1_answered);
            num("answers", s.answers);
            num("largest_answer", s.largest_answer);
            num("answers_over_threshold", s.answers_over_threshold);
            num("fragmented", s.fragmented);
            num("truncated", s.truncated);
            num("tcp_retries", s.tcp_retries);
            num("tcp_retries_answered", s.tcp_retries_answered);
            num("large_answers", s.large_answers);
            num("large_reasked", s.large_reasked);
            w.EndObject();
        }
        w.EndArray();
    }

    w.Key("findings");
    w.StartObject();
    for (size_t i = 0; i < finding_code_count; ++i) {
        auto name = code_name(static_cast<FindingCode>(i));
        w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
        w.Uint64(c.findings[i]);
    }
    w.EndObject();
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

}  // namespace frag53
