// One Hyperscan block-mode database over a list of expressions, shared read-only by every
// worker, plus the prototype scratch that each worker clones (one scratch per worker, as
// Hyperscan requires: a scratch is never shared between threads).
//
// This header does not include <hs.h>: without Hyperscan (meson -Dhyperscan=disabled) it still
// compiles, compile() then always fails with no_hyperscan_message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "analyzers/rules/config_text.h"

// Hyperscan's handle types (hs_database_t, hs_scratch_t), declared by their struct tags.
struct hs_database;
struct hs_scratch;

namespace frag53::rules {

inline constexpr std::string_view no_hyperscan_message =
    "qname rules need Hyperscan, which this build does not have";

// True when this build has Hyperscan and the CPU can run it (SSSE3).
bool hyperscan_available() noexcept;

struct HsDatabaseFree {
    void operator()(hs_database* db) const noexcept;  // hs_free_database
};
using HsDatabase = std::unique_ptr<hs_database, HsDatabaseFree>;
struct HsScratchFree {
    void operator()(hs_scratch* s) const noexcept;  // hs_free_scratch
};
using HsScratch = std::unique_ptr<hs_scratch, HsScratchFree>;

// Called once per matching expression id (HS_FLAG_SINGLEMATCH); return false to stop.
using ExpressionMatchFn = bool (*)(void* ctx, uint32_t index) noexcept;

class PatternDatabase {
public:
    enum class Syntax : uint8_t {
        name,   // generated from a name pattern (name_expressions): a literal, exact case
        regex,  // written by an operator: caseless, PCRE subset as Hyperscan takes it
    };
    struct Expression {
        std::string_view text;
        Syntax syntax = Syntax::name;
        uint32_t line = 0;  // reported with this expression's errors
        uint32_t id = 0;    // reported on a match; several expressions may share one
    };

    PatternDatabase() noexcept;
    ~PatternDatabase();
    PatternDatabase(PatternDatabase&&) noexcept;
    PatternDatabase& operator=(PatternDatabase&&) noexcept;

    // Compiles all expressions into one database (HS_MODE_BLOCK, HS_FLAG_SINGLEMATCH). Every
    // regex is checked on its own first, so one pass reports up to max_errors bad regexes, each
    // with its line; an error only the whole compile sees is mapped back through the index
    // Hyperscan gives. An empty list compiles to a database that matches nothing.
    bool compile(std::span<const Expression> expressions, std::vector<Diagnostic>& errors,
                 size_t max_errors = 20);

    bool compiled() const noexcept { return compiled_; }
    size_t database_bytes() const noexcept { return database_bytes_; }
    size_t scratch_bytes() const noexcept { return scratch_bytes_; }

    // A scratch for one worker. Throws std::runtime_error when Hyperscan cannot allocate one;
    // null for an empty database, which needs none.
    HsScratch make_scratch() const;

    // Scans `data` with `scratch` (from make_scratch(), used by one thread at a time). Returns
    // false on a Hyperscan error; a scan stopped by `fn` is not an error.
    bool scan(std::string_view data, hs_scratch* scratch, ExpressionMatchFn fn, void* ctx) const noexcept;

private:
    HsDatabase db_;
    HsScratch prototype_;
    size_t database_bytes_ = 0;
    size_t scratch_bytes_ = 0;
    bool compiled_ = false;
};

}  // namespace frag53::rules
