#include "tests/analyzers/dnssec/fixtures.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "dataplane/decode.h"
#include "dataplane/pcap_file_source.h"

namespace frag53::dnssec::testing {
namespace {

std::string data_path(const std::string& file) {
    const char* root = std::getenv("FRAG53_SOURCE_ROOT");
    return std::string(root ? root : ".") + "/tests/analyzers/dnssec/data/" + file;
}

std::vector<std::unique_ptr<Answer>> load_answers() {
    std::vector<std::unique_ptr<Answer>> out;
    const std::string path = data_path("answers.pcap");
    if (!std::ifstream(path)) {
        ADD_FAILURE() << path << " missing (set FRAG53_SOURCE_ROOT; scripts/make-dnssec-fixtures)";
        return out;
    }
    PcapFileSource src({path});
    std::array<PacketView, 16> views;
    DecodedPacket d;
    for (size_t n; (n = src.receive(views)) > 0;) {
        for (size_t i = 0; i < n; ++i) {
            decode_frame(views[i], d);
            if (d.status != DecodeStatus::ok || d.transport != Transport::udp || d.sport != 53)
                continue;
            auto a = std::make_unique<Answer>();
            a->frame = views[i].frame;
            const auto* p = reinterpret_cast<const uint8_t*>(d.payload.data());
            a->wire.assign(p, p + d.payload.size());
            a->view = std::make_unique<dns::MessageView>();
            const dns::ParseError e = a->view->parse(as_bytes(a->wire.data(), a->wire.size()));
            EXPECT_EQ(e, dns::ParseError::none) << "frame " << a->frame << ": " << dns::to_string(e);
            dns::Name q;
            uint16_t qclass = 0;
            if (a->view->first_question(q, a->qtype, qclass)) a->qname = q.to_string();
            out.push_back(std::move(a));
        }
        src.release(std::span<const PacketView>(views.data(), n));
    }
    EXPECT_TRUE(src.errors().empty());
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

}  // namespace

const std::vector<std::unique_ptr<Answer>>& answers() {
    static const std::vector<std::unique_ptr<Answer>> all = load_answers();
    if (all.empty()) ADD_FAILURE() << "no answers in answers.pcap";
    return all;
}

std::vector<const Answer*> find_answers(std::string_view qname, uint16_t qtype) {
    std::string want(qname);
    if (want.empty() || want.back() != '.') want += '.';
    std::vector<const Answer*> out;
    for (const auto& a : answers())
        if (a->qtype == qtype && iequals(a->qname, want)) out.push_back(a.get());
    return out;
}

const std::vector<Zone>& zones() {
    static const std::vector<Zone> z = [] {
        std::vector<Zone> out;
        for (const auto& f : read_fields("zones.txt")) {
            if (f.size() != 3) continue;
            const size_t alg = f[0].find_first_of("0123456789");
            out.push_back({f[0], static_cast<uint8_t>(std::stoi(f[0].substr(alg))), f[2]});
        }
        return out;
    }();
    return z;
}

std::vector<std::vector<std::string>> read_fields(const std::string& file) {
    std::vector<std::vector<std::string>> out;
    std::ifstream in(data_path(file));
    if (!in) {
        ADD_FAILURE() << data_path(file) << " missing";
        return out;
    }
    for (std::string line; std::getline(in, line);) {
        std::istringstream s(line);
        std::vector<std::string> fields;
        for (std::string f; s >> f;) fields.push_back(f);
        if (!fields.empty()) out.push_back(std::move(fields));
    }
    return out;
}

dns::Name make_name(std::string_view dotted) {
    dns::Name n;
    size_t len = 0;
    if (dotted.ends_with('.')) dotted.remove_suffix(1);
    while (!dotted.empty()) {
        const size_t dot = dotted.find('.');
        const std::string_view label = dotted.substr(0, dot);
        n.wire[len++] = static_cast<uint8_t>(label.size());
        for (char c : label) n.wire[len++] = static_cast<uint8_t>(c);
        dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
    }
    n.wire[len++] = 0;
    n.length = static_cast<uint8_t>(len);
    return n;
}

std::vector<uint8_t> from_hex(std::string_view hex) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    return out;
}

std::string to_hex(const uint8_t* p, size_t n) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string s;
    for (size_t i = 0; i < n; ++i) {
        s += digits[p[i] >> 4];
        s += digits[p[i] & 15];
    }
    return s;
}

std::vector<dns::DnskeyView> zone_keys(std::string_view zone) {
    std::vector<dns::DnskeyView> out;
    for (const Answer* a : find_answers(zone, dns::rrtype::DNSKEY))
        for (const dns::Record& rr : a->view->records())
            if (auto k = a->view->dnskey(rr)) out.push_back(*k);
    return out;
}

dns::Name owner_of(const dns::MessageView& m, const dns::Record& rr) {
    dns::Name n;
    EXPECT_EQ(dns::decode_name(m.wire(), rr.name_offset, n), dns::ParseError::none);
    return n;
}

}  // namespace frag53::dnssec::testing
