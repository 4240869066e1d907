// Differential check of dns::MessageView against ldns (ldns_wire2pkt) on the fuzz corpus, the
// DNS payloads of the captures in pcaps/, and deterministic mutations of both.
//
// "The same" is defined record by record. The message is first framed with frag53's own name
// scanner (questions, then records, as the header counts say); that framing must agree with what
// MessageView::parse stored and counted. ldns is then asked to read each framed record at the
// same offset (ldns_wire2rr), in the order ldns_wire2pkt reads them, and the walk predicts what
// ldns_wire2pkt must return. Every record both read must have the same owner (wire form, exact
// bytes, and presentation form up to the escaping differences below), type, class, and RDATA
// length (ldns must stop exactly at the end of the RDATA; where ldns holds no name in the RDATA,
// its fields add up to RDLENGTH); the names frag53 validates inside RDATA must equal ldns's.
//
// Agreements: "agree" (both accept; ldns read every record the same way; its four lists are
// exactly those records, ARCOUNT less the OPT and TSIG records, the header counts and the EDNS
// presence and UDP size match) and "both_reject" (each rejects, wherever it stopped; what both
// read before that is still compared). Known, documented differences (ldns 1.8.3), one class each:
//   frag53 stricter
//     trailing_bytes       ldns_wire2pkt ignores bytes after the last record;
//     bad_opt              ldns takes any OPT (second one, non-root owner, outside additional);
//     option_past_end      ldns_wire2pkt does not walk the EDNS options;
//     pointer_forward, compression_loop, pointer_out_of_range (target in the header)
//                          ldns follows pointers in any direction (target != 0, < size)
//                          and up to 65535 of them (frag53: 126);
//     rdata_name_*         frag53 checks names in RDATA with the same guards as owners and
//                          wants all of them (ldns accepts RDATA cut after any whole field);
//   ldns stricter
//     ldns_rdata_format    ldns parses RDATA field by field per type and rejects RDATA that
//                          does not fit (frag53 only walks names in RDATA);
//   ldns reads something else
//     ldns_rdata_desync    ldns stops inside (or after) the RDATA instead of at RDLENGTH and
//                          reads the next record from there; nothing after that is comparable;
//     ldns_tsig            ldns moves TSIG out of the additional section and, decrementing
//                          ARCOUNT inside its loop, skips as many records at the end.
// ldns also moves OPT records of the additional section into its EDNS fields: that is part of
// the model, not a disagreement. Anything else fails the test with a hex dump.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "analyzers/dns/message.h"
#include "dataplane/decode.h"
#include "dataplane/pcap_file_source.h"

// Last: ldns's headers define macros that the standard library headers must not see.
#include <ldns/ldns.h>

