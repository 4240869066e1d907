// RAII for libpcap handles shared by the capture sources (file, live).
#pragma once

#include <pcap/pcap.h>

#include <memory>
#include <string>

namespace frag53 {

struct PcapClose {
    void operator()(pcap_t* p) const noexcept { pcap_close(p); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapClose>;

// bpf_program is filled in place by pcap_compile and must be released with pcap_freecode.
class BpfProgram {
public:
    BpfProgram() noexcept = default;
    ~BpfProgram() { reset(); }
    BpfProgram(const BpfProgram&) = delete;
    BpfProgram& operator=(const BpfProgram&) = delete;

    bpf_program* get() noexcept { return &prog_; }
    const bpf_program* get() const noexcept { return &prog_; }
    void set_compiled() noexcept { compiled_ = true; }
    bool compiled() const noexcept { return compiled_; }
    void reset() noexcept {
        if (compiled_) pcap_freecode(&prog_);
        compiled_ = false;
        prog_ = {};
    }

private:
    bpf_program prog_{};
    bool compiled_ = false;
};

// "EN10MB, Ethernet" for messages; libpcap does not name every DLT.
inline std::string link_type_name(int dlt) {
    const char* name = pcap_datalink_val_to_name(dlt);
    if (name == nullptr) return "not named by libpcap";
    const char* description = pcap_datalink_val_to_description(dlt);
    return description != nullptr ? std::string(name) + ", " + description : std::string(name);
}

}  // namespace frag53
