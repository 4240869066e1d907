#include "prober/probe/verdict.h"

#include <algorithm>
#include <set>
#include <utility>

namespace frag53::probe {

namespace {

// Ethernet: the MTU servers and their kernels assume unless told otherwise.
constexpr uint32_t ethernet_mtu = 1500;

std::string num(uint64_t v) { return std::to_string(v); }

const char* family_name(Family f) { return f == Family::v4 ? "IPv4" : "IPv6"; }

// "answers of up to 1232 bytes arrive, 1233 does not" for one search.
std::string search_words(const SearchSummary& s) {
    if (!s.ran) return "not searched";
    std::string w = "answers of up to " + num(s.max_passed) + " bytes arrive";
    if (s.min_failed != 0)
        w += ", " + num(s.min_failed) + (s.exact ? " does not" : " and larger do not");
    return w;
}

bool control_loss(const PathFacts& f) {
    if (f.controls_lost > 0) return true;
    return f.control_attempts_lost >= 2 &&
           uint64_t{f.control_attempts_lost} * 100 >= uint64_t{lossy_percent} * f.control_attempts;
}

}  // namespace

uint32_t measured_path_mtu(const PathFacts& f) noexcept {
    const SearchSummary& u = f.of(Mode::udp_unfragmented, Variant::plain);
    if (!u.ran || u.max_passed == 0 || u.min_failed == 0) return 0;
    return u.max_passed + ip_udp_overhead(f.family);
}

std::vector<Verdict> derive_verdicts(const PathFacts& f) {
    std::vector<Verdict> out;
    if (!f.gate_udp) return out;

    if (control_loss(f)) {
        out.push_back({verdict::lossy,
                       num(f.control_attempts_lost) + " of " + num(f.control_attempts) +
                           " attempts of small control probes went unanswered (" +
                           num(f.controls_lost) + " of " + num(f.control_probes) +
                           " controls lost after every retry): losses of large answers cannot be "
                           "told from random loss, so no size verdict is given",
                       0});
        return out;
    }

    if (!f.gate_tcp)
        out.push_back({verdict::tcp_blocked,
                       "small queries over UDP are answered, the same query over TCP is not: " +
                           (f.tcp_failure.empty() ? std::string("no answer") : f.tcp_failure),
                       0});

    if (f.echo_missing_opt > 0)
        out.push_back({verdict::edns_stripped,
                       num(f.echo_missing_opt) + " of " + num(f.echo_checked) +
                           " queries sent with an OPT record reached the responder without one",
                       0});
    if (f.echo_size_changed + f.echo_do_changed + f.echo_options_changed + f.trunc_full > 0) {
        std::string e = "the responder saw EDNS other than what was sent in " +
                        num(f.echo_size_changed + f.echo_do_changed + f.echo_options_changed) +
                        " of " + num(f.echo_checked) + " queries:";
        if (f.trunc_full)
            e += " " + num(f.trunc_full) + " of " + num(f.trunc_probes) +
                 " answers bigger than the advertised size came whole instead of TC=1 (the size "
                 "grew on the way);";
        if (f.echo_size_changed)
            e += " UDP size " + num(f.echo_size_sent) + " arrived as " + num(f.echo_size_seen) +
                 " (" + num(f.echo_size_changed) + "x);";
        if (f.echo_do_changed) e += " DO bit changed (" + num(f.echo_do_changed) + "x);";
        if (f.echo_options_changed) e += " options changed (" + num(f.echo_options_changed) + "x);";
        e.pop_back();
        out.push_back({verdict::edns_rewritten, std::move(e), f.echo_size_changed ? f.echo_size_seen : 0u});
    }

    if (f.do_lost_plain_ok > 0) {
        for (int m = 0; m < mode_count; ++m) {
            const SearchSummary& p = f.search[m][static_cast<int>(Variant::plain)];
            const SearchSummary& d = f.search[m][static_cast<int>(Variant::dnssec)];
            if (!p.ran || !d.ran || d.max_passed >= p.max_passed) continue;
            out.push_back({verdict::do_filtered,
                           std::string("over ") + to_string(static_cast<Mode>(m)) + ", DO=0 " +
                               search_words(p) + "; with DO=1 " +
                               (d.max_passed ? "only " + search_words(d) : std::string("no answer arrives")) +
                               " (" + num(f.do_lost_plain_ok) + " sizes lost with DO=1 only, e.g. " +
                               num(f.do_example_size) + " bytes)",
                           d.max_passed});
            break;
        }
    }

    const SearchSummary& u = f.of(Mode::udp_unfragmented, Variant::plain);
    const SearchSummary& k = f.of(Mode::udp_fragmented, Variant::plain);
    const uint32_t h = ip_udp_overhead(f.family);
    if (u.ran && u.max_passed == 0) {
        // The small gate answer arrived, yet no searched size did: a limit below the floor.
        out.push_back({verdict::dns_size_filter,
                       "a " + num(f.floor) + "-byte answer is the smallest searched and none arrives "
                       "unfragmented, while the small gate answer did",
                       0});
    } else if (u.ran && u.min_failed != 0) {
        const uint32_t u_ip = u.max_passed + h;
        const bool bigger_packets_arrive =
            f.capture.enabled && f.capture.largest_ip_from_server > u_ip;
        if (u_ip < minimum_mtu(f.family) || bigger_packets_arrive) {
            std::string e = "unfragmented " + search_words(u) + " (" + num(u_ip) + "-byte " +
                            family_name(f.family) + " packets)";
            if (bigger_packets_arrive)
                e += ", yet " + num(f.capture.largest_ip_from_server) +
                     "-byte UDP packets or fragments from the server do arrive: the limit is on "
                     "DNS answers, not on packets";
            else
                e += ", below the " + num(minimum_mtu(f.family)) + "-byte minimum MTU of " +
                     family_name(f.family) + ": no link is that small, a DNS-aware filter is";
            if (k.ran) e += "; fragmented " + search_words(k);
            out.push_back({verdict::dns_size_filter, std::move(e), u.max_passed});
        } else {
            const bool pmtu_below_ethernet = u_ip < ethernet_mtu;
            std::string mtu_words = "unfragmented " + search_words(u) + ": the path carries " +
                                    num(u_ip) + "-byte " + family_name(f.family) + " packets, not " +
                                    num(u_ip + 1);
            if (f.capture.icmp_mtu != 0)
                mtu_words += "; an ICMP error from " + f.capture.icmp_mtu_from + " reported MTU " +
                             num(f.capture.icmp_mtu);
            if (k.ran && k.min_failed != 0) {
                const bool forced_pass = f.forced_sent > 0 && f.forced_ok == f.forced_sent;
                const std::string frag_words =
                    "fragmented (fk) " + search_words(k) + "; of " + num(f.frag_lost) +
                    " lost fk answers";
                std::string seen;
                if (f.capture.enabled)
                    seen = ", " + num(f.frag_lost_first_seen) + " had a first fragment arrive, " +
                           num(f.frag_lost_nonfirst_seen) + " a non-first fragment, " +
                           num(f.frag_lost_none_seen) + " nothing";
                else
                    seen = " (no capture: which fragments arrive is unknown)";
                if (forced_pass && pmtu_below_ethernet) {
                    out.push_back({verdict::pmtu_blackhole,
                                   mtu_words + "; answers above " + num(u.max_passed) +
                                       " bytes vanish even when the server's kernel may fragment "
                                       "them and on every retry, so no Packet Too Big reached the "
                                       "server; " + frag_words + seen + "; answers fragmented by "
                                       "the responder at " + num(f.forced_mtu) + " bytes arrive (" +
                                       num(f.forced_ok) + "/" + num(f.forced_sent) +
                                       "): fragments pass, packets above " + num(u_ip) +
                                       " bytes vanish without ICMP",
                                   u.max_passed});
                } else {
                    const bool only_first = f.capture.enabled && f.frag_lost_first_seen > 0 &&
                                            f.frag_lost_nonfirst_seen == 0;
                    std::string forced_words =
                        f.forced_sent == 0
                            ? std::string()
                            : "; answers fragmented by the responder at " + num(f.forced_mtu) +
                                  " bytes: " + num(f.forced_ok) + " of " + num(f.forced_sent) +
                                  " arrive";
                    out.push_back({only_first ? verdict::nonfirst_fragments_dropped
                                              : verdict::fragments_dropped,
                                   frag_words + seen + forced_words, k.max_passed});
                    if (pmtu_below_ethernet)
                        out.push_back({verdict::pmtu, mtu_words, u_ip});
                }
            } else if (pmtu_below_ethernet) {
                std::string e = mtu_words;
                if (k.ran)
                    e += "; larger answers arrive fragmented (fk " + search_words(k) + ")";
                if (f.fragment_ip_max != 0)
                    e += " in fragments of at most " + num(f.fragment_ip_max) +
                         " bytes: the server fragments at the path MTU it learnt from a Packet "
                         "Too Big (or from its own link)";
                out.push_back({verdict::pmtu, std::move(e), u_ip});
            }
        }
    }

    if (out.empty())
        out.push_back({verdict::ok,
                       "unfragmented " + search_words(u) + "; fragmented " + search_words(k) +
                           "; TCP " + search_words(f.of(Mode::tcp, Variant::plain)),
                       0});
    return out;
}

bool breaks_large_answers(const PathFacts& f) noexcept {
    if (!f.gate_udp || !f.gate_tcp) return true;
    for (Variant v : {Variant::plain, Variant::dnssec}) {
        for (Mode m : {Mode::udp_fragmented, Mode::tcp}) {
            const SearchSummary& s = f.of(m, v);
            if (s.ran && s.max_passed < f.max_size) return true;
        }
    }
    return false;
}

uint16_t recommended_edns_bufsize(const PathFacts& f) noexcept {
    uint32_t best = 1232;
    for (Variant v : {Variant::plain, Variant::dnssec}) {
        const SearchSummary& s = f.of(Mode::udp_unfragmented, v);
        if (s.ran && s.min_failed != 0) best = std::min(best, s.max_passed);
    }
    return static_cast<uint16_t>(std::max<uint32_t>(best, 512));
}

PathFacts collect_facts(Family family, uint32_t floor, uint32_t max_size,
                        std::span<const ProbeResult> results,
                        const std::array<std::array<SearchSummary, variant_count>, mode_count>& searches,
                        const CaptureFacts& capture) {
    PathFacts f;
    f.family = family;
    f.floor = floor;
    f.max_size = max_size;
    f.search = searches;
    f.capture = capture;
    std::set<std::pair<Mode, uint32_t>> plain_ok;
    for (const ProbeResult& r : results) {
        const ProbeRequest& q = r.request;
        const bool ok = r.outcome == Outcome::answered;
        if (q.kind == ProbeKind::search && q.variant == Variant::plain && ok)
            plain_ok.emplace(q.mode, q.size);
    }
    for (const ProbeResult& r : results) {
        const ProbeRequest& q = r.request;
        const bool ok = r.outcome == Outcome::answered;
        switch (q.kind) {
        case ProbeKind::gate:
            if (q.mode == Mode::tcp) {
                f.gate_tcp = ok;
                if (!ok) f.tcp_failure = r.detail;
            } else {
                f.gate_udp = ok;
            }
            break;
        case ProbeKind::control:
            ++f.control_probes;
            f.control_attempts += r.attempts;
            f.control_attempts_lost += r.attempts_lost;
            if (!ok) ++f.controls_lost;
            break;
        case ProbeKind::forced:
            ++f.forced_sent;
            f.forced_mtu = q.frag_mtu;
            if (ok) ++f.forced_ok;
            break;
        case ProbeKind::search:
            if (ok && r.attempts > 1) ++f.retried_answers;
            if (ok && r.late) ++f.late_answers;
            if (q.mode == Mode::udp_fragmented) {
                if (!ok) {
                    ++f.frag_lost;
                    if (r.arrival.first_fragments) ++f.frag_lost_first_seen;
                    if (r.arrival.nonfirst_fragments) ++f.frag_lost_nonfirst_seen;
                    if (!r.arrival.first_fragments && !r.arrival.nonfirst_fragments &&
                        !r.arrival.whole_ip_len)
                        ++f.frag_lost_none_seen;
                } else if (r.arrival.first_fragments) {
                    ++f.frag_arrived_fragmented;
                    f.fragment_ip_max = std::max<uint32_t>(f.fragment_ip_max, r.arrival.max_fragment_ip_len);
                }
            }
            if (q.variant == Variant::dnssec && !ok && plain_ok.contains({q.mode, q.size})) {
                if (f.do_lost_plain_ok++ == 0) f.do_example_size = q.size;
            }
            break;
        case ProbeKind::truncation:
            ++f.trunc_probes;
            if (r.outcome == Outcome::bad_answer && !r.tc && r.rcode == 0 && r.answer_size == q.size)
                ++f.trunc_full;
            break;
        }
        if (ok && r.echo.valid) {
            ++f.echo_checked;
            if (!r.echo.edns) {
                ++f.echo_missing_opt;
            } else {
                if (r.echo.udp_size != q.edns_size) {
                    if (f.echo_size_changed++ == 0) {
                        f.echo_size_sent = q.edns_size;
                        f.echo_size_seen = r.echo.udp_size;
                    }
                }
                if (r.echo.do_bit != (q.variant == Variant::dnssec)) ++f.echo_do_changed;
                const uint16_t want_options = q.variant == Variant::options ? 3 : 0;
                if (r.echo.option_count != want_options) ++f.echo_options_changed;
            }
        }
    }
    return f;
}

const char* to_string(Mode m) noexcept {
    switch (m) {
    case Mode::udp_unfragmented: return "udp-unfragmented";
    case Mode::udp_fragmented: return "udp-fragmented";
    case Mode::tcp: return "tcp";
    }
    return "?";
}

const char* to_string(Variant v) noexcept {
    switch (v) {
    case Variant::plain: return "do0";
    case Variant::dnssec: return "do1";
    case Variant::options: return "options";
    }
    return "?";
}

const char* to_string(ProbeKind k) noexcept {
    switch (k) {
    case ProbeKind::gate: return "gate";
    case ProbeKind::search: return "search";
    case ProbeKind::control: return "control";
    case ProbeKind::forced: return "forced";
    case ProbeKind::truncation: return "truncation";
    }
    return "?";
}

const char* to_string(Outcome o) noexcept {
    switch (o) {
    case Outcome::answered: return "answered";
    case Outcome::truncated: return "truncated";
    case Outcome::lost: return "lost";
    case Outcome::refused: return "refused";
    case Outcome::bad_answer: return "bad-answer";
    }
    return "?";
}

}  // namespace frag53::probe
