#include "dataplane/big_table.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#define FRAG53_BIG_TABLE_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define FRAG53_BIG_TABLE_HEAP 1
#endif
#endif

namespace frag53 {

#ifdef FRAG53_BIG_TABLE_HEAP
// Under the sanitizers the tables come from the heap, so out-of-bounds accesses are still caught.
void* big_table_alloc(size_t bytes) {
    void* p = ::operator new(bytes);
    std::memset(p, 0, bytes);
    return p;
}

void big_table_free(void* p, size_t) noexcept { ::operator delete(p); }

void* sparse_table_alloc(size_t bytes) { return big_table_alloc(bytes); }

#else
namespace {

constexpr size_t huge_page = size_t{2} << 20;

size_t round_up(size_t n, size_t to) noexcept { return (n + to - 1) / to * to; }

// An anonymous mapping of `bytes` rounded up to 2 MiB, starting on a 2 MiB boundary, with or
// without the advice to back it with huge pages.
void* map_table(size_t bytes, bool huge) {
    const size_t len = round_up(bytes, huge_page);
    // Over-allocate by one huge page and trim, so the table starts on a 2 MiB boundary.
    void* raw = ::mmap(nullptr, len + huge_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = round_up(start, huge_page);
    if (aligned > start) ::munmap(raw, aligned - start);
    const uintptr_t end = start + len + huge_page;
    if (end > aligned + len) ::munmap(reinterpret_cast<void*>(aligned + len), end - (aligned + len));
    void* p = reinterpret_cast<void*>(aligned);
    // Advice only: either way the table works the same.
#if defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE)
    ::madvise(p, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#else
    (void)huge;
#endif
    return p;
}

void* small_alloc(size_t bytes) {
    void* p = ::operator new(bytes);
    std::memset(p, 0, bytes);
    return p;
}

}  // namespace

void* big_table_alloc(size_t bytes) {
    return bytes < big_table_threshold ? small_alloc(bytes) : map_table(bytes, true);
}

void* sparse_table_alloc(size_t bytes) {
    return bytes < big_table_threshold ? small_alloc(bytes) : map_table(bytes, false);
}

void big_table_free(void* p, size_t bytes) noexcept {
    if (p == nullptr) return;
    if (bytes < big_table_threshold)
        ::operator delete(p);
    else
        ::munmap(p, round_up(bytes, huge_page));
}
#endif

}  // namespace frag53
