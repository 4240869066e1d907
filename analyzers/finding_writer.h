// Hands findings on to another sink (the events file, the report, -w's evidence) on a thread of
// its own, in the order they were found.
//
// Writing a finding's JSON line and its message is about a fifth of a one-worker
// `frag53 analyze` on a capture where every large answer is a finding; with a FindingWriter that
// work runs on another core while the pipeline goes on. A finding is copied into a bounded ring
// (about a kilobyte each); the writer sleeps when the ring is empty and is woken once a batch
// waits, the pipeline sleeps when it is full (counted), so neither spins, wake-ups are few, and no
// finding is ever dropped. The capacity must be at least wake_batch.
//
// One producer: on_finding() and finish() are called from one thread (the pipeline's, which is
// also the aggregator's). The downstream sink is used by the writer's thread only, and by nobody
// else until finish() returned.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <thread>

#include "analyzers/findings.h"
#include "analyzers/spsc_ring.h"

namespace frag53 {

class FindingWriter final : public FindingSink {
public:
    static constexpr size_t default_capacity = 1024;  // findings (about 1.4 MB)
    // A sleeping writer is woken once this many findings wait (or at finish()), a pipeline
    // waiting for room once this many fit. A wake-up of a thread on the other core costs several
    // microseconds: per 128 findings (a ring of 512) the pipeline's wake-ups were 5 % of its
    // time, and per 512 the comparison capture ran 0.268 -> 0.249 s.
    static constexpr size_t wake_batch = 512;

    // Throws std::system_error when the thread cannot be started.
    // Throws std::invalid_argument for a capacity that is not a power of two or under wake_batch.
    explicit FindingWriter(FindingSink& downstream, size_t capacity = default_capacity);
    ~FindingWriter() override;  // finish()es, swallowing what the downstream sink threw
    FindingWriter(const FindingWriter&) = delete;
    FindingWriter& operator=(const FindingWriter&) = delete;

    void on_finding(const Finding& f) override;
    // Every finding handed on, the thread joined. Rethrows what the downstream sink threw (the
    // findings after that one were not handed on). Once only; on_finding() is not called after.
    void finish();

    uint64_t full_waits() const noexcept { return full_waits_; }  // the pipeline waited for room
    // After finish(): how often the writer got ready to sleep on an empty ring, and how often
    // the pipeline woke it. Never more wake-ups than sleeps: each one takes a sleep's flag back.
    uint64_t writer_sleeps() const noexcept { return writer_sleeps_; }
    uint64_t writer_wakeups() const noexcept { return writer_wakeups_; }

private:
    void run() noexcept;
    // Sleeps on `word` until it moves on from `seen`, unless `ready()` holds once the other side
    // can see that this one sleeps.
    template <class Ready>
    static void sleep_unless(std::atomic<uint32_t>& word, uint32_t seen, std::atomic<bool>& sleeping,
                             Ready ready);
    // Wakes the side sleeping on `word`, if it sleeps and `ready()` holds; whether it did.
    template <class Ready>
    static bool wake_if(std::atomic<uint32_t>& word, std::atomic<bool>& sleeping, Ready ready);
    bool batch_waits() const noexcept;  // for the writer: a batch to write, or the end
    bool batch_fits() const noexcept;   // for the pipeline: room for a batch

    FindingSink& down_;
    SpscRing<Finding> ring_;
    // Futex words: bumped when a sleeping side must wake (a finding was pushed, room was made).
    alignas(64) std::atomic<uint32_t> pushed_{0};
    std::atomic<bool> writer_sleeping_{false};
    alignas(64) std::atomic<uint32_t> popped_{0};
    std::atomic<bool> producer_sleeping_{false};
    std::atomic<bool> done_{false};
    uint64_t full_waits_ = 0;
    uint64_t writer_wakeups_ = 0;  // the pipeline's
    uint64_t writer_sleeps_ = 0;   // the writer's, read after the join
    std::exception_ptr failed_;  // written by the writer, read after the join
    bool finished_ = false;
    std::thread thread_;
};

}  // namespace frag53
