// Zero-copy DNS message view.
//
// parse() walks a message once, validates every name and record, and keeps offsets into the
// wire bytes; names and rdata are decoded only when asked. A malformed message keeps everything
// that parsed before the damage plus the first error and where it happened. No allocation: the
// view has fixed capacity and is meant to be reused by one worker for every message.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>

#include "dataplane/wire_reader.h"

namespace frag53::dns {

enum class ParseError : uint8_t {
    none,
    short_header,        // fewer than 12 bytes
    compression_loop,    // pointer chain revisits / exceeds the hop limit
    pointer_forward,     // pointer to the same or a later position (not strictly backwards)
    pointer_out_of_range,
    bad_label_type,      // 0x40 / 0x80 label types
    label_too_long,      // label > 63 (only reachable through the reserved label types)
    name_too_long,       // decoded name > 255 bytes
    name_past_end,       // a name runs past the end of the message
    record_past_end,     // question / RR fixed fields run past the end
    rdlength_past_end,   // RDLENGTH runs past the end of the message
    option_past_end,     // an EDNS option runs past the OPT RDATA
    bad_opt,             // more than one OPT, OPT outside the additional section, or OPT owner not root
    trailing_bytes,      // bytes left after the last record the counts announce
    bad_counts,          // counts announce more records than the message holds
};
const char* to_string(ParseError e) noexcept;

enum class Section : uint8_t { question, answer, authority, additional };

namespace rrtype {
inline constexpr uint16_t A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, MX = 15, TXT = 16,
                          AAAA = 28, OPT = 41, DS = 43, RRSIG = 46, NSEC = 47, DNSKEY = 48,
                          NSEC3 = 50, NSEC3PARAM = 51, ANY = 255;
}
namespace rcode {
inline constexpr uint16_t NOERROR = 0, FORMERR = 1, SERVFAIL = 2, NXDOMAIN = 3, NOTIMP = 4,
                          REFUSED = 5, BADVERS = 16;
}
namespace edns_opt {
inline constexpr uint16_t NSID = 3, ECS = 8, EXPIRE = 9, COOKIE = 10, KEEPALIVE = 11,
                          PADDING = 12, CHAIN = 13, KEYTAG = 14, EDE = 15;
}

struct Header {
    uint16_t id = 0;
    uint16_t flags = 0;
    uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;

