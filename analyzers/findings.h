// Typed findings: a stable code, a severity and the evidence, handed to sinks.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "analyzers/dns/message.h"
#include "dataplane/decode.h"
#include "dataplane/ip_address.h"

namespace frag53 {

// Codes never change meaning once released; docs/findings.md explains each one.
// Only the codes the build implements are listed: a code in the summary means "looked for".
enum class FindingCode : uint8_t {
    dns_truncated,
    dns_edns_dropped,
    dns_edns_unsupported,
    dns_oversized_response,
    dns_exceeds_advertised_size,
    dns_unanswered,
    dns_capture_truncated,
    dns_malformed,
    icmp_frag_needed,
    dns_fragmented_response,
    dns_fragmented_query,
    ip_fragment_incomplete,
    ip_fragment_overlap,
    ip_fragment_conflict,
    ip_fragment_tiny,
    ip_fragment_oversize,
    ip_fragment_limit,
    dns_truncated_no_tcp_retry,
    dns_tcp_retry_failed,
    dns_bufsize_fallback,
    path_dnssec_queries_lost,
    path_large_responses_lost,
    dnssec_rrsig_expired,
    dnssec_rrsig_not_yet_valid,
    dnssec_rrsig_expiring,
    dnssec_ds_mismatch,
    dnssec_signature_invalid,
    dnssec_missing_rrsig,
    dnssec_validation_failure,
    dnssec_weak_algorithm,
    dnssec_nsec3_iterations,
    dns_soa_serial_mismatch,
    rule_match,
    count_,
};
inline constexpr size_t finding_code_count = static_cast<size_t>(FindingCode::count_);

enum class Severity : uint8_t { info, warning, error };

std::string_view code_name(FindingCode c) noexcept;  // "dns.truncated"
std::string_view severity_name(Severity s) noexcept;
Severity default_severity(FindingCode c) noexcept;
bool parse_code_name(std::string_view name, FindingCode& out) noexcept;

enum class MessageTransport : uint8_t { udp, tcp };
std::string_view transport_name(MessageTransport t) noexcept;

// One finding with its evidence. Built only when something is found (rare), so it carries the
// decoded question by value; nothing here points into packet buffers.
struct Finding {
    FindingCode code = FindingCode::dns_malformed;
    Severity severity = Severity::warning;
    uint64_t ts_ns = 0;
    MessageTransport transport = MessageTransport::udp;
    uint8_t ip_version = 0;
    IpAddress client, server;
    uint16_t client_port = 0, server_port = 0;
    bool has_id = false;
    uint16_t id = 0;
    bool has_question = false;
    dns::Name qname;
    uint16_t qtype = 0;
    // Sizes in bytes of the DNS messages (as on the wire, even when the capture cut them).
    uint32_t query_size = 0;
    uint32_t response_size = 0;
    int32_t advertised_size = -1;  // requester's EDNS UDP size; -1 when the query had no EDNS
    uint32_t limit = 0;            // the size the response was compared with (threshold / 512)
    int32_t rcode = -1;            // full (extended) RCODE of the response, -1 when none
    uint32_t retransmissions = 0;
    int64_t rtt_ns = -1;
    uint16_t edns_version = 0;
    uint32_t captured_size = 0;    // capture_truncated: bytes the capture holds
    uint32_t mtu = 0;              // icmp.frag_needed: the MTU the ICMP error reports
    uint32_t quoted_ip_length = 0; // icmp.frag_needed: IP length of the packet that did not fit
    IpAddress reporter;            // icmp.frag_needed: who sent the ICMP error
    // Fragmentation: fragmented DNS messages and ip.fragment_* (client = source, server =
    // destination of the datagram for ip.fragment_* findings).
    uint16_t fragment_count = 0;
    bool fragment_sizes_known = false;
    std::array<uint16_t, 16> fragment_sizes{};  // IP payload bytes of each fragment, by offset
    uint32_t first_fragment_size = 0;  // IP length of the offset-0 fragment (path MTU hint)
    bool dont_fragment = false;        // IPv4 DF on the first fragment
    bool has_frag_id = false;
    uint32_t frag_id = 0;
    uint32_t bytes_received = 0;       // ip.fragment_incomplete: payload bytes that arrived
    uint16_t holes = 0;                // ip.fragment_incomplete: gaps still open
    uint32_t offset = 0, length = 0;   // ip.fragment_*: the fragment that raised it
    // path.*: per-server evidence.
    struct PathEvidence {
        uint64_t do0_queries = 0, do0_answered = 0, do1_queries = 0, do1_answered = 0;
        uint64_t large_answers = 0, large_reasked = 0;
        uint32_t size_min = 0, size_max = 0;
    } path;
    // dnssec.* and dns.soa_serial_mismatch: what was checked, against the packet's time.
    struct DnssecEvidence {
        dns::Name zone;                 // signer / DS and DNSKEY owner / SOA owner
        dns::Name owner;                // owner of the signed RRset (signature findings)
        uint16_t type_covered = 0;
        uint8_t algorithm = 0;
        uint16_t key_tag = 0;
        uint32_t inception = 0, expiration = 0;  // RRSIG times (seconds since the epoch, mod 2^32)
        int64_t seconds = 0;            // expired: since; not yet valid: until; expiring: left
        uint16_t iterations = 0;        // NSEC3
        uint8_t salt_length = 0;
        uint32_t serial = 0, other_serial = 0;  // soa mismatch: this server's and another's
        IpAddress other_server;         // soa mismatch / missing_rrsig: the server that disagrees
        uint8_t ds_count = 0, key_count = 0;    // ds_mismatch: the sets compared
        std::array<uint16_t, 8> ds_tags{}, key_tags{};
        std::array<uint8_t, 8> ds_algorithms{}, key_algorithms{};
        uint32_t occurrences = 0;       // answers that carried what the finding is about so far
    } dnssec;
    // rule.match: the rule (text owned by the loaded rule set, alive for the whole run).
    std::string_view rule_tag, rule_pattern, rule_severity;
    uint32_t rule_line = 0;
    std::string_view reason;       // malformed: ParseError name; unanswered: "timeout"/"end_of_input"
    uint32_t reason_offset = 0;    // malformed: where in the message parsing stopped
    std::array<uint64_t, 16> frames{};  // evidence: capture frame numbers (query first)
    uint8_t frame_count = 0;

