// The probe plan against a frag53 responder: gate, landmark round, k-section rounds, controls,
// forced-fragment and truncation probes, then facts and verdicts. Runs over a ProbeTransport, so
// the same plan drives sockets (socket_transport.h) and simulated paths in tests.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "prober/probe/types.h"
#include "prober/probe/verdict.h"

namespace frag53::probe {

class ProbeTransport {
public:
    virtual ~ProbeTransport() = default;
    // Runs every request (in parallel, retrying lost ones) and returns one result per request,
    // in the same order. Returns once each is answered or given up.
    virtual std::vector<ProbeResult> run(std::span<const ProbeRequest> batch) = 0;
    // What the capture saw over the whole run (disabled: CaptureFacts{}).
    virtual CaptureFacts capture_facts() const = 0;
};

struct EngineConfig {
    Family family = Family::v4;
    uint32_t max_size = 4096;   // ceiling of every search
    uint32_t floor = 256;       // smallest size searched (the responder's echo needs room)
    unsigned parallel = 16;     // sizes per round spread over the unfinished searches
    uint16_t edns_size = 4096;  // advertised in every probe (answers use `ti`: not binding)
    uint32_t gate_size = 256;   // DNS size of the gate and control answers
    unsigned max_rounds = 24;   // bound on k-section rounds
    // One control per this many search probes in a round (at least one per round).
    unsigned control_every = 8;
    // On a path that loses 20 % of packets each way an attempt fails 36 % of the time: five tries
    // all failed once in 170 runs, eight once in 3,500. A dead path is called after 21 s (timeouts
    // of 1, 2 and then 3 s) instead of 12 s.
    unsigned gate_udp_attempts = 8;
    // After the searches, when any search probe was lost: this many more controls at once, so a
    // randomly lossy path that happened to spare the interleaved controls is still called lossy
    // instead of giving size verdicts built on random losses.
    unsigned confirm_controls = 16;
};

struct EngineReport {
    bool gate_failed = false;
    std::string gate_failure;   // why, in words
    std::vector<ProbeResult> log;  // every probe in the order sent
    PathFacts facts;
    std::vector<Verdict> verdicts;
    unsigned rounds = 0;
};

// The fragment MTU of the `fp` probes: the family's minimum (fragments every path must carry).
constexpr uint16_t forced_fragment_mtu(Family f) noexcept { return f == Family::v4 ? 576 : 1280; }

EngineReport run_engine(ProbeTransport& transport, const EngineConfig& config);

}  // namespace frag53::probe
