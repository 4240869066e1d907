// DNS exchanges over real sockets: many at once, each retried with a new ID, a new source port
// and (for probe names) a new nonce, with timeouts from the measured RTT and a grace window for
// late answers. One thread, one poll() loop; the capture (if any) is drained in the same loop.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "prober/probe/timing.h"
#include "prober/probe/types.h"
#include "prober/query.h"

namespace frag53::probe {

class PathCapture;

struct Endpoint {
    sockaddr_storage addr{};
    socklen_t len = 0;
    Family family = Family::v4;
};

// Parses a v4 or v6 literal and a port; nullopt when `text` is not an address.
std::optional<Endpoint> parse_endpoint(const std::string& text, uint16_t port) noexcept;
std::string endpoint_address(const Endpoint& e);
// The local address the kernel picks to reach `e`, and the interface holding it (empty when
// none matches).
bool route_source(const Endpoint& e, Endpoint& self, std::string& interface_name);

struct Exchange {
    // In.
    bool tcp = false;
    std::string qname;                // used as is unless `spec` is set
    std::optional<ProbeSpec> spec;    // probe name: a fresh nonce per attempt under `zone`
    std::string zone;
    QueryOptions options;             // id is chosen per attempt
    uint8_t max_attempts = 0;         // 0: 1 + the policy's retries for the transport
    // Out.
    bool answered = false;
    bool refused = false;             // ICMP unreachable / TCP reset or refused
    bool late = false;                // answered after its attempt's timeout
    uint8_t attempts = 0;
    uint8_t attempts_lost = 0;
    uint32_t rtt_us = 0;
    std::vector<uint8_t> answer;      // the DNS message (without the TCP length)
    std::vector<uint16_t> ports;      // source port of every attempt (capture attribution)
    std::string qname_sent;           // of the answered (or last) attempt
    std::string detail;               // why not answered
};

class ExchangeRunner {
public:
    ExchangeRunner(Endpoint server, TimingPolicy timing, unsigned parallel, PathCapture* capture);

    // Runs all of `xs` to completion.
    void run(std::span<Exchange> xs);
    const RttEstimator& rtt() const noexcept { return rtt_; }
    uint64_t random64() { return rng_(); }

private:
    struct Slot;
    struct Attempt;
    unsigned max_attempts(const Exchange& x) const noexcept;
    bool start_attempt(Slot& s, uint64_t now_ns);
    void finish(Slot& s, uint64_t now_ns);
    bool on_udp_readable(Slot& s, Attempt& a, uint64_t now_ns);
    bool on_tcp_event(Slot& s, Attempt& a, short revents, uint64_t now_ns);
    bool accept_answer(Slot& s, Attempt& a, std::span<const uint8_t> msg, uint64_t now_ns);

    Endpoint server_;
    TimingPolicy timing_;
    unsigned parallel_;
    PathCapture* capture_;
    RttEstimator rtt_;
    std::mt19937_64 rng_;
    std::vector<uint8_t> rxbuf_;
};

}  // namespace frag53::probe
