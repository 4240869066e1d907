// Parses arbitrary bytes as a DNS message, then touches everything a detector could read from the
// view: every name, every EDNS option, every typed rdata view. The checks below hold for every
// input, so the fuzzer finds logic errors as well as memory errors. Messages that parse whole are
// also hashed as the DNSSEC hand-over hashes them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "analyzers/dns/message.h"
#include "analyzers/material_hash.h"

using namespace frag53;
using namespace frag53::dns;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

// Any offset the view hands out must decode (it was validated), unless it points at a name the
// parser does not walk.
void decode(Bytes wire, size_t offset, bool must_decode) {
    Name n;
    size_t end = 0;
    const ParseError e = decode_name(wire, offset, n, &end);
    if (must_decode) check(e == ParseError::none);
    if (e != ParseError::none) {
        check(n.length == 0);
        return;
    }
    check(n.length >= 1 && n.wire[n.length - 1] == 0);
    check(end > offset && end <= wire.size());
    const std::string s = n.to_string();
    check(!s.empty() && s.back() == '.');
    Name lower = n;
    lower.to_lower();
    check(lower.equals_ignore_case(n));
    check(lower.hash_ignore_case() == n.hash_ignore_case());
    check(n.label_count() <= 127);
}

// The DNSSEC hand-over hash of a parsed message (both implementations): it reads only the
// message, and changing the ID and every record's TTL does not change it.
void check_material_hash(Bytes wire, std::span<const Record> records) {
    std::vector<uint8_t> other(reinterpret_cast<const uint8_t*>(wire.data()),
                               reinterpret_cast<const uint8_t*>(wire.data()) + wire.size());
    other[0] ^= 0x5A;
    other[1] ^= 0xA5;
    for (const Record& rr : records)
        for (size_t i = rr.rdata_offset - 6u; i < rr.rdata_offset - 2u; ++i) other[i] ^= 0xFF;
    const Bytes changed = as_bytes(other.data(), other.size());
    check(material_hash_portable(1, wire, records) == material_hash_portable(1, changed, records));
    if (material_hash_aes_available())
        check(material_hash_aes(1, wire, records) == material_hash_aes(1, changed, records));
}

// parse_head() reads what parse() reads up to the end of the questions, and nothing after.
void check_head(const MessageView& whole, Bytes wire) {
    static auto view = std::make_unique<MessageView>();
    MessageView& h = *view;
    const ParseError err = h.parse_head(wire);
    check(err == h.error());
    check(h.header_complete() == whole.header_complete());
    check(h.header().id == whole.header().id && h.header().flags == whole.header().flags &&
          h.header().qdcount == whole.header().qdcount && h.header().ancount == whole.header().ancount);
    check(h.questions().size() == whole.questions().size());
    for (size_t i = 0; i < h.questions().size(); ++i) {
        check(h.questions()[i].name_offset == whole.questions()[i].name_offset);
        check(h.questions()[i].qtype == whole.questions()[i].qtype);
    }
    check(h.records().empty() && h.records_seen() == 0 && !h.edns().present && !h.has_rrsig());
    // An error in the header or the questions is the whole parse's error; past them, the head
    // is fine.
    if (err != ParseError::none) check(err == whole.error() && h.error_offset() == whole.error_offset());
    else if (!whole.ok())
        check(whole.questions().size() == std::min<size_t>(whole.header().qdcount, MessageView::max_questions));
}

bool in_rdata(const Record& rr, size_t offset) {
    return offset >= rr.rdata_offset && offset < size_t{rr.rdata_offset} + rr.rdlength;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static auto view = std::make_unique<MessageView>();  // large; reused as a worker would
    MessageView& m = *view;
    const Bytes wire = as_bytes(data, size);
    const ParseError err = m.parse(wire);
    check(err == m.error());
    check(to_string(err)[0] != '\0');
    check(m.ok() == (err == ParseError::none));
    check(err == ParseError::none ? m.error_offset() == 0 : m.error_offset() <= size);
    check(m.header_complete() || err == ParseError::short_header);
    check(m.records().size() <= MessageView::max_records);
    check(m.records().size() <= m.records_seen());
    check(m.records_in(Section::answer) + m.records_in(Section::authority) +
              m.records_in(Section::additional) == m.records_seen());

    for (const Question& q : m.questions()) decode(wire, q.name_offset, true);
    Name qname;
    uint16_t qtype = 0, qclass = 0;
    check(m.first_question(qname, qtype, qclass) == !m.questions().empty());

    for (const Record& rr : m.records()) {
        decode(wire, rr.name_offset, true);
        const Bytes rd = m.rdata(rr);
        check(rd.size() == rr.rdlength);
        if (auto v = m.dnskey(rr)) check(v->public_key.size() + 4 == rd.size());
        if (auto v = m.rrsig(rr)) {
            check(in_rdata(rr, v->signer_offset));
            decode(wire, v->signer_offset, true);
            check(v->signature.size() <= rd.size());
        }
        if (auto v = m.ds(rr)) check(!v->digest.empty());
        if (auto v = m.nsec(rr)) decode(wire, v->next_offset, true);
        if (auto v = m.nsec3(rr)) check(!v->next_hashed.empty());
        if (auto v = m.nsec3param(rr)) check(v->salt.size() + 5 == rd.size());
        if (auto v = m.soa(rr)) {
            check(in_rdata(rr, v->mname_offset) && in_rdata(rr, v->rname_offset));
            decode(wire, v->mname_offset, true);
            decode(wire, v->rname_offset, true);
        }
        // Names inside unknown RDATA are not walked by parse(): decoding them must still be safe.
        if (rr.rdlength > 0) decode(wire, rr.rdata_offset, false);
    }

    const Edns& e = m.edns();
    if (e.present) {
        EdnsOptionIterator it(wire, e);
        EdnsOption opt;
        unsigned n = 0;
        while (it.next(opt)) {
            ++n;
            check(opt.data.empty() || (opt.data.data() >= wire.data() &&
                                       opt.data.data() + opt.data.size() <= wire.data() + size));
        }
        check(n == e.option_count);
        // An option past the end is always reported, unless an earlier error was reported first.
        if (err == ParseError::option_past_end) check(it.error());
        if (it.error()) check(err != ParseError::none);
        const uint16_t full = m.full_rcode();
        check((full & 0xF) == m.header().rcode());
    }
    // The pipeline hashes answers that parsed whole.
    if (m.ok()) check_material_hash(wire, m.records());
    check_head(m, wire);
    // Arbitrary offsets must be safe too.
    if (size >= 2) decode(wire, size_t{data[0]} << 8 | data[1], false);
    return 0;
}
