#include "prober/probe/path_capture.h"

#include <algorithm>
#include <array>

#include "dataplane/pcap_live_source.h"

namespace frag53::probe {

namespace {

const char* icmp_words(const DecodedPacket& p) {
    if (p.transport == Transport::icmp4) {
        switch (p.icmp_type) {
        case 3:
            switch (p.icmp_code) {
            case 3: return "port unreachable";
            case 4: return "fragmentation needed";
            case 9: case 10: case 13: return "administratively prohibited";
            default: return "destination unreachable";
            }
        case 11: return p.icmp_code == 1 ? "fragment reassembly time exceeded" : "time exceeded";
        default: return "ICMP error";
        }
    }
    switch (p.icmp_type) {
    case 1: return p.icmp_code == 4 ? "port unreachable"
                 : p.icmp_code == 1 ? "administratively prohibited" : "destination unreachable";
    case 2: return "packet too big";
    case 3: return p.icmp_code == 1 ? "fragment reassembly time exceeded" : "time exceeded";
    default: return "ICMPv6 error";
    }
}

bool is_icmp_error(const DecodedPacket& p) {
    if (p.transport == Transport::icmp4) return p.icmp_type == 3 || p.icmp_type == 11 || p.icmp_type == 12;
    if (p.transport == Transport::icmp6) return p.icmp_type >= 1 && p.icmp_type <= 4;
    return false;
}

}  // namespace

void ArrivalTable::claim(uint16_t port) noexcept { ports_.erase(port); }

ArrivalSeen ArrivalTable::seen(uint16_t port) const noexcept {
    auto it = ports_.find(port);
    return it == ports_.end() ? ArrivalSeen{} : it->second;
}

void ArrivalTable::add(const DecodedPacket& p) noexcept {
    if (p.status != DecodeStatus::ok) return;
    try {
        if (is_icmp_error(p)) {
            if (p.icmp_quoted.empty()) return;
            DecodedPacket quoted;
            decode_ip(p.icmp_quoted, static_cast<uint32_t>(p.icmp_quoted.size()), quoted);
            if (!(quoted.src == self_ && quoted.dst == server_)) return;
            ++facts_.icmp_errors;
            if (facts_.icmp_error_example.empty())
                facts_.icmp_error_example = p.src.to_string() + ": " + icmp_words(p);
            const bool too_big = (p.transport == Transport::icmp4 && p.icmp_type == 3 && p.icmp_code == 4) ||
                                 (p.transport == Transport::icmp6 && p.icmp_type == 2);
            if (too_big && p.icmp_mtu != 0) {
                facts_.icmp_mtu = p.icmp_mtu;
                facts_.icmp_mtu_from = p.src.to_string();
            }
            return;
        }
        if (!(p.src == server_ && p.dst == self_)) return;
        const bool udp_or_fragment = p.is_fragment || p.transport == Transport::udp;
        if (udp_or_fragment)
            facts_.largest_ip_from_server = std::max(facts_.largest_ip_from_server, p.ip_length);
        const uint16_t len = static_cast<uint16_t>(std::min<uint32_t>(p.ip_length, 65535));
        if (!p.is_fragment) {
            if (p.transport == Transport::udp) {
                ArrivalSeen& a = ports_[p.dport];
                a.whole_ip_len = std::max(a.whole_ip_len, len);
            }
            return;
        }
        if (sets_.size() >= max_fragment_sets && !sets_.contains(p.frag_id)) {
            evicted_ += sets_.size();
            sets_.clear();
        }
        FragmentSet& s = sets_[p.frag_id];
        s.max_len = std::max(s.max_len, len);
        if (p.frag_offset == 0) {
            if (p.transport != Transport::udp) return;  // first fragment without the UDP header
            s.port = p.dport;
            ArrivalSeen& a = ports_[p.dport];
            ++a.first_fragments;
            a.nonfirst_fragments = static_cast<uint16_t>(a.nonfirst_fragments + s.nonfirst);
            a.max_fragment_ip_len = std::max(a.max_fragment_ip_len, s.max_len);
        } else {
            ++s.nonfirst;
            if (s.port != 0) {
                ArrivalSeen& a = ports_[s.port];
                ++a.nonfirst_fragments;
                a.max_fragment_ip_len = std::max(a.max_fragment_ip_len, len);
            }
        }
    } catch (...) {
        // Out of memory for the tables: the packet is not attributed.
    }
}

PathCapture::PathCapture(const std::string& interface_name, IpAddress server, IpAddress self)
    : table_(server, self) {
    PcapLiveOptions o;
    o.interface_name = interface_name;
    // Everything from or to the server (fragments included) and ICMP errors from routers.
    o.bpf_filter = "host " + server.to_string() + " or icmp or icmp6";
    o.snaplen = 256;  // headers and the quoted packet of ICMP errors are enough
    o.promiscuous = false;
    o.buffer_bytes = 4 << 20;
    o.immediate = true;  // attribution happens right after each round: no block timeout delay
    o.timeout_ms = 10;
    source_ = std::make_unique<PcapLiveSource>(o);
}

PathCapture::~PathCapture() = default;

int PathCapture::fd() const noexcept { return source_->selectable_fd(); }

void PathCapture::drain() noexcept {
    std::array<PacketView, 64> burst;
    DecodedPacket d;
    for (int i = 0; i < 64; ++i) {
        const size_t n = source_->receive_or_idle(burst);
        if (n == 0) return;
        for (size_t k = 0; k < n; ++k) {
            decode_frame(burst[k], d);
            table_.add(d);
        }
        source_->release({burst.data(), n});
        if (n < burst.size()) return;
    }
}

uint64_t PathCapture::kernel_drops() noexcept { return source_->stats().pcap_dropped; }

}  // namespace frag53::probe
