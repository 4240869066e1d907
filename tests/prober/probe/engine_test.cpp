// The probe plan and its verdicts on simulated paths (sim_path.h): every verdict code, the exact
// maximum sizes, and what the output makes of them.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <set>
#include <string>

#include "prober/probe/engine.h"
#include "prober/probe/report.h"
#include "tests/prober/probe/sim_path.h"

namespace frag53::probe {
namespace {

struct ProbeRun {
    EngineReport report;
    unsigned batches = 0;
};

ProbeRun probe(sim::PathConfig c, uint32_t max_size = 4096) {
    sim::PathTransport t(c);
    EngineConfig ec;
    ec.family = c.family;
    ec.max_size = max_size;
    ProbeRun r{run_engine(t, ec), t.batches()};
    return r;
}

std::set<std::string> codes(const EngineReport& r) {
    std::set<std::string> s;
    for (const Verdict& v : r.verdicts) s.insert(v.code);
    return s;
}

const Verdict* find(const EngineReport& r, const char* code) {
    for (const Verdict& v : r.verdicts)
        if (v.code == code) return &v;
    return nullptr;
}

uint32_t max_of(const EngineReport& r, Mode m, Variant v = Variant::plain) {
    return r.facts.of(m, v).max_passed;
}

TEST(ProbeEngine, CleanPathIpv4) {
    ProbeRun r = probe({});
    ASSERT_FALSE(r.report.gate_failed);
    EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::ok});
    EXPECT_EQ(max_of(r.report, Mode::udp_unfragmented), 1472u);  // 1500 - 20 - 8
    EXPECT_EQ(max_of(r.report, Mode::udp_fragmented), 4096u);
    EXPECT_EQ(max_of(r.report, Mode::tcp), 4096u);
    EXPECT_EQ(max_of(r.report, Mode::udp_unfragmented, Variant::dnssec), 1472u);
    EXPECT_EQ(max_of(r.report, Mode::udp_unfragmented, Variant::options), 1472u);
    EXPECT_TRUE(r.report.facts.of(Mode::udp_unfragmented, Variant::plain).exact);
    EXPECT_EQ(exit_status(r.report), 0);
    EXPECT_EQ(recommended_edns_bufsize(r.report.facts), 1232);
    // Landmarks, then k-section: a handful of rounds, not one per byte.
    EXPECT_LE(r.report.rounds, 6u);
}

TEST(ProbeEngine, CleanPathIpv6) {
    sim::PathConfig c;
    c.family = Family::v6;
    ProbeRun r = probe(c);
    EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::ok});
    EXPECT_EQ(max_of(r.report, Mode::udp_unfragmented), 1452u);  // 1500 - 40 - 8
    EXPECT_EQ(max_of(r.report, Mode::udp_fragmented), 4096u);
}

TEST(ProbeEngine, PmtuWithPacketTooBig) {
    for (Family fam : {Family::v4, Family::v6}) {
        sim::PathConfig c;
        c.family = fam;
        c.path_mtu = 1280;
        ProbeRun r = probe(c);
        EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::pmtu});
        const uint32_t want = fam == Family::v4 ? 1252 : 1232;
        EXPECT_EQ(max_of(r.report, Mode::udp_unfragmented), want);
        EXPECT_EQ(max_of(r.report, Mode::udp_fragmented), 4096u);
        const Verdict* v = find(r.report, verdict::pmtu);
        ASSERT_NE(v, nullptr);
        EXPECT_EQ(v->value, 1280u);
        EXPECT_EQ(measured_path_mtu(r.report.facts), 1280u);
        // Fragments after the PTB are cut at the learnt MTU and the capture saw them.
        EXPECT_GT(r.report.facts.frag_arrived_fragmented, 0u);
        EXPECT_LE(r.report.facts.fragment_ip_max, 1280u);
        EXPECT_GE(r.report.facts.fragment_ip_max, 1273u);
        EXPECT_NE(v->evidence.find("fragments of at most"), std::string::npos) << v->evidence;
        EXPECT_EQ(exit_status(r.report), 0);
        EXPECT_EQ(recommended_edns_bufsize(r.report.facts), fam == Family::v4 ? 1232 : 1232);
    }
}

