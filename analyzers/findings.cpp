#include "analyzers/findings.h"

#include <ctime>
#include <string>

namespace frag53 {
namespace {

struct CodeInfo {
    std::string_view name;
    Severity severity;
};

constexpr std::array<CodeInfo, finding_code_count> code_info{{
    {"dns.truncated", Severity::info},
    {"dns.edns_dropped", Severity::warning},
    {"dns.edns_unsupported", Severity::warning},
    {"dns.oversized_response", Severity::info},
    {"dns.exceeds_advertised_size", Severity::warning},
    {"dns.unanswered", Severity::warning},
    {"dns.capture_truncated", Severity::info},
    {"dns.malformed", Severity::error},
    {"icmp.frag_needed", Severity::warning},
    {"dns.fragmented_response", Severity::info},
    {"dns.fragmented_query", Severity::info},
    {"ip.fragment_incomplete", Severity::warning},
    {"ip.fragment_overlap", Severity::warning},
    {"ip.fragment_conflict", Severity::error},
    {"ip.fragment_tiny", Severity::warning},
    {"ip.fragment_oversize", Severity::error},
    {"ip.fragment_limit", Severity::warning},
    {"dns.truncated_no_tcp_retry", Severity::warning},
    {"dns.tcp_retry_failed", Severity::error},
    {"dns.bufsize_fallback", Severity::info},
    {"path.dnssec_queries_lost", Severity::error},
    {"path.large_responses_lost", Severity::error},
    {"dnssec.rrsig_expired", Severity::error},
    {"dnssec.rrsig_not_yet_valid", Severity::error},
    {"dnssec.rrsig_expiring", Severity::warning},
    {"dnssec.ds_mismatch", Severity::error},
    {"dnssec.signature_invalid", Severity::error},
    {"dnssec.missing_rrsig", Severity::error},
    {"dnssec.validation_failure", Severity::error},
    {"dnssec.weak_algorithm", Severity::warning},
    {"dnssec.nsec3_iterations", Severity::warning},
    {"dns.soa_serial_mismatch", Severity::warning},
    {"rule.match", Severity::info},
}};

}  // namespace

std::string_view code_name(FindingCode c) noexcept {
    auto i = static_cast<size_t>(c);
    return i < code_info.size() ? code_info[i].name : std::string_view{"unknown"};
}

Severity default_severity(FindingCode c) noexcept {
    auto i = static_cast<size_t>(c);
    return i < code_info.size() ? code_info[i].severity : Severity::warning;
}

bool parse_code_name(std::string_view name, FindingCode& out) noexcept {
    for (size_t i = 0; i < code_info.size(); ++i) {
        if (code_info[i].name == name) {
            out = static_cast<FindingCode>(i);
            return true;
        }
    }
    return false;
}

std::string_view severity_name(Severity s) noexcept {
    switch (s) {
    case Severity::info: return "info";
    case Severity::warning: return "warning";
    case Severity::error: return "error";
    }
    return "warning";
}

std::string_view transport_name(MessageTransport t) noexcept {
    return t == MessageTransport::tcp ? "tcp" : "udp";
}

std::string qtype_name(uint16_t qtype) {
    switch (qtype) {
    case 1: return "A";
    case 2: return "NS";
    case 5: return "CNAME";
    case 6: return "SOA";
    case 12: return "PTR";
    case 15: return "MX";
    case 16: return "TXT";
    case 28: return "AAAA";
    case 33: return "SRV";
    case 35: return "NAPTR";
    case 41: return "OPT";
    case 43: return "DS";
    case 46: return "RRSIG";
    case 47: return "NSEC";
    case 48: return "DNSKEY";
    case 50: return "NSEC3";
    case 51: return "NSEC3PARAM";
    case 52: return "TLSA";
    case 59: return "CDS";
    case 60: return "CDNSKEY";
    case 64: return "SVCB";
    case 65: return "HTTPS";
    case 99: return "SPF";
    case 250: return "TSIG";
    case 251: return "IXFR";
    case 252: return "AXFR";
    case 255: return "ANY";
    case 257: return "CAA";
    default: return "TYPE" + std::to_string(qtype);
    }
}

std::string rcode_name(int32_t rcode) {
    switch (rcode) {
    case 0: return "NOERROR";
    case 1: return "FORMERR";
    case 2: return "SERVFAIL";
    case 3: return "NXDOMAIN";
    case 4: return "NOTIMP";
    case 5: return "REFUSED";
    case 6: return "YXDOMAIN";
    case 7: return "YXRRSET";
    case 8: return "NXRRSET";
    case 9: return "NOTAUTH";
    case 10: return "NOTZONE";
    case 16: return "BADVERS";
    case 23: return "BADCOOKIE";
    default: return rcode < 0 ? std::string{} : "RCODE" + std::to_string(rcode);
    }
}

std::string format_timestamp(uint64_t ts_ns) {
    auto secs = static_cast<std::time_t>(ts_ns / 1000000000ull);
    auto usec = static_cast<unsigned>((ts_ns % 1000000000ull) / 1000ull);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%06uZ", usec);
    return buf;
}

}  // namespace frag53
