#include "analyzers/dnssec/canonical.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <new>

namespace frag53::dnssec {
namespace {

using dns::MessageView;
using dns::Name;
using dns::ParseError;
using dns::Record;

constexpr size_t rrsig_fixed_size = 18;  // type covered .. key tag
constexpr size_t max_rdata = 65535;

namespace type {
inline constexpr uint16_t NS = 2, MD = 3, MF = 4, CNAME = 5, SOA = 6, MB = 7, MG = 8, MR = 9,
                          PTR = 12, MINFO = 14, MX = 15, RP = 17, AFSDB = 18, RT = 21, SIG = 24,
                          PX = 26, NXT = 30, SRV = 33, NAPTR = 35, KX = 36, A6 = 38, DNAME = 39,
                          RRSIG = 46;
}

// Copies one RDATA into `out` in canonical form, field by field. Names are decompressed (a
// name inside RDATA may point anywhere earlier in the message, with scan_name's guards) and,
// when `lower`, lower-cased.
class RdataWriter {
public:
    RdataWriter(Bytes wire, size_t pos, size_t end, bool lower, std::vector<uint8_t>& out)
        : wire_(wire), pos_(pos), end_(end), lower_(lower), out_(out) {}

    void fixed(size_t n) {
        if (!ok_ || n > end_ - pos_) {
            ok_ = false;
            return;
        }
        const auto* p = reinterpret_cast<const uint8_t*>(wire_.data() + pos_);
        out_.insert(out_.end(), p, p + n);
        pos_ += n;
    }
    void name() {
        if (!ok_) return;
        Name n;
        const dns::NameScan s = dns::scan_name(wire_, pos_, end_, &n);
        if (s.error != ParseError::none) {
            ok_ = false;
            return;
        }
        if (lower_) n.to_lower();
        out_.insert(out_.end(), n.wire.begin(), n.wire.begin() + n.length);
        pos_ = s.end;
    }
    void character_string() {
        if (!ok_ || pos_ >= end_) {
            ok_ = false;
            return;
        }
        fixed(1 + static_cast<size_t>(wire_[pos_]));
    }
    void rest() { fixed(end_ - pos_); }
    uint8_t peek() const { return ok_ && pos_ < end_ ? static_cast<uint8_t>(wire_[pos_]) : 0; }
    void fail() { ok_ = false; }
    bool done() const { return ok_ && pos_ == end_; }

private:
    Bytes wire_;
    size_t pos_, end_;
    bool lower_;
    std::vector<uint8_t>& out_;
    bool ok_ = true;
};

// False when the RDATA does not have the layout of its type.
bool append_canonical_rdata(const MessageView& msg, const Record& rr, std::vector<uint8_t>& out) {
    const size_t begin = rr.rdata_offset;
    const size_t end = begin + rr.rdlength;
    if (end > msg.wire().size()) return false;
    RdataWriter w(msg.wire(), begin, end, true, out);
    switch (rr.type) {
    case type::NS: case type::MD: case type::MF: case type::CNAME: case type::MB: case type::MG:
    case type::MR: case type::PTR: case type::DNAME:
        w.name();
        break;
    case type::SOA:
        w.name();
        w.name();
        w.fixed(20);
        break;
    case type::MINFO: case type::RP:
        w.name();
        w.name();
        break;
    case type::MX: case type::AFSDB: case type::RT: case type::KX:
        w.fixed(2);
        w.name();
        break;
    case type::PX:
        w.fixed(2);
        w.name();
        w.name();
        break;
    case type::SRV:
        w.fixed(6);
        w.name();
        break;
    case type::NAPTR:
        w.fixed(4);
        w.character_string();
        w.character_string();
        w.character_string();
        w.name();
        break;
    case type::SIG: case type::RRSIG:
        w.fixed(rrsig_fixed_size);
        w.name();
        w.rest();
        break;
    case type::NXT:
        w.name();
        w.rest();
        break;
    case type::A6: {  // RFC 2874: prefix length, address suffix, prefix name if length > 0
        const uint8_t prefix = w.peek();
        if (prefix > 128) w.fail();
        w.fixed(1);
        w.fixed((128u - prefix + 7) / 8);
        if (prefix > 0) w.name();
        break;
    }
    default:  // no names, or names that keep their case (NSEC): the bytes as they are
        RdataWriter(msg.wire(), begin, end, false, out).rest();
        return true;
    }
    return w.done();
}

// "*." + the rightmost `labels` labels of `name` (RFC 4035 section 5.3.2 step 3).
void wildcard_owner(Name& name, unsigned labels) noexcept {
    unsigned skip = name.label_count() - labels;
    size_t i = 0;
    while (skip-- > 0) i += 1u + name.wire[i];
    const size_t tail = name.length - i;
    std::memmove(name.wire.data() + 2, name.wire.data() + i, tail);
    name.wire[0] = 1;
    name.wire[1] = '*';
    name.length = static_cast<uint8_t>(2 + tail);
}

struct Slice {
    uint32_t offset;
    uint32_t length;
};

CanonicalStatus build(const MessageView& msg, const Record& sig_rr, std::vector<uint8_t>& out) {
    const dns::Header& h = msg.header();
    const size_t announced = size_t{h.ancount} + h.nscount + h.arcount;
    if (!msg.header_complete() || msg.records_seen() < announced ||
        msg.records().size() < msg.records_seen())
        return CanonicalStatus::incomplete;

    const auto sig = msg.rrsig(sig_rr);
    if (!sig) return CanonicalStatus::malformed;
    Name owner;
    if (dns::decode_name(msg.wire(), sig_rr.name_offset, owner) != ParseError::none)
        return CanonicalStatus::malformed;
    Name signer;
    const size_t rdata_end = size_t{sig_rr.rdata_offset} + sig_rr.rdlength;
    if (dns::scan_name(msg.wire(), sig->signer_offset, rdata_end, &signer).error !=
        ParseError::none)
        return CanonicalStatus::malformed;
    const unsigned owner_labels = owner.label_count();
    // The Labels field does not count a leading "*" (RFC 4034 section 3.1.3), so it can be one
    // less than the owner's count without any expansion; more than the count is never valid.
    if (sig->labels > owner_labels) return CanonicalStatus::malformed;

    Name canonical_owner = owner;
    canonical_owner.to_lower();
    if (owner_labels > sig->labels) wildcard_owner(canonical_owner, sig->labels);
    signer.to_lower();

    // RRSIG RDATA up to the signer, then the signer in canonical form.
    const auto* rd = reinterpret_cast<const uint8_t*>(sig->rdata.data());
    out.insert(out.end(), rd, rd + rrsig_fixed_size);
    out.insert(out.end(), signer.wire.begin(), signer.wire.begin() + signer.length);
    const size_t prefix = out.size();

    // Canonical RDATA of each covered record, in wire order, after the prefix; sorted and
    // emitted as whole RRs once all are known.
    std::array<Slice, MessageView::max_records> slices;
    size_t n = 0;
    Name rr_owner;
    for (const Record& rr : msg.records()) {
        if (rr.section != sig_rr.section || rr.type != sig->type_covered ||
            rr.klass != sig_rr.klass)
            continue;
        if (rr.name_offset != sig_rr.name_offset) {
            if (dns::decode_name(msg.wire(), rr.name_offset, rr_owner) != ParseError::none)
                return CanonicalStatus::malformed;
            if (!rr_owner.equals_ignore_case(owner)) continue;
        }
        const size_t start = out.size();
        if (!append_canonical_rdata(msg, rr, out)) return CanonicalStatus::malformed;
        const size_t len = out.size() - start;
        if (len > max_rdata || out.size() > max_signed_data) return CanonicalStatus::too_large;
        slices[n++] = {static_cast<uint32_t>(start), static_cast<uint32_t>(len)};
    }
    if (n == 0) return CanonicalStatus::no_rrset;

    const uint8_t* base = out.data();
    auto less = [base](const Slice& a, const Slice& b) noexcept {
        const int c = std::memcmp(base + a.offset, base + b.offset, std::min(a.length, b.length));
        return c != 0 ? c < 0 : a.length < b.length;
    };
    auto same = [base](const Slice& a, const Slice& b) noexcept {
        return a.length == b.length && std::memcmp(base + a.offset, base + b.offset, a.length) == 0;
    };
    std::sort(slices.begin(), slices.begin() + static_cast<ptrdiff_t>(n), less);
    n = static_cast<size_t>(
        std::unique(slices.begin(), slices.begin() + static_cast<ptrdiff_t>(n), same) -
        slices.begin());

    const size_t scratch_end = out.size();
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) total += canonical_owner.length + 10u + slices[i].length;
    if (scratch_end + total > max_signed_data) return CanonicalStatus::too_large;
    out.resize(scratch_end + total);
    uint8_t* w = out.data() + scratch_end;  // stable from here on: no more resizing
    const uint8_t fixed[8] = {
        static_cast<uint8_t>(sig->type_covered >> 8), static_cast<uint8_t>(sig->type_covered),
        static_cast<uint8_t>(sig_rr.klass >> 8), static_cast<uint8_t>(sig_rr.klass),
        static_cast<uint8_t>(sig->original_ttl >> 24), static_cast<uint8_t>(sig->original_ttl >> 16),
        static_cast<uint8_t>(sig->original_ttl >> 8), static_cast<uint8_t>(sig->original_ttl),
    };
    for (size_t i = 0; i < n; ++i) {
        std::memcpy(w, canonical_owner.wire.data(), canonical_owner.length);
        w += canonical_owner.length;
        std::memcpy(w, fixed, sizeof fixed);
        w += sizeof fixed;
        *w++ = static_cast<uint8_t>(slices[i].length >> 8);
        *w++ = static_cast<uint8_t>(slices[i].length);
        std::memcpy(w, out.data() + slices[i].offset, slices[i].length);
        w += slices[i].length;
    }
    // Move the finished RRs down over the scratch copies.
    out.erase(out.begin() + static_cast<ptrdiff_t>(prefix),
              out.begin() + static_cast<ptrdiff_t>(scratch_end));
    return CanonicalStatus::ok;
}

}  // namespace

const char* to_string(CanonicalStatus s) noexcept {
    switch (s) {
    case CanonicalStatus::ok: return "ok";
    case CanonicalStatus::no_rrset: return "no_rrset";
    case CanonicalStatus::malformed: return "malformed";
    case CanonicalStatus::too_large: return "too_large";
    case CanonicalStatus::incomplete: return "incomplete";
    }
    return "unknown";
}

CanonicalStatus signed_data(const MessageView& msg, const Record& rrsig,
                            std::vector<uint8_t>& out) noexcept {
    out.clear();
    try {
        const CanonicalStatus st = build(msg, rrsig, out);
        if (st != CanonicalStatus::ok) out.clear();
        return st;
    } catch (const std::bad_alloc&) {
        out.clear();
        return CanonicalStatus::too_large;
    }
}

}  // namespace frag53::dnssec
