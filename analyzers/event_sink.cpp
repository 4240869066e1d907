#include "analyzers/event_sink.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cassert>
#include <charconv>
#include <concepts>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <vector>

#include "analyzers/finding_text.h"
#include "analyzers/report.h"

namespace frag53 {

namespace {

// The JSON of one events line, written straight into a buffer reused from line to line.
//
// Measured on a 100k-packet DNSSEC capture, rapidjson's Writer was half of what writing a
// finding cost: every key went through its byte-by-byte escaping. The lines here are flat and
// their keys fixed identifiers, so keys are copied as they are; string values are escaped
// exactly as rapidjson escapes them (control characters as \b \t \n \f \r or \u00XX, '"' and
// '\\'; everything else, UTF-8 included, as is) and numbers are the same decimal text, so the
// file is byte for byte what rapidjson wrote. Doubles (rtt_ms and the path rates, rare) still go
// through rapidjson, whose shortest-form formatting is not worth re-implementing.
class JsonLineWriter {
public:
    void reset() noexcept {
        len_ = 0;
        comma_ = false;
    }
    // Another line after the text already written (lines are batched in one buffer).
    void begin_line() noexcept { comma_ = false; }
    std::string_view text() const noexcept { return {buf_.data(), len_}; }
    void push_back(char c) { *room(1) = c, ++len_; }

    void StartObject() { open('{'); }
    void EndObject() { close('}'); }
    void StartArray() { open('['); }
    void EndArray() { close(']'); }
    // A literal key: its length is known at compile time, so the copy is a few moves.
    template <size_t N>
    void Key(const char (&k)[N]) {
        char* p = separate(room(N + 3));
        *p++ = '"';
        std::memcpy(p, k, N - 1);
        p += N - 1;
        *p++ = '"';
        *p++ = ':';
        commit(p);
        comma_ = false;
    }
    void String(std::string_view v) {
        char* p = separate(room(v.size() * 6 + 3));  // "\u00XX" is the longest escape
        *p++ = '"';
        p = escape(p, v);
        *p++ = '"';
        commit(p);
    }
    // A value known to need no escaping (names from tables, times, addresses, numbers in text):
    // copied as it is.
    void Plain(std::string_view v) {
        assert(std::all_of(v.begin(), v.end(), [](char c) {
            return static_cast<unsigned char>(c) >= 0x20 && c != '"' && c != '\\';
        }));
        char* p = separate(room(v.size() + 2));
        *p++ = '"';
        p = copy(p, v.data(), v.size());
        *p++ = '"';
        commit(p);
    }
    void Bool(bool b) { raw(b ? "true" : "false"); }
    template <std::integral T>
    void number(T v) {
        char* p = separate(room(24));
        commit(std::to_chars(p, p + 24, v).ptr);
    }
    void Uint(unsigned v) { number(v); }
    void Int(int v) { number(v); }
    void Uint64(uint64_t v) { number(v); }
    void Int64(int64_t v) { number(v); }
    void Double(double d) {
        double_buf_.Clear();
        double_writer_.Reset(double_buf_);
        double_writer_.Double(d);
        raw({double_buf_.GetString(), double_buf_.GetSize()});
    }

private:
    // Room for n more bytes (plus a separator) at the end of the line; where to write them.
    char* room(size_t n) {
        if (buf_.size() - len_ < n + 1) [[unlikely]] grow(n);
        return buf_.data() + len_;
    }
    [[gnu::noinline]] void grow(size_t n) { buf_.resize(std::max(2 * buf_.size(), len_ + n + 1)); }
    void commit(char* end) noexcept { len_ = static_cast<size_t>(end - buf_.data()); }
    char* separate(char* p) noexcept {
        if (comma_) *p++ = ',';
        comma_ = true;
        return p;
    }
    static char* copy(char* p, const char* s, size_t n) noexcept {
        std::memcpy(p, s, n);
        return p + n;
    }
    void raw(std::string_view v) {
        char* p = separate(room(v.size()));
        commit(copy(p, v.data(), v.size()));
    }
    void open(char c) {
        char* p = separate(room(1));
        *p++ = c;
        commit(p);
        comma_ = false;
    }
    void close(char c) {
        push_back(c);
        comma_ = true;
    }
    // Eight bytes hold nothing to escape (no byte below 0x20, no '"', no '\\'): SWAR tests, exact
    // as yes/no answers for a whole word.
    static bool plain(uint64_t x) noexcept {
        constexpr uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
        auto has_zero = [](uint64_t v) { return (v - ones) & ~v & highs; };
        const uint64_t below_space = (x - ones * 0x20) & ~x & highs;
        return (below_space | has_zero(x ^ (ones * '"')) | has_zero(x ^ (ones * '\\'))) == 0;
    }
    static char* escape(char* p, std::string_view v) noexcept {
        static constexpr char hex[] = "0123456789ABCDEF";
        const char* s = v.data();
        const size_t n = v.size();
        size_t i = 0;
        while (i < n) {
            // Most strings need no escaping at all: copy them 16 bytes at a time (SSE2, part of
            // x86-64 itself), then a word at a time.
#if defined(__SSE2__)
            for (; i + 16 <= n; i += 16, p += 16) {
                const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
                // Bytes below 0x20: max(x, 0x1F) == 0x1F exactly for them (unsigned bytes).
                const __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(x, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F));
                const __m128i quote = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
                const __m128i backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));
                if (_mm_movemask_epi8(_mm_or_si128(control, _mm_or_si128(quote, backslash))) != 0) break;
                _mm_storeu_si128(reinterpret_cast<__m128i*>(p), x);
            }
#endif
            for (uint64_t w; i + 8 <= n; i += 8, p += 8) {
                std::memcpy(&w, s + i, 8);
                if (!plain(w)) break;
                std::memcpy(p, &w, 8);
            }
            if (i == n) break;
            const auto c = static_cast<unsigned char>(s[i++]);
            if (c >= 0x20 && c != '"' && c != '\\') {
                *p++ = static_cast<char>(c);
                continue;
            }
            *p++ = '\\';
            switch (c) {
            case '"': *p++ = '"'; break;
            case '\\': *p++ = '\\'; break;
            case '\b': *p++ = 'b'; break;
            case '\t': *p++ = 't'; break;
            case '\n': *p++ = 'n'; break;
            case '\f': *p++ = 'f'; break;
            case '\r': *p++ = 'r'; break;
            default:
                p = copy(p, "u00", 3);
                *p++ = hex[c >> 4];
                *p++ = hex[c & 0xF];
            }
        }
        return p;
    }

    std::vector<char> buf_ = std::vector<char>(4096);  // grows to the longest line, never shrinks
    size_t len_ = 0;
    bool comma_ = false;  // a value precedes: the next key or array element needs a comma
    rapidjson::StringBuffer double_buf_;
    rapidjson::Writer<rapidjson::StringBuffer> double_writer_;
};

