// libFuzzer target for the L2..L4 decoder: the first byte picks the link type, the rest is the
// frame; packets quoted in ICMP errors are decoded again as the ICMP detector does.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "dataplane/decode.h"

namespace {

constexpr uint16_t kLinkTypes[] = {0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147};

// Every view the decoder hands out must lie inside the bytes it was given.
void check_within(frag53::Bytes outer, frag53::Bytes inner) {
    if (inner.empty()) return;
    const std::byte* lo = outer.data();
    const std::byte* hi = outer.data() + outer.size();
    if (inner.data() < lo || inner.data() + inner.size() > hi) std::abort();
}

void check(frag53::Bytes frame, const frag53::DecodedPacket& d) {
    check_within(frame, d.ip_header);
    check_within(frame, d.l3_payload);
    check_within(frame, d.payload);
    check_within(frame, d.icmp_quoted);
    if (d.l3_payload.size() > d.l3_payload_wire_len) std::abort();
    if (d.payload.size() > d.payload_wire_len) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    frag53::PacketView pkt;
    pkt.link_type = kLinkTypes[data[0] % (sizeof kLinkTypes / sizeof kLinkTypes[0])];
    pkt.data = frag53::as_bytes(data + 1, size - 1);
    // Some inputs claim a longer wire length so snap-length handling is exercised too.
    pkt.wire_len = static_cast<uint32_t>(size - 1) + ((data[0] & 0x80) != 0 ? 100u : 0u);

    frag53::DecodedPacket d;
    frag53::decode_frame(pkt, d);
    check(pkt.data, d);
    if (!d.icmp_quoted.empty()) {
        frag53::DecodedPacket quoted;
        frag53::decode_ip(d.icmp_quoted, static_cast<uint32_t>(d.icmp_quoted.size()), quoted);
        check(d.icmp_quoted, quoted);
    }
    return 0;
}
