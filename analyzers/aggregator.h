// Cross-flow analysis: per-server path findings and per-client resolver behaviour.
//
// Workers hand the aggregator compact records (one when a query starts a transaction, one when
// the transaction ends) and never wait for it; everything that needs a view across flows —
// several servers for one client, many clients for one server — is decided here. All state is
// bounded: the per-server table has a cap (overflow counted) and the per-client question history
// is a two-way cache (each question in its own slot or the other of its pair) whose overwrites are
// counted as evictions.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "analyzers/dns/message.h"
#include "analyzers/findings.h"
#include "dataplane/ip_address.h"
#include "dataplane/big_table.h"

namespace frag53 {

// Where a client's question lives in the aggregator's per-question history: the pipeline works
// it out once per query and hands it over in both records.
inline uint64_t question_hash(const IpAddress& client, const dns::Name& qname, uint16_t qtype) noexcept {
    return client.hash() ^ (qname.hash_ignore_case() * 0x9E3779B97F4A7C15ull) ^ qtype;
}

struct QueryRecord {
    IpAddress client, server;
    uint16_t client_port = 0, server_port = 0, id = 0;
    dns::Name qname;
    uint16_t qtype = 0;
    MessageTransport transport = MessageTransport::udp;
    bool edns = false;
    bool do_bit = false;
    uint16_t udp_size = 0;
    uint64_t ts_ns = 0;
    uint64_t frame = 0;
    uint64_t question_hash = 0;  // question_hash(client, qname, qtype) for UDP, else 0
};

struct OutcomeRecord {
    IpAddress client, server;
    dns::Name qname;
    uint16_t qtype = 0;
    MessageTransport transport = MessageTransport::udp;
    bool do_bit = false;
    bool answered = false;
    bool truncated = false;
    bool fragmented = false;
    bool tc_retry = false;  // a TCP query retrying a truncated answer
    uint32_t response_size = 0;
    uint64_t query_ts_ns = 0;
    uint64_t ts_ns = 0;   // response time, or when the query was given up
    uint64_t frame = 0;   // response frame (0 when unanswered)
    // What the answer said (answered only), for the DNSSEC cross-server checks.
    uint16_t client_port = 0, server_port = 0, id = 0;
    bool cd = false;          // the query's CD bit
    bool aa = false;
    bool has_rrsig = false;
    bool has_records = false; // answer or authority records
    bool well_formed = false; // the whole answer parsed
    int32_t rcode = -1;
    uint64_t question_hash = 0;  // question_hash(client, qname, qtype) for UDP, else 0
};

// A response carrying DNSSEC or SOA records, copied whole for the DNSSEC checks across flows.
// Workers copy only answers they have not handed over recently (a hash of the server and of the
// message without its ID and TTLs), so repeated answers cost a hash and a table probe.
struct ResponseMaterial {
    IpAddress client, server;
    uint16_t client_port = 0, server_port = 0;
    MessageTransport transport = MessageTransport::udp;
    bool query_do = false, query_cd = false;
    uint64_t ts_ns = 0;
    uint64_t frame = 0;
    std::vector<std::byte> wire;  // the DNS message
};

class TransactionRecordSink {
public:
    virtual ~TransactionRecordSink() = default;
    virtual void on_query(const QueryRecord& r) = 0;
    virtual void on_outcome(const OutcomeRecord& r) = 0;
    virtual void on_material(ResponseMaterial&& m) { (void)m; }
    // A record for this UDP question (its question_hash) follows shortly: a sink that keeps
    // per-question state may start loading it. The pipeline says so as soon as it has parsed the
    // question, so the load overlaps the rest of the message's work.
    virtual void expect_question(uint64_t question_hash) noexcept { (void)question_hash; }
};

struct AggregatorConfig {
    uint32_t size_threshold = 1232;          // "large" answers
    uint64_t retry_window_ns = 10'000'000'000ull;  // the client asking again counts within this
    uint32_t min_samples = 5;                // per server and class before a path verdict
    double lost_rate = 0.5;                  // DO=1 (or large) loss rate that is a problem
    double ok_rate = 0.9;                    // DO=0 answer rate that shows the server is fine
    uint32_t min_large_lost = 2;             // large answers re-asked before a path verdict
    size_t max_servers = 16384;
    size_t history_slots = 16384;            // per-client question history (two-way: pairs of slots)
    uint64_t dnssec_expiring_window_s = 7 * 86400;  // dnssec.rrsig_expiring
};

class DnssecChecks;
struct DnssecCounters;

struct ServerStats {
    IpAddress address;
    uint64_t queries = 0;
    uint64_t do0_queries = 0, do0_answered = 0;  // ended transactions by DO bit
    uint64_t do1_queries = 0, do1_answered = 0;
    uint64_t answers = 0;
    uint64_t answers_over_threshold = 0;
    uint32_t largest_answer = 0;
    uint64_t fragmented = 0;
    uint64_t truncated = 0;
    uint64_t tcp_retries = 0, tcp_retries_answered = 0;
    uint64_t large_answers = 0;       // UDP answers above the threshold or fragmented
    uint64_t large_reasked = 0;       // ... after which the client asked the same again
    uint32_t large_reasked_min = 0, large_reasked_max = 0;  // sizes involved
    uint64_t first_frame = 0, last_lost_frame = 0;