namespace frag53::dns {
namespace {

using Wire = std::vector<uint8_t>;

constexpr uint16_t tsig_type = 250;
constexpr size_t max_message_size = 65535;

struct PktFree {
    void operator()(ldns_pkt* p) const noexcept { ldns_pkt_free(p); }
};
struct RrFree {
    void operator()(ldns_rr* p) const noexcept { ldns_rr_free(p); }
};
struct RdfFree {
    void operator()(ldns_rdf* p) const noexcept { ldns_rdf_deep_free(p); }
};
struct CFree {
    void operator()(char* p) const noexcept { std::free(p); }
};
using LdnsPkt = std::unique_ptr<ldns_pkt, PktFree>;
using LdnsRr = std::unique_ptr<ldns_rr, RrFree>;
using LdnsRdf = std::unique_ptr<ldns_rdf, RdfFree>;

std::string source_root() {
    const char* root = std::getenv("FRAG53_SOURCE_ROOT");
    return root ? root : ".";
}

Bytes bytes_of(const Wire& w) {
    return std::as_bytes(std::span<const uint8_t>(w));
}

std::string hex_dump(const Wire& w) {
    std::ostringstream s;
    char buf[8];
    for (size_t i = 0; i < w.size(); ++i) {
        if (i % 16 == 0) {
            std::snprintf(buf, sizeof buf, "%s%04x ", i ? "\n" : "",
                          static_cast<unsigned>(i & 0xFFFF));
            s << buf;
        }
        std::snprintf(buf, sizeof buf, " %02x", w[i]);
        s << buf;
    }
    return s.str();
}

// One question or record as frag53 frames it.
struct Framed {
    Section section = Section::question;
    size_t start = 0;     // owner name
    size_t name_end = 0;  // after the owner's in-place bytes
    size_t end = 0;       // after the record
    uint16_t type = 0, klass = 0;
    size_t rdata_offset = 0;
    uint16_t rdlength = 0;
    Name owner;
};

struct Framing {
    std::vector<Framed> records;
    size_t failed_at = 0;  // start of the record that could not be framed (when incomplete)
    ParseError error = ParseError::none;  // why it could not (a name error, else none)
    size_t error_offset = 0;
    bool complete = false;
};

uint16_t u16_at(const Wire& w, size_t i) {
    return static_cast<uint16_t>(w[i] << 8 | w[i + 1]);
}

Framing frame(const Wire& w) {
    Framing f;
    const Bytes msg = bytes_of(w);
    const std::array<uint16_t, 4> counts{u16_at(w, 4), u16_at(w, 6), u16_at(w, 8), u16_at(w, 10)};
    size_t pos = 12;
    for (size_t s = 0; s < 4; ++s) {
        for (unsigned i = 0; i < counts[s]; ++i) {
            Framed r;
            r.section = static_cast<Section>(s);
            r.start = pos;
            f.failed_at = pos;
            if (pos >= w.size()) return f;
            const NameScan name = scan_name(msg, pos, w.size(), &r.owner);
            if (name.error != ParseError::none) {
                f.error = name.error;
                f.error_offset = name.error_offset;
                return f;
            }
            r.name_end = name.end;
            const size_t fixed = s == 0 ? 4 : 10;
            if (w.size() - name.end < fixed) return f;
            r.type = u16_at(w, name.end);
            r.klass = u16_at(w, name.end + 2);
            r.end = name.end + fixed;
            if (s != 0) {
                r.rdlength = u16_at(w, name.end + 8);
                r.rdata_offset = r.end;
                if (r.rdlength > w.size() - r.end) return f;
                r.end += r.rdlength;
            }
            pos = r.end;
            f.records.push_back(r);
        }
    }
    f.complete = true;
    return f;
}

ldns_pkt_section ldns_section(Section s) {
    switch (s) {
        case Section::question: return LDNS_SECTION_QUESTION;
        case Section::answer: return LDNS_SECTION_ANSWER;
        case Section::authority: return LDNS_SECTION_AUTHORITY;
        case Section::additional: return LDNS_SECTION_ADDITIONAL;
    }
    return LDNS_SECTION_ANY;
}

// frag53 escapes '"', '@' and '$' as master files need; ldns prints them bare.
std::string normalise_presentation(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
            const char c = s[i + 1];
            if (c == '"' || c == '@' || c == '$') {
                out += c;
            } else if (c >= '0' && c <= '9') {
                out.append(s, i, 4);
                i += 2;
            } else {
                out.append(s, i, 2);
            }
            ++i;
            continue;
        }
        out += s[i];
    }
    return out;
}

// Compares a frag53 name with an ldns dname rdf; empty when equal.
std::string compare_name(const Name& n, const ldns_rdf* rdf, const char* what) {
    if (!rdf || ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_DNAME)
        return std::string(what) + ": ldns has no dname";
    const Wire ours(n.wire.begin(), n.wire.begin() + n.length);
    const Wire theirs(ldns_rdf_data(rdf), ldns_rdf_data(rdf) + ldns_rdf_size(rdf));
    if (ours != theirs) return std::string(what) + ": wire forms differ (" + n.to_string() + ")";
    std::unique_ptr<char, CFree> str(ldns_rdf2str(rdf));
    const std::string a = normalise_presentation(n.to_string());
    const std::string b = str ? str.get() : "";
    if (a != b)
        return std::string(what) + ": presentation '" + n.to_string() + "' vs ldns '" + b + "'";
    return {};
}

// The RDATA fields (by ldns index) that hold the names frag53 validates.
std::vector<size_t> rdata_name_fields(uint16_t type) {
    switch (type) {
        case rrtype::NS:
        case rrtype::CNAME:
        case rrtype::PTR:
        case 39:
        case rrtype::NSEC: return {0};
        case rrtype::SOA: return {0, 1};
        case rrtype::MX: return {1};
        case 33: return {3};
        case rrtype::RRSIG: return {7};
        default: return {};
    }
}

// How ldns reads one framed record at frag53's offset.
enum class LdnsRead { same, fails, desync };

struct Outcome {
    std::string klass;        // agreement or disagreement class
    std::string unexplained;  // non-empty: the test fails
};

