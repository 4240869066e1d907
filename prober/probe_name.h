// The probe name grammar shared by `frag53 probe` and `frag53 responder` (docs/probe.md):
//
//     s<size>-f<d|k|p<mtu>>-t<h|i|a>-n<hex nonce>.<zone>
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace frag53::probe {

enum class FragMode : uint8_t {
    dont_fragment,  // fd: IPv4 DF / IPV6_DONTFRAG
    kernel,         // fk: the kernel fragments at the interface MTU
    forced,         // fp<mtu>: the responder fragments at `mtu` itself
};
enum class TruncMode : uint8_t {
    honour,  // th: TC=1 when bigger than the client's EDNS size (512 without EDNS)
    ignore,  // ti: always the full answer
    always,  // ta: always TC=1 over UDP
};

struct ProbeSpec {
    uint32_t size = 512;  // DNS message size of the answer, 12..65535
    FragMode frag = FragMode::kernel;
    uint16_t frag_mtu = 0;  // FragMode::forced only
    TruncMode trunc = TruncMode::honour;
    uint64_t nonce = 0;     // up to 16 hex digits

    bool operator==(const ProbeSpec&) const = default;
};

inline constexpr uint32_t min_probe_size = 12;
inline constexpr uint32_t max_probe_size = 65535;

// The first label for `spec` (no dots), e.g. "s1232-fd-th-n1f".
std::string probe_label(const ProbeSpec& spec);
// "<label>.<zone>" in presentation form; `zone` without a trailing dot is fine.
std::string probe_name(const ProbeSpec& spec, std::string_view zone);

// Parses a first label (any case). nullopt for anything that does not follow the grammar exactly:
// missing or repeated fields, numbers out of range or with leading zeros, trailing bytes.
std::optional<ProbeSpec> parse_probe_label(std::string_view label);

}  // namespace frag53::probe