TEST(ProbeEngine, PmtuBlackHole) {
    for (Family fam : {Family::v4, Family::v6}) {
        sim::PathConfig c;
        c.family = fam;
        c.path_mtu = 1280;
        c.ptb = false;
        ProbeRun r = probe(c);
        EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::pmtu_blackhole});
        const uint32_t want = fam == Family::v4 ? 1252 : 1232;
        EXPECT_EQ(max_of(r.report, Mode::udp_unfragmented), want);
        EXPECT_EQ(max_of(r.report, Mode::udp_fragmented), want);
        EXPECT_EQ(find(r.report, verdict::pmtu_blackhole)->value, want);
        EXPECT_EQ(r.report.facts.forced_ok, r.report.facts.forced_sent);
        EXPECT_EQ(exit_status(r.report), 1);
    }
}

TEST(ProbeEngine, AllFragmentsDropped) {
    sim::PathConfig c;
    c.drop_fragments = true;
    ProbeRun r = probe(c);
    EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::fragments_dropped});
    EXPECT_EQ(max_of(r.report, Mode::udp_unfragmented), 1472u);
    EXPECT_EQ(max_of(r.report, Mode::udp_fragmented), 1472u);
    EXPECT_GT(r.report.facts.frag_lost_none_seen, 0u);
    EXPECT_EQ(r.report.facts.forced_ok, 0u);
    EXPECT_EQ(exit_status(r.report), 1);
}

TEST(ProbeEngine, NonFirstFragmentsDropped) {
    sim::PathConfig c;
    c.family = Family::v6;
    c.drop_nonfirst = true;
    ProbeRun r = probe(c);
    EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::nonfirst_fragments_dropped});
    EXPECT_EQ(max_of(r.report, Mode::udp_fragmented), 1452u);
    EXPECT_GT(r.report.facts.frag_lost_first_seen, 0u);
    EXPECT_EQ(r.report.facts.frag_lost_nonfirst_seen, 0u);
}

TEST(ProbeEngine, NonFirstDropWithoutCaptureIsFragmentsDropped) {
    // Without the capture nobody saw the first fragment arrive: only "fragments are dropped".
    sim::PathConfig c;
    c.drop_nonfirst = true;
    c.capture = false;
    ProbeRun r = probe(c);
    EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::fragments_dropped});
    EXPECT_NE(find(r.report, verdict::fragments_dropped)->evidence.find("no capture"), std::string::npos);
}

TEST(ProbeEngine, SmallMtuAndFragmentsDropped) {
    sim::PathConfig c;
    c.family = Family::v6;
    c.path_mtu = 1280;
    c.drop_fragments = true;
    ProbeRun r = probe(c);
    EXPECT_EQ(codes(r.report), (std::set<std::string>{verdict::fragments_dropped, verdict::pmtu}));
    EXPECT_EQ(max_of(r.report, Mode::udp_unfragmented), 1232u);
    EXPECT_EQ(max_of(r.report, Mode::udp_fragmented), 1232u);
}

TEST(ProbeEngine, DnsSizeFilter) {
    for (Family fam : {Family::v4, Family::v6}) {
        for (bool capture : {true, false}) {
            sim::PathConfig c;
            c.family = fam;
            c.dns_filter = 512;
            c.capture = capture;
            ProbeRun r = probe(c);
            EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::dns_size_filter});
            EXPECT_EQ(max_of(r.report, Mode::udp_unfragmented), 512u);
            EXPECT_EQ(max_of(r.report, Mode::udp_fragmented), 512u);
            EXPECT_EQ(max_of(r.report, Mode::tcp), 4096u);
            EXPECT_EQ(find(r.report, verdict::dns_size_filter)->value, 512u);
            EXPECT_EQ(exit_status(r.report), 1);
            EXPECT_EQ(recommended_edns_bufsize(r.report.facts), 512);
        }
    }
}

TEST(ProbeEngine, DnsSizeFilterAboveMinimumMtuNeedsTheCapture) {
    // A filter at 1400 bytes over IPv4 looks like a 1428-byte MTU unless bigger packets are seen.
    sim::PathConfig c;
    c.dns_filter = 1400;
    ProbeRun r = probe(c);
    EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::dns_size_filter});
    EXPECT_EQ(max_of(r.report, Mode::udp_unfragmented), 1400u);
    EXPECT_GT(r.report.facts.capture.largest_ip_from_server, 1428u);
}

TEST(ProbeEngine, NothingAboveTheFloorIsNeverOk) {
    PathFacts f;
    f.gate_udp = f.gate_tcp = true;
    f.of(Mode::udp_unfragmented, Variant::plain) = {true, 0, 256, true, 0, 3};
    auto v = derive_verdicts(f);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].code, verdict::dns_size_filter);
}