class Differ {
public:
    Outcome run(const Wire& w) {
        Outcome o;
        auto bad = [&](std::string why) {
            o.unexplained = std::move(why);
            return o;
        };
        MessageView& v = *view_;
        const ParseError fe = v.parse(bytes_of(w));
        ldns_pkt* raw = nullptr;
        const ldns_status ls = ldns_wire2pkt(&raw, w.data(), w.size());
        LdnsPkt pkt(ls == LDNS_STATUS_OK ? raw : nullptr);
        const bool lok = ls == LDNS_STATUS_OK;

        if (w.size() < 12) {
            if (fe != ParseError::short_header) return bad("short message not short_header");
            if (lok) return bad("ldns accepts a short header");
            o.klass = "both_reject";
            return o;
        }

        // frag53's framing must agree with what the view stored and counted.
        const Framing f = frame(w);
        std::array<size_t, 4> per_section{};
        size_t qi = 0, ri = 0;
        for (const Framed& r : f.records) {
            ++per_section[static_cast<size_t>(r.section)];
            if (r.section == Section::question) {
                if (qi < v.questions().size()) {
                    const Question& q = v.questions()[qi];
                    if (q.name_offset != r.start || q.qtype != r.type || q.qclass != r.klass)
                        return bad("stored question " + std::to_string(qi) +
                                   " differs from framing");
                }
                ++qi;
            } else {
                if (ri < v.records().size()) {
                    const Record& rr = v.records()[ri];
                    if (rr.name_offset != r.start || rr.type != r.type || rr.klass != r.klass ||
                        rr.rdata_offset != r.rdata_offset || rr.rdlength != r.rdlength ||
                        rr.section != r.section)
                        return bad("stored record " + std::to_string(ri) + " differs from framing");
                }
                ++ri;
            }
        }
        if (v.questions().size() != std::min(qi, MessageView::max_questions))
            return bad("stored question count");
        if (v.records().size() != std::min(ri, MessageView::max_records))
            return bad("stored record count");
        for (size_t s = 0; s < 4; ++s)
            if (v.records_in(static_cast<Section>(s)) != per_section[s])
                return bad("records_in(" + std::to_string(s) +
                           ") = " + std::to_string(v.records_in(static_cast<Section>(s))) +
                           ", framed " + std::to_string(per_section[s]));
        const bool framing_error = !f.complete;
        if (framing_error && fe == ParseError::none)
            return bad(std::string("framing vs parse status: ") + to_string(fe));

        // Walk the records in the order ldns_wire2pkt reads them.
        const std::array<uint16_t, 4> counts{v.header().qdcount, v.header().ancount,
                                             v.header().nscount, v.header().arcount};
        std::vector<size_t> read;  // framed indices ldns read the same way
        std::string stop;          // why the model stops ("" = ldns read everything it wanted)
        bool expect_ldns_ok = true, ldns_after_unknown = false;
        size_t idx = 0;
        size_t tsig_skipped = 0;
        auto visit = [&](size_t i) -> bool {  // false: stop the walk
            if (i >= f.records.size()) {
                // frag53 could not frame this one.
                LdnsRr rr = read_one(w, f.failed_at, static_cast<Section>(section_of(counts, i)));
                if (!rr) {
                    expect_ldns_ok = false;
                    stop = "both_reject";
                    return false;
                }
                const ParseError e = f.error;
                const size_t at = f.error_offset;
                const bool pointer = at < w.size() && (w[at] & 0xC0) == 0xC0;
                const size_t target =
                    pointer && at + 1 < w.size() ? ((w[at] & 0x3F) << 8 | w[at + 1]) : 0;
                if (pointer &&
                    (e == ParseError::pointer_forward || e == ParseError::compression_loop ||
                     (e == ParseError::pointer_out_of_range && target != 0 && target < 12))) {
                    stop = std::string("frag53_") + to_string(e);
                    ldns_after_unknown = true;
                    return false;
                }
                stop = std::string("UNEXPLAINED ldns reads the record frag53 fails with ") +
                       to_string(e);
                return false;
            }
            const Framed& r = f.records[i];
            const LdnsRead how = compare_one(w, r, fe == ParseError::none, stop);
            if (!stop.empty()) return false;
            if (how == LdnsRead::fails) {
                expect_ldns_ok = false;
                stop = "ldns_rdata_format";
                return false;
            }
            if (how == LdnsRead::desync) {
                stop = "ldns_rdata_desync";
                ldns_after_unknown = true;
                return false;
            }
            read.push_back(i);
            return true;
        };
        bool walked_all = true;
        for (size_t s = 0; s < 3 && walked_all; ++s)
            for (unsigned i = 0; i < counts[s] && walked_all; ++i) walked_all = visit(idx++);
        if (walked_all) {
            unsigned n = counts[3];
            for (unsigned i = 0; i < n && walked_all; ++i) {
                walked_all = visit(idx);
                if (walked_all && f.records[idx].type == tsig_type) {
                    --n;  // as ldns_wire2pkt does, inside its loop
                    ++tsig_skipped;
                }
                ++idx;
            }
        }
        if (stop.rfind("UNEXPLAINED", 0) == 0) return bad(stop);

        if (!ldns_after_unknown && expect_ldns_ok != lok)
            return bad(std::string("ldns ") + (lok ? "accepts" : "rejects") + " (" +
                       ldns_get_errorstr_by_id(ls) + "), model expects the opposite; frag53 " +
                       to_string(fe) + (stop.empty() ? "" : ", walk stopped: " + stop));

        if (lok) {
            std::string why = compare_packet(w, f, read, pkt.get(), walked_all);
            if (!why.empty()) return bad(why);
        }

        // Both reject: an agreement, wherever each stopped (the walk above still checked that
        // what both read before stopping is the same).
        if (fe != ParseError::none && !lok) {
            o.klass = "both_reject";
            return o;
        }
        if (!walked_all) {
            if (stop == "both_reject")
                return bad("walk stopped where both reject, yet one accepts");
            o.klass = stop;
            return o;
        }
        if (tsig_skipped > 0) {
            o.klass = "ldns_tsig";
            return o;
        }
        // ldns read every record the counts announce, the same way frag53 framed them.
        switch (fe) {
            case ParseError::none: o.klass = "agree"; return o;
            case ParseError::trailing_bytes:
            case ParseError::bad_opt:
            case ParseError::option_past_end:
                o.klass = std::string("frag53_") + to_string(fe);
                return o;
            default: break;
        }
        // Any other error with complete framing is a name inside an RDATA. It may sit at the
        // RDATA's end: frag53 wants every name of the type (SOA: two), ldns stops at the end of
        // RDATA that ends after any whole field.
        for (const Framed& r : f.records)
            if (r.section != Section::question && v.error_offset() >= r.rdata_offset &&
                v.error_offset() <= r.end && !rdata_name_fields(r.type).empty()) {
                o.klass = std::string("frag53_rdata_name_") + to_string(fe);
                return o;
            }
        return bad(std::string("frag53 ") + to_string(fe) + " at " +
                   std::to_string(v.error_offset()) + " not inside a name-bearing RDATA");
    }

private:
    static size_t section_of(const std::array<uint16_t, 4>& counts, size_t i) {
        for (size_t s = 0; s < 4; ++s) {
            if (i < counts[s]) return s;
            i -= counts[s];
        }
        return 3;
    }

