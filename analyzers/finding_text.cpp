#include "analyzers/finding_text.h"

#include <array>
#include <cstring>

namespace frag53::text {
namespace {

std::string_view qtype_mnemonic(uint16_t qtype) noexcept {
    switch (qtype) {
    case 1: return "A";
    case 2: return "NS";
    case 5: return "CNAME";
    case 6: return "SOA";
    case 12: return "PTR";
    case 15: return "MX";
    case 16: return "TXT";
    case 28: return "AAAA";
    case 33: return "SRV";
    case 35: return "NAPTR";
    case 41: return "OPT";
    case 43: return "DS";
    case 46: return "RRSIG";
    case 47: return "NSEC";
    case 48: return "DNSKEY";
    case 50: return "NSEC3";
    case 51: return "NSEC3PARAM";
    case 52: return "TLSA";
    case 59: return "CDS";
    case 60: return "CDNSKEY";
    case 64: return "SVCB";
    case 65: return "HTTPS";
    case 99: return "SPF";
    case 250: return "TSIG";
    case 251: return "IXFR";
    case 252: return "AXFR";
    case 255: return "ANY";
    case 257: return "CAA";
    default: return {};
    }
}

std::string_view rcode_mnemonic(int32_t rcode) noexcept {
    switch (rcode) {
    case 0: return "NOERROR";
    case 1: return "FORMERR";
    case 2: return "SERVFAIL";
    case 3: return "NXDOMAIN";
    case 4: return "NOTIMP";
    case 5: return "REFUSED";
    case 6: return "YXDOMAIN";
    case 7: return "YXRRSET";
    case 8: return "NXRRSET";
    case 9: return "NOTAUTH";
    case 10: return "NOTZONE";
    case 16: return "BADVERS";
    case 23: return "BADCOOKIE";
    default: return {};
    }
}

// `digits` decimal digits of v, zero-padded, ending just before `end`.
void put_padded(char* end, unsigned v, int digits) noexcept {
    for (int i = 0; i < digits; ++i) {
        *--end = static_cast<char>('0' + v % 10);
        v /= 10;
    }
}

// The mnemonic, or the generic form (RFC 3597 "TYPE65280") for numbers without one.
void append_mnemonic(std::string& s, std::string_view mnemonic, std::string_view generic, int32_t value) {
    if (!mnemonic.empty()) {
        s += mnemonic;
    } else {
        s += generic;
        append(s, value);
    }
}

struct AddressText {
    IpAddress address;
    uint8_t length = 0;  // 0: unused
    char text[IpAddress::max_text_length];
};
thread_local std::array<AddressText, 4> recent_addresses;
thread_local unsigned next_address = 0;

struct NameText {
    dns::Name name;         // length 0: unused
    std::string text;
};
thread_local std::array<NameText, 2> recent_names;
thread_local unsigned next_name = 0;

thread_local uint64_t last_second = ~uint64_t{0};
thread_local char last_second_text[20];  // "2026-11-23T17:46:38"

}  // namespace

void append(std::string& s, const IpAddress& a) {
    for (const AddressText& e : recent_addresses)
        if (e.length != 0 && e.address == a) {
            s.append(e.text, e.length);
            return;
        }
    AddressText& e = recent_addresses[next_address++ % recent_addresses.size()];
    e.address = a;
    e.length = static_cast<uint8_t>(a.format(e.text));
    s.append(e.text, e.length);
}

void append(std::string& s, const dns::Name& n) {
    for (const NameText& e : recent_names)
        if (e.name.length == n.length && n.length != 0 &&
            std::memcmp(e.name.wire.data(), n.wire.data(), n.length) == 0) {
            s += e.text;
            return;
        }
    NameText& e = recent_names[next_name++ % recent_names.size()];
    e.name.assign(n.wire.data(), n.length);
    e.text.clear();
    n.append_to(e.text);
    s += e.text;
}

void append_timestamp(std::string& s, uint64_t ts_ns) {
    const uint64_t secs = ts_ns / 1'000'000'000ull;
    const auto usec = static_cast<unsigned>(ts_ns % 1'000'000'000ull / 1000ull);
    if (secs == last_second) {
        char buf[] = "0000-00-00T00:00:00.000000Z";
        std::memcpy(buf, last_second_text, sizeof last_second_text - 1);
        put_padded(buf + 26, usec, 6);
        s.append(buf, sizeof buf - 1);
        return;
    }
    const auto second_of_day = static_cast<unsigned>(secs % 86400);
    // Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days, for
    // days >= 0). A uint64 of nanoseconds ends in 2554, so the year always has four digits.
    const uint64_t z = secs / 86400 + 719468;
    const uint64_t era = z / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);                 // [0, 146096]
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               // [0, 365]
    const unsigned mp = (5 * doy + 2) / 153;                                      // [0, 11]
    const unsigned day = doy - (153 * mp + 2) / 5 + 1;
    const unsigned month = mp < 10 ? mp + 3 : mp - 9;
    const auto year = static_cast<unsigned>(yoe + era * 400 + (month <= 2 ? 1 : 0));
    char buf[] = "0000-00-00T00:00:00.000000Z";
    put_padded(buf + 4, year, 4);
    put_padded(buf + 7, month, 2);
    put_padded(buf + 10, day, 2);
    put_padded(buf + 13, second_of_day / 3600, 2);
    put_padded(buf + 16, second_of_day / 60 % 60, 2);
    put_padded(buf + 19, second_of_day % 60, 2);
    put_padded(buf + 26, usec, 6);
    s.append(buf, sizeof buf - 1);
    last_second = secs;
    std::memcpy(last_second_text, buf, sizeof last_second_text - 1);
}

void append_qtype(std::string& s, uint16_t qtype) {
    append_mnemonic(s, qtype_mnemonic(qtype), "TYPE", qtype);
}

void append_rcode(std::string& s, int32_t rcode) {
    if (rcode >= 0) append_mnemonic(s, rcode_mnemonic(rcode), "RCODE", rcode);
}

}  // namespace frag53::text
