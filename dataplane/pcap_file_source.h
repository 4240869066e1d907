// Offline capture source: pcap and pcapng files, read in order.
//
// libpcap opens every file: it checks the file header, names the link type and compiles the
// filter, and it reads pcapng, standard input ("-") and anything unusual, copying each packet into
// a buffer per burst slot. A regular classic pcap file (magic 0xa1b2c3d4 or 0xa1b23c4d, either
// byte order) is instead read ahead in chunks by a PcapChunkFeed, on a thread of its own, and
// parsed in place by PcapRecordReader, which gives the same records and the same errors as
// libpcap: its views point into the chunks, so the kernel's copy into a chunk is the only one
// (libpcap adds stdio's and the per-packet one). A burst's views stay valid until the next
// receive(), also when the burst runs across chunks and from one file into the next: no chunk is
// released before then. Sources that read the same files (the replay workers of `analyze -j N`)
// share one PcapFeedGroup, and so one copy of each chunk.
//
// The files are read rather than mapped. Mapped, a 412 MB capture took 1.0 s of CPU against
// 0.68 s through libpcap on a virtual machine that shadows page tables: there the first touch of
// every 4 KiB page costs more than copying it. Read, a file that shrinks while it is read looks
// cut short, as it would to libpcap, where a mapping would fault (SIGBUS); one that grows is read
// up to where the reads first find its end.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/capture_source.h"
#include "dataplane/pcap_chunk_feed.h"

namespace frag53 {

// Something that went wrong with one input file. Packets read before the damage were delivered.
struct SourceError {
    std::string file;
    uint64_t packets_read = 0;  // packets delivered from this file before the error
    std::string message;        // what happened, for the operator
    bool file_skipped = false;  // nothing was read from it (unreadable, unknown link type, filter)
};

class PcapFileSource final : public CaptureSource {
public:
    // bpf_filter may be empty. Nothing is opened until the first receive(). `feeds`: shared with
    // the other sources that read the same files, in the same order, with the same filter; by
    // default the source has feeds of its own.
    explicit PcapFileSource(std::vector<std::string> files, std::string bpf_filter = {},
                            std::shared_ptr<PcapFeedGroup> feeds = nullptr);
    ~PcapFileSource() override;
    PcapFileSource(const PcapFileSource&) = delete;
    PcapFileSource& operator=(const PcapFileSource&) = delete;

    size_t receive(std::span<PacketView> out) override;
    void release(std::span<const PacketView> views) noexcept override;

    const std::vector<SourceError>& errors() const noexcept { return errors_; }
    uint64_t packets() const noexcept { return packets_; }
    uint64_t bytes() const noexcept { return bytes_; }  // captured bytes delivered
    size_t files_read() const noexcept { return files_read_; }
    // Of the files opened, those read in place rather than through libpcap.
    size_t files_read_in_place() const noexcept { return files_read_in_place_; }

private:
    struct Impl;
    bool open_next() noexcept;
    size_t read_in_place(std::span<PacketView> out, size_t n);
    size_t read_copied(std::span<PacketView> out, size_t n);
    // `shard`: the share the feed worked out (PacketView::shard), or no_shard.
    void deliver(PacketView& view, Bytes data, uint32_t wire_len, uint64_t ts_ns, uint64_t frame,
                 uint32_t shard = PacketView::no_shard) noexcept;
    void report_damage(const std::string& what);
    void close_file();

    std::vector<std::string> files_;
    std::string filter_;
    std::shared_ptr<PcapFeedGroup> feeds_;
    size_t next_file_ = 0;
    std::unique_ptr<Impl> impl_;
    std::vector<SourceError> errors_;
    uint64_t packets_ = 0;
    uint64_t bytes_ = 0;
    size_t files_read_ = 0;
    size_t files_read_in_place_ = 0;
};

}  // namespace frag53
