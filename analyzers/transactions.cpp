#include "analyzers/transactions.h"

#include <algorithm>
#include <bit>
#include <new>
#include <type_traits>

namespace frag53 {

uint64_t TransactionKey::hash() const noexcept {
    uint64_t h = client.hash() * 31 + server.hash();
    h ^= (static_cast<uint64_t>(client_port) << 32) | (static_cast<uint64_t>(server_port) << 16) | id;
    h += static_cast<uint64_t>(transport);
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 32);
}

TransactionTable::TransactionTable(size_t max_pending) {
    if (max_pending == 0) max_pending = 1;
    if (max_pending > (1u << 26)) max_pending = 1u << 26;
    // Reserved, not constructed: entries are made as the table first fills, so a run that never
    // has many queries pending never touches (and page-faults in) the rest of the pool.
    pool_.reserve(max_pending);
    capacity_ = max_pending;
    free_.reserve(max_pending);
    // At most half full, so probe sequences stay short.
    max_slots_ = std::bit_ceil(max_pending * 2);
    const size_t slots = std::min<size_t>(max_slots_, 1024);
    index_.assign(slots, empty_slot);
    mask_ = slots - 1;
}

void TransactionTable::place(uint32_t idx, uint64_t hash) noexcept {
    size_t s = hash & mask_;
    while (index_[s] != empty_slot) s = (s + 1) & mask_;
    index_[s] = slot_value(idx, hash);
}

void TransactionTable::grow_index() {
    const size_t slots = index_.size() * 2;
    index_.assign(slots, empty_slot);
    mask_ = slots - 1;
    for (uint32_t i = head_; i != npos; i = pool_[i].next) place(i, pool_[i].hash);
}

PendingQuery* TransactionTable::find(const TransactionKey& key, const dns::Name* qname,
                                     uint16_t qtype, uint16_t qclass) noexcept {
    const uint64_t h = key.hash();
    PendingQuery* best = nullptr;
    const auto tag = static_cast<uint32_t>(h);
    for (size_t s = h & mask_;; s = (s + 1) & mask_) {
        const uint64_t v = index_[s];
        if (v == empty_slot) break;
        if (slot_hash(v) != tag) continue;
        PendingQuery& q = pool_[slot_index(v)];
        if (q.hash != h || !(q.key == key)) continue;
        if (qname == nullptr) {
            if (best == nullptr || q.first_ts < best->first_ts) best = &q;
            continue;
        }
        if (q.has_question && q.qtype == qtype && q.qclass == qclass &&
            q.qname.equals_ignore_case(*qname))
            return &q;
    }
    return best;
}

PendingQuery& TransactionTable::insert(const TransactionKey& key, uint64_t ts,
                                       PendingQuery* evicted) noexcept {
    if (free_.empty() && pool_.size() == capacity_) {
        PendingQuery& oldest = pool_[head_];
        if (evicted != nullptr) *evicted = oldest;
        ++evictions_;
        erase(oldest);
    }
    uint32_t idx;
    if (!free_.empty()) {
        idx = free_.back();
        free_.pop_back();
        // A fresh entry in place, with its members' initializers only (a name's bytes past its
        // length are never read): assigning PendingQuery{} zeroed a 400-byte temporary and then
        // copied it, for every query.
        static_assert(std::is_trivially_destructible_v<PendingQuery>);
        ::new (static_cast<void*>(&pool_[idx])) PendingQuery;
    } else {
        idx = static_cast<uint32_t>(pool_.size());
        pool_.emplace_back();  // within the reservation: entries never move
    }
    PendingQuery& q = pool_[idx];
    q.key = key;
    q.hash = key.hash();
    q.first_ts = q.last_ts = ts;
    q.in_use = true;
    link_tail(idx);
    if ((size_ + 1) * 2 > index_.size() && index_.size() < max_slots_)
        grow_index();  // re-places every entry, this one included
    else
        place(idx, q.hash);
    if (++size_ > high_water_) high_water_ = size_;
    return q;
}

void TransactionTable::touch(PendingQuery& q, uint64_t ts, uint64_t frame) noexcept {
    auto idx = static_cast<uint32_t>(&q - pool_.data());
    q.last_ts = ts;
    q.last_frame = frame;
    ++q.retransmissions;
    unlink(idx);
    link_tail(idx);
}

size_t TransactionTable::slot_of(uint32_t idx) const noexcept {
    for (size_t s = pool_[idx].hash & mask_;; s = (s + 1) & mask_)
        if (index_[s] != empty_slot && slot_index(index_[s]) == idx) return s;
}

void TransactionTable::erase(PendingQuery& q) noexcept {
    auto idx = static_cast<uint32_t>(&q - pool_.data());
    if (!q.in_use) return;
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    size_t hole = slot_of(idx);
    index_[hole] = empty_slot;
    for (size_t s = (hole + 1) & mask_; index_[s] != empty_slot; s = (s + 1) & mask_) {
        const size_t home = slot_hash(index_[s]) & mask_;  // mask_ < 2^32: the low bits suffice
        // Move the entry into the hole unless its home lies cyclically in (hole, s].
        bool stays = hole <= s ? (home > hole && home <= s) : (home > hole || home <= s);
        if (!stays) {
            index_[hole] = index_[s];
            index_[s] = empty_slot;
            hole = s;
        }
    }
    unlink(idx);
    q.in_use = false;
    free_.push_back(idx);
    --size_;
}

void TransactionTable::unlink(uint32_t idx) noexcept {
    PendingQuery& q = pool_[idx];
    if (q.prev != npos) pool_[q.prev].next = q.next; else head_ = q.next;
    if (q.next != npos) pool_[q.next].prev = q.prev; else tail_ = q.prev;
    q.prev = q.next = npos;
}

void TransactionTable::link_tail(uint32_t idx) noexcept {
    PendingQuery& q = pool_[idx];
    q.prev = tail_;
    q.next = npos;
    if (tail_ != npos) pool_[tail_].next = idx; else head_ = idx;
    tail_ = idx;
}

}  // namespace frag53
