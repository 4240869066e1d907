#include "dataplane/pcap_shard.h"

#include <algorithm>
#include <utility>

#include "dataplane/decode.h"

namespace frag53 {

PcapShard::PcapShard(std::vector<std::string> files, std::string bpf_filter, uint32_t index, uint32_t count,
                     std::shared_ptr<PcapFeedGroup> feeds)
    : index_(index),
      count_(count == 0 ? 1 : count),
      feed_shares_(feeds == nullptr || feeds->shards() == count_),
      // Read alone, the shard's own feeds work the shares out for it.
      source_(std::move(files), std::move(bpf_filter),
              feeds ? std::move(feeds) : std::make_shared<PcapFeedGroup>(1, count_)) {}

uint32_t PcapShard::shard_of(const PacketView& p, uint32_t count) noexcept {
    return pair_shard(p, count);
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
        // The feed worked the share out when it cut the chunk (for this many shards).
        const uint32_t shard =
            feed_shares_ && p.shard != PacketView::no_shard ? p.shard : shard_of(p, count_);
        mine[n] = shard == index_;
        ++n;
        ++pos_;
    }
    if (n == 0 && ended_) why = Stop::end;
    return n;
}

}  // namespace frag53
