// Hands findings on to another sink (the events file, the report, -w's evidence), and
// optionally transaction records to a record sink (the aggregator), on a thread of its own, in
// the order they came.
//
// Writing a finding's JSON line and its message is about a fifth of a one-worker
// `frag53 analyze` on a capture where every large answer is a finding, and the aggregator's
// per-transaction work (question history, per-server counts, the DNSSEC checks on handed-over
// answers) is another twelfth; with a FindingWriter both run on another core while the pipeline
// goes on. Findings (about a kilobyte each) and records (a third of that) are copied into two
// bounded rings; each record notes how many findings came before it, so the writer hands both on
// in the order the pipeline produced them, and the aggregator's own findings land exactly where
// they did when it ran on the pipeline's thread. The writer sleeps while the rings hold less than
// a batch and is woken once a batch waits; the pipeline sleeps when a ring is full (counted).
// Neither spins, wake-ups are few, and nothing is ever dropped. Each capacity must be at least
// its batch.
//
// One producer: on_finding(), the record calls and finish() are called from one thread (the
// pipeline's). The downstream sinks are used by the writer's thread only, and by nobody else
// until finish() returned.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <thread>
#include <variant>

#include "analyzers/aggregator.h"
#include "analyzers/findings.h"
#include "analyzers/spsc_ring.h"

namespace frag53 {

class FindingWriter final : public FindingSink, public TransactionRecordSink {
public:
    static constexpr size_t default_capacity = 1024;  // findings (about 1.4 MB)
    static constexpr size_t default_record_capacity = 8192;  // records (about 2.8 MB)
    // A sleeping writer is woken once this many findings wait (or at finish()), a pipeline
    // waiting for room once this many fit. A wake-up of a thread on the other core costs several
    // microseconds: per 128 findings (a ring of 512) the pipeline's wake-ups were 5 % of its
    // time, and per 512 the comparison capture ran 0.268 -> 0.249 s.
    static constexpr size_t wake_batch = 512;
    // The same for records, which come about three times as often as findings and cost a
    // third as much to hand on.
    static constexpr size_t record_wake_batch = 2048;

    // `records`: where transaction records go (on the writer's thread); without one the record
    // calls must not be made.
    // Throws std::system_error when the thread cannot be started.
    // Throws std::invalid_argument for a capacity that is not a power of two or under its batch.
    explicit FindingWriter(FindingSink& downstream, size_t capacity = default_capacity,
                           TransactionRecordSink* records = nullptr,
                           size_t record_capacity = default_record_capacity);
    ~FindingWriter() override;  // finish()es, swallowing what the downstream sink threw
    FindingWriter(const FindingWriter&) = delete;
    FindingWriter& operator=(const FindingWriter&) = delete;

    void on_finding(const Finding& f) override;
    void on_query(const QueryRecord& r) override;
    void on_outcome(const OutcomeRecord& r) override;
    void on_material(ResponseMaterial&& m) override;
    // Every finding and record handed on, the thread joined. Rethrows what the downstream sink threw (the
    // findings after that one were not handed on). Once only; on_finding() is not called after.
    void finish();

    uint64_t full_waits() const noexcept { return full_waits_; }  // the pipeline waited for room

private:
    using RecordBody = std::variant<QueryRecord, OutcomeRecord, ResponseMaterial>;
    struct Record {
        uint64_t findings_before = 0;  // findings pushed before this record
        RecordBody body;
    };
    // A side checks whether the other sleeps (a full fence) once per this many elements it
    // moved, not per element, and always before it sleeps itself.
    static constexpr unsigned check_every = 32;
    // How far ahead the record sink hears of a question it will be asked about.
    static constexpr size_t prefetch_distance = 4;

    template <class Make>
    void push_record(Make&& make);
    void pushed_one();
    void wait_for_room();
    void run() noexcept;
    void hand_on(Record& r) noexcept;
    void wake_producer();
    // Sleeps on `word` until it moves on from `seen`, unless `ready()` holds once the other side
    // can see that this one sleeps.
    template <class Ready>
    static void sleep_unless(std::atomic<uint32_t>& word, uint32_t seen, std::atomic<bool>& sleeping,
                             Ready ready);
    // Wakes the side sleeping on `word`, if it sleeps and `ready()` holds.
    template <class Ready>
    static void wake_if(std::atomic<uint32_t>& word, std::atomic<bool>& sleeping, Ready ready);
    bool batch_waits() const noexcept;  // for the writer: a batch in either ring, or the end
    bool batch_fits() const noexcept;   // for the pipeline: room for a batch in each ring

    FindingSink& down_;
    TransactionRecordSink* records_down_;
    SpscRing<Finding> ring_;
    SpscRing<Record> records_;
    uint64_t findings_pushed_ = 0;   // the pipeline's
    unsigned unchecked_pushes_ = 0;  // the pipeline's
    uint64_t findings_written_ = 0;  // the writer's
    // Futex words: bumped when a sleeping side must wake (a finding was pushed, room was made).
    alignas(64) std::atomic<uint32_t> pushed_{0};
    std::atomic<bool> writer_sleeping_{false};
    alignas(64) std::atomic<uint32_t> popped_{0};
    std::atomic<bool> producer_sleeping_{false};
    std::atomic<bool> done_{false};
    uint64_t full_waits_ = 0;
    std::exception_ptr failed_;  // written by the writer, read after the join
    bool finished_ = false;
    std::thread thread_;
};

}  // namespace frag53
