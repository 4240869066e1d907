#include "prober/probe/socket_transport.h"

#include "prober/probe/echo.h"
#include "prober/probe/path_capture.h"

namespace frag53::probe {

Exchange SocketTransport::exchange_for(const ProbeRequest& r, const std::string& zone, uint64_t cookie) {
    Exchange x;
    x.tcp = r.mode == Mode::tcp;
    ProbeSpec spec;
    spec.size = r.size;
    spec.frag = x.tcp ? FragMode::dont_fragment : r.frag;
    spec.frag_mtu = r.frag_mtu;
    spec.trunc = x.tcp ? TruncMode::ignore : r.trunc;
    x.spec = spec;
    x.zone = zone;
    x.options.qtype = 16;
    x.options.edns = true;
    x.options.udp_size = r.edns_size;
    x.options.do_bit = r.variant == Variant::dnssec;
    x.max_attempts = r.attempts;
    if (r.variant == Variant::options) {
        x.options.nsid = true;
        x.options.cookie = true;
        x.options.cookie_value = cookie;
        x.options.padding = 16;
    }
    return x;
}

ProbeResult SocketTransport::judge(const ProbeRequest& r, const Exchange& x) {
    ProbeResult res;
    res.request = r;
    res.attempts = x.attempts;
    res.attempts_lost = x.attempts_lost;
    res.late = x.late;
    res.rtt_us = x.rtt_us;
    res.detail = x.detail;
    res.qname = x.qname_sent;
    if (!x.answered) {
        res.outcome = x.refused ? Outcome::refused : Outcome::lost;
        return res;
    }
    res.answer_size = static_cast<uint32_t>(x.answer.size());
    res.tc = x.answer.size() >= 4 && (x.answer[2] & 0x02);
    res.rcode = static_cast<uint16_t>(x.answer.size() >= 4 ? x.answer[3] & 0x0f : 0);
    res.echo = find_echo({reinterpret_cast<const std::byte*>(x.answer.data()), x.answer.size()});
    if (res.rcode != 0) {
        res.outcome = Outcome::bad_answer;
        res.detail = "RCODE " + std::to_string(res.rcode);
    } else if (expects_tc(r)) {
        res.outcome = res.tc ? Outcome::answered : Outcome::bad_answer;
        if (!res.tc) res.detail = "full answer where TC=1 was due";
    } else if (res.tc) {
        res.outcome = Outcome::truncated;
        res.detail = "TC=1 where the full answer was due";
    } else if (res.answer_size != r.size) {
        res.outcome = Outcome::bad_answer;
        res.detail = "answer of " + std::to_string(res.answer_size) + " bytes for " +
                     std::to_string(r.size) + " asked";
    } else {
        res.outcome = Outcome::answered;
    }
    return res;
}

std::vector<ProbeResult> SocketTransport::run(std::span<const ProbeRequest> batch) {
    std::vector<Exchange> xs;
    xs.reserve(batch.size());
    for (const ProbeRequest& r : batch) xs.push_back(exchange_for(r, zone_, runner_.random64()));
    runner_.run(xs);
    std::vector<ProbeResult> out;
    out.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
        ProbeResult res = judge(batch[i], xs[i]);
        if (capture_ && !xs[i].tcp) {
            for (uint16_t port : xs[i].ports) {
                const ArrivalSeen a = capture_->table().seen(port);
                res.arrival.first_fragments = static_cast<uint16_t>(res.arrival.first_fragments + a.first_fragments);
                res.arrival.nonfirst_fragments = static_cast<uint16_t>(res.arrival.nonfirst_fragments + a.nonfirst_fragments);
                res.arrival.max_fragment_ip_len = std::max(res.arrival.max_fragment_ip_len, a.max_fragment_ip_len);
                res.arrival.whole_ip_len = std::max(res.arrival.whole_ip_len, a.whole_ip_len);
            }
        }
        out.push_back(std::move(res));
    }
    return out;
}

CaptureFacts SocketTransport::capture_facts() const {
    return capture_ ? capture_->table().facts() : CaptureFacts{};
}

}  // namespace frag53::probe
