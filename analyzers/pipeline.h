// One worker's complete analysis pipeline: decode -> (defrag, TCP: later stages) -> DNS parse ->
// transactions -> detectors -> findings. A worker owns its instance; nothing here is shared.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "analyzers/dns/message.h"
#include "analyzers/rules/rule_set.h"
#include "analyzers/rules/zone_set.h"
#include "analyzers/aggregator.h"
#include "analyzers/findings.h"
#include "analyzers/tc_fallback.h"
#include "analyzers/transactions.h"
#include "dataplane/decode.h"
#include "dataplane/defrag.h"
#include "dataplane/packet.h"
#include "dataplane/tcp_reassembly.h"
#include "analyzers/dns/tcp_framing.h"

namespace frag53 {

struct PipelineConfig {
    uint64_t query_timeout_ns = 5'000'000'000ull;  // unanswered after this much packet time
    uint32_t size_threshold = 1232;                // dns.oversized_response above this
    size_t max_pending = 65536;                    // pending queries per worker
    std::vector<uint16_t> dns_ports{53};
    FragmentTableConfig fragments;                 // caps and timeouts of IP reassembly
    uint32_t tcp_max_connections = 4096;           // TCP connections tracked on DNS ports
    uint64_t tcp_max_buffered = 64ull << 20;       // out-of-order TCP bytes, all connections
    uint64_t tcp_idle_timeout_ns = 60'000'000'000ull;
    uint64_t tcp_retry_window_ns = 5'000'000'000ull;  // TC=1 -> TCP retry expected within this
    size_t tc_watch_capacity = 4096;                  // truncated answers awaiting their retry
    // An answer with DNSSEC or SOA records already handed to the aggregator is handed over
    // again after this much packet time (signature lifetimes are judged on what is still served).
    uint64_t material_resend_ns = 3600'000'000'000ull;
    // qname rules (rule.match on queries) and the zones analysis is restricted to; shared
    // read-only, each pipeline has its own scratch.
    std::shared_ptr<const rules::RuleSet> rules;
    std::shared_ptr<const rules::ZoneSet> only_zones;
};

// Response-size histogram buckets (upper bounds, inclusive); the last bucket is "larger".
inline constexpr std::array<uint32_t, 4> response_size_bounds{512, 1232, 1472, 4096};

// Plain per-worker counters, summed when read.
struct PipelineCounters {
    uint64_t packets = 0;
    uint64_t bytes = 0;                    // captured bytes
    uint64_t capture_truncated_frames = 0; // captured length < wire length
    std::array<uint64_t, 8> decode_status{};  // by DecodeStatus
    uint64_t ipv4 = 0, ipv6 = 0, udp = 0, tcp = 0, icmp = 0, other_ip = 0;
    uint64_t ip_fragments = 0;
    uint64_t ip_reassembled = 0;
    uint64_t ip_incomplete = 0;
    uint64_t udp_length_mismatch = 0;

    uint64_t dns_messages = 0, dns_queries = 0, dns_responses = 0;
    uint64_t dns_udp = 0, dns_tcp = 0;
    uint64_t dns_matched = 0, dns_malformed = 0, dns_capture_truncated = 0;
    uint64_t dns_short = 0;               // DNS-port payloads too short for a header
    uint64_t dns_tcp_segments = 0;        // TCP segments with payload on DNS ports
    uint64_t tcp_framing_errors = 0;      // empty / oversize / abandoned DNS-over-TCP messages
    uint64_t icmp_too_big = 0;            // ICMPv4 frag-needed and ICMPv6 packet-too-big
    uint64_t icmp_too_big_dns = 0;        // ... quoting a DNS packet (icmp.frag_needed)
    uint64_t unmatched_responses = 0;
    uint64_t retransmissions = 0;
    uint64_t unanswered = 0;
    uint64_t time_jumps = 0;              // packet time went back by more than a timeout
    uint64_t pending_evicted = 0;         // pending queries pushed out by the table cap
    uint64_t tc_watch_evicted = 0;        // truncated answers whose retry went unjudged (cap)
    uint64_t zone_filtered = 0;           // DNS messages outside --only-zones, not analyzed
    uint64_t rule_scanned = 0;            // query names matched against the rules
    uint64_t dnssec_material = 0;         // answers with DNSSEC/SOA records handed to the aggregator
    uint64_t dnssec_material_repeats = 0; // ... and the repeats that were not
    uint64_t dnssec_material_evicted = 0; // remembered answers pushed out by others
    // Copied from the reassemblers when the pipeline finishes (their own counters).
    uint64_t frag_evicted = 0, frag_expired = 0, frag_discarded = 0, frag_duplicates = 0;
    uint64_t frag_events_lost = 0;
    uint64_t tcp_connections = 0, tcp_evicted_full = 0, tcp_evicted_idle = 0, tcp_midstream = 0;
    uint64_t tcp_gaps = 0, tcp_gap_bytes = 0, tcp_overlap_conflicts = 0, tcp_retransmissions = 0;
    uint64_t rtt_count = 0, rtt_total_ns = 0, rtt_max_ns = 0;
    std::array<uint64_t, response_size_bounds.size() + 1> response_sizes{};
    std::array<uint64_t, finding_code_count> findings{};

    void merge(const PipelineCounters& o) noexcept;
};

class Pipeline final : private TcpStreamSink, private dns::TcpMessageSink {
public:
    Pipeline(const PipelineConfig& config, FindingSink& sink);

