#include "prober/responder/answer.h"

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <vector>

#include "prober/query.h"
#include "prober/responder/wire_writer.h"

namespace frag53::probe {

namespace {

constexpr uint16_t flag_qr = 0x8000, flag_aa = 0x0400, flag_tc = 0x0200, flag_rd = 0x0100,
                   flag_cd = 0x0010;
constexpr uint16_t class_in = 1;
constexpr size_t max_echo = 255;  // one character-string

// Printable filler, long enough for one full character-string.
constexpr std::string_view filler_pattern =
    "frag53-filler-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789"
    "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq"
    "rstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01234567";
static_assert(filler_pattern.size() >= 255);

Bytes name_bytes(const dns::Name& n) noexcept {
    return as_bytes(n.wire.data(), n.length);
}

// TXT RDATA of exactly `len` (>= 1) bytes: character-strings of 255 bytes, then one with the rest.
void write_filler_rdata(WireWriter& w, size_t len) noexcept {
    while (len >= 256) {
        w.u8(255);
        w.bytes(as_bytes(filler_pattern.data(), 255));
        len -= 256;
    }
    if (len > 0) {
        w.u8(static_cast<uint8_t>(len - 1));
        w.bytes(as_bytes(filler_pattern.data(), len - 1));
    }
}

// Appends `s` to `out` at `pos` if it fits within `limit`; false (nothing written) otherwise.
bool append(std::span<char> out, size_t& pos, size_t limit, std::string_view s) noexcept {
    if (limit > out.size()) limit = out.size();
    if (pos > limit || s.size() > limit - pos) return false;
    std::copy(s.begin(), s.end(), out.begin() + static_cast<std::ptrdiff_t>(pos));
    pos += s.size();
    return true;
}

bool append_number(std::span<char> out, size_t& pos, size_t limit, unsigned v) noexcept {
    char buf[12];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    if (ec != std::errc{}) return false;
    return append(out, pos, limit, std::string_view(buf, static_cast<size_t>(end - buf)));
}

}  // namespace

const char* to_string(AnswerKind k) noexcept {
    switch (k) {
    case AnswerKind::none: return "none";
    case AnswerKind::answer: return "answer";
    case AnswerKind::truncated: return "truncated";
    case AnswerKind::refused: return "refused";
    case AnswerKind::formerr: return "formerr";
    case AnswerKind::notimp: return "notimp";
    case AnswerKind::badvers: return "badvers";
    }
    return "unknown";
}

const char* to_string(RefuseReason r) noexcept {
    switch (r) {
    case RefuseReason::none: return "none";
    case RefuseReason::not_probe_name: return "not_probe_name";
    case RefuseReason::qtype_qclass: return "qtype_qclass";
    case RefuseReason::mtu_below_1280: return "mtu_below_1280";
    case RefuseReason::no_raw_socket: return "no_raw_socket";
    }
    return "unknown";
}

AnswerBuilder::AnswerBuilder(const AnswerConfig& cfg)
    : cfg_(cfg), view_(std::make_unique<dns::MessageView>()) {
    std::vector<uint8_t> wire;
    std::string_view z = cfg.zone;
    if (z == ".") z = {};
    if (!z.empty() && z.front() == '.') throw std::invalid_argument("zone '" + cfg.zone + "': empty label");
    if (!encode_name(z, wire) || wire.size() > 255 - 2)
        throw std::invalid_argument("zone '" + cfg.zone + "' is not a valid DNS name");
    std::copy(wire.begin(), wire.end(), zone_.wire.begin());
    zone_.length = static_cast<uint8_t>(wire.size());
    zone_.to_lower();
}

AnswerBuilder::~AnswerBuilder() = default;

// The first label of `lower` when the rest of it is exactly the zone.
bool AnswerBuilder::probe_label_of(const dns::Name& lower, std::string_view& label) const noexcept {
    if (lower.length < 2) return false;  // the root has no first label
    const size_t len = lower.wire[0];
    if (len == 0 || 1 + len >= lower.length) return false;
    const size_t rest = lower.length - 1 - len;
    if (rest != zone_.length ||
        !std::equal(zone_.wire.begin(), zone_.wire.begin() + zone_.length,
                    lower.wire.begin() + 1 + static_cast<std::ptrdiff_t>(len)))
        return false;
    label = std::string_view(reinterpret_cast<const char*>(lower.wire.data() + 1), len);
    return true;
}

// edns=<size> do=<0|1> ver=<v> opts=<codes|none> tcp=<0|1> src=<addr>   (EDNS present)
// edns=none tcp=<0|1> src=<addr>                                         (no EDNS)
// The option list stops with "+" when the string would pass 255 characters.
size_t AnswerBuilder::write_echo(const QueryContext& ctx, std::span<char> out) const noexcept {
    const dns::Edns& e = view_->edns();
    // The tail goes last but is reserved first, so options never crowd out the source.
    std::string_view src = ctx.source.substr(0, 64);
    const size_t tail_len = 11 + src.size();  // " tcp=N src=<addr>"
    const size_t limit = std::min(out.size(), max_echo);
    const size_t head_limit = limit > tail_len ? limit - tail_len : 0;
    size_t pos = 0;
    bool fits = true;
    if (!e.present) {
        fits = append(out, pos, head_limit, "edns=none");
    } else {
        fits = append(out, pos, head_limit, "edns=") &&
               append_number(out, pos, head_limit, e.udp_size) &&
               append(out, pos, head_limit, e.do_bit ? " do=1 ver=" : " do=0 ver=") &&
               append_number(out, pos, head_limit, e.version) &&
               append(out, pos, head_limit, " opts=");
        if (fits) {
            dns::EdnsOptionIterator it(view_->wire(), e);
            dns::EdnsOption opt;
            unsigned n = 0;
            // Room is kept for a final "+" so a cut list is always marked.
            const size_t list_limit = head_limit > 0 ? head_limit - 1 : 0;
            bool cut = false;
            while (it.next(opt)) {
                const size_t before = pos;
                if (!((n == 0 || append(out, pos, list_limit, ",")) &&
                      append_number(out, pos, list_limit, opt.code))) {
                    pos = before;
                    cut = true;
                    break;
                }
                ++n;
            }
            if (cut) fits = append(out, pos, head_limit, "+");
            else if (n == 0) fits = append(out, pos, head_limit, "none");
        }
    }
    if (!fits) return 0;
    if (!append(out, pos, limit, ctx.transport == Transport::tcp ? " tcp=1 src=" : " tcp=0 src=") ||
        !append(out, pos, limit, src))
        return 0;
    return pos;
}

std::string AnswerBuilder::echo_text(Bytes query, const QueryContext& ctx) noexcept {
    try {
        if (view_->parse(query) != dns::ParseError::none) return {};
        char buf[max_echo];
        return std::string(buf, write_echo(ctx, buf));
    } catch (...) {
        return {};
    }
}

Answer AnswerBuilder::error_answer(AnswerKind kind, uint16_t rcode, bool with_question,
                                   bool with_opt, std::span<std::byte> out) noexcept {
    const dns::Header& h = view_->header();
    WireWriter w(out);
    w.u16(h.id);
    w.u16(static_cast<uint16_t>(flag_qr | (h.flags & (0x7800 | flag_rd | flag_cd)) | (rcode & 0xF)));
    w.u16(with_question ? 1 : 0);
    w.u16(0);
    w.u16(0);
    w.u16(with_opt ? 1 : 0);
    if (with_question) {
        w.bytes(name_bytes(qname_));
        w.u16(qtype_);
        w.u16(qclass_);
    }
    if (with_opt) {
        w.u8(0);
        w.u16(dns::rrtype::OPT);
        w.u16(cfg_.edns_udp_size);
        w.u32((static_cast<uint32_t>(rcode >> 4) << 24) | (view_->edns().do_bit ? 0x8000u : 0u));
        w.u16(0);
    }
    if (!w.ok()) return {};
    Answer a;
    a.kind = kind;
    a.length = w.pos();
    return a;
}

Answer AnswerBuilder::build(Bytes query, const QueryContext& ctx, std::span<std::byte> out) noexcept {
    if (query.size() < 12 || out.size() < 12) return {};
    if ((static_cast<unsigned>(query[2]) & 0x80) != 0) return {};  // a response: never answered

    qname_.length = 0;
    qtype_ = qclass_ = 0;
    const dns::ParseError err = view_->parse(query);
    const dns::Header& h = view_->header();
    if (h.opcode() != 0) return error_answer(AnswerKind::notimp, dns::rcode::NOTIMP, false, false, out);
    if (err != dns::ParseError::none || h.qdcount != 1 || h.ancount != 0 || h.nscount != 0 ||
        !view_->first_question(qname_, qtype_, qclass_))
        return error_answer(AnswerKind::formerr, dns::rcode::FORMERR, false, false, out);

    const dns::Edns& edns = view_->edns();
    if (edns.present && edns.version != 0)
        return error_answer(AnswerKind::badvers, dns::rcode::BADVERS, true, true, out);

    const auto refused = [&](RefuseReason why) {
        Answer a = error_answer(AnswerKind::refused, dns::rcode::REFUSED, true, edns.present, out);
        if (a.kind == AnswerKind::refused) a.reason = why;
        return a;
    };
    if (qclass_ != class_in || (qtype_ != dns::rrtype::TXT && qtype_ != dns::rrtype::ANY))
        return refused(RefuseReason::qtype_qclass);
    dns::Name lower = qname_;
    lower.to_lower();
    std::string_view label;
    if (!probe_label_of(lower, label)) return refused(RefuseReason::not_probe_name);
    const std::optional<ProbeSpec> spec = parse_probe_label(label);
    if (!spec) return refused(RefuseReason::not_probe_name);
    const bool udp = ctx.transport == Transport::udp;
    if (udp && spec->frag == FragMode::forced) {
        // IPv6 links carry at least 1280 bytes (RFC 8200 §5): a smaller fragment size is no test.
        if (ctx.family == AddressFamily::ipv6 && spec->frag_mtu < 1280)
            return refused(RefuseReason::mtu_below_1280);
        if (!ctx.forced_fragments) return refused(RefuseReason::no_raw_socket);
    }

    char echo[max_echo];
    const size_t echo_len = write_echo(ctx, echo);
    const size_t base = min_answer_size(qname_.length, echo_len, edns.present);
    const size_t transport_max =
        !udp ? max_tcp_message : ctx.family == AddressFamily::ipv4 ? max_udp_message_v4 : max_udp_message_v6;
    const size_t max_size = std::min(out.size(), transport_max);
    if (base > max_size) return {};
    const size_t target = std::clamp<size_t>(spec->size, base, max_size);

    bool tc = false;
    if (udp) {
        const size_t client_max = edns.present ? std::max<size_t>(512, edns.udp_size) : 512;
        tc = spec->trunc == TruncMode::always ||
             (spec->trunc == TruncMode::honour && target > client_max);
    }

    WireWriter w(out);
    w.u16(h.id);
    w.u16(static_cast<uint16_t>(flag_qr | flag_aa | (tc ? flag_tc : 0) | (h.flags & (flag_rd | flag_cd))));
    w.u16(1);
    const size_t ancount_at = w.pos();
    w.u16(0);
    w.u16(0);
    w.u16(edns.present ? 1 : 0);
    w.bytes(name_bytes(qname_));
    w.u16(qtype_);
    w.u16(qclass_);

    uint16_t ancount = 0;
    if (!tc) {
        // Sizes between the echo-only answer and one more record (12 bytes of RR header and at
        // least one byte of RDATA) go into a second string of the echo record.
        size_t delta = target - base;
        const size_t small_tail = delta <= 12 ? delta : 0;
        delta -= small_tail;

        w.u16(0xC00C);  // the question name
        w.u16(dns::rrtype::TXT);
        w.u16(class_in);
        w.u32(cfg_.ttl);
        w.u16(static_cast<uint16_t>(1 + echo_len + small_tail));
        w.u8(static_cast<uint8_t>(echo_len));
        w.bytes(as_bytes(echo, echo_len));
        if (small_tail > 0) write_filler_rdata(w, small_tail);
        ++ancount;

        while (delta > 0) {  // here delta >= 13
            size_t rdlen = std::min(delta - 12, filler_rdata_max);
            const size_t left = delta - 12 - rdlen;
            if (left > 0 && left < 13) rdlen -= 13;  // leave room for one whole record
            w.u16(0xC00C);
            w.u16(dns::rrtype::TXT);
            w.u16(class_in);
            w.u32(cfg_.ttl);
            w.u16(static_cast<uint16_t>(rdlen));
            write_filler_rdata(w, rdlen);
            delta -= 12 + rdlen;
            ++ancount;
        }
    }
    if (edns.present) {
        w.u8(0);
        w.u16(dns::rrtype::OPT);
        w.u16(cfg_.edns_udp_size);
        w.u32(edns.do_bit ? 0x8000u : 0u);
        w.u16(0);
    }
    w.patch16(ancount_at, ancount);
    if (!w.ok()) return {};

    Answer a;
    a.kind = tc ? AnswerKind::truncated : AnswerKind::answer;
    a.length = w.pos();
    a.spec = *spec;
    a.full_size = target;
    a.clamped = target != spec->size;
    return a;
}

Answer AnswerBuilder::build_slip(Bytes query, std::span<std::byte> out) noexcept {
    if (query.size() < 12 || (static_cast<unsigned>(query[2]) & 0x80) != 0) return {};
    qname_.length = 0;
    const dns::ParseError err = view_->parse(query);
    const dns::Header& h = view_->header();
    if (err != dns::ParseError::none || h.opcode() != 0 || h.qdcount != 1 ||
        !view_->first_question(qname_, qtype_, qclass_))
        return {};
    WireWriter w(out);
    w.u16(h.id);
    w.u16(static_cast<uint16_t>(flag_qr | flag_tc | (h.flags & (flag_rd | flag_cd))));
    w.u16(1);
    w.u16(0);
    w.u16(0);
    w.u16(0);
    w.bytes(name_bytes(qname_));
    w.u16(qtype_);
    w.u16(qclass_);
    if (!w.ok()) return {};
    Answer a;
    a.kind = AnswerKind::truncated;
    a.length = w.pos();
    return a;
}

}  // namespace frag53::probe
