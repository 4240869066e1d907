// Query in, answer bytes out: the whole DNS side of `frag53 responder`, with no sockets.
//
// For a well-formed probe name under the zone (docs/probe.md) the answer is a TXT RRset at the
// query name whose first record echoes what the query carried (EDNS, options, transport, source)
// and whose other records are filler sized so the whole message is exactly the size the name asks
// for. Everything else gets a small REFUSED / FORMERR / NOTIMP / BADVERS or nothing at all, so the
// responder never amplifies anything but its own probe names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "analyzers/dns/message.h"
#include "dataplane/wire_reader.h"
#include "prober/probe_name.h"

namespace frag53::probe {

enum class Transport : uint8_t { udp, tcp };
enum class AddressFamily : uint8_t { ipv4, ipv6 };

// Largest DNS message one UDP datagram carries: the IP total length (IPv4) or payload length
// (IPv6, no jumbograms) is 16 bits and holds the UDP header (and for IPv4 the IP header).
inline constexpr size_t max_udp_message_v4 = 65535 - 20 - 8;  // 65507
inline constexpr size_t max_udp_message_v6 = 65535 - 8;       // 65527
inline constexpr size_t max_tcp_message = 65535;
// The buffer every answer fits in.
inline constexpr size_t max_answer_size = 65535;

// Filler records hold at most this much RDATA (16 character-strings of 255 bytes), so a large
// answer is an RRset of many moderate records, as signed answers are, not one giant record.
inline constexpr size_t filler_rdata_max = 16 * 256;

struct AnswerConfig {
    std::string zone = "probe.example";  // presentation form; "." or a trailing dot allowed
    uint32_t ttl = 0;                    // probe names are unique: nothing to cache
    uint16_t edns_udp_size = 1232;       // advertised in our OPT
};

struct QueryContext {
    Transport transport = Transport::udp;
    AddressFamily family = AddressFamily::ipv4;
    std::string_view source;  // the query's source address in presentation form, for the echo
    bool forced_fragments = true;  // fp<mtu> can be sent (a raw socket is open); else REFUSED
};

enum class AnswerKind : uint8_t {
    none,       // nothing to send: shorter than a header, or QR=1
    answer,     // the probe answer (exactly spec.size bytes unless clamped, see Answer::clamped)
    truncated,  // the probe answer cut to TC=1 with the question and OPT only
    refused,    // REFUSED: not a probe name under the zone, wrong type or class, unusable mode
    formerr,    // FORMERR: header present, the rest unparseable or not a single question
    notimp,     // NOTIMP: an opcode other than QUERY
    badvers,    // BADVERS: EDNS version above 0
};
const char* to_string(AnswerKind k) noexcept;

// Why a query was REFUSED (for counters and logs).
enum class RefuseReason : uint8_t {
    none,
    not_probe_name,  // outside the zone, the apex, deeper than one label, or not the grammar
    qtype_qclass,    // not TXT / ANY, or not class IN
    mtu_below_1280,  // fp<mtu> under 1280 over IPv6
    no_raw_socket,   // fp<mtu> while no raw socket could be opened
};
const char* to_string(RefuseReason r) noexcept;

struct Answer {
    AnswerKind kind = AnswerKind::none;
    size_t length = 0;  // bytes written to the output buffer
    ProbeSpec spec{};   // the parsed probe name (answer / truncated only)
    // answer / truncated: the size the full answer had (spec.size, or the smallest / largest
    // answer that can be built when spec.size is below / above that).
    size_t full_size = 0;
    bool clamped = false;  // full_size != spec.size
    RefuseReason reason = RefuseReason::none;  // refused only
};

class AnswerBuilder {
public:
    // Throws std::invalid_argument for a zone that is not a valid name.
    explicit AnswerBuilder(const AnswerConfig& cfg);
    ~AnswerBuilder();
    AnswerBuilder(const AnswerBuilder&) = delete;
    AnswerBuilder& operator=(const AnswerBuilder&) = delete;

    // Answers `query`, writing into `out` (max_answer_size bytes suffice for every answer; a
    // smaller buffer caps the probe answer at its size, and one too small for the answer needed
    // yields none).
    Answer build(Bytes query, const QueryContext& ctx, std::span<std::byte> out) noexcept;

    // The rate limiter's "slip": a minimal TC=1 answer (header and question, nothing else) so a
    // real client behind a flooded address can still retry over TCP. none for a query whose
    // question does not parse.
    Answer build_slip(Bytes query, std::span<std::byte> out) noexcept;

    // The echo string the first TXT record of an answer to `query` would carry (for tests and
    // logs); empty when the query does not parse.
    std::string echo_text(Bytes query, const QueryContext& ctx) noexcept;

    const dns::Name& zone() const noexcept { return zone_; }

private:
    Answer error_answer(AnswerKind kind, uint16_t rcode, bool with_question, bool with_opt,
                        std::span<std::byte> out) noexcept;
    size_t write_echo(const QueryContext& ctx, std::span<char> out) const noexcept;
    bool probe_label_of(const dns::Name& lower, std::string_view& label) const noexcept;

    AnswerConfig cfg_;
    dns::Name zone_;                           // lower case
    std::unique_ptr<dns::MessageView> view_;   // large; reused for every query
    dns::Name qname_;                          // as received (case kept for the question)
    uint16_t qtype_ = 0, qclass_ = 0;
};

// Size of the smallest probe answer (echo only, no filler) for a question name of `qname_len`
// wire bytes, an echo of `echo_len` characters, with or without OPT.
constexpr size_t min_answer_size(size_t qname_len, size_t echo_len, bool edns) noexcept {
    return 12 + qname_len + 4 + 12 + 1 + echo_len + (edns ? 11 : 0);
}

}  // namespace frag53::probe
