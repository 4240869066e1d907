// What the probe engine asks a transport to do, and what comes back. Plain data: the engine
// (engine.h) and the verdicts (verdict.h) never touch sockets, so tests drive them with
// simulated paths.
#pragma once

#include <cstdint>
#include <string>

#include "prober/probe_name.h"

namespace frag53::probe {

enum class Family : uint8_t { v4, v6 };

// IP + UDP header bytes in front of a DNS message: what separates a DNS size from a packet size.
constexpr uint32_t ip_udp_overhead(Family f) noexcept { return f == Family::v4 ? 28 : 48; }
// The smallest MTU the family's links must carry (IPv6: RFC 8200; IPv4: the 576-byte datagram
// every host must accept, RFC 791 / 1122).
constexpr uint32_t minimum_mtu(Family f) noexcept { return f == Family::v4 ? 576 : 1280; }

// The three ways a DNS answer can travel.
enum class Mode : uint8_t {
    udp_unfragmented,  // `fd` answers: one IP packet or nothing
    udp_fragmented,    // `fk` answers: fragmented by the responder's kernel when needed
    tcp,
};
inline constexpr int mode_count = 3;
const char* to_string(Mode m) noexcept;

// What the query carries besides the question; each variant is searched on its own, so a filter
// that looks at EDNS flags or options shows as a different maximum.
enum class Variant : uint8_t {
    plain,    // EDNS, DO=0, no options
    dnssec,   // EDNS, DO=1
    options,  // EDNS, DO=0, NSID + client cookie + padding
};
inline constexpr int variant_count = 3;
const char* to_string(Variant v) noexcept;

enum class ProbeKind : uint8_t {
    gate,        // small answer, first of all: is there a responder at all
    search,      // one size of one (mode, variant) search
    control,     // small answer interleaved with the search: tells loss from size
    forced,      // `fp<mtu>` answer: fragments that fit the minimum MTU
    truncation,  // `th` answer bigger than the advertised size: the responder must set TC=1
};
const char* to_string(ProbeKind k) noexcept;

struct ProbeRequest {
    ProbeKind kind = ProbeKind::search;
    Mode mode = Mode::udp_unfragmented;
    Variant variant = Variant::plain;
    uint32_t size = 512;          // DNS size of the answer asked for
    FragMode frag = FragMode::dont_fragment;
    uint16_t frag_mtu = 0;        // FragMode::forced
    TruncMode trunc = TruncMode::ignore;
    uint16_t edns_size = 4096;    // advertised in the query
    uint8_t attempts = 0;         // attempts before giving up (0: the transport's default)
};

enum class Outcome : uint8_t {
    answered,   // the answer of the requested size arrived (TC as expected)
    truncated,  // TC=1 when the full answer was expected
    lost,       // no answer within the timeouts and the grace window
    refused,    // TCP connection refused or reset, or an ICMP error for the query
    bad_answer, // an answer that is not what was asked for (REFUSED, wrong size, malformed)
};
const char* to_string(Outcome o) noexcept;

// The EDNS the responder saw in the query, from its echo record (docs/probe.md).
struct EchoSeen {
    bool valid = false;   // an echo record was present and parsed
    bool edns = false;    // the query arrived with an OPT record
    uint16_t udp_size = 0;
    bool do_bit = false;
    uint16_t option_count = 0;
};

// What the capture saw of the answer's packets (all attempts of one probe).
struct ArrivalSeen {
    uint16_t first_fragments = 0;     // offset 0, MF set
    uint16_t nonfirst_fragments = 0;  // offset > 0
    uint16_t max_fragment_ip_len = 0; // largest fragment (IP length), either kind
    uint16_t whole_ip_len = 0;        // an unfragmented answer's IP length
};

struct ProbeResult {
    ProbeRequest request;
    Outcome outcome = Outcome::lost;
    uint8_t attempts = 0;        // queries sent (each with a new ID and source port)
    uint8_t attempts_lost = 0;   // attempts whose answer never came
    bool late = false;           // answered after its timeout, within the grace window
    uint32_t rtt_us = 0;         // of the attempt that was answered
    uint32_t answer_size = 0;    // DNS bytes received
    bool tc = false;
    uint16_t rcode = 0;
    EchoSeen echo;
    ArrivalSeen arrival;
    std::string qname;           // of the answered (or last) attempt
    std::string detail;          // why, in words, when not answered
};

}  // namespace frag53::probe
