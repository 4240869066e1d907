#include "analyzers/finding_writer.h"

#include <cassert>
#include <limits>
#include <stdexcept>

namespace frag53 {

FindingWriter::FindingWriter(FindingSink& downstream, size_t capacity, TransactionRecordSink* records,
                             size_t record_capacity)
    : down_(downstream), records_down_(records), ring_(capacity), records_(record_capacity) {
    if (capacity < wake_batch) throw std::invalid_argument("FindingWriter: capacity under wake_batch");
    if (record_capacity < record_wake_batch)
        throw std::invalid_argument("FindingWriter: record capacity under record_wake_batch");
    thread_ = std::thread([this] { run(); });
}

FindingWriter::~FindingWriter() {
    try {
        finish();
    } catch (...) {
    }
}

// The two sides each store "I sleep" or "I pushed/popped", then a full fence, then read the
// other's: at least one of them sees the other's store (the pattern of Dekker's algorithm), so a
// side never sleeps on a ring that the other has already changed without waking it. Each side is
// woken for a batch (findings to write, room to push), not for each finding: a wake-up is a
// system call, which costs more than writing a finding.
//
// The fence is taken once per check_every elements, not per element: a record costs the
// pipeline about as much to push as a fence. A writer asleep with less than a batch is then woken
// at most check_every pushes late, and a pipeline that finds a ring full wakes it before it
// sleeps, so the writer never sleeps on a full ring; the writer wakes the pipeline at the end of
// every pass over the rings, when both are empty, so the pipeline never sleeps on an empty one.
template <class Ready>
void FindingWriter::sleep_unless(std::atomic<uint32_t>& word, uint32_t seen,
                                 std::atomic<bool>& sleeping, Ready ready) {
    sleeping.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!ready()) word.wait(seen, std::memory_order_acquire);
    sleeping.store(false, std::memory_order_relaxed);
}

template <class Ready>
void FindingWriter::wake_if(std::atomic<uint32_t>& word, std::atomic<bool>& sleeping, Ready ready) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleeping.load(std::memory_order_relaxed) && ready()) {
        word.fetch_add(1, std::memory_order_release);
        word.notify_one();
    }
}

bool FindingWriter::batch_waits() const noexcept {
    return ring_.size_approx() >= wake_batch || records_.size_approx() >= record_wake_batch ||
           done_.load(std::memory_order_acquire);
}

bool FindingWriter::batch_fits() const noexcept {
    return ring_.capacity() - ring_.size_approx() >= wake_batch &&
           records_.capacity() - records_.size_approx() >= record_wake_batch;
}

void FindingWriter::wait_for_room() {
    ++full_waits_;
    // Whatever the writer waits for, a full ring is more than it: wake it first.
    wake_if(pushed_, writer_sleeping_, [this] { return batch_waits(); });
    const uint32_t seen = popped_.load(std::memory_order_acquire);
    sleep_unless(popped_, seen, producer_sleeping_, [this] { return batch_fits(); });
}

void FindingWriter::pushed_one() {
    if (++unchecked_pushes_ < check_every) return;
    unchecked_pushes_ = 0;
    wake_if(pushed_, writer_sleeping_, [this] { return batch_waits(); });
}

void FindingWriter::on_finding(const Finding& f) {
    while (!ring_.try_push_with([&f](void* slot) { copy_finding_into(slot, f); })) wait_for_room();
    ++findings_pushed_;
    pushed_one();
}

template <class Make>
void FindingWriter::push_record(Make&& make) {
    assert(records_down_ != nullptr);
    while (!records_.try_push_with(make)) wait_for_room();
    pushed_one();
}

void FindingWriter::on_query(const QueryRecord& r) {
    push_record([&](void* slot) { ::new (slot) Record{findings_pushed_, RecordBody(std::in_place_type<QueryRecord>, r)}; });
}

void FindingWriter::on_outcome(const OutcomeRecord& r) {
    push_record([&](void* slot) { ::new (slot) Record{findings_pushed_, RecordBody(std::in_place_type<OutcomeRecord>, r)}; });
}

void FindingWriter::on_material(ResponseMaterial&& m) {
    // Moved from only when it went in (try_push_with calls make only then).
    push_record([&](void* slot) {
        ::new (slot) Record{findings_pushed_, RecordBody(std::in_place_type<ResponseMaterial>, std::move(m))};
    });
}

void FindingWriter::finish() {
    if (finished_) return;
    finished_ = true;
    done_.store(true, std::memory_order_release);
    // Woken whether or not it was seen sleeping: its check reads done_ too, but a bump costs
    // once.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    pushed_.fetch_add(1, std::memory_order_release);
    pushed_.notify_one();
    if (thread_.joinable()) thread_.join();
    if (failed_) std::rethrow_exception(failed_);
}

void FindingWriter::wake_producer() {
    wake_if(popped_, producer_sleeping_, [this] { return batch_fits(); });
}

void FindingWriter::hand_on(Record& r) noexcept {
    if (failed_) return;  // the sinks failed: the rest are taken and dropped
    try {
        switch (r.body.index()) {
        case 0: records_down_->on_query(*std::get_if<0>(&r.body)); break;
        case 1: records_down_->on_outcome(*std::get_if<1>(&r.body)); break;
        default: records_down_->on_material(std::move(*std::get_if<2>(&r.body))); break;
        }
    } catch (...) {
        failed_ = std::current_exception();
    }
}

void FindingWriter::run() noexcept {
    for (;;) {
        unsigned moved = 0;
        for (bool any = true; any;) {
            any = false;
            // The next record, and the findings pushed before it: they are in their ring by the
            // time the record is seen (the record's push releases after theirs).
            Record* r = records_.front();
            const uint64_t until = r != nullptr ? r->findings_before : std::numeric_limits<uint64_t>::max();
            while (findings_written_ < until) {
                const Finding* f = ring_.front();
                if (f == nullptr) break;
                if (!failed_) {
                    try {
                        down_.on_finding(*f);
                    } catch (...) {
                        failed_ = std::current_exception();
                    }
                }
                ring_.pop();
                ++findings_written_;
                any = true;
                if (++moved % check_every == 0) wake_producer();
            }
            if (r != nullptr) {
                assert(findings_written_ == until);
                // The record sink may start loading what a record a few places on needs (the
                // aggregator's question history), as the pipeline did when it ran the aggregator.
                if (const Record* ahead = records_.peek(prefetch_distance)) {
                    uint64_t hash = 0;  // 0: none (a TCP question)
                    if (const auto* q = std::get_if<QueryRecord>(&ahead->body)) hash = q->question_hash;
                    else if (const auto* o = std::get_if<OutcomeRecord>(&ahead->body)) hash = o->question_hash;
                    if (hash != 0) records_down_->expect_question(hash);
                }
                hand_on(*r);
                records_.pop();
                any = true;
                if (++moved % check_every == 0) wake_producer();
            }
        }
        wake_producer();  // both rings were found empty
        if (done_.load(std::memory_order_acquire)) {
            if (ring_.front() == nullptr && records_.front() == nullptr) return;
            continue;  // pushed before done_: hand those on too
        }
        const uint32_t seen = pushed_.load(std::memory_order_acquire);
        sleep_unless(pushed_, seen, writer_sleeping_, [this] { return batch_waits(); });
    }
}

}  // namespace frag53
