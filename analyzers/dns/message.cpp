// One pass over a DNS message: header, questions, records, OPT.
//
// Error policy. Framing errors (a name, the fixed fields or the RDATA not where the counts say)
// stop the walk, because nothing after them can be located. Errors that leave the framing intact
// (a misplaced or second OPT, an EDNS option running past the OPT RDATA, a bad name inside a
// known RDATA) are recorded and the walk goes on, so later records are still available to the
// detectors. Either way only the first error and its offset are kept.
//
// Choosing between overlapping errors, most specific first:
//   - the message ends exactly where a question or record should start, while the counts say
//     more follow: bad_counts (the counts lie; nothing is cut in the middle);
//   - it ends inside an owner name: name_past_end; inside the fixed fields: record_past_end;
//     inside RDATA: rdlength_past_end;
//   - name errors (loop, forward / out-of-range pointer, label type, length) come from
//     scan_name with the offset of the offending byte.
#include "analyzers/dns/message.h"

#include <algorithm>

namespace frag53::dns {
namespace {

constexpr size_t header_size = 12;
constexpr size_t max_message_size = 65535;  // offsets are 16 bits; nothing larger is one message
constexpr size_t question_fixed_size = 4;
constexpr size_t record_fixed_size = 10;

uint16_t be16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) noexcept {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

// Where the names sit in the RDATA of types that carry them: `prefix` fixed bytes, then `names`
// consecutive names. Compressible types (RFC 3597 section 4) and the DNSSEC types whose names
// must not be compressed but are still walked with the same guards. The names of the latter are
// not pointed at either, so they are not kept in the walk's cache (`learn`): an answer with a
// few signatures would otherwise push the question out of it, and every owner name pointing at
// the question would walk it again.
struct RdataNames {
    uint8_t prefix;
    uint8_t names;
    bool learn = true;
};
constexpr RdataNames rdata_names(uint16_t type) noexcept {
    switch (type) {
    case rrtype::NS: case rrtype::CNAME: case rrtype::PTR: case 39 /* DNAME */:
        return {0, 1};
    case rrtype::SOA:
        return {0, 2};
    case rrtype::MX:
        return {2, 1};
    case 33 /* SRV */:
        return {6, 1};
    case rrtype::RRSIG:
        return {18, 1, false};
    case rrtype::NSEC:
        return {0, 1, false};
    default:
        return {0, 0};
    }
}

constexpr bool known_edns_option(uint16_t code) noexcept {
    switch (code) {
    case edns_opt::NSID: case edns_opt::ECS: case edns_opt::EXPIRE: case edns_opt::COOKIE:
    case edns_opt::KEEPALIVE: case edns_opt::PADDING: case edns_opt::CHAIN: case edns_opt::KEYTAG:
    case edns_opt::EDE:
        return true;
    default:
        return false;
    }
}

// NSEC / NSEC3 type bitmaps (RFC 4034 section 4.1.2): window blocks in increasing order, each
// with 1..32 bitmap bytes.
bool valid_type_bitmaps(Bytes b) noexcept {
    WireReader r(b);
    int last_window = -1;
    while (r.remaining() > 0) {
        const uint8_t window = r.u8();
        const uint8_t len = r.u8();
        if (!r.ok() || window <= last_window || len == 0 || len > 32 || len > r.remaining())
            return false;
        r.skip(len);
        last_window = window;
    }
    return true;
}

}  // namespace

const char* to_string(ParseError e) noexcept {
    switch (e) {
    case ParseError::none: return "none";
    case ParseError::short_header: return "short_header";
    case ParseError::compression_loop: return "compression_loop";
    case ParseError::pointer_forward: return "pointer_forward";
    case ParseError::pointer_out_of_range: return "pointer_out_of_range";
    case ParseError::bad_label_type: return "bad_label_type";
    case ParseError::label_too_long: return "label_too_long";
    case ParseError::name_too_long: return "name_too_long";
    case ParseError::name_past_end: return "name_past_end";
    case ParseError::record_past_end: return "record_past_end";
    case ParseError::rdlength_past_end: return "rdlength_past_end";
    case ParseError::option_past_end: return "option_past_end";
    case ParseError::bad_opt: return "bad_opt";
    case ParseError::trailing_bytes: return "trailing_bytes";
    case ParseError::bad_counts: return "bad_counts";
    }
    return "unknown";
}

void MessageView::fail(ParseError e, size_t offset) noexcept {
    if (error_ != ParseError::none) return;
    error_ = e;
    error_offset_ = offset;
}

ParseError MessageView::parse(Bytes wire) noexcept {
    size_t pos = 0;
    if (!parse_head_at(wire, pos)) return error_;
    const Bytes msg = wire.first(std::min(wire.size(), max_message_size));
    const std::array<std::pair<uint16_t, Section>, 3> sections{{
        {header_.ancount, Section::answer},
        {header_.nscount, Section::authority},
        {header_.arcount, Section::additional},
    }};
    for (const auto& [count, section] : sections)
        for (unsigned i = 0; i < count; ++i)
            if (!parse_record(msg, pos, section)) return error_;

    if (pos < wire.size()) fail(ParseError::trailing_bytes, pos);
    return error_;
}

ParseError MessageView::parse_head(Bytes wire) noexcept {
    size_t pos = 0;
    parse_head_at(wire, pos);
    return error_;
}

bool MessageView::parse_head_at(Bytes wire, size_t& pos) noexcept {
    wire_ = wire;
    header_ = Header{};
    error_ = ParseError::none;
    error_offset_ = 0;
    edns_ = Edns{};
    has_rrsig_ = false;
    n_questions_ = n_records_ = records_seen_ = 0;
    seen_in_ = {};
    name_cache_.clear();

    if (wire.size() < header_size) {
        fail(ParseError::short_header, 0);
        return false;
    }
    // Bytes past 64 KiB cannot belong to a DNS message; they end up as trailing bytes.
    const Bytes msg = wire.first(std::min(wire.size(), max_message_size));
    const auto* w = reinterpret_cast<const uint8_t*>(msg.data());
    header_.id = be16(w);
    header_.flags = be16(w + 2);
    header_.qdcount = be16(w + 4);
    header_.ancount = be16(w + 6);
    header_.nscount = be16(w + 8);
    header_.arcount = be16(w + 10);

    pos = header_size;
    for (unsigned i = 0; i < header_.qdcount; ++i)
        if (!parse_question(msg, pos)) return false;
    return true;
}

// Both take the message (at most 64 KiB) and the position of the question or record, which they
// move past it.
bool MessageView::parse_question(Bytes msg, size_t& pos) noexcept {
    const size_t start = pos;
    if (start == msg.size()) {
        fail(ParseError::bad_counts, start);
        return false;
    }
    const NameScan name = walk_name(msg, start, msg.size(), &name_cache_);
    if (name.error != ParseError::none) {
        fail(name.error, name.error_offset);
        return false;
    }
    pos = name.end;
    if (msg.size() - pos < question_fixed_size) {
        fail(ParseError::record_past_end, pos);
        return false;
    }
    const auto* w = reinterpret_cast<const uint8_t*>(msg.data()) + pos;
    Question q;
    q.name_offset = static_cast<uint16_t>(start);
    // Whole in place: the bytes are the decoded name (at most 255, checked by the scan).
    if (!name.jumped) q.name_length = static_cast<uint8_t>(name.end - start);
    q.qtype = be16(w);
    q.qclass = be16(w + 2);
    pos += question_fixed_size;
    if (n_questions_ < max_questions) questions_[n_questions_++] = q;
    ++seen_in_[static_cast<size_t>(Section::question)];
    return true;
}

bool MessageView::parse_record(Bytes msg, size_t& pos, Section s) noexcept {
    const size_t start = pos;
    if (start == msg.size()) {
        fail(ParseError::bad_counts, start);
        return false;
    }
    const NameScan name = walk_name(msg, start, msg.size(), &name_cache_);
    if (name.error != ParseError::none) {
        fail(name.error, name.error_offset);
        return false;
    }
    pos = name.end;
    // The fixed fields are checked once and read in place.
    if (msg.size() - pos < record_fixed_size) {
        fail(ParseError::record_past_end, pos);
        return false;
    }
    const auto* w = reinterpret_cast<const uint8_t*>(msg.data()) + pos;
    Record rr;
    rr.name_offset = static_cast<uint16_t>(start);
    rr.type = be16(w);
    rr.klass = be16(w + 2);
    rr.ttl = be32(w + 4);
    rr.rdlength = be16(w + 8);
    rr.section = s;
    pos += record_fixed_size;
    if (rr.rdlength > msg.size() - pos) {
        // Points at RDLENGTH itself: that is the field that lies.
        fail(ParseError::rdlength_past_end, pos - 2);
        return false;
    }
    rr.rdata_offset = static_cast<uint16_t>(pos);
    pos += rr.rdlength;

    ++records_seen_;
    ++seen_in_[static_cast<size_t>(s)];
    if (rr.type == rrtype::RRSIG) has_rrsig_ = true;
    if (rr.type == rrtype::OPT)
        parse_opt(rr, start);
    else
        check_rdata_names(rr);
    if (n_records_ < max_records) records_[n_records_++] = rr;
    return true;
}

void MessageView::check_rdata_names(const Record& rr) noexcept {
    const RdataNames where = rdata_names(rr.type);
    // An empty RDATA carries no name: that is how dynamic update deletes an RRset.
    if (where.names == 0 || rr.rdlength == 0 || rr.rdlength <= where.prefix) return;
    const size_t limit = size_t{rr.rdata_offset} + rr.rdlength;
    size_t pos = size_t{rr.rdata_offset} + where.prefix;
    for (unsigned i = 0; i < where.names; ++i) {
        const NameScan name = walk_name(wire_, pos, limit, where.learn ? &name_cache_ : nullptr);
        if (name.error != ParseError::none) {
            fail(name.error, name.error_offset);
            return;
        }
        pos = name.end;
    }
}

void MessageView::parse_opt(const Record& rr, size_t record_offset) noexcept {
    // Only one OPT, only in the additional section, only owned by the root (RFC 6891 6.1.1).
    // A misplaced or second OPT does not describe the message's EDNS, so it is not summarised;
    // an OPT in the right place with a non-root owner still is, since it is the only one there.
    if (rr.section != Section::additional || edns_.present) {
        fail(ParseError::bad_opt, record_offset);
        return;
    }
    if (wire_[record_offset] != std::byte{0}) fail(ParseError::bad_opt, record_offset);

    edns_.present = true;
    edns_.udp_size = rr.klass;
    edns_.ext_rcode = static_cast<uint8_t>(rr.ttl >> 24);
    edns_.version = static_cast<uint8_t>(rr.ttl >> 16);
    edns_.do_bit = (rr.ttl & 0x8000u) != 0;
    edns_.z = static_cast<uint16_t>(rr.ttl & 0x7FFFu);
    edns_.rdata_offset = rr.rdata_offset;
    edns_.rdlength = rr.rdlength;

    EdnsOptionIterator it(wire_, edns_);
    EdnsOption opt;
    while (it.next(opt)) {
        ++edns_.option_count;
        const size_t len = opt.data.size();
        switch (opt.code) {
        case edns_opt::NSID: edns_.has_nsid = true; break;
        case edns_opt::ECS: edns_.has_ecs = true; break;
        case edns_opt::KEEPALIVE: edns_.has_keepalive = true; break;
        case edns_opt::COOKIE:
            if (!edns_.has_cookie)
                edns_.cookie_length = static_cast<uint8_t>(std::min<size_t>(len, 255));
            edns_.has_cookie = true;
            break;
        case edns_opt::PADDING:
            if (!edns_.has_padding) edns_.padding_length = static_cast<uint16_t>(len);
            edns_.has_padding = true;
            break;
        case edns_opt::EDE:
            if (!edns_.has_ede) edns_.ede_code = WireReader(opt.data).u16();  // 0 if cut short
            edns_.has_ede = true;
            break;
        default:
            if (!known_edns_option(opt.code)) ++edns_.unknown_options;
        }
    }
    if (it.error()) {
        fail(ParseError::option_past_end, size_t{edns_.rdata_offset} + it.error_offset());
    }
}

size_t MessageView::records_in(Section s) const noexcept {
    return seen_in_[static_cast<size_t>(s)];
}

bool MessageView::first_question(Name& name, uint16_t& qtype, uint16_t& qclass) const noexcept {
    if (n_questions_ == 0) return false;
    const Question& q = questions_[0];
    if (q.name_length != 0) {
        // Validated by parse(), with no pointer: the bytes are the name.
        name.assign(wire_.data() + q.name_offset, q.name_length);
    } else if (decode_name(wire_, q.name_offset, name) != ParseError::none) {
        return false;
    }
    qtype = q.qtype;
    qclass = q.qclass;
    return true;
}

EdnsOptionIterator::EdnsOptionIterator(Bytes msg, const Edns& e) noexcept {
    if (e.rdata_offset <= msg.size() && e.rdlength <= msg.size() - e.rdata_offset)
        r_ = WireReader(msg.subspan(e.rdata_offset, e.rdlength));
    else
        error_ = true;  // an Edns that does not belong to these bytes
}

bool EdnsOptionIterator::next(EdnsOption& out) noexcept {
    if (error_ || r_.remaining() == 0) return false;
    const size_t start = r_.pos();
    const uint16_t code = r_.u16();
    const uint16_t len = r_.u16();
    if (!r_.ok() || len > r_.remaining()) {
        error_ = true;
        error_offset_ = start;
        return false;
    }
    out.code = code;
    out.data = r_.bytes(len);
    return true;
}

// Typed rdata. Each checks the type (asking for the DNSKEY view of an A record is a caller bug
// that must not read garbage) and that the fields fit the RDATA exactly where the format fixes
// the length.

std::optional<DnskeyView> MessageView::dnskey(const Record& rr) const noexcept {
    if (rr.type != rrtype::DNSKEY) return std::nullopt;
    const Bytes rd = rdata(rr);
    WireReader r(rd);
    DnskeyView v;
    v.flags = r.u16();
    v.protocol = r.u8();
    v.algorithm = r.u8();
    v.public_key = r.rest();
    v.rdata = rd;
    if (!r.ok() || rd.size() != rr.rdlength) return std::nullopt;
    return v;
}

std::optional<RrsigView> MessageView::rrsig(const Record& rr) const noexcept {
    if (rr.type != rrtype::RRSIG) return std::nullopt;
    const Bytes rd = rdata(rr);
    if (rd.size() != rr.rdlength) return std::nullopt;
    WireReader r(rd);
    RrsigView v;
    v.type_covered = r.u16();
    v.algorithm = r.u8();
    v.labels = r.u8();
    v.original_ttl = r.u32();
    v.expiration = r.u32();
    v.inception = r.u32();
    v.key_tag = r.u16();
    if (!r.ok()) return std::nullopt;
    const size_t signer = size_t{rr.rdata_offset} + r.pos();
    const NameScan name = scan_name(wire_, signer, size_t{rr.rdata_offset} + rr.rdlength, nullptr);
    if (name.error != ParseError::none) return std::nullopt;
    v.signer_offset = static_cast<uint16_t>(signer);
    r.skip(name.end - signer);
    v.signature = r.rest();
    v.rdata = rd;
    return v;
}

std::optional<DsView> MessageView::ds(const Record& rr) const noexcept {
    if (rr.type != rrtype::DS) return std::nullopt;
    const Bytes rd = rdata(rr);
    WireReader r(rd);
    DsView v;
    v.key_tag = r.u16();
    v.algorithm = r.u8();
    v.digest_type = r.u8();
    v.digest = r.rest();
    if (!r.ok() || rd.size() != rr.rdlength || v.digest.empty()) return std::nullopt;
    return v;
}

std::optional<NsecView> MessageView::nsec(const Record& rr) const noexcept {
    if (rr.type != rrtype::NSEC) return std::nullopt;
    const Bytes rd = rdata(rr);
    if (rd.empty() || rd.size() != rr.rdlength) return std::nullopt;
    const size_t limit = size_t{rr.rdata_offset} + rr.rdlength;
    const NameScan name = scan_name(wire_, rr.rdata_offset, limit, nullptr);
    if (name.error != ParseError::none) return std::nullopt;
    NsecView v;
    v.next_offset = rr.rdata_offset;
    v.type_bitmaps = wire_.subspan(name.end, limit - name.end);
    if (!valid_type_bitmaps(v.type_bitmaps)) return std::nullopt;
    return v;
}

std::optional<Nsec3View> MessageView::nsec3(const Record& rr) const noexcept {
    if (rr.type != rrtype::NSEC3) return std::nullopt;
    const Bytes rd = rdata(rr);
    WireReader r(rd);
    Nsec3View v;
    v.hash_algorithm = r.u8();
    v.flags = r.u8();
    v.iterations = r.u16();
    v.salt = r.bytes(r.u8());
    const uint8_t hash_length = r.u8();
    v.next_hashed = r.bytes(hash_length);
    v.type_bitmaps = r.rest();
    if (!r.ok() || rd.size() != rr.rdlength || hash_length == 0 ||
        !valid_type_bitmaps(v.type_bitmaps))
        return std::nullopt;
    return v;
}

std::optional<Nsec3ParamView> MessageView::nsec3param(const Record& rr) const noexcept {
    if (rr.type != rrtype::NSEC3PARAM) return std::nullopt;
    const Bytes rd = rdata(rr);
    WireReader r(rd);
    Nsec3ParamView v;
    v.hash_algorithm = r.u8();
    v.flags = r.u8();
    v.iterations = r.u16();
    v.salt = r.bytes(r.u8());
    if (!r.ok() || rd.size() != rr.rdlength || r.remaining() != 0) return std::nullopt;
    return v;
}

std::optional<SoaView> MessageView::soa(const Record& rr) const noexcept {
    if (rr.type != rrtype::SOA) return std::nullopt;
    const Bytes rd = rdata(rr);
    if (rd.empty() || rd.size() != rr.rdlength) return std::nullopt;
    const size_t limit = size_t{rr.rdata_offset} + rr.rdlength;
    const NameScan mname = scan_name(wire_, rr.rdata_offset, limit, nullptr);
    if (mname.error != ParseError::none) return std::nullopt;
    const NameScan rname = scan_name(wire_, mname.end, limit, nullptr);
    if (rname.error != ParseError::none) return std::nullopt;
    WireReader r(wire_.first(limit), rname.end);
    SoaView v;
    v.mname_offset = rr.rdata_offset;
    v.rname_offset = static_cast<uint16_t>(mname.end);
    v.serial = r.u32();
    v.refresh = r.u32();
    v.retry = r.u32();
    v.expire = r.u32();
    v.minimum = r.u32();
    if (!r.ok() || r.remaining() != 0) return std::nullopt;
    return v;
}

}  // namespace frag53::dns
