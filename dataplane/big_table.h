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
#include <type_traits>

namespace frag53 {

// At or above this size a request gets its own huge-page mapping.
inline constexpr size_t big_table_threshold = size_t{1} << 20;

// Zeroed memory for `bytes` (aligned for any type); throws std::bad_alloc. Free with
// big_table_free and the same size.
void* big_table_alloc(size_t bytes);
void big_table_free(void* p, size_t bytes) noexcept;

// Zeroed memory on 4 KiB pages, for a table used sparsely: a few hundred slots hashed over
// megabytes touch a few hundred small pages, where huge pages would each be zeroed whole
// (2 MiB for one slot). Free with big_table_free.
void* sparse_table_alloc(size_t bytes);

// A fixed number of slots in zeroed memory that is never written until a slot is used: all-zero
// bytes must be an unused slot of T (for instance a leading `bool used = false` that every
// lookup checks first, with a claimed slot assigned a fresh T{}). T is an implicit-lifetime
// type, so the zeroed bytes hold valid objects without a constructor running over the table.
template <class T>
class ZeroedTable {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

public:
    explicit ZeroedTable(size_t n)
        : n_(n == 0 ? 1 : n), p_(static_cast<T*>(sparse_table_alloc(n_ * sizeof(T)))) {}
    ~ZeroedTable() { big_table_free(p_, n_ * sizeof(T)); }
    ZeroedTable(const ZeroedTable&) = delete;
    ZeroedTable& operator=(const ZeroedTable&) = delete;

    size_t size() const noexcept { return n_; }
    T& operator[](size_t i) noexcept { return p_[i]; }
    const T& operator[](size_t i) const noexcept { return p_[i]; }

private:
    size_t n_;
    T* p_;
};

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