    static LdnsRr read_one(const Wire& w, size_t pos, Section s, size_t* end = nullptr) {
        ldns_rr* rr = nullptr;
        if (ldns_wire2rr(&rr, w.data(), w.size(), &pos, ldns_section(s)) != LDNS_STATUS_OK)
            return nullptr;
        if (end) *end = pos;
        return LdnsRr(rr);
    }

    // ldns reads the framed record `r` at the same offset. The owner name must come out the
    // same (the rules ldns applies to names are looser than frag53's, never stricter).
    LdnsRead compare_one(const Wire& w, const Framed& r, bool names_valid, std::string& stop) {
        size_t pos = r.start;
        ldns_rdf* owner_raw = nullptr;
        if (ldns_wire2dname(&owner_raw, w.data(), w.size(), &pos) != LDNS_STATUS_OK) {
            stop = "UNEXPLAINED ldns rejects an owner name frag53 accepts at " +
                   std::to_string(r.start);
            return LdnsRead::fails;
        }
        LdnsRdf owner(owner_raw);
        if (pos != r.name_end) {
            stop = "UNEXPLAINED owner name ends elsewhere at " + std::to_string(r.start);
            return LdnsRead::fails;
        }
        std::string why = compare_name(r.owner, owner.get(), "owner");
        if (!why.empty()) {
            stop = "UNEXPLAINED " + why;
            return LdnsRead::fails;
        }
        size_t end = 0;
        LdnsRr rr = read_one(w, r.start, r.section, &end);
        if (!rr) {
            // ldns rejects the RDATA: never for a name frag53 validated there.
            why = names_valid ? ldns_reads_rdata_names(w, r) : std::string();
            if (!why.empty()) stop = "UNEXPLAINED " + why;
            return LdnsRead::fails;
        }
        if (end != r.end) return LdnsRead::desync;
        why = compare_rr(w, r, rr.get(), names_valid);
        if (!why.empty()) stop = "UNEXPLAINED " + why;
        return LdnsRead::same;
    }

    static size_t rdata_name_prefix(uint16_t type) {
        return type == rrtype::MX ? 2 : type == 33 ? 6 : type == rrtype::RRSIG ? 18 : 0;
    }