TEST(ProbeEngine, TcpBlocked) {
    sim::PathConfig c;
    c.tcp_blocked = true;
    ProbeRun r = probe(c);
    EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::tcp_blocked});
    EXPECT_FALSE(r.report.facts.gate_tcp);
    EXPECT_FALSE(r.report.facts.of(Mode::tcp, Variant::plain).ran);
    EXPECT_EQ(max_of(r.report, Mode::udp_unfragmented), 1472u);
    EXPECT_EQ(exit_status(r.report), 1);
}

TEST(ProbeEngine, LossyPathGivesNoSizeVerdict) {
    sim::PathConfig c;
    c.lose_every = 4;
    c.drop_fragments = true;  // hidden behind the loss: no size verdict may be given
    ProbeRun r = probe(c);
    ASSERT_FALSE(r.report.gate_failed);
    EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::lossy});
    EXPECT_GT(r.report.facts.control_attempts_lost, 1u);
    EXPECT_EQ(exit_status(r.report), 3);
}

TEST(ProbeEngine, EdnsStripped) {
    sim::PathConfig c;
    c.strip_edns = true;
    ProbeRun r = probe(c);
    EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::edns_stripped});
    EXPECT_EQ(r.report.facts.echo_missing_opt, r.report.facts.echo_checked);
}

TEST(ProbeEngine, EdnsRewritten) {
    sim::PathConfig c;
    c.rewrite_edns_size = 1232;
    ProbeRun r = probe(c);
    EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::edns_rewritten});
    const Verdict* v = find(r.report, verdict::edns_rewritten);
    EXPECT_EQ(v->value, 1232u);
    EXPECT_NE(v->evidence.find("4096 arrived as 1232"), std::string::npos) << v->evidence;

    sim::PathConfig d;
    d.clear_do = true;
    ProbeRun r2 = probe(d);
    EXPECT_EQ(codes(r2.report), std::set<std::string>{verdict::edns_rewritten});
    EXPECT_GT(r2.report.facts.echo_do_changed, 0u);
}

TEST(ProbeEngine, TruncationNotHonouredMeansTheSizeGrew) {
    // The facts of a clean path plus a `th` probe that came back whole: the advertised 1232
    // must have been raised between prober and responder.
    ProbeRun r = probe({});
    ProbeResult t;
    t.request.kind = ProbeKind::truncation;
    t.request.trunc = TruncMode::honour;
    t.request.size = 2048;
    t.request.edns_size = 1232;
    t.outcome = Outcome::bad_answer;
    t.answer_size = 2048;
    t.attempts = 1;
    std::vector<ProbeResult> log = r.report.log;
    log.push_back(t);
    PathFacts f = collect_facts(Family::v4, 256, 4096, log, r.report.facts.search, r.report.facts.capture);
    EXPECT_EQ(f.trunc_full, 1u);
    auto v = derive_verdicts(f);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].code, verdict::edns_rewritten);
    // In the untouched run the `th` probe got its TC=1.
    EXPECT_EQ(r.report.facts.trunc_probes, 1u);
    EXPECT_EQ(r.report.facts.trunc_full, 0u);
}

// A path with random loss that happened to spare every interleaved control but cost the DO=1
// probes near the top of the unfragmented search all their attempts (as a lab run once did:
// "with DO=1 only answers of up to 1442 bytes arrive"): the confirmation controls after the
// searches see the loss, and the run is called lossy instead of DO-filtered.
class SparedControls final : public ProbeTransport {
public:
    explicit SparedControls(unsigned confirm_lost) : path_({}), confirm_lost_(confirm_lost) {}
    std::vector<ProbeResult> run(std::span<const ProbeRequest> batch) override {
        std::vector<ProbeResult> out = path_.run(batch);
        const bool confirmation = std::all_of(batch.begin(), batch.end(),
                                              [](const ProbeRequest& r) { return r.kind == ProbeKind::control; });
        unsigned lost = 0;
        for (ProbeResult& r : out) {
            const bool victim = (r.request.kind == ProbeKind::search && r.request.variant == Variant::dnssec &&
                                 r.request.mode == Mode::udp_unfragmented && r.request.size > 1442) ||
                                (confirmation && r.request.kind == ProbeKind::control && lost < confirm_lost_);
            if (!victim) continue;
            lost += r.request.kind == ProbeKind::control;
            r.outcome = Outcome::lost;
            r.attempts_lost = r.attempts;
        }
        return out;
    }
    CaptureFacts capture_facts() const override { return path_.capture_facts(); }

private:
    sim::PathTransport path_;
    unsigned confirm_lost_;
};

