#include "analyzers/aggregator.h"

#include "analyzers/dnssec_checks.h"

#include <algorithm>

namespace frag53 {

Aggregator::Aggregator(const AggregatorConfig& config, FindingSink& sink)
    : config_(config), sink_(sink), history_(config.history_slots ? config.history_slots : 1) {
    DnssecConfig dc;
    dc.expiring_window_s = config.dnssec_expiring_window_s;
    dnssec_ = std::make_unique<DnssecChecks>(dc, counting_);
}

Aggregator::~Aggregator() = default;

void Aggregator::on_material(ResponseMaterial&& m) {
    if (m.ts_ns > last_ts_) last_ts_ = m.ts_ns;
    dnssec_->on_material(m);
}

const DnssecCounters& Aggregator::dnssec_counters() const noexcept { return dnssec_->counters(); }

size_t Aggregator::index_of(uint64_t h) const noexcept {
    // The default size is a power of two: a mask instead of a 64-bit division per query.
    const size_t n = history_.size();
    return (n & (n - 1)) == 0 ? h & (n - 1) : h % n;
}

// `hash` is question_hash(client, qname, qtype) when the record carries it, else 0.
//
// Two ways: a question lives in its own slot or in the other slot of its pair (index ^ 1). With
// one way, two questions of the same slot (a few among a few hundred, with a good hash) pushed
// each other out at every query and neither's retries were recognised. A question not found
// takes a free slot of the pair, else the one asked longest ago.
Aggregator::History& Aggregator::slot(const IpAddress& client, const dns::Name& qname, uint16_t qtype,
                                      uint64_t hash, bool& same) {
    auto is = [&](const History& e) {
        return e.used && e.qtype == qtype && e.client == client && e.qname.equals_ignore_case(qname);
    };
    const size_t i = index_of(hash != 0 ? hash : question_hash(client, qname, qtype));
    const size_t j = i ^ 1;  // past the end for an odd size's last slot: no pair
    History& a = history_[i];
    same = is(a);
    if (same || j >= history_.size()) return a;
    History& b = history_[j];
    same = is(b);
    if (same || !a.used) return same ? b : a;
    return !b.used || b.ts_ns < a.ts_ns ? b : a;
}

ServerStats* Aggregator::server(const IpAddress& a) {
    // Queries go to a few servers (often one address of each family): the last two found are
    // checked before the map (whose elements stay where they are).
    for (ServerStats* s : last_servers_)
        if (s != nullptr && s->address == a) return s;
    auto it = servers_.find(a);
    if (it != servers_.end()) return remember(&it->second);
    if (servers_.size() >= config_.max_servers) {
        ++servers_untracked_;
        return nullptr;
    }
    ServerStats s;
    s.address = a;
    return remember(&servers_.emplace(a, s).first->second);
}

void Aggregator::emit(Finding& f) {
    f.severity = default_severity(f.code);
    ++findings_[static_cast<size_t>(f.code)];
    sink_.on_finding(f);
}

void Aggregator::on_query(const QueryRecord& r) {
    if (r.ts_ns > last_ts_) last_ts_ = r.ts_ns;
    if (ServerStats* s = server(r.server)) {
        ++s->queries;
        if (s->first_frame == 0) s->first_frame = r.frame;
    }
    if (r.transport != MessageTransport::udp) return;  // TCP retries are judged elsewhere

    bool same = false;
    History& h = slot(r.client, r.qname, r.qtype, r.question_hash, same);
    if (same && r.ts_ns >= h.ts_ns && r.ts_ns - h.ts_ns <= config_.retry_window_ns) {
        const bool answered = h.outcome == Outcome::answered;
        // A large answer went out and the client asks again: it did not arrive.
        const bool answer_lost = answered && h.large_answer && r.ts_ns - h.answer_ts_ns <= config_.retry_window_ns;
        if (answer_lost) {
            if (ServerStats* s = server(h.server)) {
                ++s->large_reasked;
                s->large_reasked_min = s->large_reasked_min ? std::min(s->large_reasked_min, h.response_size)
                                                            : h.response_size;
                s->large_reasked_max = std::max(s->large_reasked_max, h.response_size);
                s->last_lost_frame = h.answer_frame;
            }
        }
        // Asked again after no answer (yet), a truncated one, or a large one that evidently did
        // not arrive: a smaller EDNS size or no EDNS at all is the resolver falling back
        // (RFC 6891 6.2.5).
        auto effective = [](bool edns, uint16_t size) -> uint32_t {
            return edns ? std::max<uint32_t>(512, size) : 512;
        };
        const bool smaller =
            h.edns && (!r.edns || effective(r.edns, r.udp_size) < effective(h.edns, h.udp_size));
        if (smaller && (!answered || answer_lost)) {
            Finding f;
            f.code = FindingCode::dns_bufsize_fallback;
            f.ts_ns = r.ts_ns;
            f.transport = MessageTransport::udp;
            f.set_endpoints(r.client, r.client_port, r.server, r.server_port);
            f.has_id = true;
            f.id = r.id;
            f.set_question(r.qname, r.qtype);
            f.advertised_size = r.edns ? r.udp_size : -1;
            f.limit = h.udp_size;  // what the earlier attempt advertised
            f.reason = answer_lost                         ? "answer_lost"
                       : h.outcome == Outcome::truncated  ? "truncated"
                       : h.outcome == Outcome::unanswered ? "unanswered"
                                                          : "no_answer_yet";
            f.add_frame(h.frame);
            if (answer_lost) f.add_frame(h.answer_frame);
            f.add_frame(r.frame);
            emit(f);
        }
    }
    if (!same) {
        if (h.used) ++history_evictions_;
        // The question itself changes only with the slot's owner.
        h.used = true;
        h.client = r.client;
        h.qname.assign(r.qname.wire.data(), r.qname.length);
        h.qtype = r.qtype;
    }
    // This attempt replaces the last one: every other field is written.
    h.server = r.server;
    h.outcome = Outcome::pending;
    h.large_answer = false;
    h.response_size = 0;
    h.answer_ts_ns = 0;
    h.answer_frame = 0;
    h.edns = r.edns;
    h.udp_size = r.udp_size;
    h.ts_ns = r.ts_ns;
    h.frame = r.frame;
}

void Aggregator::on_outcome(const OutcomeRecord& r) {
    dnssec_->on_outcome(r);
    const bool udp = r.transport == MessageTransport::udp;
    const bool large = udp && r.answered && !r.truncated &&
                       (r.response_size > config_.size_threshold || r.fragmented);
    if (r.ts_ns > last_ts_) last_ts_ = r.ts_ns;
    if (ServerStats* s = server(r.server)) {
        // Per-class totals count transactions that ended (answered or given up); a query pushed
        // out of a full table has no outcome and is in neither count.
        if (r.do_bit) ++s->do1_queries; else ++s->do0_queries;
        if (r.answered) {
            ++s->answers;
            if (r.do_bit) ++s->do1_answered; else ++s->do0_answered;
            s->largest_answer = std::max(s->largest_answer, r.response_size);
            if (r.response_size > config_.size_threshold) ++s->answers_over_threshold;
        }
        if (r.fragmented) ++s->fragmented;
        if (r.truncated) ++s->truncated;
        if (r.tc_retry) {
            ++s->tcp_retries;
            if (r.answered) ++s->tcp_retries_answered;
        }
        if (large) ++s->large_answers;
    }
    if (!udp) return;
    bool same = false;
    History& h = slot(r.client, r.qname, r.qtype, r.question_hash, same);
    if (!same || h.ts_ns != r.query_ts_ns) return;  // a later attempt took the slot
    h.outcome = !r.answered ? Outcome::unanswered : r.truncated ? Outcome::truncated : Outcome::answered;
    h.large_answer = large;
    h.response_size = r.response_size;
    h.answer_ts_ns = r.ts_ns;
    h.answer_frame = r.frame;
}

void Aggregator::finish() {
    for (const ServerStats& s : servers_by_queries(servers_.size())) {
        Finding f;
        f.ts_ns = last_ts_;
        f.ip_version = s.address.version;
        f.server = s.address;
        f.path = {s.do0_queries, s.do0_answered, s.do1_queries, s.do1_answered,
                  s.large_answers, s.large_reasked, s.large_reasked_min, s.large_reasked_max};
        const double do1_lost = 1.0 - s.rate(s.do1_answered, s.do1_queries);
        const double do0_ok = s.rate(s.do0_answered, s.do0_queries);
        if (s.do1_queries >= config_.min_samples && s.do0_queries >= config_.min_samples &&
            do1_lost >= config_.lost_rate && do0_ok >= config_.ok_rate) {
            f.code = FindingCode::path_dnssec_queries_lost;
            f.add_frame(s.first_frame);
            emit(f);
        }
        if (s.large_reasked >= config_.min_large_lost &&
            s.rate(s.large_reasked, s.large_answers) >= config_.lost_rate) {
            f.code = FindingCode::path_large_responses_lost;
            f.frame_count = 0;
            f.add_frame(s.last_lost_frame);
            emit(f);
        }
    }
}

std::vector<ServerStats> Aggregator::servers_by_queries(size_t n) const {
    std::vector<ServerStats> v;
    v.reserve(servers_.size());
    for (const auto& [a, s] : servers_) v.push_back(s);
    std::sort(v.begin(), v.end(), [](const ServerStats& a, const ServerStats& b) {
        return a.queries != b.queries ? a.queries > b.queries : a.address < b.address;
    });
    if (v.size() > n) v.resize(n);
    return v;
}

}  // namespace frag53