    // Each name frag53 validated in the RDATA of `r`, read by ldns on its own.
    static std::string ldns_reads_rdata_names(const Wire& w, const Framed& r) {
        const size_t prefix = rdata_name_prefix(r.type);
        if (r.section == Section::question || r.rdlength <= prefix) return {};
        size_t pos = r.rdata_offset + prefix;
        for (size_t k = 0; k < rdata_name_fields(r.type).size(); ++k) {
            Name n;
            size_t end = 0;
            if (decode_name(bytes_of(w), pos, n, &end) != ParseError::none)
                return "rdata name does not decode at " + std::to_string(pos);
            ldns_rdf* raw = nullptr;
            size_t theirs = pos;
            if (ldns_wire2dname(&raw, w.data(), w.size(), &theirs) != LDNS_STATUS_OK)
                return "ldns rejects an RDATA name frag53 accepts at " + std::to_string(pos);
            LdnsRdf d(raw);
            if (theirs != end) return "RDATA name ends elsewhere at " + std::to_string(pos);
            const std::string why = compare_name(n, d.get(), "rdata name");
            if (!why.empty()) return why + " at " + std::to_string(pos);
            pos = end;
        }
        return {};
    }

    std::string compare_rr(const Wire& w, const Framed& r, const ldns_rr* rr, bool names_valid) {
        std::string why = compare_name(r.owner, ldns_rr_owner(rr), "owner");
        if (!why.empty()) return why;
        if (ldns_rr_get_type(rr) != r.type) return "type differs at " + std::to_string(r.start);
        if (ldns_rr_get_class(rr) != r.klass) return "class differs at " + std::to_string(r.start);
        if (r.section == Section::question) return {};
        size_t total = 0;
        bool has_dname = false;
        for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
            total += ldns_rdf_size(ldns_rr_rdf(rr, i));
            has_dname |= ldns_rdf_get_type(ldns_rr_rdf(rr, i)) == LDNS_RDF_TYPE_DNAME;
        }
        if (!has_dname && total != r.rdlength)
            return "rdata length " + std::to_string(total) + " vs RDLENGTH " +
                   std::to_string(r.rdlength) + " at " + std::to_string(r.start);
        if (!names_valid) return {};
        // The names frag53 validates in RDATA: the same as ldns's, field by field.
        const std::vector<size_t> fields = rdata_name_fields(r.type);
        if (fields.empty() || r.rdlength == 0) return {};
        const size_t prefix = rdata_name_prefix(r.type);
        if (r.rdlength <= prefix) return {};
        size_t pos = r.rdata_offset + prefix;
        for (size_t field : fields) {
            Name n;
            size_t end = 0;
            if (decode_name(bytes_of(w), pos, n, &end) != ParseError::none)
                return "rdata name does not decode at " + std::to_string(pos);
            if (field >= ldns_rr_rd_count(rr))
                return "ldns has no rdata field " + std::to_string(field);
            why = compare_name(n, ldns_rr_rdf(rr, field), "rdata name");
            if (!why.empty()) return why + " at " + std::to_string(pos);
            pos = end;
        }
        return {};
    }

    // The packet ldns built against the framed records it read the same way. When the walk
    // completed the lists must be exactly those records; otherwise they must start with them.
    std::string compare_packet(const Wire& w, const Framing& f, const std::vector<size_t>& read,
                               const ldns_pkt* pkt, bool complete) {
        const MessageView& v = *view_;
        if (ldns_pkt_id(pkt) != v.header().id) return "id differs";
        std::array<std::vector<const Framed*>, 4> expected;
        size_t opts = 0, tsigs = 0;
        const Framed* last_opt = nullptr;
        for (size_t i : read) {
            const Framed& r = f.records[i];
            if (r.section == Section::additional && r.type == rrtype::OPT) {
                ++opts;
                last_opt = &r;
                continue;
            }
            if (r.section == Section::additional && r.type == tsig_type) {
                ++tsigs;
                continue;
            }
            expected[static_cast<size_t>(r.section)].push_back(&r);
        }
        const std::array<const ldns_rr_list*, 4> lists{ldns_pkt_question(pkt), ldns_pkt_answer(pkt),
                                                       ldns_pkt_authority(pkt),
                                                       ldns_pkt_additional(pkt)};
        for (size_t s = 0; s < 4; ++s) {
            const size_t have = ldns_rr_list_rr_count(lists[s]);
            const size_t want = expected[s].size();
            if (complete ? have != want : have < want)
                return "section " + std::to_string(s) + ": ldns holds " + std::to_string(have) +
                       " records, expected " + std::to_string(want);
            for (size_t i = 0; i < want; ++i) {
                const std::string why =
                    compare_rr(w, *expected[s][i], ldns_rr_list_rr(lists[s], i), v.ok());
                if (!why.empty()) return "section " + std::to_string(s) + ": " + why;
            }
        }
        if (!complete) return {};
        if (ldns_pkt_qdcount(pkt) != v.header().qdcount ||
            ldns_pkt_ancount(pkt) != v.header().ancount ||
            ldns_pkt_nscount(pkt) != v.header().nscount)
            return "header counts differ";
        if (ldns_pkt_arcount(pkt) != v.header().arcount - opts - tsigs)
            return "ARCOUNT " + std::to_string(ldns_pkt_arcount(pkt)) + " vs " +
                   std::to_string(v.header().arcount) + " - " + std::to_string(opts) + " OPT - " +
                   std::to_string(tsigs) + " TSIG";
        if (v.edns().present != (opts > 0)) return "EDNS presence differs";
        if (last_opt && ldns_pkt_edns_udp_size(pkt) != last_opt->klass)
            return "EDNS UDP size differs";
        if (opts == 1 && v.edns().udp_size != last_opt->klass)
            return "frag53 EDNS UDP size differs";
        return {};
    }

    std::unique_ptr<MessageView> view_ = std::make_unique<MessageView>();
};

