// Query/response matching: a bounded table of pending queries, expired by packet time.
//
// Entries live in a fixed pool (sized once from the configured cap, never from packet counts);
// an open-addressing index finds them by flow and id, and an intrusive list keeps them in order
// of last transmission so timeouts and evictions always take the oldest first.
#pragma once

#include <cstdint>
#include <vector>

#include "analyzers/dns/message.h"
#include "analyzers/findings.h"
#include "dataplane/ip_address.h"
#include "dataplane/big_table.h"

namespace frag53 {

struct TransactionKey {
    IpAddress client, server;
    uint16_t client_port = 0, server_port = 0;
    uint16_t id = 0;
    MessageTransport transport = MessageTransport::udp;

    bool operator==(const TransactionKey&) const noexcept = default;
    uint64_t hash() const noexcept;
};

struct PendingQuery {
    TransactionKey key;
    bool has_question = false;
    dns::Name qname;
    uint16_t qtype = 0, qclass = 0;
    uint64_t question_hash = 0;  // question_hash(client, qname, qtype): UDP, records kept
    uint64_t first_ts = 0, last_ts = 0;
    uint64_t first_frame = 0, last_frame = 0;
    uint32_t retransmissions = 0;
    uint32_t size = 0;  // DNS message size of the query
    bool edns = false;
    bool do_bit = false;
    bool cd = false;
    uint8_t edns_version = 0;
    uint16_t udp_size = 0;  // advertised EDNS UDP size as sent
    bool complete = true;   // false when the capture cut the query (its OPT may be lost)
    uint64_t response_fragment_frame = 0;  // first fragment of its response seen, not completed
    bool tc_retry = false;  // a TCP query retrying a truncated UDP answer

    // Table bookkeeping.
    uint64_t hash = 0;
    uint32_t prev = UINT32_MAX, next = UINT32_MAX;
    bool in_use = false;
};

class TransactionTable {
public:
    static constexpr uint32_t npos = UINT32_MAX;

    explicit TransactionTable(size_t max_pending);

    // The pending query for this flow and id whose question matches; with no question given
    // (a response with QDCOUNT 0) the oldest pending query of the flow and id.
    PendingQuery* find(const TransactionKey& key, const dns::Name* qname, uint16_t qtype,
                       uint16_t qclass) noexcept;

    // A fresh entry at the tail; when the table is full the oldest entry is evicted (counted)
    // and, if `evicted` is given, copied there first so the caller can account for it.
    PendingQuery& insert(const TransactionKey& key, uint64_t ts, PendingQuery* evicted = nullptr) noexcept;

    // A retransmission: moves the entry to the tail with a new last transmission time.
    void touch(PendingQuery& q, uint64_t ts, uint64_t frame) noexcept;

    void erase(PendingQuery& q) noexcept;

    // Whether expire(now, timeout) has anything to do: its loop test, also asked once per packet.
    bool due(uint64_t now, uint64_t timeout) const noexcept {
        return head_ != npos && pool_[head_].last_ts + timeout <= now;
    }

    // Hands every entry whose last transmission is at least `timeout` before `now` to fn,
    // oldest first, and removes it.
    template <class Fn>
    void expire(uint64_t now, uint64_t timeout, Fn&& fn) {
        while (due(now, timeout)) {
            PendingQuery& q = pool_[head_];
            fn(static_cast<const PendingQuery&>(q));
            erase(q);
        }
    }

    // Hands every remaining entry to fn, oldest first, and empties the table.
    template <class Fn>
    void drain(Fn&& fn) {
        while (head_ != npos) {
            PendingQuery& q = pool_[head_];
            fn(static_cast<const PendingQuery&>(q));
            erase(q);
        }
    }

    size_t size() const noexcept { return size_; }
    size_t capacity() const noexcept { return capacity_; }
    uint64_t evictions() const noexcept { return evictions_; }
    size_t high_water() const noexcept { return high_water_; }

private:
    // An index slot: the pool index in the low half, the low 32 bits of the key's hash in the
    // high half, so probes compare hashes without touching the pool; all ones is empty.
    static constexpr uint64_t empty_slot = ~uint64_t{0};
    static uint64_t slot_value(uint32_t idx, uint64_t hash) noexcept { return (hash << 32) | idx; }
    static uint32_t slot_index(uint64_t v) noexcept { return static_cast<uint32_t>(v); }
    static uint32_t slot_hash(uint64_t v) noexcept { return static_cast<uint32_t>(v >> 32); }
    size_t slot_of(uint32_t idx) const noexcept;
    void place(uint32_t idx, uint64_t hash) noexcept;
    void grow_index();
    void unlink(uint32_t idx) noexcept;
    void link_tail(uint32_t idx) noexcept;

    std::vector<PendingQuery, BigTableAllocator<PendingQuery>> pool_;  // capacity_ reserved; grows to the most ever pending
    size_t capacity_ = 0;
    std::vector<uint32_t> free_;   // erased pool indices (stack)
    // Open addressing, at most half full. It starts small and doubles as more queries are
    // pending at once, up to twice max_pending: a table that is mostly empty stays a few cache
    // lines wide instead of spreading a handful of entries over megabytes.
    std::vector<uint64_t, BigTableAllocator<uint64_t>> index_;
    size_t mask_ = 0;
    size_t max_slots_ = 0;
    uint32_t head_ = npos, tail_ = npos;
    size_t size_ = 0;
    size_t high_water_ = 0;
    uint64_t evictions_ = 0;
};

}  // namespace frag53
