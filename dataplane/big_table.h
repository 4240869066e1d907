// Memory for the tables the caps size (pending queries, fragment records, per-question histories,
// DNSSEC question slots...): megabytes each, allocated once when a pipeline is built.
//
// Backed by their own anonymous mappings, aligned to 2 MiB and marked for transparent huge pages
// (MADV_HUGEPAGE), so setting up or first touching such a table costs one page fault per 2 MiB
// instead of one per 4 KiB. Where the kernel has huge pages off (or none free) the mapping simply
// stays on 4 KiB pages. Requests under big_table_threshold go to operator new.
#pragma once

#include <cstddef>
#include <new>

namespace frag53 {

// At or above this size a request gets its own huge-page mapping.
inline constexpr size_t big_table_threshold = size_t{1} << 20;

// Zeroed memory for `bytes` (aligned for any type); throws std::bad_alloc. Free with
// big_table_free and the same size.
void* big_table_alloc(size_t bytes);
void big_table_free(void* p, size_t bytes) noexcept;

template <class T>
struct BigTableAllocator {
    using value_type = T;
    BigTableAllocator() noexcept = default;
    template <class U>
    BigTableAllocator(const BigTableAllocator<U>&) noexcept {}

    T* allocate(size_t n) {
        if (n > static_cast<size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
        const size_t bytes = n * sizeof(T);
        if (bytes >= big_table_threshold) return static_cast<T*>(big_table_alloc(bytes));
        return static_cast<T*>(::operator new(bytes, std::align_val_t{alignof(T)}));
    }
    void deallocate(T* p, size_t n) noexcept {
        const size_t bytes = n * sizeof(T);
        if (bytes >= big_table_threshold)
            big_table_free(p, bytes);
        else
            ::operator delete(p, std::align_val_t{alignof(T)});
    }
    template <class U>
    bool operator==(const BigTableAllocator<U>&) const noexcept { return true; }
};

}  // namespace frag53
