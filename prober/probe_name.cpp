#include "prober/probe_name.h"

#include <cctype>
#include <charconv>

namespace frag53::probe {

std::string probe_label(const ProbeSpec& spec) {
    std::string s = "s" + std::to_string(spec.size) + "-f";
    switch (spec.frag) {
    case FragMode::dont_fragment: s += 'd'; break;
    case FragMode::kernel: s += 'k'; break;
    case FragMode::forced: s += 'p' + std::to_string(spec.frag_mtu); break;
    }
    s += "-t";
    switch (spec.trunc) {
    case TruncMode::honour: s += 'h'; break;
    case TruncMode::ignore: s += 'i'; break;
    case TruncMode::always: s += 'a'; break;
    }
    char hex[17];
    auto [end, ec] = std::to_chars(hex, hex + sizeof hex, spec.nonce, 16);
    (void)ec;
    s += "-n";
    s.append(hex, end);
    return s;
}

std::string probe_name(const ProbeSpec& spec, std::string_view zone) {
    std::string name = probe_label(spec);
    name += '.';
    while (!zone.empty() && zone.front() == '.') zone.remove_prefix(1);
    name += zone;
    if (name.back() != '.') name += '.';
    return name;
}

namespace {

// A decimal without sign or leading zeros, within [lo, hi].
bool parse_decimal(std::string_view s, uint32_t lo, uint32_t hi, uint32_t& out) {
    if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
    uint32_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<uint32_t>(c - '0');
    }
    if (v < lo || v > hi) return false;
    out = v;
    return true;
}

}  // namespace

std::optional<ProbeSpec> parse_probe_label(std::string_view label) {
    if (label.empty() || label.size() > 63) return std::nullopt;
    std::string lower(label);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view rest = lower;
    std::string_view field[4];
    for (int i = 0; i < 4; ++i) {
        size_t dash = rest.find('-');
        if (i < 3) {
            if (dash == std::string_view::npos) return std::nullopt;
            field[i] = rest.substr(0, dash);
            rest.remove_prefix(dash + 1);
        } else {
            if (dash != std::string_view::npos) return std::nullopt;
            field[i] = rest;
        }
    }
    ProbeSpec spec;
    if (field[0].size() < 2 || field[0][0] != 's' ||
        !parse_decimal(field[0].substr(1), min_probe_size, max_probe_size, spec.size))
        return std::nullopt;

    std::string_view f = field[1];
    if (f == "fd") {
        spec.frag = FragMode::dont_fragment;
    } else if (f == "fk") {
        spec.frag = FragMode::kernel;
    } else if (f.size() > 2 && f.substr(0, 2) == "fp") {
        uint32_t mtu = 0;
        if (!parse_decimal(f.substr(2), 576, 65535, mtu)) return std::nullopt;
        spec.frag = FragMode::forced;
        spec.frag_mtu = static_cast<uint16_t>(mtu);
    } else {
        return std::nullopt;
    }

    std::string_view t = field[2];
    if (t == "th") spec.trunc = TruncMode::honour;
    else if (t == "ti") spec.trunc = TruncMode::ignore;
    else if (t == "ta") spec.trunc = TruncMode::always;
    else return std::nullopt;

    std::string_view n = field[3];
    if (n.size() < 2 || n.size() > 17 || n[0] != 'n') return std::nullopt;
    uint64_t nonce = 0;
    for (char c : n.substr(1)) {
        unsigned d;
        if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
        else return std::nullopt;
        nonce = (nonce << 4) | d;
    }
    spec.nonce = nonce;
    return spec;
}

}  // namespace frag53::probe
