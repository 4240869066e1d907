// DNS queries as the prober sends them (and as tests send them to the responder).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace frag53::probe {

struct QueryOptions {
    uint16_t id = 0;
    uint16_t qtype = 16;  // TXT
    bool rd = false;
    bool cd = false;
    bool edns = true;
    uint16_t udp_size = 1232;
    bool do_bit = false;
    bool nsid = false;          // empty NSID option
    bool cookie = false;        // 8-byte client cookie (from `cookie_value`)
    uint64_t cookie_value = 0;
    uint16_t padding = 0;       // EDNS padding option of this many bytes (0: none)
};

// Appends the query for `qname` (presentation form, "." or trailing dot allowed) to `out`.
// Returns false, leaving `out` as it was, when the name is not a valid DNS name.
bool build_query(std::string_view qname, const QueryOptions& o, std::vector<uint8_t>& out);

// Encodes a presentation-form name (no escapes) as uncompressed wire labels; false when a label
// is empty or longer than 63 bytes or the name longer than 255.
bool encode_name(std::string_view name, std::vector<uint8_t>& out);

}  // namespace frag53::probe
