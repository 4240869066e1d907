// Follows each truncated UDP answer (TC=1) to the client's TCP retry, so a retry that never
// happens or fails on the way (SYN unanswered, reset, no answer) is visible.
//
// A watch opens on a TC=1 response and closes when the client asks the same question over TCP
// (the TCP transaction then takes over), when a TCP connection to the same server ends without
// that question, or when the retry window passes with no TCP attempt. Bounded: the oldest watch
// gives way when the table is full, and that eviction is counted.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "analyzers/dns/message.h"
#include "dataplane/ip_address.h"

namespace frag53 {

struct TcWatch {
    IpAddress client, server;
    uint16_t client_port = 0, server_port = 0;  // of the truncated UDP exchange
    uint16_t id = 0;
    dns::Name qname;
    uint16_t qtype = 0, qclass = 0;
    uint64_t tc_ts = 0;
    uint64_t query_frame = 0, tc_frame = 0;
    uint32_t response_size = 0;
    // The TCP attempt, once a connection from the client to the server opens.
    uint64_t tcp_conn = 0;  // connection id, 0 = none yet
    uint64_t tcp_frame = 0;
    bool active = false;
};

class TcFallbackTracker {
public:
    explicit TcFallbackTracker(size_t capacity);

    // A TC=1 answer: watch for the retry.
    void watch(const TcWatch& w) noexcept;

    // This question went over TCP between the client and the server (a query, or an answer when
    // the capture holds only that direction): the watch is resolved (true if one matched).
    bool tcp_question(const IpAddress& client, const IpAddress& server, const dns::Name& qname,
                   uint16_t qtype, uint16_t qclass) noexcept;

    // A TCP connection opened from client to server port: the oldest waiting watch for that
    // pair takes it as its retry attempt.
    void tcp_opened(const IpAddress& client, const IpAddress& server, uint16_t server_port,
                    uint64_t conn_id, uint64_t frame) noexcept;

    // A connection ended: its watch, if still open, failed. Calls fn(const TcWatch&).
    template <class Fn>
    void tcp_closed(uint64_t conn_id, Fn&& fn) {
        for (size_t i = 0, n = count_; i < n; ++i) {
            TcWatch& w = at(i);
            if (w.active && w.tcp_conn == conn_id) {
                fn(static_cast<const TcWatch&>(w));
                w.active = false;
            }
        }
        trim();
    }

    // Watches without any TCP attempt whose window has passed: fn(watch).
    template <class Fn>
    void expire(uint64_t now, uint64_t window, Fn&& fn) {
        for (size_t i = 0, n = count_; i < n; ++i) {
            TcWatch& w = at(i);
            if (w.tc_ts + window > now) break;  // in time order: the rest is younger
            if (w.active && w.tcp_conn == 0) {
                fn(static_cast<const TcWatch&>(w));
                w.active = false;
            }
        }
        trim();
    }

    // End of input: every watch still open, with or without a TCP attempt under way.
    template <class Fn>
    void drain(Fn&& fn) {
        for (size_t i = 0; i < count_; ++i)
            if (at(i).active) fn(static_cast<const TcWatch&>(at(i)));
        head_ = count_ = 0;
    }

    size_t size() const noexcept { return count_; }
    uint64_t evictions() const noexcept { return evictions_; }

private:
    TcWatch& at(size_t i) noexcept { return ring_[(head_ + i) % ring_.size()]; }
    void trim() noexcept;  // drops resolved watches from the front

    std::vector<TcWatch> ring_;  // in order of the TC=1 answers
    size_t head_ = 0, count_ = 0;
    uint64_t evictions_ = 0;
};

}  // namespace frag53
