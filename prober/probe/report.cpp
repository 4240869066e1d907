#include "prober/probe/report.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <cstdio>

namespace frag53::probe {

namespace {

bool lossy(const EngineReport& r) {
    for (const Verdict& v : r.verdicts)
        if (v.code == verdict::lossy) return true;
    return false;
}

const char* frag_name(FragMode f) {
    switch (f) {
    case FragMode::dont_fragment: return "fd";
    case FragMode::kernel: return "fk";
    case FragMode::forced: return "fp";
    }
    return "?";
}

const char* trunc_name(TruncMode t) {
    switch (t) {
    case TruncMode::honour: return "th";
    case TruncMode::ignore: return "ti";
    case TruncMode::always: return "ta";
    }
    return "?";
}

std::string size_cell(const SearchSummary& s, uint32_t ceiling) {
    if (!s.ran) return "-";
    if (s.max_passed == 0) return "none";
    std::string c = std::to_string(s.max_passed);
    if (s.max_passed >= ceiling && s.min_failed == 0) c = ">=" + c;
    else if (!s.exact) c += "~";
    return c;
}

using Writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void key(Writer& w, const char* k) { w.Key(k); }
void str(Writer& w, const std::string& s) { w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size())); }
void size_or_null(Writer& w, const SearchSummary& s) {
    if (s.ran) w.Uint(s.max_passed);
    else w.Null();
}

}  // namespace

int exit_status(const EngineReport& r) noexcept {
    if (r.gate_failed) return 2;
    if (lossy(r)) return 3;
    return breaks_large_answers(r.facts) ? 1 : 0;
}

std::vector<ConfigLine> config_lines(uint16_t b) {
    const std::string n = std::to_string(b);
    return {
        {"bind", "BIND", "options { edns-udp-size " + n + "; max-udp-size " + n + "; };"},
        {"unbound", "Unbound", "server: edns-buffer-size: " + n + " and max-udp-size: " + n},
        {"knot", "Knot DNS", "server: udp-max-payload: " + n + " (Knot Resolver: net.bufsize(" + n + "))"},
        {"powerdns", "PowerDNS",
         "Authoritative: udp-truncation-threshold=" + n + "; Recursor: edns-outgoing-bufsize=" + n +
             " and udp-truncation-threshold=" + n},
    };
}

std::string human_report(const EngineReport& r, const RunInfo& info) {
    std::string o;
    char line[512];
    const PathFacts& f = r.facts;
    std::snprintf(line, sizeof line, "frag53 probe %s port %u (%s, zone %s): %zu probes in %u rounds, %.1f s\n",
                  info.target.c_str(), info.port, f.family == Family::v4 ? "IPv4" : "IPv6",
                  info.zone.c_str(), r.log.size(), r.rounds, info.elapsed_s);
    o += line;
    if (r.gate_failed) {
        o += "gate failed: " + r.gate_failure + "\nno verdict: nothing answers the probes here\n";
        return o;
    }
    std::snprintf(line, sizeof line, "gate: UDP ok, TCP %s; RTT %.2f ms; capture %s\n",
                  f.gate_tcp ? "ok" : ("FAILED (" + f.tcp_failure + ")").c_str(), info.srtt_us / 1000.0,
                  info.interface_name.empty() ? "off" : info.interface_name.c_str());
    o += line;
    o += "\nlargest DNS answer that arrives (bytes):\n";
    std::snprintf(line, sizeof line, "  %-18s %8s %8s %8s\n", "", "DO=0", "DO=1", "options");
    o += line;
    for (Mode m : {Mode::udp_unfragmented, Mode::udp_fragmented, Mode::tcp}) {
        std::snprintf(line, sizeof line, "  %-18s %8s %8s %8s\n", to_string(m),
                      size_cell(f.of(m, Variant::plain), f.max_size).c_str(),
                      size_cell(f.of(m, Variant::dnssec), f.max_size).c_str(),
                      size_cell(f.of(m, Variant::options), f.max_size).c_str());
        o += line;
    }
    if (f.forced_sent)
        o += "  fragmented by the responder at " + std::to_string(f.forced_mtu) + ": " +
             std::to_string(f.forced_ok) + " of " + std::to_string(f.forced_sent) + " arrive\n";
    o += "\nverdicts:\n";
    for (const Verdict& v : r.verdicts) o += "  " + v.code + ": " + v.evidence + "\n";
    if (lossy(r)) o += "\nsize results above are not reliable on a lossy path\n";
    const uint16_t b = recommended_edns_bufsize(f);
    o += "\nrecommended EDNS buffer size: " + std::to_string(b) + " (edns-udp-size / max-udp-size)\n";
    for (const ConfigLine& l : config_lines(b)) {
        std::snprintf(line, sizeof line, "  %-9s %s\n", l.server, l.line.c_str());
        o += line;
    }
    if (breaks_large_answers(f) && !lossy(r))
        o += "\nthis path breaks DNS answers larger than 1232 bytes\n";
    return o;
}

