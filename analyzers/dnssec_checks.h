// DNSSEC checks across flows, run by the aggregator on the answers workers hand over.
//
// Everything that needs more than one answer lives here: keys seen from a zone and the DS set its
// parent publishes, signatures checked against keys that came in another answer (or before, or
// after), serials of the servers of one zone, the same question answered signed by one server and
// unsigned by another, a resolver failing validation where checking disabled (CD) works. The
// input is merged by packet time across workers, so results never depend on the worker count.
//
// State is bounded: zones (with keys, DS records, pending signatures and serials per zone), the
// set of signatures already checked and the two question tables have caps; every eviction is
// counted. A finding is reported once per thing it is about (a signature, a key set, a zone's
// algorithm, a pair of serials...), with the number of answers that showed it so far.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "analyzers/aggregator.h"
#include "analyzers/dns/message.h"
#include "analyzers/dnssec/verify.h"
#include "analyzers/findings.h"
#include "dataplane/big_table.h"

namespace frag53 {

struct DnssecConfig {
    uint64_t expiring_window_s = 7 * 86400;  // dnssec.rrsig_expiring: expires within this
    size_t max_zones = 4096;
    size_t max_keys_per_zone = 16;
    size_t max_ds_per_zone = 16;
    size_t max_pending_per_zone = 32;     // signatures waiting for their key
    size_t max_servers_per_zone = 8;      // SOA serials remembered per zone
    size_t max_checked = 1u << 16;        // signatures already checked (then forgotten in bulk)
    size_t question_slots = 8192;         // per question / per (server, question) tables
    uint64_t validation_window_ns = 60'000'000'000ull;  // SERVFAIL and CD answer at most this apart
};

struct DnssecCounters {
    uint64_t answers = 0;                // answers handed over and parsed
    uint64_t unparsable = 0;             // handed over but not parsable (should not happen)
    uint64_t signatures = 0;             // RRSIGs seen
    uint64_t verified = 0, verify_failed = 0, verify_skipped = 0;  // checks done / failed / not possible
    uint64_t pending_added = 0, pending_evicted = 0;
    uint64_t keys = 0, keys_evicted = 0, ds = 0, ds_evicted = 0;
    uint64_t zones_evicted = 0;
    uint64_t checked_resets = 0;         // the checked-signature set was full and cleared
    uint64_t question_evictions = 0;
};

class DnssecChecks {
public:
    DnssecChecks(const DnssecConfig& config, FindingSink& sink);
    ~DnssecChecks();
    DnssecChecks(const DnssecChecks&) = delete;
    DnssecChecks& operator=(const DnssecChecks&) = delete;

    void on_material(const ResponseMaterial& m);
    void on_outcome(const OutcomeRecord& r);

