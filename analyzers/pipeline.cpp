#include "analyzers/pipeline.h"

#include <cstring>
#include <algorithm>

#include "analyzers/material_hash.h"
#include "dataplane/byte_hash.h"

namespace frag53 {

void PipelineCounters::merge(const PipelineCounters& o) noexcept {
    packets += o.packets;
    bytes += o.bytes;
    capture_truncated_frames += o.capture_truncated_frames;
    for (size_t i = 0; i < decode_status.size(); ++i) decode_status[i] += o.decode_status[i];
    ipv4 += o.ipv4;
    ipv6 += o.ipv6;
    udp += o.udp;
    tcp += o.tcp;
    icmp += o.icmp;
    other_ip += o.other_ip;
    ip_fragments += o.ip_fragments;
    ip_reassembled += o.ip_reassembled;
    ip_incomplete += o.ip_incomplete;
    udp_length_mismatch += o.udp_length_mismatch;
    dns_messages += o.dns_messages;
    dns_queries += o.dns_queries;
    dns_responses += o.dns_responses;
    dns_udp += o.dns_udp;
    dns_tcp += o.dns_tcp;
    dns_matched += o.dns_matched;
    dns_malformed += o.dns_malformed;
    dns_capture_truncated += o.dns_capture_truncated;
    dns_short += o.dns_short;
    dns_tcp_segments += o.dns_tcp_segments;
    tcp_framing_errors += o.tcp_framing_errors;
    icmp_too_big += o.icmp_too_big;
    icmp_too_big_dns += o.icmp_too_big_dns;
    unmatched_responses += o.unmatched_responses;
    retransmissions += o.retransmissions;
    unanswered += o.unanswered;
    time_jumps = std::max(time_jumps, o.time_jumps);  // a property of the input, seen by every worker
    pending_evicted += o.pending_evicted;
    tc_watch_evicted += o.tc_watch_evicted;
    zone_filtered += o.zone_filtered;
    rule_scanned += o.rule_scanned;
    dnssec_material += o.dnssec_material;
    dnssec_material_repeats += o.dnssec_material_repeats;
    dnssec_material_evicted += o.dnssec_material_evicted;
    frag_evicted += o.frag_evicted;
    frag_expired += o.frag_expired;
    frag_discarded += o.frag_discarded;
    frag_duplicates += o.frag_duplicates;
    frag_events_lost += o.frag_events_lost;
    tcp_connections += o.tcp_connections;
    tcp_evicted_full += o.tcp_evicted_full;
    tcp_evicted_idle += o.tcp_evicted_idle;
    tcp_midstream += o.tcp_midstream;
    tcp_gaps += o.tcp_gaps;
    tcp_gap_bytes += o.tcp_gap_bytes;
    tcp_overlap_conflicts += o.tcp_overlap_conflicts;
    tcp_retransmissions += o.tcp_retransmissions;
    rtt_count += o.rtt_count;
    rtt_total_ns += o.rtt_total_ns;
    rtt_max_ns = std::max(rtt_max_ns, o.rtt_max_ns);
    for (size_t i = 0; i < response_sizes.size(); ++i) response_sizes[i] += o.response_sizes[i];
    for (size_t i = 0; i < findings.size(); ++i) findings[i] += o.findings[i];
}

namespace {

TcpReassemblyConfig tcp_config(const PipelineConfig& c) {
    TcpReassemblyConfig t;
    for (uint16_t p : c.dns_ports) t.select_port(p);
    t.max_connections = c.tcp_max_connections;
    t.max_total_buffered = c.tcp_max_buffered;
    t.idle_timeout_ns = c.tcp_idle_timeout_ns;
    return t;
}

}  // namespace

Pipeline::Pipeline(const PipelineConfig& config, FindingSink& sink)
    : config_(config),
      sink_(sink),
      transactions_(config.max_pending),
      fragments_(config.fragments),
      tcp_(tcp_config(config), *this),
      tc_watch_(config.tc_watch_capacity) {
    for (uint16_t p : config_.dns_ports) dns_ports_.set(p);
    if (config_.rules) rule_matcher_.emplace(config_.rules);
    if (config_.only_zones) zone_filter_.emplace(config_.only_zones);
}

void Pipeline::process(std::span<const PacketView> burst) {
    for (const PacketView& pkt : burst) process_packet(pkt);
}

void Pipeline::advance_time(uint64_t ts) {
    if (ts > now_ns_) {
        now_ns_ = ts;
    } else if (ts + config_.query_timeout_ns < now_ns_) {
        // Time jumped back by more than a timeout: another capture (several files that are not
        // one continuous recording). What is pending belongs to a timeline that has ended.
        // The jump is counted after the old timeline's last records (replay workers number
        // timelines by it).
        transactions_.drain([this](const PendingQuery& q) { on_unanswered(q, "end_of_input"); });
        ++counters_.time_jumps;
        now_ns_ = ts;
    }
    // Most packets find nothing due: each table's first test, inline, before any of them runs.
    // When one has something to do all four run, in their order, as they would every packet.
    if (now_ns_ >= tcp_due_ns_ || fragments_.due(now_ns_) ||
        transactions_.due(now_ns_, config_.query_timeout_ns) ||
        tc_watch_.due(now_ns_, config_.tcp_retry_window_ns))
        run_timeouts();
}

void Pipeline::run_timeouts() {
    // Timeouts run on packet time: replaying a capture gives the same answer every time.
    // Idle TCP first (a connection's end may resolve a TC retry), then fragments, so a lost
    // response's fragments are known when its query times out.
    tcp_.expire(now_ns_);
    tcp_due_ns_ = tcp_.next_expiry();
    fragments_.expire(now_ns_, [this](const IncompleteDatagram& d) { on_fragments_incomplete(d, now_ns_); });
    transactions_.expire(now_ns_, config_.query_timeout_ns,
                         [this](const PendingQuery& q) { on_unanswered(q, "timeout"); });
    tc_watch_.expire(now_ns_, config_.tcp_retry_window_ns, [this](const TcWatch& w) {
        on_tc_watch_end(w, FindingCode::dns_truncated_no_tcp_retry, "timeout", now_ns_);
    });
}

void Pipeline::process_packet(const PacketView& pkt) {
    ++counters_.packets;
    counters_.bytes += pkt.data.size();
    if (pkt.wire_len > pkt.data.size()) ++counters_.capture_truncated_frames;
    advance_time(pkt.ts_ns);
    decode_frame(pkt, decoded_);
    const DecodedPacket& d = decoded_;
    ++counters_.decode_status[static_cast<size_t>(d.status) % counters_.decode_status.size()];
    if (d.ip_version == 4) ++counters_.ipv4;
    else if (d.ip_version == 6) ++counters_.ipv6;
    if (d.status != DecodeStatus::ok) return;

    if (d.is_fragment) {
        on_fragment(pkt, d);
        return;
    }
    dispatch(pkt, d);
}

void Pipeline::dispatch(const PacketView& pkt, const DecodedPacket& d) {
    switch (d.transport) {
    case Transport::udp:
        ++counters_.udp;
        on_udp(pkt, d);
        break;
    case Transport::tcp:
        ++counters_.tcp;
        if (is_dns_port(d.sport) || is_dns_port(d.dport)) {
            if (!d.payload.empty()) ++counters_.dns_tcp_segments;
            tcp_.process(d, pkt.ts_ns, pkt.frame);
            tcp_due_ns_ = tcp_.next_expiry();
        }
        break;
    case Transport::icmp4:
    case Transport::icmp6:
        ++counters_.icmp;
        if ((d.transport == Transport::icmp4 && d.icmp_type == 3 && d.icmp_code == 4) ||
            (d.transport == Transport::icmp6 && d.icmp_type == 2))
            on_icmp_too_big(pkt, d);
        break;
    default:
        ++counters_.other_ip;
        break;
    }
}

void Pipeline::on_fragment(const PacketView& pkt, const DecodedPacket& d) {
    ++counters_.ip_fragments;
    if (d.frag_offset == 0) note_response_fragment(pkt, d);
    AddResult r = fragments_.add(d, pkt.ts_ns, pkt.frame);
    for (const FragmentAnomaly& a : fragments_.anomalies()) on_fragment_anomaly(pkt, a);
    if (r.status != AddStatus::complete) return;
    ++counters_.ip_reassembled;
    decode_ip(r.datagram, r.wire_len, reassembled_);
    if (reassembled_.status != DecodeStatus::ok) return;
    // The rebuilt datagram takes the same path as an unfragmented packet; the DNS stage sees
    // reassembled_info_ and reports the message as fragmented.
    reassembled_info_ = &r.info;
    dispatch(pkt, reassembled_);
    reassembled_info_ = nullptr;
}

// The first fragment of a DNS response names its transaction: remember it on the pending query,
// so a query whose answer never completes is reported as lost to fragmentation.
void Pipeline::note_response_fragment(const PacketView& pkt, const DecodedPacket& d) {
    if (d.transport != Transport::udp || !is_dns_port(d.sport)) return;
    // Only the header and the question name the transaction; the records run on in later
    // fragments.
    message_.parse_head(d.payload);
    if (!message_.header_complete() || !message_.header().qr()) return;
    dns::Name qname;
    uint16_t qtype = 0, qclass = 0;
    bool has_q = message_.first_question(qname, qtype, qclass);
    TransactionKey key{d.dst, d.src, d.dport, d.sport, message_.header().id, MessageTransport::udp};
    if (PendingQuery* q = transactions_.find(key, has_q ? &qname : nullptr, qtype, qclass))
        if (q->response_fragment_frame == 0) q->response_fragment_frame = pkt.frame;
}

Finding Pipeline::fragment_finding(FindingCode code, const FragmentKey& key, uint64_t ts) const {
    Finding f;
    f.code = code;
    f.severity = default_severity(code);
    f.ts_ns = ts;
    f.ip_version = key.ip_version;
    f.client = key.src;
    f.server = key.dst;
    f.has_frag_id = true;
    f.frag_id = key.id;
    return f;
}

void Pipeline::add_fragment_evidence(Finding& f, const DatagramInfo& info) const {
    f.fragment_count = static_cast<uint16_t>(info.fragments.size());
    f.fragment_sizes_known = true;
    for (size_t i = 0; i < info.fragments.size(); ++i) {
        if (i < f.fragment_sizes.size()) f.fragment_sizes[i] = info.fragments[i].length;
        f.add_frame(info.fragments[i].frame);
    }
    f.first_fragment_size = info.first_ip_length;
    f.dont_fragment = info.dont_fragment;
    f.has_frag_id = true;
    f.frag_id = info.key.id;
}

void Pipeline::on_fragment_anomaly(const PacketView& pkt, const FragmentAnomaly& a) {
    FindingCode code;
    switch (a.kind) {
    case FragmentAnomalyKind::overlap: code = FindingCode::ip_fragment_overlap; break;
    case FragmentAnomalyKind::conflict: code = FindingCode::ip_fragment_conflict; break;
    case FragmentAnomalyKind::tiny: code = FindingCode::ip_fragment_tiny; break;
    case FragmentAnomalyKind::oversize: code = FindingCode::ip_fragment_oversize; break;
    case FragmentAnomalyKind::limit: code = FindingCode::ip_fragment_limit; break;
    case FragmentAnomalyKind::incomplete: code = FindingCode::ip_fragment_incomplete; break;
    default: return;
    }
    if (code == FindingCode::ip_fragment_tiny) {
        // Tiny fragments come in series (every fragment of a datagram cut small): one finding
        // per datagram, remembered in a small direct-mapped cache.
        uint64_t h = a.key.src.hash() ^ (a.key.dst.hash() * 31) ^ (uint64_t{a.key.id} << 8) ^ a.key.proto;
        uint64_t& slot = tiny_reported_[h % tiny_reported_.size()];
        if (slot == (h | 1)) return;
        slot = h | 1;
    }
    if (code == FindingCode::ip_fragment_incomplete) ++counters_.ip_incomplete;
    Finding f = fragment_finding(code, a.key, pkt.ts_ns);
    f.offset = a.offset;
    f.length = a.length;
    f.reason = to_string(a.limit);
    if (a.other_frame != 0 && a.other_frame != a.frame) f.add_frame(a.other_frame);
    if (a.last_frame != 0 && a.last_frame != a.frame && a.last_frame != a.other_frame) f.add_frame(a.last_frame);
    if (a.frame != 0) f.add_frame(a.frame);
    f.fragment_count = static_cast<uint16_t>(a.fragments);
    f.bytes_received = a.bytes;
    if (code != FindingCode::ip_fragment_limit) f.reason = {};
    emit(f);
}

void Pipeline::on_fragments_incomplete(const IncompleteDatagram& d, uint64_t ts) {
    ++counters_.ip_incomplete;
    Finding f = fragment_finding(FindingCode::ip_fragment_incomplete, d.info.key, ts);
    add_fragment_evidence(f, d.info);
    f.bytes_received = d.info.bytes_received;
    f.holes = d.info.holes;
    f.reason = d.drained ? "end_of_input" : "timeout";
    if (!d.head.empty()) {
        // The first fragment arrived: if it is DNS, say which message lost its fragments and
        // tie it to the query it answers.
        decode_ip(d.head, d.head_wire_len, quoted_);
        const DecodedPacket& h = quoted_;
        if (h.transport == Transport::udp && (is_dns_port(h.sport) || is_dns_port(h.dport))) {
            message_.parse_head(h.payload);
            if (message_.header_complete()) {
                bool response = message_.header().qr();
                f.transport = MessageTransport::udp;
                f.client = response ? h.dst : h.src;
                f.server = response ? h.src : h.dst;
                f.client_port = response ? h.dport : h.sport;
                f.server_port = response ? h.sport : h.dport;
                f.has_id = true;
                f.id = message_.header().id;
                uint16_t qclass = 0;
                f.has_question = message_.first_question(f.qname, f.qtype, qclass);
                if (response) f.response_size = h.payload_wire_len; else f.query_size = h.payload_wire_len;
                TransactionKey key{f.client, f.server, f.client_port, f.server_port, f.id,
                                   MessageTransport::udp};
                if (response) {
                    if (PendingQuery* q = transactions_.find(key, f.has_question ? &f.qname : nullptr,
                                                             f.qtype, qclass)) {
                        if (q->response_fragment_frame == 0) q->response_fragment_frame = d.info.first_frame;
                        add_query_evidence(f, *q);
                    }
                }
            }
        }
    }
    emit(f);
}

void Pipeline::on_udp(const PacketView& pkt, const DecodedPacket& d) {
    if (d.udp_length_mismatch) ++counters_.udp_length_mismatch;
    if (!is_dns_port(d.sport) && !is_dns_port(d.dport)) return;
    if (d.udp_length_mismatch && (d.udp_length < 8 || d.udp_length > d.l3_payload_wire_len)) {
        // Receivers drop a datagram whose UDP length runs past the IP payload (or is shorter
        // than the UDP header): it never reaches the DNS software, so it is no DNS message.
        ++counters_.dns_malformed;
        MessageContext ctx{&pkt, &d, MessageTransport::udp, d.payload_wire_len, false};
        Finding f = message_finding(FindingCode::dns_malformed, ctx, is_dns_port(d.dport), false);
        f.reason = "udp_length";
        emit(f);
        return;
    }
    MessageContext ctx{&pkt, &d, MessageTransport::udp, d.payload_wire_len,
                       d.snap_truncated || d.payload.size() < d.payload_wire_len};
    if (ctx.wire_size < d.payload.size()) ctx.wire_size = static_cast<uint32_t>(d.payload.size());
    on_dns_message(ctx, d.payload);
}

void Pipeline::on_dns_message(const MessageContext& ctx, Bytes payload) {
    dns::ParseError err = message_.parse(payload);
    if (!message_.header_complete()) {
        ++counters_.dns_short;
        if (ctx.cut) return;  // the capture kept too little to say anything
        ++counters_.dns_malformed;
        Finding f = message_finding(FindingCode::dns_malformed, ctx, is_dns_port(ctx.dec->dport), false);
        f.reason = dns::to_string(err);
        emit(f);
        return;
    }
    const dns::Header& h = message_.header();
    if (zone_filter_) {
        // Restricted to some zones: a message is analyzed only when its question is under one.
        dns::Name qname;
        uint16_t qtype = 0, qclass = 0;
        if (!message_.first_question(qname, qtype, qclass) || !zone_filter_->contains(qname)) {
            ++counters_.zone_filtered;
            return;
        }
    }
    ++counters_.dns_messages;
    if (ctx.transport == MessageTransport::udp) ++counters_.dns_udp; else ++counters_.dns_tcp;

    if (ctx.cut) {
        // Cut by the snap length: counted, never called malformed or missing its OPT.
        ++counters_.dns_capture_truncated;
        Finding f = message_finding(FindingCode::dns_capture_truncated, ctx, !h.qr());
        f.captured_size = static_cast<uint32_t>(payload.size());
        emit(f);
    } else if (err != dns::ParseError::none) {
        // A server that sets TC=1 may cut the message mid-record without fixing the counts;
        // that is the truncation the TC bit announces, not a malformed message.
        bool tc_cut = h.tc() && (err == dns::ParseError::record_past_end ||
                                 err == dns::ParseError::rdlength_past_end ||
                                 err == dns::ParseError::name_past_end ||
                                 err == dns::ParseError::bad_counts);
        if (!tc_cut) {
            ++counters_.dns_malformed;
            Finding f = message_finding(FindingCode::dns_malformed, ctx, !h.qr());
            f.reason = dns::to_string(err);
            f.reason_offset = static_cast<uint32_t>(message_.error_offset());
            emit(f);
        }
    }

    if (reassembled_info_ != nullptr) {
        Finding f = message_finding(h.qr() ? FindingCode::dns_fragmented_response
                                           : FindingCode::dns_fragmented_query, ctx, !h.qr());
        f.frame_count = 0;  // the fragments are the evidence
        add_fragment_evidence(f, *reassembled_info_);
        emit(f);
    }

    if (h.qr()) on_response(ctx); else on_query(ctx);
}

Finding Pipeline::message_finding(FindingCode code, const MessageContext& ctx, bool is_query,
                                  bool with_message) const {
    const DecodedPacket& d = *ctx.dec;
    Finding f;
    f.code = code;
    f.severity = default_severity(code);
    f.ts_ns = ctx.pkt->ts_ns;
    f.transport = ctx.transport;
    f.ip_version = d.ip_version;
    f.client = is_query ? d.src : d.dst;
    f.server = is_query ? d.dst : d.src;
    f.client_port = is_query ? d.sport : d.dport;
    f.server_port = is_query ? d.dport : d.sport;
    if (with_message && message_.header_complete()) {
        f.has_id = true;
        f.id = message_.header().id;
        uint16_t qclass = 0;
        f.has_question = message_.first_question(f.qname, f.qtype, qclass);
    }
    if (is_query) f.query_size = ctx.wire_size; else f.response_size = ctx.wire_size;
    if (ctx.transport == MessageTransport::tcp && !message_frames_.empty()) {
        for (uint64_t fr : message_frames_) f.add_frame(fr);  // every segment of the message
    } else {
        f.add_frame(ctx.pkt->frame);
    }
    return f;
}

void Pipeline::add_query_evidence(Finding& f, const PendingQuery& q) const {
    // Query frames first, then what message_finding already recorded.
    const auto later = f.frames;
    uint8_t n_later = f.frame_count;
    f.frame_count = 0;
    f.add_frame(q.first_frame);
    if (q.last_frame != q.first_frame) f.add_frame(q.last_frame);
    for (uint8_t i = 0; i < n_later; ++i) f.add_frame(later[i]);
    f.query_size = q.size;
    f.advertised_size = q.edns ? static_cast<int32_t>(q.udp_size) : -1;
    f.retransmissions = q.retransmissions;
    if (!f.has_question && q.has_question) {
        f.has_question = true;
        f.qname = q.qname;
        f.qtype = q.qtype;
    }
}

void Pipeline::on_query(const MessageContext& ctx) {
    ++counters_.dns_queries;
    const DecodedPacket& d = *ctx.dec;
    TransactionKey key{d.src, d.dst, d.sport, d.dport, message_.header().id, ctx.transport};
    dns::Name qname;
    uint16_t qtype = 0, qclass = 0;
    bool has_q = message_.first_question(qname, qtype, qclass);
    // The per-question history is UDP's: a TCP question is not hashed.
    const uint64_t qhash = has_q && records_ != nullptr && ctx.transport == MessageTransport::udp
                               ? question_hash(d.src, qname, qtype)
                               : 0;
    if (qhash != 0) records_->expect_question(qhash);

    if (rule_matcher_ && has_q) match_rules(ctx, qname, qtype);
    PendingQuery* existing = transactions_.find(key, has_q ? &qname : nullptr, qtype, qclass);
    if (existing != nullptr && existing->has_question == has_q) {
        ++counters_.retransmissions;
        transactions_.touch(*existing, ctx.pkt->ts_ns, ctx.pkt->frame);
        return;
    }
    uint64_t before = transactions_.evictions();
    PendingQuery& q = transactions_.insert(key, ctx.pkt->ts_ns);
    if (transactions_.evictions() != before) ++counters_.pending_evicted;
    q.has_question = has_q;
    q.qname = qname;
    q.qtype = qtype;
    q.qclass = qclass;
    q.question_hash = qhash;
    q.first_frame = q.last_frame = ctx.pkt->frame;
    q.size = ctx.wire_size;
    const dns::Edns& e = message_.edns();
    q.edns = e.present;
    q.do_bit = e.do_bit;
    q.edns_version = e.version;
    q.udp_size = e.udp_size;
    q.cd = message_.header().cd();
    // A cut query may have lost its OPT record: what it advertised is unknown.
    q.complete = !ctx.cut;
    if (ctx.transport == MessageTransport::tcp && has_q)
        q.tc_retry = tc_watch_.tcp_question(d.src, d.dst, qname, qtype, qclass);
    if (records_ != nullptr && has_q) {
        QueryRecord r;
        r.client = d.src;
        r.server = d.dst;
        r.client_port = d.sport;
        r.server_port = d.dport;
        r.id = key.id;
        r.qname = qname;
        r.qtype = qtype;
        r.transport = ctx.transport;
        r.edns = q.edns && q.complete;
        r.do_bit = q.do_bit;
        r.udp_size = q.udp_size;
        r.ts_ns = ctx.pkt->ts_ns;
        r.frame = ctx.pkt->frame;
        r.question_hash = qhash;
        records_->on_query(r);
    }
}

// rule.match: one finding per rule the query name matches (retransmissions included: each is
// a query on the wire).
void Pipeline::match_rules(const MessageContext& ctx, const dns::Name& qname, uint16_t qtype) {
    ++counters_.rule_scanned;
    std::array<uint32_t, 16> ids{};
    size_t n = 0;
    rule_matcher_->match(qname, [&](uint32_t id) noexcept {
        if (n < ids.size()) ids[n++] = id;
    });
    for (size_t i = 0; i < n; ++i) {
        const rules::Rule& rule = config_.rules->rule(ids[i]);
        Finding f = message_finding(FindingCode::rule_match, ctx, true);
        f.set_question(qname, qtype);
        f.rule_tag = rule.tag;
        f.rule_pattern = rule.pattern;
        f.rule_severity = rules::severity_name(rule.severity);
        f.rule_line = rule.line;
        // The rule's own five levels, folded onto the finding severities.
        f.severity = rule.severity >= rules::RuleSeverity::high     ? Severity::error
                     : rule.severity >= rules::RuleSeverity::medium ? Severity::warning
                                                                    : Severity::info;
        emit(f);
    }
}

void Pipeline::record_outcome(const PendingQuery& q, bool answered, bool truncated, uint32_t size,
                              uint64_t ts, uint64_t frame) {
    if (records_ == nullptr || !q.has_question) return;
    OutcomeRecord r;
    r.client = q.key.client;
    r.server = q.key.server;
    r.qname = q.qname;
    r.qtype = q.qtype;
    r.transport = q.key.transport;
    r.do_bit = q.do_bit;
    r.answered = answered;
    r.truncated = truncated;
    r.fragmented = answered && reassembled_info_ != nullptr;
    r.tc_retry = q.tc_retry;
    r.response_size = size;
    r.query_ts_ns = q.first_ts;
    r.ts_ns = ts;
    r.frame = frame;
    r.client_port = q.key.client_port;
    r.server_port = q.key.server_port;
    r.id = q.key.id;
    r.cd = q.cd;
    r.question_hash = q.question_hash;
    if (answered) {
        // message_ holds the answer.
        const dns::Header& h = message_.header();
        r.aa = h.aa();
        r.rcode = message_.full_rcode();
        r.has_rrsig = message_.has_rrsig();
        r.has_records = message_.records_in(dns::Section::answer) + message_.records_in(dns::Section::authority) > 0;
        r.well_formed = message_.ok();
    }
    records_->on_outcome(r);
}

void Pipeline::on_response(const MessageContext& ctx) {
    ++counters_.dns_responses;
    const DecodedPacket& d = *ctx.dec;
    const dns::Header& h = message_.header();
    const bool udp = ctx.transport == MessageTransport::udp;

    size_t bucket = 0;
    while (bucket < response_size_bounds.size() && ctx.wire_size > response_size_bounds[bucket]) ++bucket;
    ++counters_.response_sizes[bucket];

    TransactionKey key{d.dst, d.src, d.dport, d.sport, h.id, ctx.transport};
    dns::Name qname;
    uint16_t qtype = 0, qclass = 0;
    bool has_q = message_.first_question(qname, qtype, qclass);
    PendingQuery* q = transactions_.find(key, has_q ? &qname : nullptr, qtype, qclass);
    // The outcome record follows the findings below.
    if (q != nullptr && q->question_hash != 0 && records_ != nullptr)
        records_->expect_question(q->question_hash);

    if (udp && h.tc()) {
        Finding f = message_finding(FindingCode::dns_truncated, ctx, false);
        f.rcode = message_.full_rcode();
        emit(f);
    }
    if (udp && ctx.wire_size > config_.size_threshold) {
        Finding f = message_finding(FindingCode::dns_oversized_response, ctx, false);
        f.limit = config_.size_threshold;
        emit(f);
    }

    if (udp && h.tc() && has_q) {
        TcWatch w;
        w.client = key.client;
        w.server = key.server;
        w.client_port = key.client_port;
        w.server_port = key.server_port;
        w.id = h.id;
        w.qname = qname;
        w.qtype = qtype;
        w.qclass = qclass;
        w.tc_ts = ctx.pkt->ts_ns;
        w.tc_frame = ctx.pkt->frame;
        w.query_frame = q != nullptr ? q->first_frame : 0;
        w.response_size = ctx.wire_size;
        if (tc_watch_.size() == config_.tc_watch_capacity) ++counters_.tc_watch_evicted;
        tc_watch_.watch(w);
    }
    if (!udp && has_q) tc_watch_.tcp_question(key.client, key.server, qname, qtype, qclass);
    if (q == nullptr) {
        ++counters_.unmatched_responses;
        hand_over_material(ctx, nullptr);
        return;
    }
    ++counters_.dns_matched;
    uint64_t rtt = ctx.pkt->ts_ns >= q->first_ts ? ctx.pkt->ts_ns - q->first_ts : 0;
    ++counters_.rtt_count;
    counters_.rtt_total_ns += rtt;
    counters_.rtt_max_ns = std::max(counters_.rtt_max_ns, rtt);

    const dns::Edns& e = message_.edns();
    const uint16_t rcode = message_.full_rcode();
    // Judging a missing OPT needs the whole, well-formed response and a query known to carry one.
    const bool judge_opt = q->complete && q->edns && !ctx.cut && message_.ok();
    if (judge_opt && !e.present) {
        bool refused_edns = h.rcode() == dns::rcode::FORMERR || h.rcode() == dns::rcode::NOTIMP;
        Finding f = message_finding(refused_edns ? FindingCode::dns_edns_unsupported
                                                 : FindingCode::dns_edns_dropped, ctx, false);
        f.rcode = rcode;
        f.rtt_ns = static_cast<int64_t>(rtt);
        f.edns_version = q->edns_version;
        add_query_evidence(f, *q);
        emit(f);
    } else if (judge_opt && rcode == dns::rcode::BADVERS && q->edns_version == 0) {
        Finding f = message_finding(FindingCode::dns_edns_unsupported, ctx, false);
        f.rcode = rcode;
        f.rtt_ns = static_cast<int64_t>(rtt);
        f.edns_version = 0;
        add_query_evidence(f, *q);
        emit(f);
    }
    if (udp && q->complete) {
        // RFC 6891: sizes below 512 are treated as 512; no EDNS means 512.
        uint32_t limit = q->edns ? std::max<uint32_t>(512, q->udp_size) : 512;
        if (ctx.wire_size > limit) {
            Finding f = message_finding(FindingCode::dns_exceeds_advertised_size, ctx, false);
            f.limit = limit;
            f.rtt_ns = static_cast<int64_t>(rtt);
            add_query_evidence(f, *q);
            emit(f);
        }
    }
    record_outcome(*q, true, h.tc(), ctx.wire_size, ctx.pkt->ts_ns, ctx.pkt->frame);
    hand_over_material(ctx, q);
    transactions_.erase(*q);
}

namespace {

// Records whose content the DNSSEC checks read.
bool is_dnssec_material(uint16_t type) noexcept {
    switch (type) {
    case dns::rrtype::RRSIG:
    case dns::rrtype::DNSKEY:
    case dns::rrtype::DS:
    case dns::rrtype::NSEC3:
    case dns::rrtype::NSEC3PARAM:
    case dns::rrtype::SOA:
        return true;
    default:
        return false;
    }
}

}  // namespace

// Answers with DNSSEC or SOA records go to the aggregator, which checks keys, DS sets, signatures
// and serials across servers. The same answer from the same server (ID and TTLs aside) is handed
// over once per material_resend_ns of packet time, so a long capture still re-checks signature
// lifetimes without copying every repeated answer.
void Pipeline::hand_over_material(const MessageContext& ctx, const PendingQuery* q) {
    if (records_ == nullptr || ctx.cut || !message_.ok()) return;
    bool any = false;
    for (const dns::Record& rr : message_.records()) {
        if (rr.section != dns::Section::additional && is_dnssec_material(rr.type)) {
            any = true;
            break;
        }
    }
    if (!any) return;
    const Bytes wire = message_.wire();
    const DecodedPacket& d = *ctx.dec;
    // Client and server: one flow's answers always reach the same worker, so which copies are
    // handed over does not depend on how flows are spread over workers. The answer is hashed
    // without its ID, TTLs and record order (material_hash.h): a rotated RRset or a TTL counted
    // down is a repeat.
    uint64_t h = material_hash(hash_mix(hash_mix(d.src.hash(), d.dst.hash()), d.src.version), wire,
                               message_.records());
    if (h == 0) h = 1;
    const uint64_t ts = ctx.pkt->ts_ns;
    MaterialSlot* set = &material_seen_[(h & (material_seen_.size() - 1)) & ~(material_ways - 1)];
    MaterialSlot* slot = nullptr;
    for (size_t i = 0; i < material_ways; ++i) {
        MaterialSlot& s = set[i];
        if (s.hash == h) {
            if (ts >= s.ts_ns && ts - s.ts_ns < config_.material_resend_ns) {
                ++counters_.dnssec_material_repeats;
                return;
            }
            slot = &s;  // due again: handed over, and remembered from now
            break;
        }
    }
    if (slot == nullptr) {
        // A free way, else the one handed over longest ago.
        slot = &set[0];
        for (size_t i = 1; i < material_ways && slot->hash != 0; ++i)
            if (set[i].hash == 0 || set[i].ts_ns < slot->ts_ns) slot = &set[i];
        if (slot->hash != 0) ++counters_.dnssec_material_evicted;
    }
    slot->hash = h;
    slot->ts_ns = ts;
    ++counters_.dnssec_material;
    ResponseMaterial m;
    m.client = d.dst;
    m.server = d.src;
    m.client_port = d.dport;
    m.server_port = d.sport;
    m.transport = ctx.transport;
    m.query_do = q != nullptr && q->do_bit;
    m.query_cd = q != nullptr && q->cd;
    m.ts_ns = ts;
    m.frame = ctx.pkt->frame;
    m.wire.assign(wire.begin(), wire.end());
    records_->on_material(std::move(m));
}

void Pipeline::on_unanswered(const PendingQuery& q, std::string_view reason) {
    ++counters_.unanswered;
    Finding f;
    // A TCP retry after TC=1 that got no answer is the more specific finding.
    f.code = q.tc_retry ? FindingCode::dns_tcp_retry_failed : FindingCode::dns_unanswered;
    f.severity = default_severity(f.code);
    f.ts_ns = q.first_ts;
    f.transport = q.key.transport;
    f.set_endpoints(q.key.client, q.key.client_port, q.key.server, q.key.server_port);
    f.has_id = true;
    f.id = q.key.id;
    f.reason = reason;
    add_query_evidence(f, q);
    if (q.tc_retry) f.reason = "no_response";
    if (q.response_fragment_frame != 0) {
        // Its answer started to arrive as IP fragments and never completed.
        f.reason = "fragments_lost";
        f.add_frame(q.response_fragment_frame);
    }
    emit(f);
    record_outcome(q, false, false, 0, now_ns_, 0);
}

void Pipeline::on_icmp_too_big(const PacketView& pkt, const DecodedPacket& d) {
    ++counters_.icmp_too_big;
    // The quote is usually cut short of the IP length it announces; decode it as such.
    decode_ip(d.icmp_quoted, 65535, quoted_);
    const DecodedPacket& q = quoted_;
    if (q.ip_version == 0 || (q.transport != Transport::udp && q.transport != Transport::tcp)) return;
    if (!is_dns_port(q.sport) && !is_dns_port(q.dport)) return;  // counted, not a DNS finding
    ++counters_.icmp_too_big_dns;

    Finding f;
    f.code = FindingCode::icmp_frag_needed;
    f.severity = default_severity(f.code);
    f.ts_ns = pkt.ts_ns;
    f.transport = q.transport == Transport::tcp ? MessageTransport::tcp : MessageTransport::udp;
    f.ip_version = q.ip_version;
    f.mtu = d.icmp_mtu;
    f.quoted_ip_length = q.ip_length;
    f.reporter = d.src;
    f.add_frame(pkt.frame);

    // The quoted DNS is evidence, never a message of its own: it is parsed only to name the
    // transaction it belongs to. A server port as source means the quote is a response.
    bool from_server = is_dns_port(q.sport);
    dns::MessageView& m = message_;
    bool have_dns = q.transport == Transport::udp && (m.parse_head(q.payload), m.header_complete());
    if (have_dns) from_server = m.header().qr();
    f.client = from_server ? q.dst : q.src;
    f.server = from_server ? q.src : q.dst;
    f.client_port = from_server ? q.dport : q.sport;
    f.server_port = from_server ? q.sport : q.dport;
    uint32_t dns_size = q.transport == Transport::udp ? q.payload_wire_len : 0;
    if (from_server) f.response_size = dns_size; else f.query_size = dns_size;
    if (have_dns) {
        f.has_id = true;
        f.id = m.header().id;
        uint16_t qclass = 0;
        f.has_question = m.first_question(f.qname, f.qtype, qclass);
        TransactionKey key{f.client, f.server, f.client_port, f.server_port, f.id, f.transport};
        if (const PendingQuery* pq = transactions_.find(key, f.has_question ? &f.qname : nullptr,
                                                        f.qtype, qclass)) {
            add_query_evidence(f, *pq);
            if (!from_server) f.query_size = dns_size;
        }
    }
    emit(f);
}

void Pipeline::on_data(const TcpData& d) noexcept {
    tcp_conn_ = d.conn;
    tcp_dir_ = d.dir;
    framers_[d.conn->slot][dir_index(d.dir)].feed(d.data, d.ts_ns, d.frame, *this);
    tcp_conn_ = nullptr;
}

void Pipeline::on_event(const TcpEvent& e) noexcept {
    // The framers grow with the reassembler's connection slots, which it also adds only as
    // needed (up to tcp_max_connections): 4,096 pairs built up front were 2.4 MB written at
    // start, for captures that mostly carry a few connections at a time.
    if (e.conn->slot >= framers_.size()) framers_.resize(size_t{e.conn->slot} + 1);
    auto& framers = framers_[e.conn->slot];
    tcp_conn_ = e.conn;
    tcp_dir_ = e.dir;
    switch (e.type) {
    case TcpEventType::opened:
        // The slot may have held an earlier connection.
        framers[0].reset();
        framers[1].reset();
        if (!e.conn->midstream)  // opened by a SYN: a new attempt from the client
            tc_watch_.tcp_opened(e.conn->client, e.conn->server, e.conn->server_port, e.conn->id, e.frame);
        break;
    case TcpEventType::gap:
        framers[dir_index(e.dir)].gap(e.size, e.ts_ns, e.frame, *this);
        break;
    case TcpEventType::fin:
        framers[dir_index(e.dir)].finish(e.ts_ns, e.frame, *this);
        break;
    case TcpEventType::closed:
        for (unsigned i = 0; i < 2; ++i) {
            tcp_dir_ = static_cast<TcpDir>(i);
            framers[i].finish(e.ts_ns, e.frame, *this);
            framers[i].reset();
        }
        // A retry connection that ends without carrying the question failed on the way.
        tc_watch_.tcp_closed(e.conn->id, e.conn->client, e.conn->server, [this, &e](const TcWatch& w) {
            const TcpConnection& c = *e.conn;
            std::string_view why = c.reset()          ? "reset"
                                   : !c.syn_ack_seen ? "syn_unanswered"
                                                     : "no_query";
            on_tc_watch_end(w, FindingCode::dns_tcp_retry_failed, why, e.ts_ns ? e.ts_ns : now_ns_, e.frame);
        });
        break;
    default:
        break;
    }
    tcp_conn_ = nullptr;
}

void Pipeline::on_message(const dns::TcpDnsMessage& m) noexcept {
    if (tcp_conn_ == nullptr) return;
    const TcpConnection& c = *tcp_conn_;
    const bool to_server = tcp_dir_ == TcpDir::to_server;
    DecodedPacket& d = tcp_message_;
    d.ip_version = c.client.version;
    d.transport = Transport::tcp;
    d.src = to_server ? c.client : c.server;
    d.dst = to_server ? c.server : c.client;
    d.sport = to_server ? c.client_port : c.server_port;
    d.dport = to_server ? c.server_port : c.client_port;
    PacketView pkt;
    pkt.ts_ns = m.ts_ns;
    pkt.frame = m.frame;
    const auto size = static_cast<uint32_t>(m.data.size());
    MessageContext ctx{&pkt, &d, MessageTransport::tcp, size, false};
    message_frames_ = m.frames;
    on_dns_message(ctx, m.data);
    message_frames_ = {};
}

void Pipeline::on_framing_event(const dns::TcpFramingEvent& e) noexcept {
    if (e.type != dns::TcpFramingEventType::resynchronised) ++counters_.tcp_framing_errors;
}

void Pipeline::on_tc_watch_end(const TcWatch& w, FindingCode code, std::string_view reason, uint64_t ts,
                               uint64_t last_frame) {
    Finding f;
    f.code = code;
    f.severity = default_severity(code);
    f.ts_ns = ts;
    f.transport = code == FindingCode::dns_tcp_retry_failed ? MessageTransport::tcp : MessageTransport::udp;
    f.set_endpoints(w.client, w.client_port, w.server, w.server_port);
    f.has_id = true;
    f.id = w.id;
    f.set_question(w.qname, w.qtype);
    f.response_size = w.response_size;
    f.reason = reason;
    if (w.query_frame) f.add_frame(w.query_frame);
    f.add_frame(w.tc_frame);
    if (w.tcp_frame) f.add_frame(w.tcp_frame);
    if (last_frame && last_frame != w.tcp_frame) f.add_frame(last_frame);  // e.g. the reset
    emit(f);
}

void Pipeline::finish() {
    tcp_.drain(now_ns_);
    tcp_due_ns_ = tcp_.next_expiry();
    tc_watch_.drain([this](const TcWatch& w) {
        on_tc_watch_end(w, FindingCode::dns_truncated_no_tcp_retry, "end_of_input", now_ns_);
    });
    fragments_.drain([this](const IncompleteDatagram& d) { on_fragments_incomplete(d, now_ns_); });
    transactions_.drain([this](const PendingQuery& q) { on_unanswered(q, "end_of_input"); });
    const FragmentCounters& fc = fragments_.counters();
    counters_.frag_evicted = fc.evicted;
    counters_.frag_expired = fc.expired + fc.drained;
    counters_.frag_discarded = fc.discarded;
    counters_.frag_duplicates = fc.duplicates + fc.duplicates_after_complete;
    counters_.frag_events_lost = fc.events_lost;
    const TcpReassemblyCounters& tc = tcp_.counters();
    counters_.tcp_connections = tc.connections_opened;
    counters_.tcp_evicted_full = tc.evicted_table_full;
    counters_.tcp_evicted_idle = tc.evicted_timeout;
    counters_.tcp_midstream = tc.midstream_pickups;
    counters_.tcp_gaps = tc.gaps;
    counters_.tcp_gap_bytes = tc.gap_bytes;
    counters_.tcp_overlap_conflicts = tc.overlap_conflicts;
    counters_.tcp_retransmissions = tc.retransmissions;
}

void Pipeline::emit(Finding& f) {
    ++counters_.findings[static_cast<size_t>(f.code)];
    sink_.on_finding(f);
}

}  // namespace frag53