    bool qr() const noexcept { return flags & 0x8000; }
    uint8_t opcode() const noexcept { return (flags >> 11) & 0xF; }
    bool aa() const noexcept { return flags & 0x0400; }
    bool tc() const noexcept { return flags & 0x0200; }
    bool rd() const noexcept { return flags & 0x0100; }
    bool ra() const noexcept { return flags & 0x0080; }
    bool ad() const noexcept { return flags & 0x0020; }
    bool cd() const noexcept { return flags & 0x0010; }
    uint8_t rcode() const noexcept { return flags & 0xF; }
};

// Copies n <= 255 bytes (a name's wire form) with fixed-size moves that overlap where n is not
// a multiple of their size, reading and writing only [0, n): a memcpy of a variable length this
// short compiles to a byte loop, and names are mostly 10-40 bytes.
inline void copy_name_bytes(uint8_t* d, const uint8_t* s, size_t n) noexcept {
    if (n >= 16) {
        for (size_t i = 0; i + 16 < n; i += 16) std::memcpy(d + i, s + i, 16);
        std::memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        std::memcpy(d, s, 8);
        std::memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        std::memcpy(d, s, 4);
        std::memcpy(d + n - 4, s + n - 4, 4);
    } else if (n > 0) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

// An uncompressed name in wire form (length-prefixed labels, ending with the root label).
struct Name {
    std::array<uint8_t, 255> wire;  // only the first `length` bytes are ever read
    uint8_t length = 0;  // bytes used in wire, including the root label; 0 = not decoded

    // The name whose wire form is `bytes` (n <= 255, already validated): copies n bytes, where
    // assigning a whole Name copies all 255.
    void assign(const void* bytes, uint8_t n) noexcept {
        length = n;
        copy_name_bytes(wire.data(), static_cast<const uint8_t*>(bytes), n);
    }

    std::string to_string() const;  // presentation form, "." for root, escapes non-printables
    void append_to(std::string& out) const;  // the same text, appended (no temporary)
    void to_lower() noexcept;
    bool equals_ignore_case(const Name& o) const noexcept;
    uint8_t label_count() const noexcept;
    uint64_t hash_ignore_case() const noexcept;
};

// Decodes the (possibly compressed) name at `offset` of `msg`, with the three guards: pointers
// strictly backwards, decoded length <= 255, a hop limit. Returns the error (none on success);
// `end` receives the offset just after the name's in-place bytes.
ParseError decode_name(Bytes msg, size_t offset, Name& out, size_t* end = nullptr) noexcept;

// The walk behind decode_name, for callers that also want where an error sits or that only need
// to validate. The in-place bytes of the name (before its first pointer) must end at or before
// `limit` (the end of the message, or of the RDATA holding the name); pointer targets may be
// anywhere earlier in `msg`. `out` may be null to validate without copying.
struct NameScan {
    ParseError error = ParseError::none;
    size_t end = 0;           // offset just after the in-place bytes (valid when error == none)
    bool jumped = false;      // the name goes on through a compression pointer
    size_t error_offset = 0;  // the byte that made the name invalid
};
// Encoders use one pointer per name; a chain this long has no use but to burn time.
inline constexpr unsigned max_compression_hops = 126;
// Where names already found valid in one message start, with their decoded length and the
// pointer hops their walk took. Answers point every owner name back at the question, so a name
// that reaches one of these through a pointer stops there instead of walking the question again.
// A valid walk from a position does not depend on how the walk got there (every pointer must
// point backwards from where it is), so only the totals, length and hops, are checked again.
// Valid for one message: clear it when the bytes change.
struct NameScanCache {
    static constexpr unsigned capacity = 4;
    std::array<uint16_t, capacity> offset;
    std::array<uint8_t, capacity> length;  // decoded wire length from there, root label included
    std::array<uint8_t, capacity> hops;
    unsigned n = 0, next = 0;

    void clear() noexcept { n = next = 0; }
    void add(size_t at, size_t len, unsigned h) noexcept {
        offset[next] = static_cast<uint16_t>(at);
        length[next] = static_cast<uint8_t>(len);
        hops[next] = static_cast<uint8_t>(h);
        next = (next + 1) % capacity;
        if (n < capacity) ++n;
    }
    int find(size_t at) const noexcept {
        for (unsigned i = 0; i < n; ++i)
            if (offset[i] == at) return static_cast<int>(i);
        return -1;
    }
};
// `cache` (optional) is consulted at pointer targets and learns the whole names this scan
// validates; it is not used when `out` is given, since the bytes have to be copied then.
NameScan scan_name(Bytes msg, size_t offset, size_t limit, Name* out, NameScanCache* cache = nullptr) noexcept;

// scan_name without a copy, for the message walk, which asks for every name of every message
// (`cache` may be null). The common shapes are told here, without a call, with the checks the
// walk would make on them:
//   - the root, the OPT record's owner (pointed at by nothing, so not cached);
//   - one pointer straight to a name this message already validated: nearly every answer's owner
//     points at the question;
//   - labels in place up to the root, as the question and the names in signatures are.
// Anything else, and every error, is scan_name's, from the start of the name.
inline NameScan walk_name(Bytes msg, size_t offset, size_t limit, NameScanCache* cache) noexcept {
    const auto* w = reinterpret_cast<const uint8_t*>(msg.data());
    limit = std::min(limit, msg.size());
    NameScan res;
    if (offset < limit) {
        const uint8_t first = w[offset];
        if (first == 0) {
            res.end = offset + 1;
            return res;
        }
        if (first < 0x40) {
            // At most 255 bytes of labels are looked at before scan_name takes over.
            const size_t stop = std::min(limit, offset + 255);
            size_t p = offset;
            while (p < stop && w[p] != 0 && w[p] < 0x40) p += 1u + w[p];
            if (p < stop && w[p] == 0) {
                res.end = p + 1;
                if (cache != nullptr) cache->add(offset, res.end - offset, 0);
                return res;
            }
        } else if (cache != nullptr && (first & 0xC0) == 0xC0 && offset + 2 <= limit) {
            const size_t target = static_cast<size_t>((first & 0x3F) << 8 | w[offset + 1]);
            // A first hop's guards (strictly backwards, past the 12-byte header), then the cached
            // name's totals: its own hops and this pointer.
            if (target < offset && target >= 12) {
                const int c = cache->find(target);
                if (c >= 0 && cache->hops[static_cast<size_t>(c)] + 1u <= max_compression_hops) {
                    res.end = offset + 2;
                    res.jumped = true;
                    return res;
                }
            }
        }
    }
    return scan_name(msg, offset, limit, nullptr, cache);
}

struct Question {
    uint16_t name_offset = 0;
    uint16_t qtype = 0, qclass = 0;
    // The name's length when it lies whole at name_offset (no compression pointer, as nearly
    // every question's): it is then copied rather than decoded again. 0 otherwise.
    uint8_t name_length = 0;
};

struct Record {
    uint16_t name_offset = 0;
    uint16_t type = 0, klass = 0;
    uint32_t ttl = 0;
    uint16_t rdata_offset = 0;
    uint16_t rdlength = 0;
    Section section = Section::answer;
};

struct EdnsOption {
    uint16_t code = 0;
    Bytes data;
};

struct Edns {
    bool present = false;
    uint16_t udp_size = 0;      // the OPT CLASS field as sent
    uint8_t ext_rcode = 0;      // upper 8 bits of the extended RCODE
    uint8_t version = 0;
    bool do_bit = false;
    uint16_t z = 0;             // remaining flag bits (after DO)
    uint16_t rdata_offset = 0;  // OPT RDATA (the options) in the message
    uint16_t rdlength = 0;
    uint16_t option_count = 0;
    bool has_nsid = false, has_cookie = false, has_ecs = false, has_padding = false,
         has_ede = false, has_keepalive = false;
    uint16_t unknown_options = 0;
    uint16_t ede_code = 0;      // INFO-CODE of the first extended DNS error
    uint16_t padding_length = 0;
    uint8_t cookie_length = 0;  // client (8) or client+server (16..40)
};

// Iterates the options of an OPT record; stops (and sets error) at an option past the end.
class EdnsOptionIterator {
public:
    EdnsOptionIterator(Bytes msg, const Edns& e) noexcept;
    bool next(EdnsOption& out) noexcept;  // false at the end or on error
    bool error() const noexcept { return error_; }
    // Where, within the OPT RDATA, the option that ran past the end starts (valid after error()).
    size_t error_offset() const noexcept { return error_offset_; }

private:
    WireReader r_;
    bool error_ = false;
    size_t error_offset_ = 0;
};

// Typed rdata views (DNSSEC and SOA) for later analysis. Each returns nullopt when the rdata is
// too short or inconsistent.
struct DnskeyView { uint16_t flags; uint8_t protocol; uint8_t algorithm; Bytes public_key; Bytes rdata; };
struct RrsigView {
    uint16_t type_covered; uint8_t algorithm; uint8_t labels; uint32_t original_ttl;
    uint32_t expiration; uint32_t inception; uint16_t key_tag; uint16_t signer_offset;
    Bytes signature; Bytes rdata;
};
struct DsView { uint16_t key_tag; uint8_t algorithm; uint8_t digest_type; Bytes digest; };
struct NsecView { uint16_t next_offset; Bytes type_bitmaps; };
struct Nsec3View { uint8_t hash_algorithm; uint8_t flags; uint16_t iterations; Bytes salt; Bytes next_hashed; Bytes type_bitmaps; };
struct Nsec3ParamView { uint8_t hash_algorithm; uint8_t flags; uint16_t iterations; Bytes salt; };
struct SoaView { uint16_t mname_offset; uint16_t rname_offset; uint32_t serial, refresh, retry, expire, minimum; };

class MessageView {
public:
    static constexpr size_t max_questions = 8;
    static constexpr size_t max_records = 512;  // more are validated and counted, not stored

    // Parses `wire` (which must outlive the view's use). Returns the first error, or none.
    ParseError parse(Bytes wire) noexcept;
    // The header and the questions only, for what names a message when its records are not
    // needed or not all there (the first fragment of a datagram names its transaction): the
    // records are not walked, records() is empty, edns() absent. Errors as parse() finds them
    // up to the end of the questions.
    ParseError parse_head(Bytes wire) noexcept;

    Bytes wire() const noexcept { return wire_; }
    const Header& header() const noexcept { return header_; }
    ParseError error() const noexcept { return error_; }
    bool ok() const noexcept { return error_ == ParseError::none; }
    size_t error_offset() const noexcept { return error_offset_; }
    bool header_complete() const noexcept { return wire_.size() >= 12; }

    // Parsed sections (up to the capacity and up to where parsing stopped).
    std::span<const Question> questions() const noexcept { return {questions_.data(), n_questions_}; }
    std::span<const Record> records() const noexcept { return {records_.data(), n_records_}; }
    size_t records_seen() const noexcept { return records_seen_; }  // including not stored
    size_t records_in(Section s) const noexcept;

    // Convenience: the first question, decoded, if it parsed.
    bool first_question(Name& name, uint16_t& qtype, uint16_t& qclass) const noexcept;

    const Edns& edns() const noexcept { return edns_; }
    // Header RCODE combined with the OPT extended RCODE (12 bits).
    uint16_t full_rcode() const noexcept {
        return static_cast<uint16_t>((edns_.present ? edns_.ext_rcode << 4 : 0) | header_.rcode());
    }
    bool has_rrsig() const noexcept { return has_rrsig_; }

    // Typed rdata access.
    // Empty (never out of bounds) for a record that does not fit this view's wire bytes.
    Bytes rdata(const Record& rr) const noexcept {
        if (rr.rdata_offset > wire_.size() || rr.rdlength > wire_.size() - rr.rdata_offset) return {};
        return wire_.subspan(rr.rdata_offset, rr.rdlength);
    }
    std::optional<DnskeyView> dnskey(const Record& rr) const noexcept;
    std::optional<RrsigView> rrsig(const Record& rr) const noexcept;
    std::optional<DsView> ds(const Record& rr) const noexcept;
    std::optional<NsecView> nsec(const Record& rr) const noexcept;
    std::optional<Nsec3View> nsec3(const Record& rr) const noexcept;
    std::optional<Nsec3ParamView> nsec3param(const Record& rr) const noexcept;
    std::optional<SoaView> soa(const Record& rr) const noexcept;

private:
    void fail(ParseError e, size_t offset) noexcept;
    // Resets the view to `wire`, reads the header and the questions; `pos` ends after them.
    bool parse_head_at(Bytes wire, size_t& pos) noexcept;
    bool parse_question(Bytes msg, size_t& pos) noexcept;
    bool parse_record(Bytes msg, size_t& pos, Section s) noexcept;
    void parse_opt(const Record& rr, size_t record_offset) noexcept;
    void check_rdata_names(const Record& rr) noexcept;

    Bytes wire_;
    Header header_;
    ParseError error_ = ParseError::none;
    size_t error_offset_ = 0;
    Edns edns_;
    bool has_rrsig_ = false;
    size_t n_questions_ = 0;
    size_t n_records_ = 0;
    size_t records_seen_ = 0;
    std::array<uint16_t, 4> seen_in_{};  // per Section, including records not stored
    std::array<Question, max_questions> questions_{};
    std::array<Record, max_records> records_{};
    NameScanCache name_cache_;
};

}  // namespace frag53::dns
