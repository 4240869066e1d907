// Fixtures made by the real BIND 9 tools (scripts/make-dnssec-fixtures): answers.pcap with the
// signed answers named served, and the values dnssec-dsfromkey and nsec3hash printed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "analyzers/dns/message.h"

namespace frag53::dnssec::testing {

// One DNS response from answers.pcap, parsed.
struct Answer {
    std::vector<uint8_t> wire;
    std::unique_ptr<dns::MessageView> view;  // points into `wire`
    std::string qname;                       // as asked (case kept)
    uint16_t qtype = 0;
    uint64_t frame = 0;
};

// Every response in the capture, in capture order. Fails the calling test (and returns an empty
// list) when the fixture is missing or a response does not parse cleanly.
const std::vector<std::unique_ptr<Answer>>& answers();

// Responses whose question is `qname` (ignoring case) and `qtype`, in capture order.
std::vector<const Answer*> find_answers(std::string_view qname, uint16_t qtype);

// The zones of the fixture: "alg5.test" .. "alg16.test", with their algorithm number.
struct Zone {
    std::string name;
    uint8_t algorithm;
    std::string denial;  // "nsec" or "nsec3:SALT:ITERATIONS"
};
const std::vector<Zone>& zones();

// Whitespace-separated fields of each non-empty line of data/<file>.
std::vector<std::vector<std::string>> read_fields(const std::string& file);

// Wire form of a dotted presentation name without escapes ("" or "." is the root); case kept.
dns::Name make_name(std::string_view dotted);
std::vector<uint8_t> from_hex(std::string_view hex);
std::string to_hex(const uint8_t* p, size_t n);

// The DNSKEY records of a zone from its DNSKEY answer (views into answers(), which live for the
// whole test program).
std::vector<dns::DnskeyView> zone_keys(std::string_view zone);

// The owner of a record, decoded.
dns::Name owner_of(const dns::MessageView& m, const dns::Record& rr);

}  // namespace frag53::dnssec::testing
