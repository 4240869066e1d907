#include "prober/probe/engine.h"

#include <algorithm>
#include <array>
#include <memory>

#include "prober/probe/size_search.h"

namespace frag53::probe {

namespace {

struct Search {
    Mode mode;
    Variant variant;
    SizeSearch sizes;
};

ProbeRequest small_request(const EngineConfig& c, ProbeKind kind, Mode mode) {
    ProbeRequest r;
    r.kind = kind;
    r.mode = mode;
    r.variant = Variant::plain;
    r.size = c.gate_size;
    r.frag = FragMode::dont_fragment;
    r.trunc = TruncMode::ignore;
    r.edns_size = c.edns_size;
    return r;
}

ProbeRequest search_request(const EngineConfig& c, Mode mode, Variant variant, uint32_t size) {
    ProbeRequest r;
    r.kind = ProbeKind::search;
    r.mode = mode;
    r.variant = variant;
    r.size = size;
    r.frag = mode == Mode::udp_fragmented ? FragMode::kernel : FragMode::dont_fragment;
    r.trunc = TruncMode::ignore;
    r.edns_size = c.edns_size;
    return r;
}

// Appends `probes` to `batch` with a control before every `every`-th one (and at least one).
void interleave_controls(const EngineConfig& c, std::vector<ProbeRequest>& batch,
                         const std::vector<ProbeRequest>& probes) {
    const unsigned every = std::max(1u, c.control_every);
    for (size_t i = 0; i < probes.size(); ++i) {
        if (i % every == 0) batch.push_back(small_request(c, ProbeKind::control, Mode::udp_unfragmented));
        batch.push_back(probes[i]);
    }
    if (probes.empty()) batch.push_back(small_request(c, ProbeKind::control, Mode::udp_unfragmented));
}

}  // namespace

EngineReport run_engine(ProbeTransport& transport, const EngineConfig& config) {
    EngineReport rep;
    const EngineConfig& c = config;

    // Gate: a small answer over UDP and over TCP.
    std::array<ProbeRequest, 2> gate{small_request(c, ProbeKind::gate, Mode::udp_unfragmented),
                                     small_request(c, ProbeKind::gate, Mode::tcp)};
    // Nothing else runs if the gate fails: it gets more tries than a search probe, so a
    // lossy path still reaches the controls that will call it lossy.
    gate[0].attempts = static_cast<uint8_t>(std::clamp(c.gate_udp_attempts, 1u, 20u));
    std::vector<ProbeResult> gate_results = transport.run(gate);
    rep.log.insert(rep.log.end(), gate_results.begin(), gate_results.end());
    const bool udp_ok = gate_results.size() == 2 && gate_results[0].outcome == Outcome::answered;
    const bool tcp_ok = gate_results.size() == 2 && gate_results[1].outcome == Outcome::answered;
    if (!udp_ok) {
        rep.gate_failed = true;
        rep.gate_failure = "no answer to a " + std::to_string(c.gate_size) +
                           "-byte probe over UDP" +
                           (gate_results.empty() || gate_results[0].detail.empty()
                                ? std::string()
                                : " (" + gate_results[0].detail + ")") +
                           (tcp_ok ? "; TCP works" : "; nor over TCP");
        rep.facts = collect_facts(c.family, c.floor, c.max_size, rep.log, {}, transport.capture_facts());
        return rep;
    }

    std::vector<Search> searches;
    for (Mode m : {Mode::udp_unfragmented, Mode::udp_fragmented, Mode::tcp}) {
        if (m == Mode::tcp && !tcp_ok) continue;
        for (Variant v : {Variant::plain, Variant::dnssec, Variant::options})
            searches.push_back({m, v, SizeSearch(c.floor, c.max_size, true)});
    }

    for (unsigned round = 0; round <= c.max_rounds; ++round) {
        size_t active = 0;
        for (const Search& s : searches) active += !s.sizes.done();
        if (active == 0) break;
        const unsigned budget = std::max<unsigned>(1, c.parallel / static_cast<unsigned>(active));
        std::vector<ProbeRequest> probes;
        for (Search& s : searches) {
            if (s.sizes.done()) continue;
            for (uint32_t size : s.sizes.next_round(budget))
                probes.push_back(search_request(c, s.mode, s.variant, size));
        }
        if (round == 0) {
            // Fragments no larger than the family's minimum MTU: tells "fragments are dropped"
            // from "packets above some size are dropped" when the kernel-fragmented ones vanish.
            for (uint32_t size : {std::min<uint32_t>(2048, c.max_size), c.max_size}) {
                if (size <= forced_fragment_mtu(c.family)) continue;
                ProbeRequest r = search_request(c, Mode::udp_fragmented, Variant::plain, size);
                r.kind = ProbeKind::forced;
                r.frag = FragMode::forced;
                r.frag_mtu = forced_fragment_mtu(c.family);
                probes.push_back(r);
                if (size == c.max_size) break;
            }
            // An answer bigger than a small advertised size with `th`: the responder must answer
            // TC=1, so the advertised size it saw is the one sent.
            ProbeRequest t = small_request(c, ProbeKind::truncation, Mode::udp_unfragmented);
            t.trunc = TruncMode::honour;
            t.edns_size = 1232;
            t.size = 2048;
            probes.push_back(t);
        }
        if (probes.empty()) break;
        std::vector<ProbeRequest> batch;
        interleave_controls(c, batch, probes);
        std::vector<ProbeResult> results = transport.run(batch);
        ++rep.rounds;
        for (const ProbeResult& r : results) {
            if (r.request.kind != ProbeKind::search) continue;
            for (Search& s : searches) {
                if (s.mode == r.request.mode && s.variant == r.request.variant) {
                    s.sizes.record(r.request.size, r.outcome == Outcome::answered);
                    break;
                }
            }
        }
        rep.log.insert(rep.log.end(), results.begin(), results.end());
    }

    // Losses among the search probes mean something about sizes only on a path that does not
    // lose small answers as well: one more round of controls before judging. (20 % random loss
    // spares all but one of a run's interleaved control attempts a few times in a hundred; it
    // spares 16 more only a few times in a thousand.)
    const bool search_lost = std::any_of(rep.log.begin(), rep.log.end(), [](const ProbeResult& r) {
        return r.request.kind == ProbeKind::search && r.outcome != Outcome::answered;
    });
    if (search_lost && c.confirm_controls > 0) {
        std::vector<ProbeRequest> batch(c.confirm_controls,
                                        small_request(c, ProbeKind::control, Mode::udp_unfragmented));
        std::vector<ProbeResult> results = transport.run(batch);
        ++rep.rounds;
        rep.log.insert(rep.log.end(), results.begin(), results.end());
    }

    std::array<std::array<SearchSummary, variant_count>, mode_count> summaries{};
    for (const Search& s : searches) {
        SearchSummary& out = summaries[static_cast<int>(s.mode)][static_cast<int>(s.variant)];
        out.ran = true;
        out.max_passed = s.sizes.max_passed();
        out.min_failed = s.sizes.min_failed();
        out.exact = s.sizes.exact();
        out.inconsistencies = s.sizes.inconsistencies();
        out.probes = static_cast<uint32_t>(s.sizes.tested().size());
    }
    rep.facts = collect_facts(c.family, c.floor, c.max_size, rep.log, summaries, transport.capture_facts());
    rep.verdicts = derive_verdicts(rep.facts);
    return rep;
}

}  // namespace frag53::probe