    double rate(uint64_t answered, uint64_t total) const noexcept {
        return total ? static_cast<double>(answered) / static_cast<double>(total) : 0.0;
    }
};

class Aggregator final : public TransactionRecordSink {
public:
    Aggregator(const AggregatorConfig& config, FindingSink& sink);
    ~Aggregator() override;

    void on_query(const QueryRecord& r) override;
    void on_outcome(const OutcomeRecord& r) override;
    // Prefetches the question's history slot: without it, a slot's first load was half of
    // on_query's time.
    void expect_question(uint64_t question_hash) noexcept override {
        // The question's own slot; the other of its pair is read only when this one is not it.
        const auto* p = reinterpret_cast<const char*>(&history_[index_of(question_hash)]);
        __builtin_prefetch(p);
        __builtin_prefetch(p + 64);
    }
    void on_material(ResponseMaterial&& m) override;
    const DnssecCounters& dnssec_counters() const noexcept;
    // End of input: per-server verdicts.
    void finish();

    std::vector<ServerStats> servers_by_queries(size_t n) const;
    uint64_t servers_untracked() const noexcept { return servers_untracked_; }
    // The per-question history: slots, and questions forgotten because another took their slot.
    size_t history_slots() const noexcept { return history_.size(); }
    uint64_t history_evictions() const noexcept { return history_evictions_; }
    const std::array<uint64_t, finding_code_count>& findings() const noexcept { return findings_; }

private:
    enum class Outcome : uint8_t { pending, answered, truncated, unanswered };
    struct History {  // the latest UDP attempt of one client for one question (on_query() writes each field)
        bool used = false;
        IpAddress client, server;
        dns::Name qname;
        uint16_t qtype = 0;
        bool edns = false;
        uint16_t udp_size = 0;
        uint64_t ts_ns = 0, frame = 0;
        Outcome outcome = Outcome::pending;
        bool large_answer = false;
        uint32_t response_size = 0;
        uint64_t answer_ts_ns = 0, answer_frame = 0;
    };
    struct AddressHash {
        size_t operator()(const IpAddress& a) const noexcept { return a.hash(); }
    };

    History& slot(const IpAddress& client, const dns::Name& qname, uint16_t qtype, uint64_t hash, bool& same);
    size_t index_of(uint64_t hash) const noexcept;
    ServerStats* server(const IpAddress& a);
    void emit(Finding& f);

    // Findings of the DNSSEC checks are counted here like the aggregator's own.
    class CountingSink final : public FindingSink {
    public:
        explicit CountingSink(Aggregator& a) : a_(a) {}
        void on_finding(const Finding& f) override {
            Finding copy = f;
            a_.emit(copy);
        }

    private:
        Aggregator& a_;
    };

    AggregatorConfig config_;
    FindingSink& sink_;
    CountingSink counting_{*this};
    std::unique_ptr<DnssecChecks> dnssec_;
    // Hashed by client and question; a zeroed slot is unused (`used` is checked first, a claimed
    // slot is assigned a fresh History), so only the pages of slots in use are ever touched.
    ZeroedTable<History> history_;
    std::unordered_map<IpAddress, ServerStats, AddressHash> servers_;
    // The last two servers server() looked up in the map, the older one replaced first.
    std::array<ServerStats*, 2> last_servers_{};
    size_t next_last_server_ = 0;
    ServerStats* remember(ServerStats* s) noexcept {
        last_servers_[next_last_server_++ % last_servers_.size()] = s;
        return s;
    }
    uint64_t servers_untracked_ = 0;
    uint64_t history_evictions_ = 0;
    uint64_t last_ts_ = 0;  // latest packet time seen in a record: when verdicts are made
    std::array<uint64_t, finding_code_count> findings_{};
};

}  // namespace frag53
