#include "analyzers/event_sink.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "analyzers/report.h"

namespace frag53 {

std::string finding_to_json(const Finding& f) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    auto str = [&w](const char* key, std::string_view v) {
        w.Key(key);
        w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    };
    w.StartObject();
    str("code", code_name(f.code));
    str("severity", severity_name(f.severity));
    str("ts", format_timestamp(f.ts_ns));
    w.Key("ts_ns");
    w.Uint64(f.ts_ns);
    const bool path = f.code == FindingCode::path_dnssec_queries_lost ||
                      f.code == FindingCode::path_large_responses_lost;
    if (!path && !is_ip_level(f)) str("transport", transport_name(f.transport));
    w.Key("ip_version");
    w.Uint(f.ip_version);
    if (path) {
        str("server", f.server.to_string());
    } else if (is_ip_level(f)) {
        // A fragment set with no DNS header seen: only the datagram's addresses are known.
        str("src", f.client.to_string());
        str("dst", f.server.to_string());
    } else {
        if (f.client.version) {
            str("client", f.client.to_string());
            w.Key("client_port");
            w.Uint(f.client_port);
        }
        if (f.server.version) {
            str("server", f.server.to_string());
            w.Key("server_port");
            w.Uint(f.server_port);
        }
    }
    if (f.has_id) {
        w.Key("id");
        w.Uint(f.id);
    }
    if (f.has_question) {
        str("qname", f.qname.to_string());
        str("qtype", qtype_name(f.qtype));
        w.Key("qtype_code");
        w.Uint(f.qtype);
    }
    if (f.query_size) {
        w.Key("query_size");
        w.Uint(f.query_size);
    }
    if (f.response_size) {
        w.Key("response_size");
        w.Uint(f.response_size);
    }
    if (f.captured_size) {
        w.Key("captured_size");
        w.Uint(f.captured_size);
    }
    if (f.advertised_size >= 0) {
        w.Key("advertised_size");
        w.Int(f.advertised_size);
    }
    if (f.limit) {
        w.Key("limit");
        w.Uint(f.limit);
    }
    if (f.has_frag_id) {
        w.Key("ip_id");
        w.Uint(f.frag_id);
    }
    if (f.fragment_count) {
        w.Key("fragment_count");
        w.Uint(f.fragment_count);
    }
    if (f.fragment_sizes_known) {
        w.Key("fragment_sizes");
        w.StartArray();
        for (size_t i = 0; i < f.fragment_count && i < f.fragment_sizes.size(); ++i) w.Uint(f.fragment_sizes[i]);
        w.EndArray();
    }
    if (f.first_fragment_size) {
        w.Key("first_fragment_size");
        w.Uint(f.first_fragment_size);
        w.Key("dont_fragment");
        w.Bool(f.dont_fragment);
    }
    if (f.code == FindingCode::ip_fragment_incomplete) {
        w.Key("bytes_received");
        w.Uint(f.bytes_received);
        w.Key("holes");
        w.Uint(f.holes);
    }
    if (f.code >= FindingCode::ip_fragment_overlap && f.code <= FindingCode::ip_fragment_limit) {
        w.Key("fragment_offset");
        w.Uint(f.offset);
        w.Key("fragment_length");
        w.Uint(f.length);
    }
    if (f.code == FindingCode::path_dnssec_queries_lost || f.code == FindingCode::path_large_responses_lost) {
        w.Key("do0_queries");
        w.Uint64(f.path.do0_queries);
        w.Key("do0_answered");
        w.Uint64(f.path.do0_answered);
        w.Key("do1_queries");
        w.Uint64(f.path.do1_queries);
        w.Key("do1_answered");
        w.Uint64(f.path.do1_answered);
        auto rate = [](uint64_t a, uint64_t t) { return t ? static_cast<double>(a) / static_cast<double>(t) : 0.0; };
        w.Key("do0_answer_rate");
        w.Double(rate(f.path.do0_answered, f.path.do0_queries));
        w.Key("do1_answer_rate");
        w.Double(rate(f.path.do1_answered, f.path.do1_queries));
        w.Key("large_answers");
        w.Uint64(f.path.large_answers);
        w.Key("large_reasked");
        w.Uint64(f.path.large_reasked);
        w.Key("large_lost_rate");
        w.Double(rate(f.path.large_reasked, f.path.large_answers));
        if (f.path.size_max) {
            w.Key("large_sizes");
            w.StartArray();
            w.Uint(f.path.size_min);
            w.Uint(f.path.size_max);
            w.EndArray();
        }
    }
    if (f.code == FindingCode::icmp_frag_needed) {
        w.Key("mtu");
        w.Uint(f.mtu);
        w.Key("quoted_ip_length");
        w.Uint(f.quoted_ip_length);
        str("reporter", f.reporter.to_string());
    }
    if (f.code >= FindingCode::dnssec_rrsig_expired && f.code <= FindingCode::dns_soa_serial_mismatch) {
        const auto& d = f.dnssec;
        w.Key("dnssec");
        w.StartObject();
        if (d.zone.length) str("zone", d.zone.to_string());
        switch (f.code) {
        case FindingCode::dnssec_rrsig_expired:
        case FindingCode::dnssec_rrsig_not_yet_valid:
        case FindingCode::dnssec_rrsig_expiring:
        case FindingCode::dnssec_signature_invalid:
            str("owner", d.owner.to_string());
            str("type_covered", qtype_name(d.type_covered));
            w.Key("key_tag");
            w.Uint(d.key_tag);
            w.Key("algorithm");
            w.Uint(d.algorithm);
            if (f.code != FindingCode::dnssec_signature_invalid) {
                str("inception", format_rrsig_time(d.inception));
                str("expiration", format_rrsig_time(d.expiration));
                w.Key("seconds");
                w.Int64(d.seconds);
            }
            break;
        case FindingCode::dnssec_ds_mismatch:
            w.Key("ds");
            w.StartArray();
            for (uint8_t i = 0; i < d.ds_count && i < d.ds_tags.size(); ++i) {
                w.StartObject();
                w.Key("key_tag");
                w.Uint(d.ds_tags[i]);
                w.Key("algorithm");
                w.Uint(d.ds_algorithms[i]);
                w.EndObject();
            }
            w.EndArray();
            w.Key("dnskey");
            w.StartArray();
            for (uint8_t i = 0; i < d.key_count && i < d.key_tags.size(); ++i) {
                w.StartObject();
                w.Key("key_tag");
                w.Uint(d.key_tags[i]);
                w.Key("algorithm");
                w.Uint(d.key_algorithms[i]);
                w.EndObject();
            }
            w.EndArray();
            break;
        case FindingCode::dnssec_missing_rrsig:
            str("signed_by_server", d.other_server.to_string());
            break;
        case FindingCode::dnssec_weak_algorithm:
            w.Key("algorithm");
            w.Uint(d.algorithm);
            break;
        case FindingCode::dnssec_nsec3_iterations:
            w.Key("iterations");
            w.Uint(d.iterations);
            w.Key("salt_length");
            w.Uint(d.salt_length);
            break;
        case FindingCode::dns_soa_serial_mismatch:
            w.Key("serial");
            w.Uint(d.serial);
            w.Key("other_serial");
            w.Uint(d.other_serial);
            str("other_server", d.other_server.to_string());
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
        w.Key("rule_line");
        w.Uint(f.rule_line);
    }
    if (f.rcode >= 0) {
        str("rcode", rcode_name(f.rcode));
        w.Key("rcode_code");
        w.Int(f.rcode);
    }
    if (f.code == FindingCode::dns_edns_unsupported || f.code == FindingCode::dns_edns_dropped) {
        w.Key("edns_version");
        w.Uint(f.edns_version);
    }
    if (f.rtt_ns >= 0) {
        w.Key("rtt_ms");
        w.Double(static_cast<double>(f.rtt_ns) / 1e6);
    }
    if (f.retransmissions) {
        w.Key("retransmissions");
        w.Uint(f.retransmissions);
    }
    if (!f.reason.empty()) {
        str("reason", f.reason);
        if (f.code == FindingCode::dns_malformed) {
            w.Key("reason_offset");
            w.Uint(f.reason_offset);
        }
    }
    w.Key("frames");
    w.StartArray();
    for (uint8_t i = 0; i < f.frame_count; ++i) w.Uint64(f.frames[i]);
    w.EndArray();
    str("message", describe_finding(f));
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

void JsonLinesSink::on_finding(const Finding& f) {
    std::string line = finding_to_json(f);
    line.push_back('\n');
    if (std::fwrite(line.data(), 1, line.size(), out_) != line.size()) failed_ = true;
    ++written_;
}

}  // namespace frag53
