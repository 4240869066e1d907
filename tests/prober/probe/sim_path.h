// A simulated path for the probe engine: a server whose kernel learns the path MTU from Packet
// Too Big messages (or not), a router that may drop fragments, big DNS answers, TCP, DO=1 queries
// or every n-th packet, and a responder that echoes the EDNS it saw.
#pragma once

#include <algorithm>
#include <vector>

#include "prober/probe/engine.h"
#include "prober/probe/socket_transport.h"

namespace frag53::probe::sim {

struct PathConfig {
    Family family = Family::v4;
    uint32_t server_mtu = 1500;   // the server's own link
    uint32_t path_mtu = 1500;     // smallest link on the way to the client
    bool ptb = true;              // the router's Packet Too Big / frag-needed reaches the server
    bool drop_fragments = false;
    bool drop_nonfirst = false;
    uint32_t dns_filter = 0;      // drop UDP answers (and first fragments) above this DNS size
    bool tcp_blocked = false;
    unsigned lose_every = 0;      // lose every n-th UDP packet, either direction (0: never)
    bool strip_edns = false;
    uint16_t rewrite_edns_size = 0;
    bool clear_do = false;
    bool drop_do = false;         // drop UDP queries with DO=1
    bool capture = true;
    unsigned retries = 2;
};

class PathTransport final : public ProbeTransport {
public:
    explicit PathTransport(PathConfig c) : c_(c), known_mtu_(c.server_mtu) {}

    std::vector<ProbeResult> run(std::span<const ProbeRequest> batch) override {
        ++batches_;
        std::vector<ProbeResult> out;
        for (const ProbeRequest& r : batch) out.push_back(one(r));
        return out;
    }
    CaptureFacts capture_facts() const override {
        CaptureFacts f;
        if (!c_.capture) return f;
        f.enabled = true;
        f.largest_ip_from_server = largest_;
        return f;
    }
    unsigned batches() const { return batches_; }
    uint64_t probes() const { return probes_; }

private:
    bool lose() { return c_.lose_every != 0 && (++packets_ % c_.lose_every) == 0; }
    uint32_t h() const { return ip_udp_overhead(c_.family); }

    // Sends one IP packet of `len` bytes from the server; true when it reaches the client.
    bool deliver(uint32_t len, bool fragment, bool first, uint32_t dns_size, ArrivalSeen& seen) {
        if (len > c_.path_mtu) {
            if (c_.ptb) known_mtu_ = std::min(known_mtu_, c_.path_mtu);
            return false;
        }
        if (fragment && c_.drop_fragments) return false;
        if (fragment && !first && c_.drop_nonfirst) return false;
        if (c_.dns_filter && dns_size > c_.dns_filter && (!fragment || first)) return false;
        if (lose()) return false;
        largest_ = std::max(largest_, len);
        if (fragment) {
            if (first) ++seen.first_fragments;
            else ++seen.nonfirst_fragments;
            seen.max_fragment_ip_len = std::max<uint16_t>(seen.max_fragment_ip_len, static_cast<uint16_t>(len));
        } else {
            seen.whole_ip_len = static_cast<uint16_t>(len);
        }
        return true;
    }

    // The answer of `size` DNS bytes fragmented at `mtu`: every fragment must arrive.
    bool deliver_fragmented(uint32_t size, uint32_t mtu, ArrivalSeen& seen) {
        const uint32_t hdr = c_.family == Family::v4 ? 20 : 48;
        const uint32_t per = (mtu - hdr) / 8 * 8;
        uint32_t left = size + 8;
        bool all = true, first = true;
        while (left > 0) {
            const uint32_t chunk = std::min(per, left);
            all = deliver(hdr + chunk, true, first, size, seen) && all;
            left -= chunk;
            first = false;
        }
        return all;
    }

    bool udp_attempt(const ProbeRequest& r, ProbeResult& res) {
        if (lose()) return false;  // the query
        if (c_.drop_do && r.variant == Variant::dnssec) return false;
        const bool tc = expects_tc(r);
        const uint32_t size = tc ? 60 : r.size;
        const uint32_t ip = size + h();
        bool ok;
        if (tc || ip <= known_mtu_) {
            if (r.frag == FragMode::forced && ip > r.frag_mtu) ok = deliver_fragmented(size, r.frag_mtu, res.arrival);
            else ok = deliver(ip, false, false, size, res.arrival);
        } else if (r.frag == FragMode::dont_fragment) {
            ok = false;  // EMSGSIZE at the server: never sent
        } else if (r.frag == FragMode::forced) {
            ok = deliver_fragmented(size, r.frag_mtu, res.arrival);
        } else {
            ok = deliver_fragmented(size, known_mtu_, res.arrival);
        }
        if (!ok) return false;
        res.answer_size = size;
        res.tc = tc;
        return true;
    }

    bool tcp_attempt(const ProbeRequest& r, ProbeResult& res) {
        if (c_.tcp_blocked) return false;
        const uint32_t tcp_ip_hdr = c_.family == Family::v4 ? 40 : 60;
        const uint32_t segment = std::min(r.size + 2 + tcp_ip_hdr, std::min(c_.server_mtu, known_mtu_));
        if (segment > c_.path_mtu && !c_.ptb) return false;
        res.answer_size = r.size;
        return true;
    }

    ProbeResult one(const ProbeRequest& r) {
        ++probes_;
        ProbeResult res;
        res.request = r;
        res.outcome = Outcome::lost;
        const bool tcp = r.mode == Mode::tcp;
        const unsigned attempts = r.attempts ? r.attempts : 1 + (tcp ? 1 : c_.retries);
        for (unsigned a = 0; a < attempts; ++a) {
            ++res.attempts;
            if (tcp ? tcp_attempt(r, res) : udp_attempt(r, res)) {
                res.outcome = Outcome::answered;
                res.rtt_us = 500;
                res.echo.valid = true;
                res.echo.edns = !c_.strip_edns;
                res.echo.udp_size = c_.rewrite_edns_size ? c_.rewrite_edns_size : r.edns_size;
                res.echo.do_bit = r.variant == Variant::dnssec && !c_.clear_do;
                res.echo.option_count = r.variant == Variant::options ? 3 : 0;
                break;
            }
            ++res.attempts_lost;
        }
        if (res.outcome != Outcome::answered) res.detail = "no answer";
        return res;
    }

    PathConfig c_;
    uint32_t known_mtu_;
    uint32_t largest_ = 0;
    uint64_t packets_ = 0;
    uint64_t probes_ = 0;
    unsigned batches_ = 0;
};

}  // namespace frag53::probe::sim