TEST(ProbeEngine, LossHiddenFromTheInterleavedControlsIsConfirmedBeforeSizeVerdicts) {
    EngineConfig ec;
    SparedControls lossy(5);
    EngineReport r = run_engine(lossy, ec);
    EXPECT_EQ(codes(r), std::set<std::string>{verdict::lossy});
    // Without the confirmation round the single lost DO=1 size reads as a DO filter: the round is
    // what makes the difference.
    ec.confirm_controls = 0;
    SparedControls unconfirmed(5);
    EXPECT_EQ(codes(run_engine(unconfirmed, ec)), std::set<std::string>{verdict::do_filtered});
    // On a path where the confirmation controls all come back, search losses keep their meaning.
    ec.confirm_controls = 16;
    SparedControls clean_controls(0);
    EngineReport c = run_engine(clean_controls, ec);
    EXPECT_EQ(codes(c), std::set<std::string>{verdict::do_filtered});
    EXPECT_GE(c.facts.control_probes, 16u);
}

TEST(ProbeEngine, DoFiltered) {
    sim::PathConfig c;
    c.drop_do = true;
    ProbeRun r = probe(c);
    EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::do_filtered});
    EXPECT_EQ(max_of(r.report, Mode::udp_unfragmented, Variant::dnssec), 0u);
    EXPECT_EQ(max_of(r.report, Mode::udp_unfragmented, Variant::plain), 1472u);
    // The controls (DO=0) all came back: the DO=1 losses are not loss.
    EXPECT_EQ(r.report.facts.controls_lost, 0u);
}

TEST(ProbeEngine, GateFailureStops) {
    sim::PathConfig c;
    c.lose_every = 1;  // nothing gets through
    ProbeRun r = probe(c);
    EXPECT_TRUE(r.report.gate_failed);
    EXPECT_TRUE(r.report.verdicts.empty());
    EXPECT_EQ(r.batches, 1u);  // nothing after the gate
    EXPECT_EQ(exit_status(r.report), 2);
    EXPECT_NE(r.report.gate_failure.find("UDP"), std::string::npos);
}

TEST(ProbeEngine, SmallerCeiling) {
    ProbeRun r = probe({}, 2000);
    EXPECT_EQ(max_of(r.report, Mode::udp_fragmented), 2000u);
    EXPECT_EQ(max_of(r.report, Mode::udp_unfragmented), 1472u);
    EXPECT_EQ(codes(r.report), std::set<std::string>{verdict::ok});
}

TEST(ProbeReport, JsonCarriesTheContract) {
    sim::PathConfig c;
    c.family = Family::v6;
    c.path_mtu = 1280;
    ProbeRun r = probe(c);
    RunInfo info;
    info.target = "2001:db8::1";
    info.zone = "probe.test";
    const std::string json = json_report(r.report, info);
    rapidjson::Document d;
    ASSERT_FALSE(d.Parse(json.c_str()).HasParseError()) << json.substr(0, 400);
    ASSERT_TRUE(d["verdicts"].IsArray());
    ASSERT_EQ(d["verdicts"].Size(), 1u);
    EXPECT_STREQ(d["verdicts"][0].GetString(), "path.pmtu");
    EXPECT_EQ(d["max_udp_unfragmented"].GetUint(), 1232u);
    EXPECT_EQ(d["max_udp_fragmented"].GetUint(), 4096u);
    EXPECT_TRUE(d["tcp_ok"].GetBool());
    EXPECT_EQ(d["recommended_edns_bufsize"].GetUint(), 1232u);
    EXPECT_EQ(d["path_mtu"].GetUint(), 1280u);
    EXPECT_EQ(d["probes"].Size(), r.report.log.size());
    EXPECT_TRUE(d["recommended"].HasMember("bind"));
    EXPECT_TRUE(d["recommended"].HasMember("unbound"));
    EXPECT_TRUE(d["recommended"].HasMember("knot"));
    EXPECT_TRUE(d["recommended"].HasMember("powerdns"));
    const std::string human = human_report(r.report, info);
    EXPECT_NE(human.find("path.pmtu"), std::string::npos);
    EXPECT_NE(human.find("edns-udp-size 1232"), std::string::npos);
}

TEST(ProbeReport, ConfigLines) {
    const auto lines = config_lines(1400);
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[0].line, "options { edns-udp-size 1400; max-udp-size 1400; };");
    EXPECT_NE(lines[1].line.find("edns-buffer-size: 1400"), std::string::npos);
    EXPECT_NE(lines[2].line.find("udp-max-payload: 1400"), std::string::npos);
    EXPECT_NE(lines[3].line.find("udp-truncation-threshold=1400"), std::string::npos);
}

}  // namespace
}  // namespace frag53::probe