// One line's worth of reusable buffers: the JSON text and a scratch string for the values that
// are formatted (addresses, names, times, the message). Both keep their capacity from line to
// line, so writing a finding allocates nothing once the longest line has been seen.
struct JsonScratch {
    JsonLineWriter writer;
    std::string text;
};

// Appends the finding's line (without its newline) to what the writer holds.
void write_finding(const Finding& f, JsonScratch& scratch) {
    JsonLineWriter& w = scratch.writer;
    w.begin_line();
    // Keys are passed on as literals (see JsonLineWriter::Key).
    auto key = [&w](const auto& k) { w.Key(k); };
    auto str = [&w](const auto& k, std::string_view v) {
        w.Key(k);
        w.String(v);
    };
    auto plain = [&w](const auto& k, std::string_view v) {
        w.Key(k);
        w.Plain(v);
    };
    // A value formatted into the scratch string: an address, a name, or what a callable appends.
    // text_plain for values that never need escaping (addresses, times, type names).
    auto format = [&scratch](const auto& value) -> std::string_view {
        scratch.text.clear();
        if constexpr (std::is_invocable_v<decltype(value), std::string&>) value(scratch.text);
        else text::append(scratch.text, value);
        return scratch.text;
    };
    auto text_str = [&str, &format](const auto& k, const auto& value) { str(k, format(value)); };
    auto text_plain = [&plain, &format](const auto& k, const auto& value) { plain(k, format(value)); };
    w.StartObject();
    plain("code", code_name(f.code));
    plain("severity", severity_name(f.severity));
    text_plain("ts", [&](std::string& t) { text::append_timestamp(t, f.ts_ns); });
    key("ts_ns");
    w.Uint64(f.ts_ns);
    const bool path = f.code == FindingCode::path_dnssec_queries_lost ||
                      f.code == FindingCode::path_large_responses_lost;
    if (!path && !is_ip_level(f)) plain("transport", transport_name(f.transport));
    key("ip_version");
    w.Uint(f.ip_version);
    if (path) {
        text_plain("server", f.server);
    } else if (is_ip_level(f)) {
        // A fragment set with no DNS header seen: only the datagram's addresses are known.
        text_plain("src", f.client);
        text_plain("dst", f.server);
    } else {
        if (f.client.version) {
            text_plain("client", f.client);
            key("client_port");
            w.Uint(f.client_port);
        }
        if (f.server.version) {
            text_plain("server", f.server);
            key("server_port");
            w.Uint(f.server_port);
        }
    }
    if (f.has_id) {
        key("id");
        w.Uint(f.id);
    }
    if (f.has_question) {
        text_str("qname", f.qname);
        text_plain("qtype", [&](std::string& t) { text::append_qtype(t, f.qtype); });
        key("qtype_code");
        w.Uint(f.qtype);
    }
    if (f.query_size) {
        key("query_size");
        w.Uint(f.query_size);
    }
    if (f.response_size) {
        key("response_size");
        w.Uint(f.response_size);
    }
    if (f.captured_size) {
        key("captured_size");
        w.Uint(f.captured_size);
    }
    if (f.advertised_size >= 0) {
        key("advertised_size");
        w.Int(f.advertised_size);
    }
    if (f.limit) {
        key("limit");
        w.Uint(f.limit);
    }
    if (f.has_frag_id) {
        key("ip_id");
        w.Uint(f.frag_id);
    }
    if (f.fragment_count) {
        key("fragment_count");
        w.Uint(f.fragment_count);
    }
    if (f.fragment_sizes_known) {
        key("fragment_sizes");
        w.StartArray();
        for (size_t i = 0; i < f.fragment_count && i < f.fragment_sizes.size(); ++i) w.Uint(f.fragment_sizes[i]);
        w.EndArray();
    }
    if (f.first_fragment_size) {
        key("first_fragment_size");
        w.Uint(f.first_fragment_size);
        key("dont_fragment");
        w.Bool(f.dont_fragment);
    }
    if (f.code == FindingCode::ip_fragment_incomplete) {
        key("bytes_received");
        w.Uint(f.bytes_received);
        key("holes");
        w.Uint(f.holes);
    }
    if (f.code >= FindingCode::ip_fragment_overlap && f.code <= FindingCode::ip_fragment_limit) {
        key("fragment_offset");
        w.Uint(f.offset);
        key("fragment_length");
        w.Uint(f.length);
    }
    if (f.code == FindingCode::path_dnssec_queries_lost || f.code == FindingCode::path_large_responses_lost) {
        key("do0_queries");
        w.Uint64(f.path.do0_queries);
        key("do0_answered");
        w.Uint64(f.path.do0_answered);
        key("do1_queries");
        w.Uint64(f.path.do1_queries);
        key("do1_answered");
        w.Uint64(f.path.do1_answered);
        auto rate = [](uint64_t a, uint64_t t) { return t ? static_cast<double>(a) / static_cast<double>(t) : 0.0; };
        key("do0_answer_rate");
        w.Double(rate(f.path.do0_answered, f.path.do0_queries));
        key("do1_answer_rate");
        w.Double(rate(f.path.do1_answered, f.path.do1_queries));
        key("large_answers");
        w.Uint64(f.path.large_answers);
        key("large_reasked");
        w.Uint64(f.path.large_reasked);
        key("large_lost_rate");
        w.Double(rate(f.path.large_reasked, f.path.large_answers));
        if (f.path.size_max) {
            key("large_sizes");
            w.StartArray();
            w.Uint(f.path.size_min);
            w.Uint(f.path.size_max);
            w.EndArray();
        }
    }
    if (f.code == FindingCode::icmp_frag_needed) {
        key("mtu");
        w.Uint(f.mtu);
        key("quoted_ip_length");
        w.Uint(f.quoted_ip_length);
        text_plain("reporter", f.reporter);
    }
    if (f.code >= FindingCode::dnssec_rrsig_expired && f.code <= FindingCode::dns_soa_serial_mismatch) {
        const auto& d = f.dnssec;
        key("dnssec");
        w.StartObject();
        if (d.zone.length) text_str("zone", d.zone);
        switch (f.code) {
        case FindingCode::dnssec_rrsig_expired:
        case FindingCode::dnssec_rrsig_not_yet_valid:
        case FindingCode::dnssec_rrsig_expiring:
        case FindingCode::dnssec_signature_invalid:
            text_str("owner", d.owner);
            text_plain("type_covered", [&](std::string& t) { text::append_qtype(t, d.type_covered); });
            key("key_tag");
            w.Uint(d.key_tag);
            key("algorithm");
            w.Uint(d.algorithm);
            if (f.code != FindingCode::dnssec_signature_invalid) {
                plain("inception", format_rrsig_time(d.inception));
                plain("expiration", format_rrsig_time(d.expiration));
                key("seconds");
                w.Int64(d.seconds);
            }
            break;
        case FindingCode::dnssec_ds_mismatch:
            key("ds");
            w.StartArray();
            for (uint8_t i = 0; i < d.ds_count && i < d.ds_tags.size(); ++i) {
                w.StartObject();
                key("key_tag");
                w.Uint(d.ds_tags[i]);
                key("algorithm");
                w.Uint(d.ds_algorithms[i]);
                w.EndObject();
            }
            w.EndArray();
            key("dnskey");
            w.StartArray();
            for (uint8_t i = 0; i < d.key_count && i < d.key_tags.size(); ++i) {
                w.StartObject();
                key("key_tag");
                w.Uint(d.key_tags[i]);
                key("algorithm");
                w.Uint(d.key_algorithms[i]);
                w.EndObject();
            }
            w.EndArray();
            break;
        case FindingCode::dnssec_missing_rrsig:
            text_plain("signed_by_server", d.other_server);
            break;
        case FindingCode::dnssec_weak_algorithm:
            key("algorithm");
            w.Uint(d.algorithm);
            break;
        case FindingCode::dnssec_nsec3_iterations:
            key("iterations");
            w.Uint(d.iterations);
            key("salt_length");
            w.Uint(d.salt_length);
            break;
        case FindingCode::dns_soa_serial_mismatch:
            key("serial");
            w.Uint(d.serial);
            key("other_serial");
            w.Uint(d.other_serial);
            text_plain("other_server", d.other_server);
            break;
        default:
            break;
        }
        w.EndObject();
    }
    if (f.code == FindingCode::rule_match) {
        str("rule_tag", f.rule_tag);
        str("rule_severity", f.rule_severity);
        str("rule_pattern", f.rule_pattern);
        key("rule_line");
        w.Uint(f.rule_line);
    }
    if (f.rcode >= 0) {
        text_plain("rcode", [&](std::string& t) { text::append_rcode(t, f.rcode); });
        key("rcode_code");
        w.Int(f.rcode);
    }
    if (f.code == FindingCode::dns_edns_unsupported || f.code == FindingCode::dns_edns_dropped) {
        key("edns_version");
        w.Uint(f.edns_version);
    }
    if (f.rtt_ns >= 0) {
        key("rtt_ms");
        w.Double(static_cast<double>(f.rtt_ns) / 1e6);
    }
    if (f.retransmissions) {
        key("retransmissions");
        w.Uint(f.retransmissions);
    }
    if (!f.reason.empty()) {
        str("reason", f.reason);
        if (f.code == FindingCode::dns_malformed) {
            key("reason_offset");
            w.Uint(f.reason_offset);
        }
    }
    key("frames");
    w.StartArray();
    for (uint8_t i = 0; i < f.frame_count; ++i) w.Uint64(f.frames[i]);
    w.EndArray();
    text_str("message", [&](std::string& t) { append_description(t, f); });
    w.EndObject();
}

}  // namespace

struct JsonLinesSink::Scratch : JsonScratch {};

JsonLinesSink::JsonLinesSink(std::FILE* out) : out_(out), scratch_(std::make_unique<Scratch>()) {}

JsonLinesSink::~JsonLinesSink() { write_batch(); }

std::string finding_to_json(const Finding& f) {
    JsonScratch scratch;
    write_finding(f, scratch);
    return std::string(scratch.writer.text());
}

void JsonLinesSink::on_finding(const Finding& f) {
    write_finding(f, *scratch_);
    scratch_->writer.push_back('\n');
    ++written_;
    if (scratch_->writer.text().size() >= batch_bytes) write_batch();
}

void JsonLinesSink::write_batch() noexcept {
    const std::string_view lines = scratch_->writer.text();
    if (!lines.empty() && std::fwrite(lines.data(), 1, lines.size(), out_) != lines.size()) failed_ = true;
    scratch_->writer.reset();
}

void JsonLinesSink::flush() noexcept {
    write_batch();
    if (std::fflush(out_) != 0) failed_ = true;
}

}  // namespace frag53
