#include "dataplane/pcap_file_source.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>

#include "dataplane/pcap_handle.h"

namespace frag53 {

namespace {

// stdio's default buffer is one 4 KiB block, so libpcap reads a large capture with a read(2)
// per 4 KiB (100,000 system calls for 400 MB). A larger buffer is one per MiB.
constexpr size_t read_buffer_size = size_t{1} << 20;

}  // namespace

struct PcapFileSource::Impl {
    std::unique_ptr<char[]> read_buffer;  // the open file's stdio buffer: outlives `pcap`
    PcapHandle pcap;
    BpfProgram filter;
    size_t file_index = 0;
    uint16_t link_type = 0;
    uint64_t records = 0;    // records read from the current file, filtered out ones included
    uint64_t delivered = 0;  // packets handed out from the current file
    uint64_t next_frame = 1;
    // One buffer per burst slot, never shrunk: after warm-up a burst allocates nothing.
    std::vector<std::vector<std::byte>> slots;
};

PcapFileSource::PcapFileSource(std::vector<std::string> files, std::string bpf_filter)
    : files_(std::move(files)), filter_(std::move(bpf_filter)), impl_(std::make_unique<Impl>()) {}

PcapFileSource::~PcapFileSource() = default;

bool PcapFileSource::open_next() noexcept {
    Impl& s = *impl_;
    while (next_file_ < files_.size()) {
        const size_t index = next_file_++;
        const std::string& name = files_[index];
        auto skip = [&](std::string message) {
            errors_.push_back(SourceError{name, 0, std::move(message), true});
        };

        char errbuf[PCAP_ERRBUF_SIZE] = {};
        // Nanosecond precision (both opens below) so ts_ns is exact for nanosecond files and
        // scaled for the rest.
        std::unique_ptr<char[]> buffer;  // declared first: outlives `p` on every path
        PcapHandle p;
        if (name != "-") {
            // Opened here so its stdio buffer can be set before libpcap reads; pcap_close
            // closes the FILE. Anything unusual is left to pcap_open_offline and its messages.
            if (std::FILE* fp = std::fopen(name.c_str(), "rb")) {
                buffer = std::make_unique_for_overwrite<char[]>(read_buffer_size);
                std::setvbuf(fp, buffer.get(), _IOFBF, read_buffer_size);
                p.reset(pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf));
                if (!p) {
                    std::fclose(fp);
                    buffer.reset();
                }
            }
        }
        if (!p)
            p.reset(pcap_open_offline_with_tstamp_precision(name.c_str(), PCAP_TSTAMP_PRECISION_NANO,
                                                            errbuf));
        if (!p) {
            skip(name + ": cannot open: " + errbuf);
            continue;
        }
        const int dlt = pcap_datalink(p.get());
        if (!link_type_supported(dlt)) {
            skip(name + ": unsupported link type " + std::to_string(dlt) + " (" +
                 link_type_name(dlt) + ")");
            continue;
        }
        // The filter is applied here rather than with pcap_setfilter so that records it rejects
        // still count: frame numbers then match the capture's own (what Wireshark shows).
        s.filter.reset();
        if (!filter_.empty()) {
            if (pcap_compile(p.get(), s.filter.get(), filter_.c_str(), 1,
                             PCAP_NETMASK_UNKNOWN) != 0) {
                skip(name + ": bad filter '" + filter_ + "': " + pcap_geterr(p.get()));
                continue;
            }
            s.filter.set_compiled();
        }
        s.pcap = std::move(p);  // closes the previous file before its buffer goes
        s.read_buffer = std::move(buffer);
        s.file_index = index;
        s.link_type = static_cast<uint16_t>(dlt);
        s.records = 0;
        s.delivered = 0;
        return true;
    }
    return false;
}

size_t PcapFileSource::receive(std::span<PacketView> out) {
    Impl& s = *impl_;
    if (out.empty()) return 0;
    if (s.slots.size() < out.size()) s.slots.resize(out.size());

    size_t n = 0;
    while (n < out.size()) {
        if (!s.pcap && !open_next()) break;

        pcap_pkthdr* hdr = nullptr;
        const u_char* data = nullptr;
        const int rc = pcap_next_ex(s.pcap.get(), &hdr, &data);
        if (rc == PCAP_ERROR_BREAK) {  // end of file
            s.pcap.reset();
            s.filter.reset();
            ++files_read_;
            continue;
        }
        if (rc != 1) {
            // Damaged or cut short: what came before was delivered; say where it broke.
            const std::string& name = files_[s.file_index];
            std::string message = name + ": damaged after " + std::to_string(s.records) +
                                  " packets: " + pcap_geterr(s.pcap.get());
            errors_.push_back(SourceError{name, s.delivered, std::move(message), false});
            s.pcap.reset();
            s.filter.reset();
            ++files_read_;
            continue;
        }

        ++s.records;
        const uint64_t frame = s.next_frame++;
        if (s.filter.compiled() && pcap_offline_filter(s.filter.get(), hdr, data) == 0) continue;

        std::vector<std::byte>& buf = s.slots[n];
        if (buf.size() < hdr->caplen) buf.resize(hdr->caplen);
        std::memcpy(buf.data(), data, hdr->caplen);

        PacketView& v = out[n++];
        v.data = Bytes(buf.data(), hdr->caplen);
        v.wire_len = std::max(hdr->len, hdr->caplen);
        // With nanosecond precision tv_usec holds nanoseconds.
        v.ts_ns = static_cast<uint64_t>(hdr->ts.tv_sec) * 1'000'000'000ull +
                  static_cast<uint64_t>(hdr->ts.tv_usec);
        v.frame = frame;
        v.link_type = s.link_type;
        v.source = static_cast<uint16_t>(s.file_index);

        ++s.delivered;
        ++packets_;
        bytes_ += hdr->caplen;
    }
    return n;
}

void PcapFileSource::release(std::span<const PacketView>) noexcept {
    // Each burst slot owns its buffer and the next receive() refills it, so there is nothing to
    // hand back: a view stays valid exactly until the next receive().
}

}  // namespace frag53