std::string json_report(const EngineReport& r, const RunInfo& info) {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    const PathFacts& f = r.facts;
    w.StartObject();
    key(w, "target"); str(w, info.target);
    key(w, "port"); w.Uint(info.port);
    key(w, "family"); w.String(f.family == Family::v4 ? "ipv4" : "ipv6");
    key(w, "zone"); str(w, info.zone);
    key(w, "elapsed_s"); w.Double(info.elapsed_s);
    key(w, "rounds"); w.Uint(r.rounds);
    key(w, "gate");
    w.StartObject();
    key(w, "udp"); w.Bool(f.gate_udp);
    key(w, "tcp"); w.Bool(f.gate_tcp);
    key(w, "failure");
    if (r.gate_failed) str(w, r.gate_failure);
    else w.Null();
    w.EndObject();
    key(w, "verdicts");
    w.StartArray();
    for (const Verdict& v : r.verdicts) str(w, v.code);
    w.EndArray();
    key(w, "evidence");
    w.StartArray();
    for (const Verdict& v : r.verdicts) {
        w.StartObject();
        key(w, "code"); str(w, v.code);
        key(w, "evidence"); str(w, v.evidence);
        key(w, "value"); w.Uint(v.value);
        w.EndObject();
    }
    w.EndArray();
    key(w, "sizes_reliable"); w.Bool(!r.gate_failed && !lossy(r));
    key(w, "max_udp_unfragmented"); size_or_null(w, f.of(Mode::udp_unfragmented, Variant::plain));
    key(w, "max_udp_fragmented"); size_or_null(w, f.of(Mode::udp_fragmented, Variant::plain));
    key(w, "max_tcp"); size_or_null(w, f.of(Mode::tcp, Variant::plain));
    key(w, "tcp_ok"); w.Bool(f.gate_tcp);
    key(w, "ceiling"); w.Uint(f.max_size);
    key(w, "path_mtu");
    if (const uint32_t m = measured_path_mtu(f)) w.Uint(m);
    else w.Null();
    const uint16_t b = recommended_edns_bufsize(f);
    key(w, "recommended_edns_bufsize"); w.Uint(b);
    key(w, "recommended");
    w.StartObject();
    key(w, "edns-udp-size"); w.Uint(b);
    key(w, "max-udp-size"); w.Uint(b);
    for (const ConfigLine& l : config_lines(b)) {
        key(w, l.key);
        str(w, l.line);
    }
    w.EndObject();
    key(w, "breaks_large_answers"); w.Bool(!r.gate_failed && breaks_large_answers(f));
    key(w, "searches");
    w.StartArray();
    for (int m = 0; m < mode_count; ++m) {
        for (int v = 0; v < variant_count; ++v) {
            const SearchSummary& s = f.search[m][v];
            if (!s.ran) continue;
            w.StartObject();
            key(w, "mode"); w.String(to_string(static_cast<Mode>(m)));
            key(w, "variant"); w.String(to_string(static_cast<Variant>(v)));
            key(w, "max"); w.Uint(s.max_passed);
            key(w, "min_failed");
            if (s.min_failed) w.Uint(s.min_failed);
            else w.Null();
            key(w, "exact"); w.Bool(s.exact);
            key(w, "inconsistencies"); w.Uint(s.inconsistencies);
            key(w, "sizes_tried"); w.Uint(s.probes);
            w.EndObject();
        }
    }
    w.EndArray();
    key(w, "controls");
    w.StartObject();
    key(w, "probes"); w.Uint(f.control_probes);
    key(w, "attempts"); w.Uint(f.control_attempts);
    key(w, "attempts_lost"); w.Uint(f.control_attempts_lost);
    key(w, "lost"); w.Uint(f.controls_lost);
    w.EndObject();
    key(w, "forced_fragments");
    w.StartObject();
    key(w, "mtu"); w.Uint(f.forced_mtu);
    key(w, "sent"); w.Uint(f.forced_sent);
    key(w, "arrived"); w.Uint(f.forced_ok);
    w.EndObject();
    key(w, "capture");
    w.StartObject();
    key(w, "enabled"); w.Bool(f.capture.enabled);
    key(w, "interface"); str(w, info.interface_name);
    key(w, "largest_ip_from_server"); w.Uint(f.capture.largest_ip_from_server);
    key(w, "icmp_errors"); w.Uint(f.capture.icmp_errors);
    key(w, "icmp_mtu"); w.Uint(f.capture.icmp_mtu);
    key(w, "icmp_mtu_from"); str(w, f.capture.icmp_mtu_from);
    key(w, "icmp_example"); str(w, f.capture.icmp_error_example);
    key(w, "fragmented_answers"); w.Uint(f.frag_arrived_fragmented);
    key(w, "largest_fragment"); w.Uint(f.fragment_ip_max);
    key(w, "kernel_drops"); w.Uint64(info.capture_drops);
    w.EndObject();
    key(w, "srtt_us"); w.Uint(info.srtt_us);
    key(w, "probes");
    w.StartArray();
    for (const ProbeResult& p : r.log) {
        const ProbeRequest& q = p.request;
        w.StartObject();
        key(w, "kind"); w.String(to_string(q.kind));
        key(w, "mode"); w.String(to_string(q.mode));
        key(w, "variant"); w.String(to_string(q.variant));
        key(w, "size"); w.Uint(q.size);
        key(w, "frag"); w.String(frag_name(q.frag));
        if (q.frag == FragMode::forced) { key(w, "frag_mtu"); w.Uint(q.frag_mtu); }
        key(w, "trunc"); w.String(trunc_name(q.trunc));
        key(w, "edns_size"); w.Uint(q.edns_size);
        key(w, "qname"); str(w, p.qname);
        key(w, "outcome"); w.String(to_string(p.outcome));
        key(w, "attempts"); w.Uint(p.attempts);
        key(w, "attempts_lost"); w.Uint(p.attempts_lost);
        key(w, "late"); w.Bool(p.late);
        key(w, "rtt_us"); w.Uint(p.rtt_us);
        key(w, "answer_size"); w.Uint(p.answer_size);
        key(w, "tc"); w.Bool(p.tc);
        key(w, "rcode"); w.Uint(p.rcode);
        if (p.echo.valid) {
            key(w, "echo");
            w.StartObject();
            key(w, "edns"); w.Bool(p.echo.edns);
            key(w, "udp_size"); w.Uint(p.echo.udp_size);
            key(w, "do"); w.Bool(p.echo.do_bit);
            key(w, "options"); w.Uint(p.echo.option_count);
            w.EndObject();
        }
        if (p.arrival.first_fragments || p.arrival.nonfirst_fragments || p.arrival.whole_ip_len) {
            key(w, "arrival");
            w.StartObject();
            key(w, "first_fragments"); w.Uint(p.arrival.first_fragments);
            key(w, "nonfirst_fragments"); w.Uint(p.arrival.nonfirst_fragments);
            key(w, "largest_fragment"); w.Uint(p.arrival.max_fragment_ip_len);
            key(w, "whole_ip_len"); w.Uint(p.arrival.whole_ip_len);
            w.EndObject();
        }
        if (!p.detail.empty()) { key(w, "detail"); str(w, p.detail); }
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

}  // namespace frag53::probe
