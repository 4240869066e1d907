// Feeds arbitrary bytes to the responder's answer builder as a query, over every transport and
// family, and checks what a client would rely on: every answer is a well-formed DNS message
// answering the query's ID; a probe answer has the size it claims, never exceeds what the
// transport carries, and its fp<mtu> fragments reassemble to it; everything else is small.
//
// Input: first byte even: the rest is the query. Odd: the rest is a first label (up to a NUL),
// one byte of query options, then (position, xor) pairs applied to the query built from them, so
// the fuzzer reaches the probe-name paths without having to guess the zone.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "analyzers/dns/message.h"
#include "prober/query.h"
#include "prober/responder/answer.h"
#include "prober/responder/fragment.h"

using namespace frag53;
using namespace frag53::probe;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

constexpr std::string_view zone = "probe.example";

std::vector<uint8_t> make_query(const uint8_t* data, size_t size) {
    std::vector<uint8_t> q;
    if (size == 0) return q;
    if ((data[0] & 1) == 0) return std::vector<uint8_t>(data + 1, data + size);
    size_t i = 1;
    std::string label;
    while (i < size && data[i] != 0 && label.size() < 63) label += static_cast<char>(data[i++]);
    ++i;
    const uint8_t bits = i < size ? data[i++] : 0;
    QueryOptions o;
    o.edns = bits & 1;
    o.do_bit = bits & 2;
    o.nsid = bits & 4;
    o.cookie = bits & 8;
    o.padding = (bits & 16) ? 8 : 0;
    o.udp_size = (bits & 32) ? 512 : (bits & 64) ? 4096 : 1232;
    o.qtype = (bits & 128) ? 255 : 16;
    if (label.find('.') != std::string::npos || !build_query(label + "." + std::string(zone), o, q)) return {};
    for (; i + 1 < size; i += 2) q[data[i] % q.size()] ^= data[i + 1];
    return q;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static auto builder = [] {
        AnswerConfig c;
        c.zone = std::string(zone);
        return std::make_unique<AnswerBuilder>(c);
    }();
    static auto view = std::make_unique<dns::MessageView>();
    static auto fragments = std::make_unique<FragmentBuilder>();
    static std::vector<std::byte> out(max_answer_size);

    const std::vector<uint8_t> q = make_query(data, size);
    const Bytes query = as_bytes(q.data(), q.size());
    for (int variant = 0; variant < 4; ++variant) {
        QueryContext ctx;
        ctx.transport = (variant & 1) ? Transport::tcp : Transport::udp;
        ctx.family = (variant & 2) ? AddressFamily::ipv6 : AddressFamily::ipv4;
        ctx.source = (variant & 2) ? "2001:db8::2" : "198.18.0.2";
        const Answer a = builder->build(query, ctx, out);
        check(a.length <= out.size());
        if (a.kind == AnswerKind::none) {
            check(a.length == 0);
            continue;
        }
        check(q.size() >= 12 && (q[2] & 0x80) == 0);
        const Bytes wire(out.data(), a.length);
        check(view->parse(wire) == dns::ParseError::none);
        const dns::Header& h = view->header();
        check(h.qr());
        check(h.id == ((q[0] << 8) | q[1]));
        const bool udp = ctx.transport == Transport::udp;
        const size_t transport_max = !udp ? max_tcp_message
                                     : ctx.family == AddressFamily::ipv4 ? max_udp_message_v4
                                                                         : max_udp_message_v6;
        if (a.kind == AnswerKind::answer) {
            check(h.aa() && !h.tc() && h.rcode() == 0 && h.ancount >= 1);
            check(a.length == a.full_size && a.length <= transport_max);
            check(a.clamped == (a.length != a.spec.size));
            if (udp && a.spec.frag == FragMode::forced) {
                // What the responder sends: the fragments must hold the whole datagram.
                const bool v4 = ctx.family == AddressFamily::ipv4;
                FragmentStatus st;
                if (v4) {
                    const UdpEndpoints4 e{{198, 18, 0, 1}, {198, 18, 0, 2}, 53, 1000};
                    st = fragments->build_v4(e, 1, 64, wire, a.spec.frag_mtu);
                } else {
                    UdpEndpoints6 e;
                    e.src[0] = e.dst[0] = 0x20;
                    e.dst[15] = 2;
                    st = fragments->build_v6(e, 1, 64, wire, a.spec.frag_mtu);
                }
                check(st == FragmentStatus::ok);
                const size_t headers = v4 ? 20 : fragments->packets().size() == 1 ? 40 : 48;
                size_t total = 0;
                for (Bytes p : fragments->packets()) {
                    check(p.size() <= a.spec.frag_mtu && p.size() > headers);
                    total += p.size() - headers;
                }
                check(total == a.length + 8);
            }
        } else if (a.kind == AnswerKind::truncated) {
            check(udp && h.tc() && h.ancount == 0);
            check(a.length <= 12 + 255 + 4 + 11);
        } else {
            // Refusals and errors: header, at most the question and an OPT.
            check(h.ancount == 0 && h.nscount == 0);
            check(a.length <= 12 + 255 + 4 + 11);
        }
    }
    const Answer slip = builder->build_slip(query, out);
    if (slip.kind != AnswerKind::none) {
        check(slip.kind == AnswerKind::truncated && slip.length <= 12 + 255 + 4);
        check(view->parse(Bytes(out.data(), slip.length)) == dns::ParseError::none);
        check(view->header().tc() && view->header().qr() && view->header().ancount == 0);
    }
    return 0;
}
