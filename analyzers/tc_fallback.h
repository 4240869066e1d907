// Follows each truncated UDP answer (TC=1) to the client's TCP retry, so a retry that never
// happens or fails on the way (SYN unanswered, reset, no answer) is visible.
//
// A watch opens on a TC=1 response and closes when the client asks the same question over TCP
// (the TCP transaction then takes over), when a TCP connection to the same server ends without
// that question, or when the retry window passes with no TCP attempt. Bounded: the oldest watch
// gives way when the table is full, and that eviction is counted. Watches sit in a ring in
// arrival order (for timeouts) and are found through two hash chains: by question (a TCP query or
// answer) and by client/server pair (a new TCP connection), so no lookup walks the ring.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "analyzers/dns/message.h"
#include "dataplane/ip_address.h"
#include "dataplane/big_table.h"

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
    void tcp_closed(uint64_t conn_id, const IpAddress& client, const IpAddress& server, Fn&& fn) {
        for (uint32_t s = pair_head(client, server); s != npos;) {
            const uint32_t next = slots_[s].pair_next;
            TcWatch& w = slots_[s].w;
            if (w.active && w.tcp_conn == conn_id) {
                fn(static_cast<const TcWatch&>(w));
                close(s);
            }
            s = next;
        }
        trim();
    }

    // Whether expire(now, window) has anything to do, asked once per packet: the oldest watch's
    // window has passed, or it is resolved and waits to be dropped from the front.
    bool due(uint64_t now, uint64_t window) const noexcept {
        if (count_ == 0) return false;
        const TcWatch& w = slots_[head_].w;
        return !w.active || w.tc_ts + window <= now;
    }

    // Watches without any TCP attempt whose window has passed: fn(watch).
    template <class Fn>
    void expire(uint64_t now, uint64_t window, Fn&& fn) {
        for (size_t i = 0, n = count_; i < n; ++i) {
            const uint32_t s = slot_at(i);
            TcWatch& w = slots_[s].w;
            if (w.tc_ts + window > now) break;  // in time order: the rest is younger
            if (w.active && w.tcp_conn == 0) {
                fn(static_cast<const TcWatch&>(w));
                close(s);
            }
        }
        trim();
    }

    // End of input: every watch still open, with or without a TCP attempt under way.
    template <class Fn>
    void drain(Fn&& fn) {
        for (size_t i = 0; i < count_; ++i) {
            const uint32_t s = slot_at(i);
            if (slots_[s].w.active) {
                fn(static_cast<const TcWatch&>(slots_[s].w));
                close(s);
            }
        }
        head_ = count_ = 0;
    }

    size_t size() const noexcept { return count_; }
    uint64_t evictions() const noexcept { return evictions_; }

private:
    static constexpr uint32_t npos = UINT32_MAX;
    struct Slot {
        TcWatch w;
        uint64_t question_hash = 0;
        // Both chains are doubly linked: one client and one server can have thousands of
        // watches in one pair chain (a benchmark's truncated answers), and closing a watch must
        // not walk it.
        uint32_t question_next = npos, pair_next = npos;
        uint32_t question_prev = npos, pair_prev = npos;
    };
    uint32_t slot_at(size_t i) const noexcept { return static_cast<uint32_t>((head_ + i) % slots_.size()); }
    uint32_t pair_head(const IpAddress& client, const IpAddress& server) const noexcept {
        return pair_buckets_[pair_hash(client, server) & mask_];
    }
    static uint64_t pair_hash(const IpAddress& c, const IpAddress& s) noexcept { return c.hash() * 31 + s.hash(); }
    static uint64_t question_hash(const IpAddress& c, const IpAddress& s, const dns::Name& q, uint16_t t) noexcept {
        return pair_hash(c, s) ^ (q.hash_ignore_case() * 0x9E3779B97F4A7C15ull) ^ t;
    }
    void close(uint32_t s) noexcept;  // inactive and out of both chains
    using Buckets = std::vector<uint32_t, BigTableAllocator<uint32_t>>;
    using Slots = std::vector<Slot, BigTableAllocator<Slot>>;
    static void link(Buckets& buckets, size_t bucket, uint32_t s, Slots& slots,
                     uint32_t Slot::*next, uint32_t Slot::*prev) noexcept;
    static void unlink(Buckets& buckets, size_t bucket, uint32_t s, Slots& slots,
                       uint32_t Slot::*next, uint32_t Slot::*prev) noexcept;
    void trim() noexcept;  // drops resolved watches from the front

    Slots slots_;  // ring, in order of the TC=1 answers
    Buckets question_buckets_, pair_buckets_;
    size_t mask_ = 0;
    size_t head_ = 0, count_ = 0;
    uint64_t evictions_ = 0;
};

}  // namespace frag53
