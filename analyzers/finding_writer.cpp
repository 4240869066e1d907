#include "analyzers/finding_writer.h"

#include <stdexcept>

namespace frag53 {

FindingWriter::FindingWriter(FindingSink& downstream, size_t capacity)
    : down_(downstream), ring_(capacity) {
    if (capacity < wake_batch) throw std::invalid_argument("FindingWriter: capacity under wake_batch");
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
template <class Ready>
void FindingWriter::sleep_unless(std::atomic<uint32_t>& word, uint32_t seen,
                                 std::atomic<bool>& sleeping, Ready ready) {
    sleeping.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!ready()) word.wait(seen, std::memory_order_acquire);
    sleeping.store(false, std::memory_order_relaxed);
}

// The waker takes the "I sleep" back itself (exchange) before it wakes the sleeper: one wake-up
// per sleep. The sleeper needs tens of microseconds to run again on this kind of machine, and
// while it was still flagged the pipeline made a futex call for every finding it pushed: 2,321
// calls on the comparison capture for about 140 sleeps of the writer.
template <class Ready>
bool FindingWriter::wake_if(std::atomic<uint32_t>& word, std::atomic<bool>& sleeping, Ready ready) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleeping.load(std::memory_order_relaxed) && ready() &&
        sleeping.exchange(false, std::memory_order_relaxed)) {
        word.fetch_add(1, std::memory_order_release);
        word.notify_one();
        return true;
    }
    return false;
}

bool FindingWriter::batch_waits() const noexcept {
    return ring_.size_approx() >= wake_batch || done_.load(std::memory_order_acquire);
}

bool FindingWriter::batch_fits() const noexcept {
    return ring_.capacity() - ring_.size_approx() >= wake_batch;
}

void FindingWriter::on_finding(const Finding& f) {
    while (!ring_.try_push_with([&f](void* slot) { copy_finding_into(slot, f); })) {
        ++full_waits_;
        const uint32_t seen = popped_.load(std::memory_order_acquire);
        sleep_unless(popped_, seen, producer_sleeping_, [this] { return batch_fits(); });
    }
    if (wake_if(pushed_, writer_sleeping_, [this] { return batch_waits(); })) ++writer_wakeups_;
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

void FindingWriter::run() noexcept {
    for (;;) {
        while (const Finding* f = ring_.front()) {
            if (!failed_) {
                try {
                    down_.on_finding(*f);
                } catch (...) {
                    failed_ = std::current_exception();  // the rest are taken and dropped
                }
            }
            ring_.pop();
            wake_if(popped_, producer_sleeping_, [this] { return batch_fits(); });
        }
        if (done_.load(std::memory_order_acquire)) {
            if (ring_.front() == nullptr) return;
            continue;  // pushed before done_: hand those on too
        }
        const uint32_t seen = pushed_.load(std::memory_order_acquire);
        ++writer_sleeps_;
        sleep_unless(pushed_, seen, writer_sleeping_, [this] { return batch_waits(); });
    }
}

}  // namespace frag53
