#include "prober/query.h"

namespace frag53::probe {

namespace {
void put16(std::vector<uint8_t>& o, uint16_t v) {
    o.push_back(static_cast<uint8_t>(v >> 8));
    o.push_back(static_cast<uint8_t>(v));
}
}  // namespace

bool encode_name(std::string_view name, std::vector<uint8_t>& out) {
    size_t start = out.size();
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    size_t total = 1;
    while (!name.empty()) {
        size_t dot = name.find('.');
        std::string_view label = name.substr(0, dot);
        if (label.empty() || label.size() > 63 || (total += label.size() + 1) > 255) {
            out.resize(start);
            return false;
        }
        out.push_back(static_cast<uint8_t>(label.size()));
        out.insert(out.end(), label.begin(), label.end());
        name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
    }
    out.push_back(0);
    return true;
}

bool build_query(std::string_view qname, const QueryOptions& o, std::vector<uint8_t>& out) {
    size_t start = out.size();
    put16(out, o.id);
    uint16_t flags = static_cast<uint16_t>((o.rd ? 0x0100 : 0) | (o.cd ? 0x0010 : 0));
    put16(out, flags);
    put16(out, 1);
    put16(out, 0);
    put16(out, 0);
    put16(out, o.edns ? 1 : 0);
    if (!encode_name(qname, out)) {
        out.resize(start);
        return false;
    }
    put16(out, o.qtype);
    put16(out, 1);  // IN
    if (o.edns) {
        out.push_back(0);  // root owner
        put16(out, 41);
        put16(out, o.udp_size);
        put16(out, 0);  // extended RCODE, version 0
        put16(out, o.do_bit ? 0x8000 : 0);
        size_t rdlen_at = out.size();
        put16(out, 0);
        if (o.nsid) {
            put16(out, 3);
            put16(out, 0);
        }
        if (o.cookie) {
            put16(out, 10);
            put16(out, 8);
            for (int i = 7; i >= 0; --i) out.push_back(static_cast<uint8_t>(o.cookie_value >> (i * 8)));
        }
        if (o.padding) {
            put16(out, 12);
            put16(out, o.padding);
            out.insert(out.end(), o.padding, 0);
        }
        size_t rdlen = out.size() - rdlen_at - 2;
        out[rdlen_at] = static_cast<uint8_t>(rdlen >> 8);
        out[rdlen_at + 1] = static_cast<uint8_t>(rdlen);
    }
    return true;
}

}  // namespace frag53::probe
