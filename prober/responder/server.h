// The sockets and event loop of `frag53 responder`: a thin layer over AnswerBuilder (answers),
// FragmentBuilder (fp<mtu> answers) and RateLimiter (UDP).
//
// One thread, one epoll set: a UDP socket and a TCP listener per listen address, the TCP
// connections, and a signalfd for SIGINT / SIGTERM. Every socket is non-blocking; nothing waits
// on a peer. UDP answers leave from the address and port the query was sent to (IP_PKTINFO /
// IPV6_RECVPKTINFO, so wildcard listen addresses work too).
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "prober/responder/answer.h"
#include "prober/responder/rate_limiter.h"

namespace frag53::probe {

struct ListenAddress {
    AddressFamily family = AddressFamily::ipv4;
    std::array<uint8_t, 16> addr{};  // IPv4 in the first 4 bytes
    uint16_t port = 53;

    std::string to_string() const;  // "198.18.0.1:53", "[2001:db8::1]:53"
};

// "ADDR", "ADDR:PORT", "[V6ADDR]", "[V6ADDR]:PORT" or a bare IPv6 address. nullopt when it is
// none of those or the port is not 1..65535.
std::optional<ListenAddress> parse_listen_address(std::string_view s, uint16_t default_port = 53);

struct ResponderOptions {
    AnswerConfig answer;
    std::vector<ListenAddress> listen;
    RateLimitConfig rate_limit;
    size_t max_tcp_clients = 100;
    uint32_t tcp_idle_timeout_ms = 10'000;
    size_t tcp_output_limit = 256 * 1024;  // answer bytes queued per connection before reading stops
    double max_runtime_s = 0;              // 0: until a signal
    bool quiet = false;                    // no line per query on stderr
};

struct ResponderCounters {
    uint64_t queries_udp = 0, queries_tcp = 0;
    uint64_t ignored = 0;  // shorter than a header, or QR=1: no answer
    uint64_t answers_fd = 0, answers_fk = 0, answers_fp = 0, answers_tcp = 0;
    uint64_t truncated = 0;  // TC=1 probe answers (UDP)
    uint64_t clamped = 0;    // answers of another size than asked (below the smallest / above the largest)
    uint64_t refused = 0, formerr = 0, notimp = 0, badvers = 0;
    uint64_t rate_limited = 0, slipped = 0, rate_limit_evictions = 0;
    uint64_t emsgsize = 0;     // fd answers bigger than the MTU, and fp fragments bigger than the link
    uint64_t send_errors = 0;  // other send failures (buffer full, unreachable ...)
    uint64_t raw_unavailable = 0;  // fp answers refused: no raw socket (not root)
    uint64_t tcp_connections = 0, tcp_rejected = 0, tcp_idle_closed = 0, tcp_errors = 0;
};

// One line of name=value pairs.
void print_counters(std::FILE* f, const ResponderCounters& c);

class Responder {
public:
    // Opens every socket (binding port 53 and opening raw sockets need root or capabilities:
    // construct before dropping privileges). Throws std::runtime_error on failure.
    explicit Responder(const ResponderOptions& opts);
    ~Responder();
    Responder(const Responder&) = delete;
    Responder& operator=(const Responder&) = delete;

    // Serves until SIGINT / SIGTERM or the maximum run time. Returns 0.
    int run();

    const ResponderCounters& counters() const noexcept;
    bool raw_available(AddressFamily f) const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace frag53::probe
