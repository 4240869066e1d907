#include "analyzers/tc_fallback.h"

#include <bit>

namespace frag53 {

TcFallbackTracker::TcFallbackTracker(size_t capacity) : slots_(capacity ? capacity : 1) {
    const size_t buckets = std::bit_ceil(slots_.size() * 2);
    question_buckets_.assign(buckets, npos);
    pair_buckets_.assign(buckets, npos);
    mask_ = buckets - 1;
}

// At the head of its chain (chains are walked newest first).
void TcFallbackTracker::link(Buckets& buckets, size_t bucket, uint32_t s, Slots& slots,
                             uint32_t Slot::*next, uint32_t Slot::*prev) noexcept {
    uint32_t& head = buckets[bucket];
    slots[s].*next = head;
    slots[s].*prev = npos;
    if (head != npos) slots[head].*prev = s;
    head = s;
}

void TcFallbackTracker::unlink(Buckets& buckets, size_t bucket, uint32_t s, Slots& slots,
                               uint32_t Slot::*next, uint32_t Slot::*prev) noexcept {
    Slot& slot = slots[s];
    if (slot.*prev != npos) slots[slot.*prev].*next = slot.*next; else buckets[bucket] = slot.*next;
    if (slot.*next != npos) slots[slot.*next].*prev = slot.*prev;
    slot.*next = slot.*prev = npos;
}

void TcFallbackTracker::close(uint32_t s) noexcept {
    Slot& slot = slots_[s];
    if (!slot.w.active) return;
    slot.w.active = false;
    unlink(question_buckets_, slot.question_hash & mask_, s, slots_, &Slot::question_next, &Slot::question_prev);
    unlink(pair_buckets_, pair_hash(slot.w.client, slot.w.server) & mask_, s, slots_, &Slot::pair_next,
           &Slot::pair_prev);
}

void TcFallbackTracker::watch(const TcWatch& w) noexcept {
    if (count_ == slots_.size()) {
        // Full: the oldest watch gives way (counted); the retry it waited for goes unjudged.
        ++evictions_;
        close(slot_at(0));
        head_ = (head_ + 1) % slots_.size();
        --count_;
    }
    const uint32_t s = slot_at(count_);
    Slot& slot = slots_[s];
    slot.w = w;
    slot.w.active = true;
    slot.question_hash = question_hash(w.client, w.server, w.qname, w.qtype);
    link(question_buckets_, slot.question_hash & mask_, s, slots_, &Slot::question_next, &Slot::question_prev);
    link(pair_buckets_, pair_hash(w.client, w.server) & mask_, s, slots_, &Slot::pair_next, &Slot::pair_prev);
    ++count_;
}

bool TcFallbackTracker::tcp_question(const IpAddress& client, const IpAddress& server,
                                     const dns::Name& qname, uint16_t qtype, uint16_t qclass) noexcept {
    const uint64_t h = question_hash(client, server, qname, qtype);
    for (uint32_t s = question_buckets_[h & mask_]; s != npos; s = slots_[s].question_next) {
        const Slot& slot = slots_[s];
        const TcWatch& w = slot.w;
        if (slot.question_hash == h && w.client == client && w.server == server && w.qtype == qtype &&
            w.qclass == qclass && w.qname.equals_ignore_case(qname)) {
            close(s);
            trim();
            return true;
        }
    }
    return false;
}

void TcFallbackTracker::tcp_opened(const IpAddress& client, const IpAddress& server,
                                   uint16_t server_port, uint64_t conn_id, uint64_t frame) noexcept {
    // Chains hold the newest first; the oldest waiting watch takes the connection.
    TcWatch* oldest = nullptr;
    for (uint32_t s = pair_head(client, server); s != npos; s = slots_[s].pair_next) {
        TcWatch& w = slots_[s].w;
        if (w.tcp_conn == 0 && w.client == client && w.server == server && w.server_port == server_port)
            oldest = &w;
    }
    if (oldest != nullptr) {
        oldest->tcp_conn = conn_id;
        oldest->tcp_frame = frame;
    }
}

void TcFallbackTracker::trim() noexcept {
    while (count_ > 0 && !slots_[head_].w.active) {
        head_ = (head_ + 1) % slots_.size();
        --count_;
    }
}

}  // namespace frag53
