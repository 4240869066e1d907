#include "dataplane/pcap_writer.h"

#include <pcap/pcap.h>

#include <stdexcept>

namespace frag53 {

void PcapWriter::Closer::operator()(pcap* p) const noexcept { pcap_close(p); }
void PcapWriter::Closer::operator()(pcap_dumper* d) const noexcept { pcap_dump_close(d); }

PcapWriter::PcapWriter(const std::string& path, int link_type, uint32_t snaplen) : link_type_(link_type) {
    dead_.reset(pcap_open_dead_with_tstamp_precision(link_type, static_cast<int>(snaplen),
                                                     PCAP_TSTAMP_PRECISION_NANO));
    if (!dead_) throw std::runtime_error(path + ": cannot set up a pcap writer");
    dumper_.reset(pcap_dump_open(dead_.get(), path.c_str()));
    if (!dumper_) throw std::runtime_error(path + ": " + pcap_geterr(dead_.get()));
}

PcapWriter::~PcapWriter() = default;

void PcapWriter::write(const PacketView& p) noexcept {
    pcap_pkthdr h{};
    // With nanosecond precision libpcap reads tv_usec as nanoseconds.
    h.ts.tv_sec = static_cast<time_t>(p.ts_ns / 1'000'000'000ull);
    h.ts.tv_usec = static_cast<suseconds_t>(p.ts_ns % 1'000'000'000ull);
    h.caplen = static_cast<bpf_u_int32>(p.data.size());
    h.len = p.wire_len > p.data.size() ? p.wire_len : static_cast<bpf_u_int32>(p.data.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper_.get()), &h, reinterpret_cast<const u_char*>(p.data.data()));
    ++written_;
}

bool PcapWriter::flush() noexcept { return pcap_dump_flush(dumper_.get()) == 0; }

}  // namespace frag53
