#include "analyzers/dnssec_checks.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "analyzers/dnssec/algorithms.h"
#include "analyzers/dnssec/canonical.h"
#include "analyzers/dnssec/ds.h"
#include "analyzers/dnssec/keytag.h"
#include "analyzers/dnssec/validity.h"
#include "dataplane/byte_hash.h"

namespace frag53 {
namespace {

inline uint64_t mix(uint64_t h, uint64_t v) noexcept {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

uint64_t hash_name(uint64_t h, const dns::Name& n) noexcept {
    dns::Name lower = n;
    lower.to_lower();
    return hash_bytes(h, lower.wire.data(), lower.length);
}

uint64_t hash_address(uint64_t h, const IpAddress& a) noexcept { return mix(h, a.hash()); }

// The zones_ key: the lower-cased wire name (a view into `lower`).
std::string_view zone_key(const dns::Name& n, dns::Name& lower) {
    lower = n;
    lower.to_lower();
    return {reinterpret_cast<const char*>(lower.wire.data()), lower.length};
}

Bytes as_bytes(const std::vector<uint8_t>& v) noexcept {
    return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}

// The owner name minus its first label (the zone of an NSEC3 record).
bool parent_name(const dns::Name& n, dns::Name& out) noexcept {
    if (n.length < 2 || n.wire[0] == 0) return false;
    const size_t skip = static_cast<size_t>(n.wire[0]) + 1;
    if (skip >= n.length) return false;
    out = dns::Name{};
    std::memcpy(out.wire.data(), n.wire.data() + skip, n.length - skip);
    out.length = static_cast<uint8_t>(n.length - skip);
    return true;
}

// Names are compared case-insensitively everywhere here.
bool same_name(const dns::Name& a, const dns::Name& b) noexcept { return a.equals_ignore_case(b); }

}  // namespace

DnssecChecks::DnssecChecks(const DnssecConfig& config, FindingSink& sink)
    : config_(config), sink_(sink), questions_(config.question_slots), resolvers_(config.question_slots) {
    signed_buf_.reserve(64 * 1024);
}

DnssecChecks::~DnssecChecks() = default;

DnssecChecks::Seen DnssecChecks::seen(const OutcomeRecord& r) noexcept {
    Seen u;
    u.ts_ns = r.ts_ns;
    u.frame = r.frame;
    u.client = r.client;
    u.server = r.server;
    u.client_port = r.client_port;
    u.server_port = r.server_port;
    u.id = r.id;
    u.transport = r.transport;
    u.rcode = r.rcode;
    u.size = r.response_size;
    return u;
}

Finding DnssecChecks::finding_from(const Seen& s, const dns::Name& qname, uint16_t qtype) {
    Finding f;
    f.ts_ns = s.ts_ns;
    f.transport = s.transport;
    f.set_endpoints(s.client, s.client_port, s.server, s.server_port);
    f.has_id = true;
    f.id = s.id;
    f.set_question(qname, qtype);
    f.response_size = s.size;
    f.rcode = s.rcode;
    f.add_frame(s.frame);
    return f;
}

void DnssecChecks::emit(Finding f) {
    f.severity = default_severity(f.code);
    sink_.on_finding(f);
}

bool DnssecChecks::checked(uint64_t hash) {
    if (checked_.count(hash)) return true;
    if (checked_.size() >= config_.max_checked) {
        // Forget in bulk: a signature seen again after this is checked again (and a failure
        // reported again), never skipped unchecked.
        checked_.clear();
        ++counters_.checked_resets;
    }
    checked_.insert(hash);
    return false;
}

bool DnssecChecks::reported_once(uint64_t key) {
    if (reported_.count(key)) return false;
    if (reported_.size() >= config_.max_checked) {
        reported_.clear();
        ++counters_.checked_resets;
    }
    reported_.insert(key);
    return true;
}

DnssecChecks::Zone* DnssecChecks::zone(const dns::Name& name, uint64_t ts, bool create) {
    dns::Name lower;
    const std::string_view key = zone_key(name, lower);
    auto it = zones_.find(key);
    if (it != zones_.end()) {
        it->second->last_used_ts = ts;
        return it->second.get();
    }
    if (!create) return nullptr;
    if (zones_.size() >= config_.max_zones) {
        // Evict the zone used least recently (a scan, only when a new zone arrives at the cap).
        auto victim = zones_.begin();
        for (auto z = zones_.begin(); z != zones_.end(); ++z)
            if (z->second->last_used_ts < victim->second->last_used_ts) victim = z;
        zones_.erase(victim);
        ++counters_.zones_evicted;
    }
    auto z = std::make_unique<Zone>();
    z->name = name;
    z->name.to_lower();
    z->last_used_ts = ts;
    Zone* raw = z.get();
    zones_.emplace(std::string(key), std::move(z));
    return raw;
}

void DnssecChecks::check_weak(Zone& z, uint8_t algorithm, const Finding& where) {
    const dnssec::AlgorithmInfo info = dnssec::algorithm_info(algorithm);
    if (!info.weak) return;
    uint64_t& word = z.weak_reported[algorithm / 64];
    const uint64_t bit = 1ull << (algorithm % 64);
    if (word & bit) return;
    word |= bit;
    Finding f = where;
    f.code = FindingCode::dnssec_weak_algorithm;
    f.dnssec.zone = z.name;
    f.dnssec.algorithm = algorithm;
    f.reason = info.name;
    emit(f);
}

void DnssecChecks::add_key(Zone& z, const dns::Record& rr, const Finding& where) {
    const auto dk = msg_.dnskey(rr);
    if (!dk) return;
    const Bytes rdata = msg_.rdata(rr);
    for (const Key& k : z.keys)
        if (k.rdata.size() == rdata.size() && std::memcmp(k.rdata.data(), rdata.data(), rdata.size()) == 0) return;
    if (z.keys.size() >= config_.max_keys_per_zone) {
        z.keys.erase(z.keys.begin());
        ++counters_.keys_evicted;
    }
    Key k;
    k.tag = dnssec::key_tag(rdata);
    k.algorithm = dk->algorithm;
    k.flags = dk->flags;
    k.rdata.resize(rdata.size());
    std::memcpy(k.rdata.data(), rdata.data(), rdata.size());
    z.keys.push_back(std::move(k));
    ++z.generation;
    ++counters_.keys;
    check_weak(z, dk->algorithm, where);

    // Signatures that were waiting for this key.
    const Key& added = z.keys.back();
    for (size_t i = 0; i < z.pending.size();) {
        PendingSignature& p = z.pending[i];
        if (p.tag == added.tag && p.algorithm == added.algorithm) {
            PendingSignature moved = std::move(p);
            z.pending.erase(z.pending.begin() + static_cast<std::ptrdiff_t>(i));
            verify_now(z, moved.hash, moved.tag, moved.algorithm, moved.type_covered, moved.owner,
                       moved.signed_data, as_bytes(moved.signature), moved.where);
        } else {
            ++i;
        }
    }
}

void DnssecChecks::add_ds(Zone& z, const dns::Record& rr, const Finding& where) {
    const auto ds = msg_.ds(rr);
    if (!ds) return;
    for (const Ds& d : z.ds)
        if (d.tag == ds->key_tag && d.algorithm == ds->algorithm && d.digest_type == ds->digest_type &&
            d.digest.size() == ds->digest.size() &&
            std::memcmp(d.digest.data(), ds->digest.data(), d.digest.size()) == 0)
            return;
    if (z.ds.size() >= config_.max_ds_per_zone) {
        z.ds.erase(z.ds.begin());
        ++counters_.ds_evicted;
    }
    Ds d;
    d.tag = ds->key_tag;
    d.algorithm = ds->algorithm;
    d.digest_type = ds->digest_type;
    d.digest.resize(ds->digest.size());
    std::memcpy(d.digest.data(), ds->digest.data(), ds->digest.size());
    z.ds.push_back(std::move(d));
    ++z.generation;
    ++counters_.ds;
    check_weak(z, ds->algorithm, where);
}

// The parent's DS set must designate at least one of the child's keys; DS records of digest
// types this build cannot compute neither match nor mismatch.
void DnssecChecks::check_ds(Zone& z, const Finding& where) {
    if (z.keys.empty() || z.ds.empty() || z.ds_reported_generation == z.generation) return;
    bool any_judged = false;
    for (const Ds& d : z.ds) {
        if (!dnssec::digest_info(d.digest_type).supported) continue;
        any_judged = true;
        dns::DsView view{d.tag, d.algorithm, d.digest_type, as_bytes(d.digest)};
        for (const Key& k : z.keys)  // a DS designates a zone key (RFC 4034 5.2)
            if ((k.flags & 0x0100) && dnssec::ds_matches_dnskey(view, z.name, as_bytes(k.rdata))) return;
    }
    if (!any_judged) return;
    z.ds_reported_generation = z.generation;
    Finding f = where;
    f.code = FindingCode::dnssec_ds_mismatch;
    f.dnssec.zone = z.name;
    for (const Ds& d : z.ds) {
        if (f.dnssec.ds_count == f.dnssec.ds_tags.size()) break;
        f.dnssec.ds_tags[f.dnssec.ds_count] = d.tag;
        f.dnssec.ds_algorithms[f.dnssec.ds_count++] = d.algorithm;
    }
    for (const Key& k : z.keys) {
        if (f.dnssec.key_count == f.dnssec.key_tags.size()) break;
        f.dnssec.key_tags[f.dnssec.key_count] = k.tag;
        f.dnssec.key_algorithms[f.dnssec.key_count++] = k.algorithm;
    }
    // Listed by key tag: the order records arrived in (servers rotate RRsets) is not evidence.
    auto sort_pairs = [](std::array<uint16_t, 8>& tags, std::array<uint8_t, 8>& algs, uint8_t n) {
        std::array<std::pair<uint16_t, uint8_t>, 8> v{};
        for (uint8_t i = 0; i < n; ++i) v[i] = {tags[i], algs[i]};
        std::sort(v.begin(), v.begin() + n);
        for (uint8_t i = 0; i < n; ++i) std::tie(tags[i], algs[i]) = v[i];
    };
    sort_pairs(f.dnssec.ds_tags, f.dnssec.ds_algorithms, f.dnssec.ds_count);
    sort_pairs(f.dnssec.key_tags, f.dnssec.key_algorithms, f.dnssec.key_count);
    emit(f);
}

void DnssecChecks::verify_now(Zone& z, uint64_t hash, uint16_t tag, uint8_t algorithm, uint16_t type_covered,
                              const dns::Name& owner, const std::vector<uint8_t>& data, Bytes signature,
                              const Finding& where) {
    (void)hash;
    bool tried = false;
    dnssec::VerifyStatus last = dnssec::VerifyStatus::invalid;
    for (Key& k : z.keys) {
        if (k.tag != tag || k.algorithm != algorithm) continue;
        if (!k.parsed) {
            k.parsed = true;
            if (k.rdata.size() >= 4) {
                k.key = dnssec::PublicKey::from_key(
                    k.algorithm, as_bytes(k.rdata).subspan(4), &k.key_status);
            } else {
                k.key_status = dnssec::KeyStatus::bad_key;
            }
        }
        if (!k.key) continue;
        tried = true;
        last = dnssec::verify(*k.key, algorithm, as_bytes(data), signature);
        if (last == dnssec::VerifyStatus::valid) {
            ++counters_.verified;
            return;
        }
    }
    if (!tried || last == dnssec::VerifyStatus::unsupported_algorithm || last == dnssec::VerifyStatus::bad_key) {
        ++counters_.verify_skipped;
        return;
    }
    ++counters_.verify_failed;
    Finding f = where;
    f.code = FindingCode::dnssec_signature_invalid;
    f.dnssec.zone = z.name;
    f.dnssec.owner = owner;
    f.dnssec.type_covered = type_covered;
    f.dnssec.key_tag = tag;
    f.dnssec.algorithm = algorithm;
    f.reason = dnssec::to_string(last);
    emit(f);
}

void DnssecChecks::check_rrsig(const dns::Record& rr, const Finding& where, uint64_t ts_ns) {
    const auto sig = msg_.rrsig(rr);
    if (!sig) return;
    ++counters_.signatures;
    dns::Name signer, owner;
    if (dns::decode_name(msg_.wire(), sig->signer_offset, signer) != dns::ParseError::none ||
        dns::decode_name(msg_.wire(), rr.name_offset, owner) != dns::ParseError::none)
        return;
    Zone* z = zone(signer, ts_ns, true);
    check_weak(*z, sig->algorithm, where);

    const uint64_t now_s = ts_ns / 1'000'000'000ull;
    const dnssec::Validity v = dnssec::rrsig_validity(sig->inception, sig->expiration, now_s);
    const int64_t left = dnssec::seconds_until_expiration(sig->expiration, now_s);
    FindingCode code = FindingCode::count_;
    int64_t seconds = 0;
    if (v == dnssec::Validity::expired) {
        code = FindingCode::dnssec_rrsig_expired;
        seconds = -left;
    } else if (v == dnssec::Validity::not_yet_valid) {
        code = FindingCode::dnssec_rrsig_not_yet_valid;
        seconds = dnssec::serial_time(sig->inception, now_s) - static_cast<int64_t>(now_s);
    } else if (left >= 0 && static_cast<uint64_t>(left) <= config_.expiring_window_s &&
               4 * left <= dnssec::serial_time(sig->expiration, now_s) - dnssec::serial_time(sig->inception, now_s)) {
        // Within the window and past three quarters of the signature's lifetime: zones signed
        // with short lifetimes (a TLD's week) are re-signed long before, and a healthy signer
        // refreshes well before the last quarter.

        code = FindingCode::dnssec_rrsig_expiring;
        seconds = left;
    }
    if (code != FindingCode::count_) {
        // Once per signing of a zone with a key: (signer, key, window, verdict).
        uint64_t key = hash_name(static_cast<uint64_t>(code), signer);
        key = mix(key, (static_cast<uint64_t>(sig->key_tag) << 8) | sig->algorithm);
        key = mix(key, (static_cast<uint64_t>(sig->inception) << 32) | sig->expiration);
        if (reported_once(key)) {
            Finding f = where;
            f.code = code;
            f.dnssec.zone = z->name;
            f.dnssec.owner = owner;
            f.dnssec.type_covered = sig->type_covered;
            f.dnssec.key_tag = sig->key_tag;
            f.dnssec.algorithm = sig->algorithm;
            f.dnssec.inception = sig->inception;
            f.dnssec.expiration = sig->expiration;
            f.dnssec.seconds = seconds;
            emit(f);
        }
    }

    // The signature itself: checked once, now if the key is known, else when it arrives.
    if (dnssec::signed_data(msg_, rr, signed_buf_) != dnssec::CanonicalStatus::ok) {
        ++counters_.verify_skipped;
        return;
    }
    uint64_t h = hash_bytes(0x5157, signed_buf_.data(), signed_buf_.size());
    h = hash_bytes(h, sig->signature.data(), sig->signature.size());
    if (checked(h)) return;
    bool have_key = false;
    for (const Key& k : z->keys) have_key |= k.tag == sig->key_tag && k.algorithm == sig->algorithm;
    if (have_key) {
        verify_now(*z, h, sig->key_tag, sig->algorithm, sig->type_covered, owner, signed_buf_, sig->signature, where);
        return;
    }
    if (z->pending.size() >= config_.max_pending_per_zone) {
        // Forgotten unchecked: a later copy must be checked again, not skipped as seen.
        checked_.erase(z->pending.front().hash);
        z->pending.erase(z->pending.begin());
        ++counters_.pending_evicted;
    }
    PendingSignature p;
    p.hash = h;
    p.tag = sig->key_tag;
    p.algorithm = sig->algorithm;
    p.type_covered = sig->type_covered;
    p.owner = owner;
    p.signed_data = signed_buf_;
    p.signature.resize(sig->signature.size());
    std::memcpy(p.signature.data(), sig->signature.data(), sig->signature.size());
    p.where = where;
    z->pending.push_back(std::move(p));
    ++counters_.pending_added;
}

void DnssecChecks::check_soa(const dns::Record& rr, const Finding& where) {
    const auto soa = msg_.soa(rr);
    if (!soa) return;
    dns::Name owner;
    if (dns::decode_name(msg_.wire(), rr.name_offset, owner) != dns::ParseError::none) return;
    Zone* z = zone(owner, where.ts_ns, true);
    bool found = false;
    for (auto& [server, serial] : z->serials) {
        if (server == where.server) {
            serial = soa->serial;
            found = true;
        }
    }
    if (!found) {
        if (z->serials.size() >= config_.max_servers_per_zone) z->serials.erase(z->serials.begin());
        z->serials.emplace_back(where.server, soa->serial);
    }
    for (const auto& [server, serial] : z->serials) {
        if (server == where.server || serial == soa->serial) continue;
        const auto pair = std::minmax(serial, soa->serial);
        if (std::find(z->serial_pairs_reported.begin(), z->serial_pairs_reported.end(),
                      std::make_pair(pair.first, pair.second)) != z->serial_pairs_reported.end())
            continue;
        if (z->serial_pairs_reported.size() >= config_.max_servers_per_zone * 4)
            z->serial_pairs_reported.erase(z->serial_pairs_reported.begin());
        z->serial_pairs_reported.emplace_back(pair.first, pair.second);
        Finding f = where;
        f.code = FindingCode::dns_soa_serial_mismatch;
        f.dnssec.zone = z->name;
        f.dnssec.serial = soa->serial;
        f.dnssec.other_serial = serial;
        f.dnssec.other_server = server;
        emit(f);
    }
}

void DnssecChecks::check_nsec3(const dns::Record& rr, const Finding& where) {
    uint16_t iterations = 0;
    size_t salt = 0;
    dns::Name owner, zone_name;
    if (dns::decode_name(msg_.wire(), rr.name_offset, owner) != dns::ParseError::none) return;
    if (rr.type == dns::rrtype::NSEC3) {
        const auto v = msg_.nsec3(rr);
        if (!v || !parent_name(owner, zone_name)) return;
        iterations = v->iterations;
        salt = v->salt.size();
    } else {
        const auto v = msg_.nsec3param(rr);
        if (!v) return;
        zone_name = owner;
        iterations = v->iterations;
        salt = v->salt.size();
    }
    if (iterations == 0) return;
    Zone* z = zone(zone_name, where.ts_ns, true);
    const auto key = std::make_pair(iterations, static_cast<uint8_t>(std::min<size_t>(salt, 255)));
    if (std::find(z->nsec3_reported.begin(), z->nsec3_reported.end(), key) != z->nsec3_reported.end()) return;
    if (z->nsec3_reported.size() >= 8) z->nsec3_reported.erase(z->nsec3_reported.begin());
    z->nsec3_reported.push_back(key);
    Finding f = where;
    f.code = FindingCode::dnssec_nsec3_iterations;
    f.dnssec.zone = z->name;
    f.dnssec.iterations = iterations;
    f.dnssec.salt_length = key.second;
    emit(f);
}

void DnssecChecks::on_material(const ResponseMaterial& m) {
    const Bytes wire{m.wire.data(), m.wire.size()};
    if (msg_.parse(wire) != dns::ParseError::none) {
        ++counters_.unparsable;
        return;
    }
    ++counters_.answers;
    Finding where;
    where.ts_ns = m.ts_ns;
    where.transport = m.transport;
    where.set_endpoints(m.client, m.client_port, m.server, m.server_port);
    where.has_id = true;
    where.id = msg_.header().id;
    dns::Name qname;
    uint16_t qtype = 0, qclass = 0;
    if (msg_.first_question(qname, qtype, qclass)) where.set_question(qname, qtype);
    where.response_size = static_cast<uint32_t>(m.wire.size());
    where.rcode = msg_.full_rcode();
    where.add_frame(m.frame);

    // Keys and DS records first, so signatures in the same answer (the DNSKEY RRset signed by
    // its own key) find them; the DS/DNSKEY verdict once the whole answer is in.
    std::array<Zone*, 8> touched{};
    size_t n_touched = 0;
    for (const dns::Record& rr : msg_.records()) {
        if (rr.section == dns::Section::additional) continue;
        if (rr.type != dns::rrtype::DNSKEY && rr.type != dns::rrtype::DS) continue;
        dns::Name owner;
        if (dns::decode_name(wire, rr.name_offset, owner) != dns::ParseError::none) continue;
        Zone* z = zone(owner, m.ts_ns, true);
        if (rr.type == dns::rrtype::DNSKEY) add_key(*z, rr, where); else add_ds(*z, rr, where);
        if (std::find(touched.begin(), touched.begin() + static_cast<std::ptrdiff_t>(n_touched), z) ==
                touched.begin() + static_cast<std::ptrdiff_t>(n_touched) &&
            n_touched < touched.size())
            touched[n_touched++] = z;
    }
    for (size_t i = 0; i < n_touched; ++i) check_ds(*touched[i], where);

    const bool aa = msg_.header().aa();
    bool signed_answer = false;
    dns::Name first_signer;
    for (const dns::Record& rr : msg_.records()) {
        if (rr.section == dns::Section::additional) continue;
        switch (rr.type) {
        case dns::rrtype::RRSIG:
            if (!signed_answer) {
                const auto sig = msg_.rrsig(rr);
                if (sig && dns::decode_name(wire, sig->signer_offset, first_signer) == dns::ParseError::none)
                    signed_answer = true;
            }
            check_rrsig(rr, where, m.ts_ns);
            break;
        case dns::rrtype::SOA:
            if (aa) check_soa(rr, where);
            break;
        case dns::rrtype::NSEC3:
        case dns::rrtype::NSEC3PARAM:
            check_nsec3(rr, where);
            break;
        default:
            break;
        }
    }
    // Only an authoritative answer tells what the zone's servers serve; a signed referral from
    // the parent (NSEC proving there is no DS) says nothing about an unsigned child.
    if (signed_answer && aa && where.has_question) note_signed_answer(m, first_signer);
}

void DnssecChecks::note_signed_answer(const ResponseMaterial& m, const dns::Name& signer) {
    dns::Name qname;
    uint16_t qtype = 0, qclass = 0;
    if (!msg_.first_question(qname, qtype, qclass)) return;
    const uint64_t h = mix(hash_name(0x9a11, qname), qtype);
    QuestionSlot& s = questions_[h % questions_.size()];
    if (!s.used || s.hash != h || s.qtype != qtype || !same_name(s.qname, qname)) {
        if (s.used) ++counters_.question_evictions;
        s = QuestionSlot{};
        s.used = true;
        s.hash = h;
        s.qname = qname;
        s.qtype = qtype;
    }
    if (!s.have_signed) {
        s.have_signed = true;
        s.signed_server = m.server;
        s.signer = signer;
        s.signer.to_lower();
    }
    for (uint8_t i = 0; i < s.unsigned_count; ++i) {
        const Seen& u = s.unsigned_answers[i];
        if ((s.reported_mask >> i) & 1u || u.server == s.signed_server) continue;
        s.reported_mask = static_cast<uint8_t>(s.reported_mask | (1u << i));
        if (!reported_once(mix(hash_address(hash_name(0x3155, s.signer), u.server), 1))) continue;
        Finding f = finding_from(u, s.qname, s.qtype);
        f.code = FindingCode::dnssec_missing_rrsig;
        f.dnssec.zone = s.signer;
        f.dnssec.other_server = s.signed_server;
        emit(f);
    }
}

void DnssecChecks::on_outcome(const OutcomeRecord& r) {
    if (!r.answered || !r.well_formed) return;
    // The evidence of a finding about this answer, built only when one is made: every answered
    // transaction comes through here and almost none makes a finding (a Finding is ~1 KiB).
    auto where = [&r] { return finding_from(seen(r), r.qname, r.qtype); };

    // dnssec.validation_failure: this server fails the question without CD and answers it with.
    const bool servfail = r.rcode == dns::rcode::SERVFAIL && !r.cd;
    const bool cd_answer = r.cd && (r.rcode == dns::rcode::NOERROR || r.rcode == dns::rcode::NXDOMAIN);
    if (servfail || cd_answer) {
        const uint64_t h = mix(hash_address(hash_name(0x7e5, r.qname), r.server), r.qtype);
        ResolverSlot& s = resolvers_[h % resolvers_.size()];
        if (!s.used || s.hash != h || s.qtype != r.qtype || !(s.server == r.server) || !same_name(s.qname, r.qname)) {
            if (s.used) ++counters_.question_evictions;
            s = ResolverSlot{};
            s.used = true;
            s.hash = h;
            s.server = r.server;
            s.qname = r.qname;
            s.qtype = r.qtype;
        }
        if (servfail) {
            s.servfail = true;
            s.servfail_frame = r.frame;
            s.servfail_ts = r.ts_ns;
        } else {
            s.cd_answer = true;
            s.cd_frame = r.frame;
            s.cd_ts = r.ts_ns;
            s.cd_rcode = r.rcode;
        }
        // The two answers must be close in time: hours apart, the zone (or the resolver's cache)
        // may simply have changed in between.
        const uint64_t apart = s.servfail_ts > s.cd_ts ? s.servfail_ts - s.cd_ts : s.cd_ts - s.servfail_ts;
        if (s.servfail && s.cd_answer && !s.reported && apart <= config_.validation_window_ns) {
            s.reported = true;
            Finding f = where();
            f.code = FindingCode::dnssec_validation_failure;
            f.rcode = s.cd_rcode;
            f.frame_count = 0;
            f.add_frame(s.servfail_frame);
            f.add_frame(s.cd_frame);
            emit(f);
        }
    }

    // dnssec.missing_rrsig: a DO=1 question answered without any RRSIG, where another server
    // answers the same question signed.
    if (r.do_bit && !r.has_rrsig && r.has_records &&
        (r.rcode == dns::rcode::NOERROR || r.rcode == dns::rcode::NXDOMAIN)) {
        const uint64_t h = mix(hash_name(0x9a11, r.qname), r.qtype);
        QuestionSlot& s = questions_[h % questions_.size()];
        if (!s.used || s.hash != h || s.qtype != r.qtype || !same_name(s.qname, r.qname)) {
            if (s.used) ++counters_.question_evictions;
            s = QuestionSlot{};
            s.used = true;
            s.hash = h;
            s.qname = r.qname;
            s.qtype = r.qtype;
        }
        if (s.have_signed) {
            if (!(s.signed_server == r.server) &&
                reported_once(mix(hash_address(hash_name(0x3155, s.signer), r.server), 1))) {
                Finding f = where();
                f.code = FindingCode::dnssec_missing_rrsig;
                f.dnssec.zone = s.signer;
                f.dnssec.other_server = s.signed_server;
                emit(f);
            }
            return;
        }
        for (uint8_t i = 0; i < s.unsigned_count; ++i)
            if (s.unsigned_answers[i].server == r.server) return;
        if (s.unsigned_count < s.unsigned_answers.size()) s.unsigned_answers[s.unsigned_count++] = seen(r);
    }
}

}  // namespace frag53