// Hand-made messages at the edges the corpus and random mutations rarely reach, each with the
// class it must land in.
struct Crafted {
    const char* what;
    Wire wire;
    const char* klass;
};

class MessageBuilder {
public:
    MessageBuilder(uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
        u16(0x1234), u16(0x8180), u16(qd), u16(an), u16(ns), u16(ar);
    }
    MessageBuilder& u8(uint8_t v) { return w_.push_back(v), *this; }
    MessageBuilder& u16(uint16_t v) {
        return u8(static_cast<uint8_t>(v >> 8)).u8(static_cast<uint8_t>(v));
    }
    MessageBuilder& u32(uint32_t v) {
        return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v));
    }
    MessageBuilder& label(const std::string& l) {
        u8(static_cast<uint8_t>(l.size()));
        for (char c : l) u8(static_cast<uint8_t>(c));
        return *this;
    }
    MessageBuilder& root() { return u8(0); }
    MessageBuilder& pointer(uint16_t to) { return u16(static_cast<uint16_t>(0xC000 | to)); }
    // Type, class, TTL and RDLENGTH after an owner already written.
    MessageBuilder& fixed(uint16_t type, uint16_t klass, uint16_t rdlength, uint32_t ttl = 3600) {
        return u16(type).u16(klass).u32(ttl).u16(rdlength);
    }
    size_t size() const { return w_.size(); }
    Wire wire() const { return w_; }

private:
    Wire w_;
};