    void process(std::span<const PacketView> burst);
    void process_packet(const PacketView& pkt);
    // Packet time moved on without a packet for this worker (a tick from the dispatcher): run
    // the timeouts as if a packet of that time had come.
    // Kept out of line: inlined into the packet loop, the profile-guided build copied the loop's
    // tail into each of its early returns and compiled some of the copies for size (the packet's
    // decode state cleared with `rep stosb`, 173 bytes per packet). Still so with the timeouts
    // themselves out of line (run_timeouts): inlined, the analysis thread ran 107 M instructions
    // more on the comparison capture.
    [[gnu::noinline]] void advance_time(uint64_t ts_ns);
    // End of input: queries still pending are reported unanswered (reason end_of_input).
    void finish();

    // Where transaction records for cross-flow analysis go (the aggregator); none by default.
    void set_record_sink(TransactionRecordSink* s) noexcept { records_ = s; }

    const PipelineCounters& counters() const noexcept { return counters_; }
    const FragmentCounters& fragment_counters() const noexcept { return fragments_.counters(); }
    const TcpReassemblyCounters& tcp_counters() const noexcept { return tcp_.counters(); }
    size_t pending() const noexcept { return transactions_.size(); }
    size_t pending_capacity() const noexcept { return transactions_.capacity(); }

private:
    struct MessageContext {
        const PacketView* pkt;
        const DecodedPacket* dec;
        MessageTransport transport;
        uint32_t wire_size;   // DNS message size as sent
        bool cut;             // the capture holds less than wire_size
    };

    void dispatch(const PacketView& pkt, const DecodedPacket& dec);
    void on_fragment(const PacketView& pkt, const DecodedPacket& dec);
    void on_fragment_anomaly(const PacketView& pkt, const FragmentAnomaly& a);
    void on_fragments_incomplete(const IncompleteDatagram& d, uint64_t ts);
    void note_response_fragment(const PacketView& pkt, const DecodedPacket& dec);
    Finding fragment_finding(FindingCode code, const FragmentKey& key, uint64_t ts) const;
    void add_fragment_evidence(Finding& f, const DatagramInfo& info) const;
    void on_udp(const PacketView& pkt, const DecodedPacket& dec);
    // TCP: reassembled bytes -> DNS framing -> the same message path as UDP.
    void on_data(const TcpData& d) noexcept override;
    void on_event(const TcpEvent& e) noexcept override;
    void on_message(const dns::TcpDnsMessage& m) noexcept override;
    void on_framing_event(const dns::TcpFramingEvent& e) noexcept override;
    void on_dns_message(const MessageContext& ctx, Bytes payload);
    void on_query(const MessageContext& ctx);
    void on_response(const MessageContext& ctx);
    void on_unanswered(const PendingQuery& q, std::string_view reason);
    void record_outcome(const PendingQuery& q, bool answered, bool truncated, uint32_t size, uint64_t ts,
                        uint64_t frame);
    void on_tc_watch_end(const TcWatch& w, FindingCode code, std::string_view reason, uint64_t ts,
                         uint64_t last_frame = 0);
    void on_icmp_too_big(const PacketView& pkt, const DecodedPacket& dec);
    // The four tables' timeouts, in order (advance_time, when one of them has something due).
    [[gnu::noinline]] void run_timeouts();
    void hand_over_material(const MessageContext& ctx, const PendingQuery* q);
    void match_rules(const MessageContext& ctx, const dns::Name& qname, uint16_t qtype);
    void emit(Finding& f);
    // A finding about the message in flight; with_message=false when message_ does not hold it.
    Finding message_finding(FindingCode code, const MessageContext& ctx, bool is_query,
                            bool with_message = true) const;
    void add_query_evidence(Finding& f, const PendingQuery& q) const;
    bool is_dns_port(uint16_t p) const noexcept { return dns_ports_.test(p); }

    PipelineConfig config_;
    FindingSink& sink_;
    TransactionRecordSink* records_ = nullptr;
    std::bitset<65536> dns_ports_;
    PipelineCounters counters_;
    TransactionTable transactions_;
    DecodedPacket decoded_;
    DecodedPacket quoted_;  // the packet an ICMP error quotes
    DecodedPacket reassembled_;  // a datagram rebuilt from fragments
    const DatagramInfo* reassembled_info_ = nullptr;  // set while reassembled_ is dispatched
    FragmentTable fragments_;
    TcpReassembler tcp_;
    // tcp_.next_expiry() as of the last call that may change it (process, expire, drain).
    uint64_t tcp_due_ns_ = UINT64_MAX;
    TcFallbackTracker tc_watch_;
    std::vector<std::array<dns::TcpMessageFramer, 2>> framers_;  // per TCP connection slot
    const TcpConnection* tcp_conn_ = nullptr;  // the connection whose bytes are being framed
    TcpDir tcp_dir_ = TcpDir::to_server;
    DecodedPacket tcp_message_;                // addresses and ports of the message being handled
    std::span<const uint64_t> message_frames_;  // frames carrying the TCP message being handled
    std::array<uint64_t, 256> tiny_reported_{};  // recent datagrams already reported tiny
    dns::MessageView message_;
    std::optional<rules::RuleMatcher> rule_matcher_;
    std::optional<rules::ZoneFilter> zone_filter_;
    struct MaterialSlot {
        uint64_t hash = 0;
        uint64_t ts_ns = 0;
    };
    // Answers recently handed over, 4-way set associative: in a direct-mapped table two answers
    // a client alternates between (a DNSKEY and a TXT, say) evicted each other on every answer.
    static constexpr size_t material_ways = 4;
    std::array<MaterialSlot, 4096> material_seen_{};
    uint64_t now_ns_ = 0;
};

}  // namespace frag53
