#include "prober/probe/server_probe.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <cstdio>
#include <memory>

#include "analyzers/dns/message.h"
#include "prober/probe/path_capture.h"

namespace frag53::probe {

namespace {

Exchange exchange(const std::string& qname, uint16_t qtype, bool tcp, uint16_t edns, bool do_bit) {
    Exchange x;
    x.tcp = tcp;
    x.qname = qname;
    x.options.qtype = qtype;
    x.options.edns = true;
    x.options.udp_size = edns;
    x.options.do_bit = do_bit;
    return x;
}

std::string with_dot(std::string n) {
    if (n.empty() || n.back() != '.') n += '.';
    return n;
}

ArrivalSeen arrival_of(const Exchange& x, PathCapture* capture) {
    ArrivalSeen sum;
    if (!capture || x.tcp) return sum;
    for (uint16_t port : x.ports) {
        const ArrivalSeen a = capture->table().seen(port);
        sum.first_fragments = static_cast<uint16_t>(sum.first_fragments + a.first_fragments);
        sum.nonfirst_fragments = static_cast<uint16_t>(sum.nonfirst_fragments + a.nonfirst_fragments);
        sum.max_fragment_ip_len = std::max(sum.max_fragment_ip_len, a.max_fragment_ip_len);
        sum.whole_ip_len = std::max(sum.whole_ip_len, a.whole_ip_len);
    }
    return sum;
}

}  // namespace

const char* to_string(UdpFate f) noexcept {
    switch (f) {
    case UdpFate::full: return "full";
    case UdpFate::truncated: return "truncated";
    case UdpFate::lost: return "lost";
    }
    return "?";
}

std::vector<Verdict> server_verdicts(const ServerProbeReport& r, Family family) {
    std::vector<Verdict> out;
    if (!r.gate_udp) return out;
    if (!r.gate_tcp)
        out.push_back({verdict::tcp_blocked, "the SOA query is answered over UDP, not over TCP", 0});
    const uint32_t h = ip_udp_overhead(family);
    uint32_t first_only = 0, none = 0, big_lost = 0, example = 0;
    for (const ServerAnswer& a : r.answers) {
        for (const UdpTry& u : a.udp) {
            if (u.fate != UdpFate::lost || a.tcp_size == 0) continue;
            // Only answers the server had to send in fragments (larger than Ethernet allows
            // unfragmented and within the advertised size) say something about fragments.
            if (a.tcp_size > u.edns_size || a.tcp_size + h <= 1500) continue;
            ++big_lost;
            if (example == 0) example = a.tcp_size;
            if (u.arrival.first_fragments && !u.arrival.nonfirst_fragments) ++first_only;
            else if (!u.arrival.first_fragments && !u.arrival.nonfirst_fragments) ++none;
        }
    }
    if (big_lost) {
        const bool nonfirst = r.capture.enabled && first_only == big_lost;
        std::string e = std::to_string(big_lost) + " UDP answers larger than one " +
                        std::to_string(1500) + "-byte packet (e.g. " + std::to_string(example) +
                        " bytes, size known from TCP) never arrived";
        if (r.capture.enabled)
            e += "; the capture saw only the first fragment of " + std::to_string(first_only) +
                 " and nothing of " + std::to_string(none);
        out.push_back({nonfirst ? verdict::nonfirst_fragments_dropped : verdict::fragments_dropped, e, example});
    }
    if (out.empty()) out.push_back({verdict::ok, "every answer fits the path", 0});
    return out;
}

ServerProbeReport run_server_probe(ExchangeRunner& runner, const ServerProbeConfig& c, PathCapture* capture) {
    ServerProbeReport rep;
    const std::string zone = with_dot(c.name);
    std::vector<Exchange> gate{exchange(zone, dns::rrtype::SOA, false, 1232, false),
                               exchange(zone, dns::rrtype::SOA, true, 1232, false)};
    runner.run(gate);
    auto rcode_ok = [](const Exchange& x) {
        return x.answered && x.answer.size() >= 12 && (x.answer[3] & 0x0f) == 0;
    };
    rep.gate_udp = rcode_ok(gate[0]);
    rep.gate_tcp = rcode_ok(gate[1]);
    if (!rep.gate_udp) {
        rep.gate_failure = "no NOERROR answer to " + zone + " SOA over UDP" +
                           (gate[0].detail.empty() ? std::string() : " (" + gate[0].detail + ")");
        rep.capture = capture ? capture->table().facts() : CaptureFacts{};
        return rep;
    }
    char nonce[24];
    std::snprintf(nonce, sizeof nonce, "f53-%010llx", static_cast<unsigned long long>(runner.random64() & 0xffffffffffull));
    struct Question { std::string label, qname; uint16_t qtype; };
    const Question qs[] = {{"DNSKEY " + zone, zone, dns::rrtype::DNSKEY},
                           {"NXDOMAIN proof", std::string(nonce) + "." + zone, dns::rrtype::A}};
    const uint16_t sizes[] = {c.large_edns, 1232};
    std::vector<Exchange> xs;
    for (const Question& q : qs) {
        xs.push_back(exchange(q.qname, q.qtype, true, 65535, true));
        for (uint16_t s : sizes) xs.push_back(exchange(q.qname, q.qtype, false, s, true));
    }
    runner.run(xs);
    auto view = std::make_unique<dns::MessageView>();
    size_t i = 0;
    for (const Question& q : qs) {
        ServerAnswer a;
        a.label = q.label;
        a.qname = q.qname;
        a.qtype = q.qtype;
        const Exchange& t = xs[i++];
        if (t.answered) {
            a.tcp_size = static_cast<uint32_t>(t.answer.size());
            view->parse({reinterpret_cast<const std::byte*>(t.answer.data()), t.answer.size()});
            a.rcode = view->full_rcode();
            a.has_rrsig = view->has_rrsig();
        }
        for (uint16_t s : sizes) {
            const Exchange& x = xs[i++];
            UdpTry u;
            u.edns_size = s;
            u.detail = x.detail;
            u.arrival = arrival_of(x, capture);
            if (x.answered) {
                u.size = static_cast<uint32_t>(x.answer.size());
                u.rcode = static_cast<uint16_t>(x.answer[3] & 0x0f);
                u.fate = (x.answer[2] & 0x02) ? UdpFate::truncated : UdpFate::full;
            }
            a.udp.push_back(u);
        }
        const UdpTry& large = a.udp.front();
        a.fits = large.fate == UdpFate::full || (large.fate == UdpFate::truncated && a.tcp_size != 0);
        rep.answers.push_back(std::move(a));
    }
    rep.capture = capture ? capture->table().facts() : CaptureFacts{};
    rep.verdicts = server_verdicts(rep, c.family);
    return rep;
}

int server_exit_status(const ServerProbeReport& r) noexcept {
    if (!r.gate_udp) return 2;
    for (const ServerAnswer& a : r.answers)
        if (!a.fits) return 1;
    return r.gate_tcp ? 0 : 1;
}

std::string server_human_report(const ServerProbeReport& r, const RunInfo& info) {
    std::string o;
    char line[512];
    std::snprintf(line, sizeof line, "frag53 probe %s port %u, the server's own answers for %s, %.1f s\n",
                  info.target.c_str(), info.port, info.zone.c_str(), info.elapsed_s);
    o += line;
    if (!r.gate_udp) return o + "gate failed: " + r.gate_failure + "\n";
    o += std::string("gate: UDP ok, TCP ") + (r.gate_tcp ? "ok" : "FAILED") + "\n\n";
    std::snprintf(line, sizeof line, "  %-22s %9s %-22s %-22s %s\n", "answer", "TCP size", "UDP (large EDNS)", "UDP (EDNS 1232)", "fits");
    o += line;
    for (const ServerAnswer& a : r.answers) {
        std::string cells[2];
        for (size_t k = 0; k < a.udp.size() && k < 2; ++k) {
            const UdpTry& u = a.udp[k];
            cells[k] = std::string(to_string(u.fate)) + (u.size ? " " + std::to_string(u.size) : "") +
                       (u.arrival.first_fragments ? " frag" : "");
        }
        std::snprintf(line, sizeof line, "  %-22s %9s %-22s %-22s %s\n", a.label.c_str(),
                      a.tcp_size ? std::to_string(a.tcp_size).c_str() : "failed", cells[0].c_str(),
                      cells[1].c_str(), a.fits ? "yes" : "NO");
        o += line;
    }
    o += "\nverdicts:\n";
    for (const Verdict& v : r.verdicts) o += "  " + v.code + ": " + v.evidence + "\n";
    return o;
}

std::string server_json_report(const ServerProbeReport& r, const RunInfo& info) {
    rapidjson::StringBuffer buf;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("target"); w.String(info.target.c_str());
    w.Key("port"); w.Uint(info.port);
    w.Key("name"); w.String(info.zone.c_str());
    w.Key("elapsed_s"); w.Double(info.elapsed_s);
    w.Key("gate");
    w.StartObject();
    w.Key("udp"); w.Bool(r.gate_udp);
    w.Key("tcp"); w.Bool(r.gate_tcp);
    w.EndObject();
    w.Key("tcp_ok"); w.Bool(r.gate_tcp);
    w.Key("verdicts");
    w.StartArray();
    for (const Verdict& v : r.verdicts) w.String(v.code.c_str());
    w.EndArray();
    w.Key("evidence");
    w.StartArray();
    for (const Verdict& v : r.verdicts) {
        w.StartObject();
        w.Key("code"); w.String(v.code.c_str());
        w.Key("evidence"); w.String(v.evidence.c_str());
        w.EndObject();
    }
    w.EndArray();
    w.Key("answers");
    w.StartArray();
    for (const ServerAnswer& a : r.answers) {
        w.StartObject();
        w.Key("label"); w.String(a.label.c_str());
        w.Key("qname"); w.String(a.qname.c_str());
        w.Key("qtype"); w.Uint(a.qtype);
        w.Key("tcp_size"); w.Uint(a.tcp_size);
        w.Key("rcode"); w.Uint(a.rcode);
        w.Key("signed"); w.Bool(a.has_rrsig);
        w.Key("fits"); w.Bool(a.fits);
        w.Key("udp");
        w.StartArray();
        for (const UdpTry& u : a.udp) {
            w.StartObject();
            w.Key("edns_size"); w.Uint(u.edns_size);
            w.Key("fate"); w.String(to_string(u.fate));
            w.Key("size"); w.Uint(u.size);
            w.Key("first_fragments"); w.Uint(u.arrival.first_fragments);
            w.Key("nonfirst_fragments"); w.Uint(u.arrival.nonfirst_fragments);
            if (!u.detail.empty()) { w.Key("detail"); w.String(u.detail.c_str()); }
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

}  // namespace frag53::probe
