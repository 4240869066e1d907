// A bounded single-producer single-consumer queue that the consumer reads in place.
//
// Slots are raw memory (BigTableAllocator: a table of megabytes is its own huge-page mapping
// that faults in only where it is used); an element is constructed when pushed and destroyed
// when popped. No semaphores: the producer decides what a full ring means (drop and count, or
// wait), the consumer polls. Each side keeps its own copy of the other's index and reads the
// shared one only when the copy says full or empty, so the two cache lines are touched about
// once per ring's worth of elements rather than once per element.
#pragma once

#include <atomic>
#include <cstddef>
#include <new>
#include <stdexcept>
#include <utility>

#include "dataplane/big_table.h"

namespace frag53 {

template <typename T>
class SpscRing {
public:
    explicit SpscRing(size_t capacity) {
        if (capacity == 0 || (capacity & (capacity - 1)) != 0)
            throw std::invalid_argument("SpscRing: capacity must be a power of two");
        slots_ = alloc_.allocate(capacity);
        mask_ = capacity - 1;
    }
    ~SpscRing() {
        while (T* v = front()) {
            (void)v;
            pop();
        }
        alloc_.deallocate(slots_, mask_ + 1);
    }
    SpscRing(const SpscRing&) = delete;
    SpscRing& operator=(const SpscRing&) = delete;

    size_t capacity() const noexcept { return mask_ + 1; }

    // Producer: false when full (nothing is constructed then).
    template <typename... Args>
    bool try_emplace(Args&&... args) {
        return try_push_with([&](void* slot) { ::new (slot) T(std::forward<Args>(args)...); });
    }
    // Producer: `make(void* slot)` creates the element in the slot's raw memory (for an element
    // cheaper to build in place than to copy whole). False when full (make is not called).
    template <typename Make>
    bool try_push_with(Make&& make) {
        const size_t t = tail_.load(std::memory_order_relaxed);
        if (t - head_seen_ > mask_) {
            head_seen_ = head_.load(std::memory_order_acquire);
            if (t - head_seen_ > mask_) return false;
        }
        make(static_cast<void*>(slots_ + (t & mask_)));
        tail_.store(t + 1, std::memory_order_release);
        return true;
    }

    // Consumer: the oldest element, or nullptr when there is none. It stays until pop().
    T* front() noexcept {
        const size_t h = head_.load(std::memory_order_relaxed);
        if (tail_seen_ == h) {
            tail_seen_ = tail_.load(std::memory_order_acquire);
            if (tail_seen_ == h) return nullptr;
        }
        return std::launder(slots_ + (h & mask_));
    }
    // Consumer: destroys the element front() returned (front() must have returned one).
    void pop() noexcept {
        const size_t h = head_.load(std::memory_order_relaxed);
        std::launder(slots_ + (h & mask_))->~T();
        head_.store(h + 1, std::memory_order_release);
    }
    // Either side: elements in the ring, as of some recent moment.
    size_t size_approx() const noexcept {
        return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire);
    }

private:
    BigTableAllocator<T> alloc_;
    T* slots_ = nullptr;
    size_t mask_ = 0;
    // Producer's line: its index and what it last saw of the consumer's.
    alignas(64) std::atomic<size_t> tail_{0};
    size_t head_seen_ = 0;
    // Consumer's line.
    alignas(64) std::atomic<size_t> head_{0};
    size_t tail_seen_ = 0;
};

}  // namespace frag53