    const DnssecCounters& counters() const noexcept { return counters_; }
    size_t zones() const noexcept { return zones_.size(); }

private:
    struct Key {
        uint16_t tag = 0;
        uint8_t algorithm = 0;
        uint16_t flags = 0;
        std::vector<uint8_t> rdata;
        bool parsed = false;                 // a key was built (or failed to) from rdata
        std::optional<dnssec::PublicKey> key;
        dnssec::KeyStatus key_status = dnssec::KeyStatus::ok;
    };
    struct Ds {
        uint16_t tag = 0;
        uint8_t algorithm = 0, digest_type = 0;
        std::vector<uint8_t> digest;
    };
    struct PendingSignature {  // an RRSIG whose key has not been seen yet
        uint64_t hash = 0;
        uint16_t tag = 0;
        uint8_t algorithm = 0;
        uint16_t type_covered = 0;
        dns::Name owner;
        std::vector<uint8_t> signed_data, signature;
        Finding where;  // endpoints, question and frame of the answer that carried it
    };
    struct Zone {
        dns::Name name;
        std::vector<Key> keys;
        std::vector<Ds> ds;
        std::vector<PendingSignature> pending;
        std::vector<std::pair<IpAddress, uint32_t>> serials;
        std::vector<std::pair<uint32_t, uint32_t>> serial_pairs_reported;
        std::array<uint64_t, 4> weak_reported{};   // bit per algorithm number
        std::vector<std::pair<uint16_t, uint8_t>> nsec3_reported;  // iterations, salt length
        uint64_t ds_reported_generation = 0;       // key/DS generation a ds_mismatch was reported for
        uint64_t generation = 0;                   // bumped when keys or DS change
        uint64_t last_used_ts = 0;
    };
    struct Seen {  // one answer, enough to report it later
        uint64_t ts_ns = 0, frame = 0;
        IpAddress client, server;
        uint16_t client_port = 0, server_port = 0, id = 0;
        MessageTransport transport = MessageTransport::udp;
        int32_t rcode = -1;
        uint32_t size = 0;
    };
    struct QuestionSlot {  // dnssec.missing_rrsig: one question, answered signed or not
        bool used = false;
        uint64_t hash = 0;
        dns::Name qname;
        uint16_t qtype = 0;
        bool have_signed = false;
        IpAddress signed_server;
        dns::Name signer;
        std::array<Seen, 4> unsigned_answers{};
        uint8_t unsigned_count = 0;
        uint8_t reported_mask = 0;
    };
    struct ResolverSlot {  // dnssec.validation_failure: one server, one question
        bool used = false;
        uint64_t hash = 0;
        IpAddress server;
        dns::Name qname;
        uint16_t qtype = 0;
        bool servfail = false, cd_answer = false, reported = false;
        uint64_t servfail_frame = 0, cd_frame = 0;
        uint64_t servfail_ts = 0, cd_ts = 0;
        int32_t cd_rcode = -1;
    };

    Zone* zone(const dns::Name& name, uint64_t ts, bool create);
    void add_key(Zone& z, const dns::Record& rr, const Finding& where);
    void add_ds(Zone& z, const dns::Record& rr, const Finding& where);
    void check_ds(Zone& z, const Finding& where);
    void check_weak(Zone& z, uint8_t algorithm, const Finding& where);
    void check_rrsig(const dns::Record& rr, const Finding& where, uint64_t ts_ns);
    void verify_now(Zone& z, uint64_t hash, uint16_t tag, uint8_t algorithm, uint16_t type_covered,
                    const dns::Name& owner, const std::vector<uint8_t>& data, Bytes signature,
                    const Finding& where);
    void check_soa(const dns::Record& rr, const Finding& where);
    void check_nsec3(const dns::Record& rr, const Finding& where);
    void note_signed_answer(const ResponseMaterial& m, const dns::Name& signer);
    void emit(Finding f);
    static Seen seen(const OutcomeRecord& r) noexcept;
    static Finding finding_from(const Seen& s, const dns::Name& qname, uint16_t qtype);
    bool checked(uint64_t hash);
    bool reported_once(uint64_t key);

    DnssecConfig config_;
    FindingSink& sink_;
    DnssecCounters counters_;
    dns::MessageView msg_;
    std::vector<uint8_t> signed_buf_;
    // Looked up by string_view (no key string per signature); hashes as std::hash<std::string>,
    // so the table's layout is what it would be without heterogeneous lookup.
    struct ZoneKeyHash {
        using is_transparent = void;
        size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>{}(k); }
    };
    std::unordered_map<std::string, std::unique_ptr<Zone>, ZoneKeyHash, std::equal_to<>> zones_;  // by lower-case wire name
    std::unordered_set<uint64_t> checked_;    // signatures checked (hash of signed data + signature)
    std::unordered_set<uint64_t> reported_;   // validity findings already made (once each)
    // Zeroed slots are unused ones (`used` is checked first, a claimed slot is assigned a fresh
    // slot): the few hundred questions of a capture touch a few hundred pages of these tables.
    ZeroedTable<QuestionSlot> questions_;
    ZeroedTable<ResolverSlot> resolvers_;
};

}  // namespace frag53
