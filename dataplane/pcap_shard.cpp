#include "dataplane/pcap_shard.h"

#include <algorithm>
#include <utility>

#include "dataplane/decode.h"
#include "dataplane/ip_address.h"

namespace frag53 {

PcapShard::PcapShard(std::vector<std::string> files, std::string bpf_filter, uint32_t index, uint32_t count,
                     std::shared_ptr<PcapFeedGroup> feeds)
    : source_(std::move(files), std::move(bpf_filter), std::move(feeds)),
      index_(index),
      count_(count == 0 ? 1 : count) {}

uint32_t PcapShard::shard_of(const PacketView& p, uint32_t count) noexcept {
    if (count <= 1) return 0;
    IpAddress src, dst;
    if (!frame_addresses(p, src, dst)) return 0;
    return static_cast<uint32_t>(symmetric_pair_hash(src, dst) % count);
}

size_t PcapShard::next(std::span<PacketView> out, std::span<bool> mine, uint64_t max_frame,
                       Stop& why) noexcept {
    const size_t cap = std::min(out.size(), mine.size());
    size_t n = 0;
    why = Stop::full;
    while (n < cap) {
        if (pos_ == have_) {
            // The views given out so far point into the source's buffers until its next
            // receive(): they are analyzed first.
            if (n > 0 || ended_) break;
            have_ = source_.receive(burst_);
            pos_ = 0;
            if (have_ == 0) {
                ended_ = true;
                break;
            }
        }
        const PacketView& p = burst_[pos_];
        if (p.frame > max_frame) {
            why = Stop::ahead;
            return n;
        }
        out[n] = p;
        mine[n] = shard_of(p, count_) == index_;
        ++n;
        ++pos_;
    }
    if (n == 0 && ended_) why = Stop::end;
    return n;
}

}  // namespace frag53
