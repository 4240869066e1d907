// The most recent packets, copied into a fixed arena and found again by frame number.
//
// Live capture cannot re-read its input, so the packets behind a finding (-w) must still be at
// hand when the finding is made, seconds later. The ring keeps as many recent packets as fit in
// its byte and count caps; older ones are overwritten and counted.
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/packet.h"

namespace frag53 {

class PacketRing {
public:
    PacketRing(size_t bytes, size_t max_packets);

    // Copies the packet in, evicting the oldest as needed. Frames must increase.
    void push(const PacketView& p) noexcept;
    // The packet with this frame number if it is still held; the view stays valid until the
    // next push().
    bool find(uint64_t frame, PacketView& out) const noexcept;

    size_t size() const noexcept { return count_; }
    uint64_t evicted() const noexcept { return evicted_; }
    uint64_t too_big() const noexcept { return too_big_; }

private:
    struct Entry {
        PacketView view;  // data points into arena_
        size_t offset = 0;
    };
    const Entry& at(size_t i) const noexcept { return entries_[(head_ + i) % entries_.size()]; }
    void pop() noexcept;

    std::vector<std::byte> arena_;
    std::vector<Entry> entries_;
    size_t head_ = 0, count_ = 0;
    size_t write_ = 0;  // next free byte in arena_
    uint64_t evicted_ = 0, too_big_ = 0;
};

}  // namespace frag53
