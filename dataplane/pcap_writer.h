// Writes packets to a classic pcap file through libpcap (evidence extraction, -w).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/packet.h"

struct pcap;
struct pcap_dumper;

namespace frag53 {

class PcapWriter {
public:
    // Throws std::runtime_error naming the file when it cannot be created.
    PcapWriter(const std::string& path, int link_type, uint32_t snaplen = 262144);
    ~PcapWriter();
    PcapWriter(const PcapWriter&) = delete;
    PcapWriter& operator=(const PcapWriter&) = delete;

    // Nanosecond timestamps are kept (the file is written with nanosecond precision).
    void write(const PacketView& p) noexcept;
    // Flushes to disk; false on a write error.
    bool flush() noexcept;
    int link_type() const noexcept { return link_type_; }
    uint64_t written() const noexcept { return written_; }

private:
    struct Closer {
        void operator()(pcap* p) const noexcept;
        void operator()(pcap_dumper* d) const noexcept;
    };
    std::unique_ptr<pcap, Closer> dead_;
    std::unique_ptr<pcap_dumper, Closer> dumper_;
    int link_type_;
    uint64_t written_ = 0;
};

}  // namespace frag53
