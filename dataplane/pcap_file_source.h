// Offline capture source: pcap and pcapng files through libpcap, read in order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/capture_source.h"

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
    // bpf_filter may be empty. Nothing is opened until the first receive().
    explicit PcapFileSource(std::vector<std::string> files, std::string bpf_filter = {});
    ~PcapFileSource() override;
    PcapFileSource(const PcapFileSource&) = delete;
    PcapFileSource& operator=(const PcapFileSource&) = delete;

    size_t receive(std::span<PacketView> out) override;
    void release(std::span<const PacketView> views) noexcept override;

    const std::vector<SourceError>& errors() const noexcept { return errors_; }
    uint64_t packets() const noexcept { return packets_; }
    uint64_t bytes() const noexcept { return bytes_; }  // captured bytes delivered
    size_t files_read() const noexcept { return files_read_; }

private:
    struct Impl;
    bool open_next() noexcept;

    std::vector<std::string> files_;
    std::string filter_;
    size_t next_file_ = 0;
    std::unique_ptr<Impl> impl_;
    std::vector<SourceError> errors_;
    uint64_t packets_ = 0;
    uint64_t bytes_ = 0;
    size_t files_read_ = 0;
};

}  // namespace frag53