std::vector<Crafted> crafted_messages() {
    std::vector<Crafted> out;
    const std::string l63(63, 'a'), l62(62, 'b'), l61(61, 'c');
    {  // the longest name, in place
        MessageBuilder b(1, 0, 0, 0);
        b.label(l63).label(l63).label(l63).label(l61).root().u16(1).u16(1);
        out.push_back({"255-byte name", b.wire(), "agree"});
    }
    {
        MessageBuilder b(1, 0, 0, 0);
        b.label(l63).label(l63).label(l63).label(l62).root().u16(1).u16(1);
        out.push_back({"256-byte name", b.wire(), "both_reject"});
    }
    for (const bool too_long : {false, true}) {  // the same through a pointer
        MessageBuilder b(1, 1, 0, 0);
        b.label(l63).label(l63).label(l63).root().u16(1).u16(1);
        b.label(too_long ? l62 : l61).pointer(12).fixed(1, 1, 4).u32(0x7F000001);
        out.push_back({too_long ? "256-byte compressed name" : "255-byte compressed name", b.wire(),
                       too_long ? "both_reject" : "agree"});
    }
    for (const uint8_t type : {uint8_t{0x40}, uint8_t{0x80}}) {
        MessageBuilder b(1, 0, 0, 0);
        b.u8(type).u8(1).root().u16(1).u16(1);
        out.push_back({"reserved label type", b.wire(), "both_reject"});
    }
    {  // the question's name points forward, at the root owner of the answer
        MessageBuilder b(1, 1, 0, 0);
        b.pointer(18).u16(1).u16(1);
        b.root().fixed(1, 1, 4).u32(0x7F000001);
        out.push_back({"forward pointer", b.wire(), "frag53_pointer_forward"});
    }
    {  // a pointer into the header: offset 11 is ARCOUNT's low byte, 0, the root
        MessageBuilder b(1, 0, 0, 0);
        b.pointer(11).u16(1).u16(1);
        out.push_back({"pointer into the header", b.wire(), "frag53_pointer_out_of_range"});
    }
    for (const unsigned hops : {126u, 127u}) {
        // A NULL record whose RDATA is a chain of pointers, each to the one before, the first to
        // the root name at 12; the second answer's owner enters the chain at its end.
        MessageBuilder b(1, 2, 0, 0);
        b.root().u16(1).u16(1);
        b.root().fixed(10, 1, static_cast<uint16_t>(2 * (hops - 1)));
        size_t prev = 12;
        for (unsigned i = 0; i + 1 < hops; ++i) {
            const size_t at = b.size();
            b.pointer(static_cast<uint16_t>(prev));
            prev = at;
        }
        b.pointer(static_cast<uint16_t>(prev)).fixed(1, 1, 4).u32(0x7F000001);
        out.push_back(
            {"pointer chain", b.wire(), hops == 126 ? "agree" : "frag53_compression_loop"});
    }
    {  // labels holding bytes that presentation form escapes, and upper case
        MessageBuilder b(1, 0, 0, 0);
        b.label("a.b").label("q\"@$\\;()").label(std::string("\x01 \x7f\xff", 4)).label("ExAmPle");
        b.root().u16(1).u16(1);
        out.push_back({"escaped labels", b.wire(), "agree"});
    }
    {  // SOA RDATA holding only MNAME
        MessageBuilder b(0, 1, 0, 0);
        b.root().fixed(6, 1, 4).label("ns").root();
        out.push_back({"SOA without RNAME", b.wire(), "frag53_rdata_name_name_past_end"});
    }
    {  // CNAME RDATA pointing forward
        MessageBuilder b(0, 2, 0, 0);
        b.root().fixed(5, 1, 2).pointer(25);
        b.label("x").root().fixed(1, 1, 4).u32(0x7F000001);
        out.push_back({"CNAME forward pointer", b.wire(), "frag53_rdata_name_pointer_forward"});
    }
    {
        MessageBuilder b(0, 1, 0, 0);
        b.root().fixed(1, 1, 1).u8(127);
        out.push_back({"A with 1-byte RDATA", b.wire(), "ldns_rdata_format"});
    }
    {  // A RDATA one byte long: ldns reads 4 bytes and leaves one, then reads on from there
        MessageBuilder b(0, 2, 0, 0);
        b.root().fixed(1, 1, 5).u32(0x7F000001).u8(0);
        b.root().fixed(1, 1, 4).u32(0x7F000001);
        out.push_back({"A with 5-byte RDATA", b.wire(), "ldns_rdata_desync"});
    }
    {
        MessageBuilder b(0, 0, 0, 2);
        b.root().fixed(41, 1232, 0, 0);
        b.root().fixed(41, 4096, 0, 0);
        out.push_back({"two OPT", b.wire(), "frag53_bad_opt"});
    }
    {
        MessageBuilder b(0, 1, 0, 0);
        b.root().fixed(41, 1232, 0, 0);
        out.push_back({"OPT in the answer section", b.wire(), "frag53_bad_opt"});
    }
    {
        MessageBuilder b(0, 0, 0, 1);
        b.label("x").root().fixed(41, 1232, 0, 0);
        out.push_back({"OPT owned by a non-root name", b.wire(), "frag53_bad_opt"});
    }
    {
        MessageBuilder b(0, 0, 0, 1);
        b.root().fixed(41, 1232, 4, 0).u16(10).u16(8);
        out.push_back({"EDNS option past the OPT RDATA", b.wire(), "frag53_option_past_end"});
    }
    {
        MessageBuilder b(1, 0, 0, 1);
        b.root().u16(1).u16(1);
        b.root().fixed(41, 1232, 0, 0x8000);
        out.push_back({"one OPT", b.wire(), "agree"});
    }
    {
        MessageBuilder b(1, 0, 0, 0);
        b.root().u16(1).u16(1).u8(0);
        out.push_back({"trailing byte", b.wire(), "frag53_trailing_bytes"});
    }
    {  // TSIG, then a record ldns never reads
        MessageBuilder b(0, 0, 0, 2);
        b.label("key").root();
        const size_t rdlength = 13 + 6 + 2 + 2 + 2 + 2 + 2;  // hmac-sha256. + fields
        b.fixed(250, 255, static_cast<uint16_t>(rdlength), 0);
        b.label("hmac-sha256")
            .root()
            .u16(0)
            .u32(1700000000)
            .u16(300)
            .u16(0)
            .u16(0x1234)
            .u16(0)
            .u16(0);
        b.root().fixed(1, 1, 4).u32(0x7F000001);
        out.push_back({"TSIG before the last record", b.wire(), "ldns_tsig"});
    }
    return out;
}

Wire read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Wire(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<Wire> corpus_messages() {
    std::vector<Wire> out;
    const std::filesystem::path dir = source_root() + "/tests/fuzz/corpus/dns_message_fuzz";
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(dir))
        for (const auto& e : std::filesystem::directory_iterator(dir))
            if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& p : files) out.push_back(read_file(p));
    return out;
}

