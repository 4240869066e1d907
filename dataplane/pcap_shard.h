// One worker's share of pcap/pcapng files that every worker of `frag53 analyze -j N` reads whole.
//
// A packet belongs to shard symmetric_pair_hash(src, dst) % count, the rule the dispatching
// reader and symmetric RSS use, so both directions of a flow and every fragment of a datagram
// land in one shard; a frame without IP addresses belongs to shard 0. Every shard reads the same
// frames in the same order with the same frame numbers, and gives out all of them, marking its
// own: the others only tell the worker what time it is.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/capture_source.h"
#include "dataplane/pcap_file_source.h"

namespace frag53 {

class PcapShard final : public ReplayShard {
public:
    // `feeds`: one group for the `count` shards, so the files are read once for all of them (the
    // shards must then be read at the same time); by default the shard reads them itself.
    PcapShard(std::vector<std::string> files, std::string bpf_filter, uint32_t index, uint32_t count,
              std::shared_ptr<PcapFeedGroup> feeds = nullptr);

    size_t next(std::span<PacketView> out, std::span<bool> mine, uint64_t max_frame,
                Stop& why) noexcept override;
    void release(std::span<const PacketView>) noexcept override {}

    // Errors are those of the files, the same for every shard.
    const std::vector<SourceError>& errors() const noexcept { return source_.errors(); }
    uint64_t packets_read() const noexcept { return source_.packets(); }

    // The shard a frame belongs to, out of `count`.
    static uint32_t shard_of(const PacketView& p, uint32_t count) noexcept;

private:
    uint32_t index_, count_;
    // The feeds work out the shares of `count_` shards (PacketView::shard is then to be trusted).
    bool feed_shares_;
    PcapFileSource source_;
    // The burst last received from the source: its views stay valid until the next receive(),
    // which happens only once every one of them was given out.
    std::array<PacketView, 64> burst_;
    size_t have_ = 0, pos_ = 0;
    bool ended_ = false;
};

}  // namespace frag53
