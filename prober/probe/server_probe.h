// Probing without a frag53 responder: the server's own large answers (DNSKEY with DO, an
// NXDOMAIN with its NSEC/NSEC3 proof), each over UDP with a large and a 1232-byte EDNS size and
// over TCP, and which of them fit the path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "prober/probe/exchange.h"
#include "prober/probe/report.h"
#include "prober/probe/verdict.h"

namespace frag53::probe {

class PathCapture;

struct ServerProbeConfig {
    std::string name;  // the zone whose DNSKEY / NXDOMAIN proof is asked for
    Family family = Family::v4;
    uint16_t large_edns = 4096;
};

enum class UdpFate : uint8_t {
    full,       // the whole answer arrived over UDP
    truncated,  // TC=1: the client must retry over TCP
    lost,       // nothing usable arrived
};
const char* to_string(UdpFate f) noexcept;

struct UdpTry {
    uint16_t edns_size = 0;
    UdpFate fate = UdpFate::lost;
    uint32_t size = 0;  // DNS bytes received
    uint16_t rcode = 0;
    ArrivalSeen arrival;
    std::string detail;
};

struct ServerAnswer {
    std::string label;   // "DNSKEY example.net" / "NXDOMAIN proof"
    std::string qname;
    uint16_t qtype = 0;
    uint32_t tcp_size = 0;  // 0: TCP failed
    uint16_t rcode = 0;     // over TCP
    bool has_rrsig = false;
    std::vector<UdpTry> udp;
    // It reaches a client: the large-EDNS UDP answer arrives whole, or it is truncated and TCP
    // carries it.
    bool fits = false;
};

struct ServerProbeReport {
    bool gate_udp = false, gate_tcp = false;
    std::string gate_failure;
    std::vector<ServerAnswer> answers;
    std::vector<Verdict> verdicts;
    CaptureFacts capture;
};

// The verdicts from the answers (pure; tests call it directly).
std::vector<Verdict> server_verdicts(const ServerProbeReport& r, Family family);

ServerProbeReport run_server_probe(ExchangeRunner& runner, const ServerProbeConfig& c, PathCapture* capture);

std::string server_human_report(const ServerProbeReport& r, const RunInfo& info);
std::string server_json_report(const ServerProbeReport& r, const RunInfo& info);
// 0 every answer fits, 1 one does not, 2 the gate failed.
int server_exit_status(const ServerProbeReport& r) noexcept;

}  // namespace frag53::probe
