#include "analyzers/metrics.h"

namespace frag53 {
namespace {

void metric(std::string& out, const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void sample(std::string& out, const char* name, const std::string& labels, uint64_t v) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += ' ';
    out += std::to_string(v);
    out += '\n';
}

}  // namespace

std::string prometheus_text(const MetricsSnapshot& m) {
    std::string out;
    out.reserve(4096);
    metric(out, "frag53_packets_total", "counter", "Packets analyzed.");
    sample(out, "frag53_packets_total", "", m.packets);
    metric(out, "frag53_bytes_total", "counter", "Captured bytes analyzed.");
    sample(out, "frag53_bytes_total", "", m.bytes);
    metric(out, "frag53_capture_drops_total", "counter", "Packets lost before analysis.");
    sample(out, "frag53_capture_drops_total", "where=\"kernel\"", m.kernel_drops);
    sample(out, "frag53_capture_drops_total", "where=\"interface\"", m.interface_drops);
    metric(out, "frag53_dns_messages_total", "counter", "DNS messages parsed.");
    sample(out, "frag53_dns_messages_total", "transport=\"udp\"", m.dns_udp);
    sample(out, "frag53_dns_messages_total", "transport=\"tcp\"", m.dns_tcp);
    metric(out, "frag53_findings_total", "counter", "Findings by code.");
    for (size_t i = 0; i < m.findings.size(); ++i)
        sample(out, "frag53_findings_total", "code=\"" + std::string(code_name(static_cast<FindingCode>(i))) + "\"",
               m.findings[i]);
    metric(out, "frag53_table_entries", "gauge", "Entries held in a bounded table.");
    sample(out, "frag53_table_entries", "table=\"pending_queries\"", m.pending_queries);
    metric(out, "frag53_table_capacity", "gauge", "Capacity of a bounded table (per worker).");
    sample(out, "frag53_table_capacity", "table=\"pending_queries\"", m.pending_capacity);
    metric(out, "frag53_table_evictions_total", "counter", "Entries pushed out of a full table.");
    sample(out, "frag53_table_evictions_total", "table=\"pending_queries\"", m.pending_evicted);
    metric(out, "frag53_worker_packets_total", "counter", "Packets handed to each worker.");
    for (size_t i = 0; i < m.worker_packets.size(); ++i)
        sample(out, "frag53_worker_packets_total", "worker=\"" + std::to_string(i) + "\"", m.worker_packets[i]);
    return out;
}

}  // namespace frag53