std::vector<Wire> capture_messages() {
    std::vector<Wire> out;
    std::vector<std::string> files;
    const std::filesystem::path dir = source_root() + "/pcaps";
    if (std::filesystem::is_directory(dir))
        for (const auto& e : std::filesystem::directory_iterator(dir))
            if (e.path().extension() == ".pcap") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) {
        PcapFileSource src({file});
        std::array<PacketView, 16> views;
        DecodedPacket d;
        for (size_t n; (n = src.receive(views)) > 0;) {
            for (size_t i = 0; i < n; ++i) {
                decode_frame(views[i], d);
                if (d.status != DecodeStatus::ok || d.transport != Transport::udp ||
                    (d.sport != 53 && d.dport != 53))
                    continue;
                const auto* p = reinterpret_cast<const uint8_t*>(d.payload.data());
                out.emplace_back(p, p + d.payload.size());
            }
            src.release(std::span<const PacketView>(views.data(), n));
        }
    }
    return out;
}

// Byte flips, truncations and header-count changes, from a fixed seed: the same every run.
std::vector<Wire> mutations(const std::vector<Wire>& seeds, size_t count) {
    std::vector<Wire> out;
    std::mt19937 rng(53);
    size_t tries = 0;
    while (out.size() < count && !seeds.empty() && tries++ < count * 4) {
        Wire w = seeds[rng() % seeds.size()];
        if (w.size() < 13) continue;
        switch (rng() % 4) {
            case 0:  // one byte flipped past the header
                w[12 + rng() % (w.size() - 12)] ^= static_cast<uint8_t>(1 + rng() % 255);
                break;
            case 1:  // a few bytes anywhere
                for (auto k = 1 + rng() % 3; k > 0; --k)
                    w[rng() % w.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
                break;
            case 2:  // truncated
                w.resize(12 + rng() % (w.size() - 12));
                break;
            default: {  // a header count nudged
                const size_t at = 4 + 2 * (rng() % 4);
                const uint16_t c = static_cast<uint16_t>(u16_at(w, at) + (rng() % 2 ? 1 : -1));
                w[at] = static_cast<uint8_t>(c >> 8);
                w[at + 1] = static_cast<uint8_t>(c);
            }
        }
        out.push_back(std::move(w));
    }
    return out;
}

TEST(LdnsDifferential, CraftedEdgesLandInTheirClass) {
    Differ differ;
    for (const Crafted& c : crafted_messages()) {
        const Outcome o = differ.run(c.wire);
        EXPECT_TRUE(o.unexplained.empty()) << c.what << ": " << o.unexplained << "\n"
                                           << hex_dump(c.wire);
        EXPECT_EQ(o.klass, c.klass) << c.what << "\n" << hex_dump(c.wire);
    }
}

TEST(LdnsDifferential, SameMessagesSameRecords) {
    const std::vector<Wire> corpus = corpus_messages();
    const std::vector<Wire> captures = capture_messages();
    ASSERT_FALSE(corpus.empty())
        << "no fuzz corpus (set FRAG53_SOURCE_ROOT; scripts/make-fuzz-corpus)";
    ASSERT_FALSE(captures.empty()) << "no DNS over UDP in pcaps/";
    std::vector<Wire> seeds = corpus;
    seeds.insert(seeds.end(), captures.begin(), captures.end());
    // FRAG53_LDNS_MUTATIONS=n runs a longer search than the default.
    const char* requested = std::getenv("FRAG53_LDNS_MUTATIONS");
    const std::vector<Wire> mutated =
        mutations(seeds, requested ? std::strtoul(requested, nullptr, 10) : 5000);

    Differ differ;
    std::map<std::string, size_t> classes;
    size_t compared = 0, skipped = 0, unexplained = 0;
    auto check = [&](const std::vector<Wire>& set, const char* origin) {
        for (size_t i = 0; i < set.size(); ++i) {
            if (set[i].size() > max_message_size) {
                ++skipped;  // frag53 caps a message at 64 KiB, ldns does not
                continue;
            }
            ++compared;
            const Outcome o = differ.run(set[i]);
            if (!o.unexplained.empty()) {
                if (unexplained++ == 0)
                    ADD_FAILURE() << origin << " message " << i << ": " << o.unexplained << "\n"
                                  << hex_dump(set[i]);
                ++classes["unexplained"];
                continue;
            }
            ++classes[o.klass];
        }
    };
    check(corpus, "corpus");
    check(captures, "capture");
    check(mutated, "mutation");

    std::ostringstream report;
    report << "compared " << compared << " (corpus " << corpus.size() << ", captures "
           << captures.size() << ", mutations " << mutated.size() << "), skipped " << skipped
           << "\n";
    for (const auto& [name, n] : classes) report << "  " << name << ": " << n << "\n";
    std::printf("%s", report.str().c_str());
    RecordProperty("classes", report.str());
    EXPECT_EQ(unexplained, 0u) << report.str();
    EXPECT_GT(classes["agree"], 0u);
}

}  // namespace
}  // namespace frag53::dns
