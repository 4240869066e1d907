#include "dataplane/packet_ring.h"

#include <cstring>

namespace frag53 {

PacketRing::PacketRing(size_t bytes, size_t max_packets)
    : arena_(bytes ? bytes : 1), entries_(max_packets ? max_packets : 1) {}

void PacketRing::pop() noexcept {
    head_ = (head_ + 1) % entries_.size();
    --count_;
    ++evicted_;
}

void PacketRing::push(const PacketView& p) noexcept {
    const size_t n = p.data.size();
    if (n > arena_.size()) {
        ++too_big_;
        return;
    }
    if (count_ == entries_.size()) pop();
    // Packets lie contiguously in arena order; a packet that does not fit before the end starts
    // again at 0. Evict the oldest until [pos, pos + n) holds no packet still kept.
    size_t pos = write_;
    if (pos + n > arena_.size()) {
        // Wrapping: the packets between the write position and the end are the oldest ones and
        // go first, so the ring stays in arrival order.
        while (count_ > 0 && at(0).offset >= write_) pop();
        pos = 0;
    }
    // Now the oldest packet is the first one at or after pos: evict while it is in the way.
    while (count_ > 0) {
        const Entry& oldest = at(0);
        const size_t o_begin = oldest.offset, o_end = oldest.offset + oldest.view.data.size();
        if (!(o_begin < pos + n && pos < o_end)) break;
        pop();
    }
    std::memcpy(arena_.data() + pos, p.data.data(), n);
    Entry& e = entries_[(head_ + count_) % entries_.size()];
    e.view = p;
    e.view.data = Bytes{arena_.data() + pos, n};
    e.offset = pos;
    ++count_;
    write_ = pos + n;
}

bool PacketRing::find(uint64_t frame, PacketView& out) const noexcept {
    // Frames increase along the ring: binary search.
    size_t lo = 0, hi = count_;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (at(mid).view.frame < frame) lo = mid + 1; else hi = mid;
    }
    if (lo == count_ || at(lo).view.frame != frame) return false;
    out = at(lo).view;
    return true;
}

}  // namespace frag53
