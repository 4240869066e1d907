#include "prober/probe/echo.h"

#include <charconv>
#include <memory>

#include "analyzers/dns/message.h"

namespace frag53::probe {

namespace {

bool parse_u16(std::string_view s, uint16_t& out) noexcept {
    if (s.empty()) return false;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || v > 65535) return false;
    out = static_cast<uint16_t>(v);
    return true;
}

}  // namespace

EchoSeen parse_echo_text(std::string_view text) noexcept {
    EchoSeen e;
    bool have_edns = false, have_do = false, have_opts = false;
    while (!text.empty()) {
        const size_t sp = text.find(' ');
        std::string_view tok = text.substr(0, sp);
        text = sp == std::string_view::npos ? std::string_view{} : text.substr(sp + 1);
        const size_t eq = tok.find('=');
        if (eq == std::string_view::npos) return {};
        const std::string_view key = tok.substr(0, eq), val = tok.substr(eq + 1);
        if (key == "edns") {
            have_edns = true;
            if (val == "none") {
                e.edns = false;
            } else {
                e.edns = true;
                if (!parse_u16(val, e.udp_size)) return {};
            }
        } else if (key == "do") {
            if (val != "0" && val != "1") return {};
            have_do = true;
            e.do_bit = val == "1";
        } else if (key == "opts") {
            have_opts = true;
            if (val == "none") continue;
            std::string_view list = val;
            // A list cut for room ends in '+': at least one more option was there.
            if (!list.empty() && list.back() == '+') {
                list.remove_suffix(1);
                ++e.option_count;
            }
            while (!list.empty()) {
                const size_t comma = list.find(',');
                uint16_t code = 0;
                if (!parse_u16(list.substr(0, comma), code)) return {};
                ++e.option_count;
                list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
            }
        }
        // ver=, tcp=, src= and later additions: not needed for the verdicts.
    }
    if (!have_edns || (e.edns && !(have_do && have_opts))) return {};
    e.valid = true;
    return e;
}

EchoSeen find_echo(Bytes answer) noexcept {
    // MessageView is large (fixed record capacity): one per thread, reused.
    thread_local std::unique_ptr<dns::MessageView> view;
    if (!view) {
        try {
            view = std::make_unique<dns::MessageView>();
        } catch (...) {
            return {};
        }
    }
    view->parse(answer);
    if (!view->header_complete()) return {};
    for (const dns::Record& rr : view->records()) {
        if (rr.section != dns::Section::answer || rr.type != dns::rrtype::TXT) continue;
        Bytes rd = view->rdata(rr);
        WireReader r(rd);
        const uint8_t len = r.u8();
        Bytes s = r.bytes(len);
        if (!r.ok()) return {};
        return parse_echo_text({reinterpret_cast<const char*>(s.data()), s.size()});
    }
    return {};
}

}  // namespace frag53::probe
