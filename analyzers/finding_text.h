// Text of findings, appended to a caller's string.
//
// The events file and the report print every finding's addresses, names, times and sizes; a run
// over a large capture makes hundreds of thousands of findings. Appending each part to one reused
// string costs no allocation per field, where building temporaries ("a" + to_string(b) + ...)
// cost more than the analysis that made the finding. The text is the same as the std::string
// helpers in findings.h produce (those are built on these).
#pragma once

#include <charconv>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

#include "analyzers/dns/message.h"
#include "dataplane/ip_address.h"

namespace frag53::text {

inline void append(std::string& s, std::string_view v) { s.append(v); }
inline void append(std::string& s, const char* v) { s.append(v); }
inline void append(std::string& s, char c) { s.push_back(c); }
// Integers in decimal, as std::to_string prints them (uint8_t is a number, not a character).
template <std::integral T>
    requires(!std::same_as<T, char> && !std::same_as<T, bool>)
void append(std::string& s, T v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    s.append(buf, r.ptr);
}
// Findings come in runs about the same few hosts: the last few addresses formatted (per thread)
// are appended from their text instead of being formatted again.
void append(std::string& s, const IpAddress& a);
// Likewise the last few names: a finding prints its question twice (the field and the message).
void append(std::string& s, const dns::Name& n);

// Every part in order: append_all(s, "response of ", size, " B").
template <class... Parts>
void append_all(std::string& s, const Parts&... parts) {
    (append(s, parts), ...);
}

// "2026-11-23T17:46:38.313108Z": ISO 8601 UTC with microseconds, no time zone database. The date
// and time of day of the last second formatted (per thread) are reused.
void append_timestamp(std::string& s, uint64_t ts_ns);
// "A", "DNSKEY", ... or "TYPE65280" for types without a mnemonic.
void append_qtype(std::string& s, uint16_t qtype);
// "NOERROR", ... or "RCODE24"; nothing for a negative (absent) rcode.
void append_rcode(std::string& s, int32_t rcode);

}  // namespace frag53::text
