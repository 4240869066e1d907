// Builds DNS messages byte by byte, so each test shows the exact wire form it feeds in,
// including the broken ones no encoder would produce.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "dataplane/wire_reader.h"

namespace frag53::testing {

class WireBuilder {
public:
    WireBuilder& u8(uint8_t v) {
        b_.push_back(v);
        return *this;
    }
    WireBuilder& u16(uint16_t v) {
        b_.push_back(static_cast<uint8_t>(v >> 8));
        b_.push_back(static_cast<uint8_t>(v));
        return *this;
    }
    WireBuilder& u32(uint32_t v) {
        u16(static_cast<uint16_t>(v >> 16));
        return u16(static_cast<uint16_t>(v));
    }
    WireBuilder& raw(std::initializer_list<uint8_t> v) {
        b_.insert(b_.end(), v.begin(), v.end());
        return *this;
    }
    WireBuilder& raw(const std::vector<uint8_t>& v) {
        b_.insert(b_.end(), v.begin(), v.end());
        return *this;
    }
    WireBuilder& fill(size_t n, uint8_t v) {
        b_.insert(b_.end(), n, v);
        return *this;
    }
    WireBuilder& header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns,
                        uint16_t ar) {
        return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
    }
    // Labels of a dotted name, no terminator ("" writes nothing).
    WireBuilder& labels(std::string_view dotted) {
        while (!dotted.empty()) {
            const size_t dot = dotted.find('.');
            const std::string_view label = dotted.substr(0, dot);
            u8(static_cast<uint8_t>(label.size()));
            for (char c : label) u8(static_cast<uint8_t>(c));
            dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
        }
        return *this;
    }
    // A complete uncompressed name ("" or "." is the root).
    WireBuilder& name(std::string_view dotted) {
        if (dotted == ".") dotted = {};
        return labels(dotted).u8(0);
    }
    WireBuilder& ptr(uint16_t target) { return u16(static_cast<uint16_t>(0xC000 | target)); }
    WireBuilder& question(uint16_t qtype, uint16_t qclass = 1) { return u16(qtype).u16(qclass); }
    // TYPE, CLASS, TTL, RDLENGTH (the owner name is written before).
    WireBuilder& rr(uint16_t type, uint16_t klass, uint32_t ttl, uint16_t rdlength) {
        return u16(type).u16(klass).u32(ttl).u16(rdlength);
    }
    // TYPE, CLASS, TTL; the RDATA follows through begin_rdata() / end_rdata().
    WireBuilder& rr_head(uint16_t type, uint16_t klass, uint32_t ttl) {
        return u16(type).u16(klass).u32(ttl);
    }
    // Rewrites a 16-bit field already written (counts, RDLENGTH).
    WireBuilder& set_u16(size_t at, uint16_t v) {
        b_[at] = static_cast<uint8_t>(v >> 8);
        b_[at + 1] = static_cast<uint8_t>(v);
        return *this;
    }
    // Starts an RDATA: writes a placeholder RDLENGTH; close it with end_rdata().
    WireBuilder& begin_rdata() {
        rdlength_at_ = b_.size();
        return u16(0);
    }
    WireBuilder& end_rdata() {
        return set_u16(rdlength_at_, static_cast<uint16_t>(b_.size() - rdlength_at_ - 2));
    }

    // OPT pseudo-record: owner root, CLASS = UDP size, TTL = extended RCODE | version | DO.
    WireBuilder& opt(uint16_t udp_size, bool do_bit = false, uint8_t version = 0, uint8_t ext_rcode = 0) {
        return u8(0).u16(41).u16(udp_size).u8(ext_rcode).u8(version).u16(do_bit ? 0x8000 : 0).u16(0);
    }
    // A TXT record owned by the name at offset 12 (the question), `len` bytes of text.
    WireBuilder& txt_answer(size_t len) {
        ptr(12).rr_head(16, 1, 300).begin_rdata();
        while (len > 0) {
            const size_t n = len < 255 ? len : 255;
            u8(static_cast<uint8_t>(n)).fill(n, 'x');
            len -= n;
        }
        return end_rdata();
    }
    size_t size() const { return b_.size(); }
    uint16_t pos() const { return static_cast<uint16_t>(b_.size()); }
    const std::vector<uint8_t>& data() const { return b_; }
    Bytes bytes() const { return as_bytes(b_.data(), b_.size()); }

private:
    std::vector<uint8_t> b_;
    size_t rdlength_at_ = 0;
};

}  // namespace frag53::testing