    void set_endpoints(const IpAddress& c, uint16_t c_port, const IpAddress& s, uint16_t s_port) noexcept {
        client = c;
        client_port = c_port;
        server = s;
        server_port = s_port;
        ip_version = c.version;
    }
    void set_question(const dns::Name& name, uint16_t type) noexcept {
        has_question = true;
        qname = name;
        qtype = type;
    }

    void add_frame(uint64_t f) noexcept {
        if (frame_count < frames.size()) frames[frame_count++] = f;
    }
};

// Copies `f` into `slot` (raw memory for a Finding), which then holds an equal Finding: only the
// used bytes of its three names go (most are short or empty: the question name; the DNSSEC zone
// and owner only for dnssec.* findings), about half of the 1.3 KB a whole copy moves. For rings
// that carry findings to another thread.
void copy_finding_into(void* slot, const Finding& f) noexcept;

// An ip.fragment_* finding about a datagram whose DNS identity is unknown: client and server
// then hold the datagram's source and destination.
inline bool is_ip_level(const Finding& f) noexcept {
    return f.code >= FindingCode::ip_fragment_incomplete && f.code <= FindingCode::ip_fragment_limit &&
           !f.has_id;
}

class FindingSink {
public:
    virtual ~FindingSink() = default;
    virtual void on_finding(const Finding& f) = 0;
};

// Fans one finding out to several sinks (events file, report, ...).
class FindingFanout final : public FindingSink {
public:
    void add(FindingSink* s) noexcept {
        if (n_ < sinks_.size()) sinks_[n_++] = s;
    }
    void on_finding(const Finding& f) override {
        for (size_t i = 0; i < n_; ++i) sinks_[i]->on_finding(f);
    }

private:
    std::array<FindingSink*, 8> sinks_{};
    size_t n_ = 0;
};

std::string qtype_name(uint16_t qtype);
std::string rcode_name(int32_t rcode);
std::string format_timestamp(uint64_t ts_ns);  // ISO 8601 UTC with microseconds

}  // namespace frag53
