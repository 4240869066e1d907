#include "analyzers/findings.h"

#include <cstddef>
#include <cstring>
#include <string>
#include <type_traits>

#include "analyzers/finding_text.h"

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
    std::string s;
    text::append_qtype(s, qtype);
    return s;
}

std::string rcode_name(int32_t rcode) {
    std::string s;
    text::append_rcode(s, rcode);
    return s;
}

std::string format_timestamp(uint64_t ts_ns) {
    std::string s;
    text::append_timestamp(s, ts_ns);
    return s;
}

// Finding is trivially copyable, so the bytes copied into the slot make it a Finding; a name's
// bytes past its length are never read.
static_assert(std::is_trivially_copyable_v<Finding> && std::is_standard_layout_v<Finding>);
static_assert(std::is_standard_layout_v<Finding::DnssecEvidence> &&
              std::is_standard_layout_v<dns::Name>);
namespace {
constexpr size_t name_at[3] = {
    offsetof(Finding, qname),
    offsetof(Finding, dnssec) + offsetof(Finding::DnssecEvidence, zone),
    offsetof(Finding, dnssec) + offsetof(Finding::DnssecEvidence, owner),
};
static_assert(name_at[0] < name_at[1] && name_at[1] < name_at[2]);

// The bytes from Begin up to the name at Name, then that name's used bytes and its length; each
// step's sizes are constants, so the fixed parts are copied with fixed-size moves.
template <size_t Begin, size_t Name>
void copy_up_to_name(unsigned char* to, const unsigned char* from) noexcept {
    std::memcpy(to + Begin, from + Begin, Name - Begin);
    const auto& name = *reinterpret_cast<const dns::Name*>(from + Name);
    dns::copy_name_bytes(to + Name + offsetof(dns::Name, wire), name.wire.data(), name.length);
    std::memcpy(to + Name + offsetof(dns::Name, length), &name.length, sizeof name.length);
}

}  // namespace

void copy_finding_into(void* slot, const Finding& f) noexcept {
    auto* to = static_cast<unsigned char*>(slot);
    const auto* from = reinterpret_cast<const unsigned char*>(&f);
    constexpr size_t after = sizeof(dns::Name);
    copy_up_to_name<0, name_at[0]>(to, from);
    copy_up_to_name<name_at[0] + after, name_at[1]>(to, from);
    copy_up_to_name<name_at[1] + after, name_at[2]>(to, from);
    std::memcpy(to + name_at[2] + after, from + name_at[2] + after, sizeof(Finding) - name_at[2] - after);
}

}  // namespace frag53
